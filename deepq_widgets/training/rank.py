"""One of the other ranks of a data-parallel fit, started by rank 0 (the task's process, distributed.py).

    python -I -m deepq_widgets.training.rank --workspace DIR --shared tasks/ID/ranks.json --rank R \
        --world N --rendezvous FILE --threads T --parent PID

It reads the task and the plan rank 0 wrote (never the store, which a Ray node does not have),
opens the cache rank 0 built, builds the same learner (from the checkpoint when the task resumes),
then trains its share of every batch of the fit and the refit. It writes nothing: no event, no
checkpoint, no model. It ends with rank 0.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="deepq rank", description=__doc__.splitlines()[0])
    for name in ("--workspace", "--shared", "--rendezvous"):
        parser.add_argument(name, required=True)
    for name in ("--rank", "--world", "--threads", "--parent"):
        parser.add_argument(name, type=int, required=True)
    args = parser.parse_args(argv)
    from ..children import die_with

    die_with(args.parent)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch

    torch.set_num_threads(args.threads)
    from ..workspace import WorkspacePaths
    from . import distributed
    from .pipeline import Stage, run_until
    from .run_types import Run, TaskStopped
    from .sink import QuietSink

    shared = distributed.SharedWithRanks.model_validate_json(Path(args.shared).read_text())
    task, plan = shared.task, shared.plan.but(lr_find_iters=0)  # what rank 0 trains, its rate found
    run = Run.start(WorkspacePaths(args.workspace), QuietSink(task.id), task, rank=args.rank)
    together = distributed.joined(args.rank, args.world, Path(args.rendezvous), run.device)
    try:  # joins rank 0's group once built, for the fit and the final fits
        run_until(run, Stage.final_fits, recorded=plan, together=together)
    except TaskStopped:
        print(f"rank {args.rank}: stopped with rank 0", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
