"""Keeps the training cache's rows true while tasks read them.

Two guards. **Readers**: a process that maps the cache holds a shared lock on its `readers` file for as long
as it uses the rows; a build reuses the rows of changed or removed cases only when no one holds it (else it
adds rows at the end), so a running task never reads another case's pixels in a row it was given. **Stamps**:
a row's key trusts a file's size and modification time, which a copy that keeps them (`cp -p`, rsync, a
restored backup) can leave equal while the content changed; each row also records its files' inode and
change time (which no one can set) and a hash of their content, and a row whose files' inode or change time
moved is hashed again: kept if the content is the same (a workspace moved to another disk), decoded again
if not.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
from collections.abc import Iterable
from pathlib import Path
from typing import IO, Any

from ..files import lock_held
from .cache_keys import Unit
from .studies import SliceRef

READERS = "readers"


def hold_rows(folder: Path) -> IO[str]:
    """A shared lock on the cache's rows, held while the returned file stays open (the caller keeps it with the data)."""
    handle = open(folder / READERS, "a")  # noqa: SIM115 - kept open on purpose: the lock lives as long as the handle
    fcntl.flock(handle, fcntl.LOCK_SH)
    return handle


def rows_free_to_reuse(folder: Path) -> bool:
    """Whether no process holds the cache's rows now (checked inside the build's own lock, so none starts meanwhile)."""
    return not lock_held(folder / READERS)


def unit_files(unit: Unit) -> list[Path]:
    """The files whose content a cache row shows."""
    if isinstance(unit, SliceRef):
        return [unit.path]
    if unit.slice is not None:
        return [unit.slice.ref.path]
    return [p for p in (unit.image, unit.mask) if p is not None]


def stamp(files: Iterable[Path], hashed: dict[Path, str] | None = None) -> list[Any]:
    """Each file's inode, change time and content hash (`hashed`: hashes already taken, by path)."""
    out = []
    for path in files:
        stat = path.stat()
        digest = (hashed or {}).get(path) or content_hash(path)
        if hashed is not None:
            hashed[path] = digest
        out.append([stat.st_ino, stat.st_ctime_ns, digest])
    return out


def still_true(files: list[Path], recorded: list[Any] | None) -> tuple[bool, list[Any] | None]:
    """Whether a row's files are what was decoded: (yes or no, the stamp to record from now on)."""
    if not recorded or len(recorded) != len(files):
        return False, None
    fresh = []
    for path, (inode, ctime, digest) in zip(files, recorded, strict=True):
        with contextlib.suppress(OSError):
            stat = path.stat()
            if (stat.st_ino, stat.st_ctime_ns) == (inode, ctime):
                fresh.append([inode, ctime, digest])
                continue
            if content_hash(path) == digest:  # moved or touched, the same content: kept
                fresh.append([stat.st_ino, stat.st_ctime_ns, digest])
                continue
        return False, None
    return True, fresh


def content_hash(path: Path) -> str:
    h = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
