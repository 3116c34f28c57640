"""`python -m deepq_widgets.cli`: what the dashboard's Models tab runs in a child process."""

from . import main

raise SystemExit(main())
