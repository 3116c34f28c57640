"""Paths in a dataset folder, read as untrusted: every path followed, written in a label file or reached through
a symbolic link, must resolve inside the dataset folder; a name that is not UTF-8 is reported, not listed."""

from __future__ import annotations

import os
from pathlib import Path

from .cases import Problem
from .readers import IMAGE_SUFFIXES


def printable(path: Path | str) -> str:
    """A path as text that any terminal or page can show, even when its bytes are not UTF-8."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def inside_dir(path: Path, root: Path) -> bool:
    return path.is_dir() and path.resolve().is_relative_to(root)


def images_in(folder: Path, root: Path, problems: list[Problem], every: bool = False) -> list[Path]:
    """The image files (`every`: all files, a series' DICOM files often have no suffix) under `folder`, never
    leaving `root`: links are followed only to files inside it, never to folders, and a name that is not
    UTF-8 is reported, not listed."""
    if not folder.resolve().is_relative_to(root):
        problems.append(Problem("outside", "folder leads outside the dataset folder (a symbolic link); not read", printable(folder)))
        return []
    found = []
    for top, dirs, files in os.walk(folder, followlinks=False):
        links = sorted(d for d in dirs if os.path.islink(os.path.join(top, d)))
        problems += [Problem("outside", "symbolic link to a folder; not followed", printable(os.path.join(top, d))) for d in links]
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d not in links)
        for name in files:
            path = Path(top) / name
            if not every and path.suffix.lower() not in IMAGE_SUFFIXES:
                continue
            if every and not path.is_file():  # a FIFO or a device in a series folder: never opened
                problems.append(Problem("unreadable", "not a regular file; not read", printable(path)))
                continue
            if not utf8(name):
                problems.append(Problem("unreadable", "file name is not valid UTF-8; rename it", printable(path)))
            elif path.is_symlink() and not path.resolve().is_relative_to(root):
                problems.append(Problem("outside", "symbolic link to a file outside the dataset folder; refused", printable(path)))
            else:
                found.append(path)
    return sorted(found)


def utf8(name: str) -> bool:
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:  # undecodable bytes arrive as surrogate escapes
        return False
    return True


def resolve_label_path(rel: str, base: Path, root: Path, source: str, problems: list[Problem]) -> Path | None:
    """A label's path (relative to `base`), resolved; None (and a problem) when empty or outside `root`."""
    if not rel:
        problems.append(Problem("layout", "a row has an empty path", source))
        return None
    given = Path(rel).expanduser()
    path = (given if given.is_absolute() else base / given).resolve()
    if not path.is_relative_to(root):
        problems.append(Problem("outside", f"path {rel!r} leads outside the dataset folder {root}; refused", source))
        return None
    return path


def expand_label_path(rel: str, base: Path, root: Path, source: str, problems: list[Problem]) -> list[Path]:
    """A label's path names a file, or a folder of images (one case per image; rows naming a series folder or a
    volume are studies, read or refused by layouts.py); it must resolve inside the dataset folder `root`."""
    path = resolve_label_path(rel, base, root, source, problems)
    if path is None:
        return []
    if path.is_dir():
        slices = images_in(path, root, problems)
        if not slices:
            problems.append(Problem("missing_file", f"label points to folder {rel!r} with no images", source))
        return slices
    return [path]  # missing files are found when the images are probed
