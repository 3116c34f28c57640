"""Training: runs in the worker process only (fastai and torch are imported here, never in widgets)."""
