"""The views: one file per wizard step, plus the task list, monitor, task detail and model list.

Only this package imports ipywidgets. Views read the Wizard's state and send it actions;
they never poke each other. The wiring lives in deepq_widgets/app.py.
"""
