"""Writes that a kill or a full disk cannot leave half done (no torch: the dashboard kernel uses it too)."""

from __future__ import annotations

import os
from pathlib import Path


def atomic_write_text(text: str, path: Path) -> None:
    """Write, fsync, then rename into place: a reader sees the old file or the whole new one."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "w") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        tmp.replace(path)
        fsync_folder(path.parent)
    finally:
        tmp.unlink(missing_ok=True)


def fsync_file(path: Path) -> None:
    """Flush a file another library wrote (and closed) to the disk; on Linux a folder too."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_folder(folder: Path) -> None:
    """Make a rename into `folder` survive a power cut (the entry lives in the folder's own data)."""
    try:
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:  # a platform without folder handles (Windows): renames there are durable already
        return
    try:
        os.fsync(fd)
    except OSError:  # some network file systems refuse fsync on a folder
        pass
    finally:
        os.close(fd)


def lock_held(path: Path) -> bool:
    """Whether some process holds a lock (shared or exclusive) on the file `path` now (made if missing)."""
    import fcntl

    with open(path, "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(handle, fcntl.LOCK_UN)
        return False
