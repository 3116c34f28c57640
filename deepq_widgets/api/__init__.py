"""The notebook API: a few verbs that return rich objects (DataFrames, handles that show themselves in a
notebook), calling the same functions as the dashboard and the `deepq` commands.

    import deepq_widgets as dq
    ws = dq.Workspace("demo_workspace")
    task = ws.submit(ws.spec(task="single_label", dataset="thyroid_nodules", name="thyroid-1"))
    task.wait()
    task.model.evaluate("thyroid_nodules_test")  # new cases: the model never saw them
"""

from .display import Html
from .model import Model, ModelEvaluation, Predictions
from .task import Task, TaskFailed
from .workspace import Workspace, spec

__all__ = ["Html", "Model", "ModelEvaluation", "Predictions", "Task", "TaskFailed", "Workspace", "spec"]
