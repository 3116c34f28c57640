"""The training cache: every case decoded once, windowed and resized, kept as uint8 rows on disk.

Built for datasets of 10⁵–10⁶ cases: rows are written to `images.u8` (and `masks.u8`) in chunks,
by several decoding processes at once, and never held whole in memory; epochs read them through a
memory map. Each row is keyed by its case: the image's and the mask's size and modification time
and the case's labels, boxes and polygons, so a corrected image or mask is decoded again alone, and
a new case is appended. `slots.json` says which rows are complete; it is replaced atomically every
few seconds during a build, so a killed build resumes from what it recorded and never reads a
half-written row as done. One cache folder per dataset, image size, windows, channels and masks.
Decoding problems join the dataset's problem report and the case is left out, never silently.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..children import die_with
from ..files import atomic_write_text
from .cache_guard import hold_rows, rows_free_to_reuse, stamp, still_true, unit_files
from .cache_keys import Unit, case_key, dataset_fingerprint, slice_key, units_of
from .cases import Box, Case
from .catalog import DatasetInfo
from .footprint import CHUNK, network_channels
from .masks import MaskError, case_mask
from .preprocess import network_pixels
from .readers import ReaderError, read_image
from .slice_pixels import slice_pixels
from .studies import SliceRef

Decoded = tuple[list | None, str | None, list | None]  # a row's boxes, or the problem that left it out; its stamp

CACHE_VERSION = 3
SAVE_EVERY_S = 5.0  # how often a build records its progress (what a kill can lose)
PROCESSES_ENV = "DEEPQ_DECODE_PROCESSES"

Progress = Callable[[int, int], None]


@dataclass
class CachedData:
    """Decoded cases ready for training: uint8 images (N, S, S, C) plus targets. For studies, `images` holds the
    slices' rows and `slices[i]` the rows of case i's slices, in patient order."""

    images: Any  # np.memmap, or Rows when some cases were decoded out of order
    cases: list[Case]
    classes: list[str]
    labels: np.ndarray  # (N, K) multi-hot
    masks: Any = None  # (N, S, S) class indices, like images
    boxes: list[list[Box]] = field(default_factory=list)  # in cache pixels
    problems: list[str] = field(default_factory=list)
    fingerprint: str = ""
    slices: list[np.ndarray] | None = None  # studies: each case's rows in `images`
    slice_classes: list[np.ndarray] | None = None  # studies: each slice's class index where labelled, else -1
    _fields: dict[str, np.ndarray] = field(default_factory=dict, repr=False)
    _readers: Any = field(default=None, repr=False)  # the shared lock that keeps these rows from reuse (cache_guard.py)

    @property
    def channels(self) -> int:
        return int(self.images.shape[-1])

    def column(self, name: str) -> np.ndarray:
        """A numeric field a kind's label format read (`Case.fields`), one float per case (NaN where absent):
        a kind's targets beyond classes, boxes and masks. Computed once."""
        if name not in self._fields:
            self._fields[name] = np.array([float(c.fields.get(name, "nan")) for c in self.cases], np.float32)
        return self._fields[name]


class Rows:
    """The rows of a memory-mapped array in case order, when a case's row lies elsewhere (it was decoded
    again after a correction, or appended): `rows[idx]` reads only those rows."""

    def __init__(self, array: np.ndarray, order: np.ndarray):
        self.array, self.order = array, order
        self.shape = (len(order), *array.shape[1:])
        self.dtype = array.dtype

    def __len__(self) -> int:
        return len(self.order)

    def __getitem__(self, idx: Any) -> np.ndarray:
        return self.array[self.order[idx]]

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        out = self.array[self.order]
        return out if dtype is None else out.astype(dtype)


@dataclass
class Layout:
    """One cache folder: where rows go and what they hold."""

    folder: Path
    size: int
    channels: int
    windows: list[str]
    masks: bool

    @property
    def image_row(self) -> int:
        return self.size * self.size * self.channels

    @property
    def mask_row(self) -> int:
        return self.size * self.size


def build_cache(
    info: DatasetInfo,
    root: Path,
    size: int,
    windows: Sequence[str] = (),
    channels: int | None = None,
    masks: bool = False,
    progress: Progress | None = None,
    processes: int | None = None,
    save_every_s: float = SAVE_EVERY_S,
) -> CachedData:
    """Decode the usable cases of `info` that the cache lacks (with class masks when `masks`) into
    `root/<dataset>-<key>/`, in `processes` decoding processes (default: $DEEPQ_DECODE_PROCESSES, else
    the cores this process may use), recording progress every `save_every_s`; then map it."""
    want = channels or network_channels(info, windows)
    key = hashlib.sha256(json.dumps([CACHE_VERSION, size, list(windows), want, masks]).encode()).hexdigest()[:16]
    layout = Layout(root / f"{info.name}-{key}", size, want, list(windows), masks)
    layout.folder.mkdir(parents=True, exist_ok=True)
    usable = info.usable
    cases = [case_key(c) for c in usable]
    keys, units = units_of(usable, cases)
    with open(layout.folder / "lock", "w") as lock:  # one builder at a time (a task and an evaluation, say)
        fcntl.flock(lock, fcntl.LOCK_EX)
        index = _read_index(layout)
        wanted = set(keys)
        for part in ("slots", "problems", "boxes", "stamps"):  # a changed or removed case's row is free again
            index[part] = {k: v for k, v in index[part].items() if k in wanted}
        _forget_changed(index, dict(zip(keys, units, strict=True)))
        todo = [i for i, k in enumerate(keys) if k not in index["slots"] and k not in index["problems"]]
        if todo:
            used = set(index["slots"].values())
            # rows no case holds (and rows a killed build had not recorded), while no task reads them (cache_guard.py)
            free = [row for row in range(index["rows"]) if row not in used] if rows_free_to_reuse(layout.folder) else []
            _decode(info, layout, index, keys, units, todo, free, progress, processes or decode_processes(), save_every_s)
        return _load(info, layout, index, cases)


def decode_processes() -> int:
    """$DEEPQ_DECODE_PROCESSES, else the worker's thread budget ($DEEPQ_THREADS), else every core this process may use."""
    for name in (PROCESSES_ENV, "DEEPQ_THREADS"):
        given = os.environ.get(name, "").strip()
        if given:
            if not given.isdigit() or int(given) < 1:
                raise ValueError(f"{name} must be a whole number, 1 or more (got {given!r})")
            return int(given)
    return len(os.sched_getaffinity(0))


# -- building ----------------------------------------------------------------------------------------
def _read_index(layout: Layout) -> dict[str, Any]:
    path = layout.folder / "slots.json"
    empty = {"rows": 0, "slots": {}, "problems": {}, "boxes": {}, "stamps": {}}
    if not path.is_file():
        for name in ("images.u8", "masks.u8"):  # rows no index names are not rows
            (layout.folder / name).unlink(missing_ok=True)
        return empty
    return empty | json.loads(path.read_text())


def _forget_changed(index: dict[str, Any], units: dict[str, Unit]) -> None:
    """Rows whose files changed although their key did not (a copy that kept size and modification time) are
    decoded again; a row without a stamp (an older cache's) too."""
    for key in list(index["slots"]):
        true, fresh = still_true(unit_files(units[key]), index["stamps"].get(key))
        if true:
            index["stamps"][key] = fresh
        else:
            for part in ("slots", "boxes", "stamps"):
                index[part].pop(key, None)


def _save_index(layout: Layout, index: dict[str, Any]) -> None:
    atomic_write_text(json.dumps(index), layout.folder / "slots.json")


def _decode(
    info: DatasetInfo,
    layout: Layout,
    index: dict[str, Any],
    keys: list[str],
    units: list[Unit],
    todo: list[int],
    free: list[int],
    progress: Progress | None,
    processes: int,
    save_every_s: float,
) -> None:
    """Give each unit (an image case, a study's slice) to decode a row (a freed one first, else a new one at the end), decode in chunks,
    and record the finished chunks every few seconds."""
    slots = free[: len(todo)] + list(range(index["rows"], index["rows"] + max(0, len(todo) - len(free))))
    index["rows"] = max(index["rows"], max(slots) + 1)
    for name, row in (("images.u8", layout.image_row), ("masks.u8", layout.mask_row if layout.masks else 0)):
        if row:
            with open(layout.folder / name, "ab") as fh:
                fh.truncate(index["rows"] * row)  # sparse: the disk fills as rows are written
    chunks = [(todo[i : i + CHUNK], slots[i : i + CHUNK]) for i in range(0, len(todo), CHUNK)]
    jobs = [(list(info.classes), layout, [units[c] for c in cases], rows) for cases, rows in chunks]
    done, saved = 0, time.monotonic()

    def record(cases: list[int], rows: list[int], results: list[Decoded]) -> None:
        nonlocal done, saved
        for case, row, (boxes, problem, stamped) in zip(cases, rows, results, strict=True):
            if problem is not None:
                index["problems"][keys[case]] = problem
            else:
                index["slots"][keys[case]], index["boxes"][keys[case]], index["stamps"][keys[case]] = row, boxes, stamped
        done += len(cases)
        if progress:
            progress(done, len(todo))
        if time.monotonic() - saved > save_every_s:
            _save_index(layout, index)
            saved = time.monotonic()

    workers = min(processes, len(chunks))
    if workers <= 1:
        for (cases, rows), job in zip(chunks, jobs, strict=True):
            record(cases, rows, _decode_chunk(*job))
    else:
        from concurrent.futures import ProcessPoolExecutor  # here: the wizard imports this module, and never decodes
        from multiprocessing import get_context

        # processes, not threads: pydicom and the JPEG 2000 decoders hold the GIL. Forked: the children
        # need nothing the parent has not imported, and a fork never runs the caller's main script again.
        with ProcessPoolExecutor(workers, mp_context=get_context("fork"), initializer=die_with, initargs=(os.getpid(),)) as pool:
            for (cases, rows), results in zip(chunks, pool.map(_decode_chunk_job, jobs), strict=True):
                record(cases, rows, results)
    _save_index(layout, index)


def _decode_chunk_job(job: tuple) -> list[Decoded]:
    return _decode_chunk(*job)


def case_pixels(unit: Unit, windows: list[str]) -> Any:
    """What one cache row shows: an image case's file, a volume slice case's slice, or a study's slice."""
    if isinstance(unit, SliceRef):
        return slice_pixels(unit, windows)
    if unit.slice is not None:
        return slice_pixels(unit.slice.ref, windows)
    return read_image(unit.image, windows=windows or None)


def _decode_chunk(classes: list[str], layout: Layout, units: list[Unit], rows: list[int]) -> list[Decoded]:
    """Decode `units` and write each into its row (positioned writes, no memory map: memory stays one
    chunk); per unit, its boxes in cache pixels, or the problem that left it out, and its files' stamp (taken
    before decoding: a file changed meanwhile shows as changed at the next build)."""
    from PIL import Image

    size = layout.size
    out: list[Decoded] = []
    hashed: dict[Path, str] = {}  # a multi-frame file's slices share one hash
    with open(layout.folder / "images.u8", "r+b") as images, _maybe_open(layout.folder / "masks.u8", layout.masks) as masks:
        for unit, row in zip(units, rows, strict=True):
            case = unit if isinstance(unit, Case) else Case(unit.path)
            try:
                stamped = stamp(unit_files(unit), hashed)
                data = case_pixels(unit, layout.windows)
                h, w = data.pixels.shape[:2]
                mask = case_mask(case, classes, w, h) if layout.masks and isinstance(unit, Case) else None
            except (ReaderError, MaskError, OSError, ValueError) as exc:  # changed since it was catalogued: this case's problem only
                out.append((None, str(exc) if isinstance(exc, ReaderError) else f"{case.mask or case.image}: {exc}", None))
                continue
            os.pwrite(
                images.fileno(), np.ascontiguousarray(network_pixels(data.pixels, layout.channels, size)).tobytes(), row * layout.image_row
            )
            if mask is not None:
                small = np.asarray(Image.fromarray(mask).resize((size, size), Image.NEAREST), np.uint8)
                os.pwrite(masks.fileno(), small.tobytes(), row * layout.mask_row)
            sx, sy = size / w, size / h
            boxes = [[classes.index(b.label), b.x * sx, b.y * sy, b.w * sx, b.h * sy] for b in case.boxes if b.label in classes]
            out.append((boxes, None, stamped))
        images.flush()
        os.fsync(images.fileno())  # rows reach the disk before the index that names them
        if masks is not None:
            os.fsync(masks.fileno())
    return out


class _maybe_open:
    """`open(path, "r+b")` when `wanted`, else a context that yields None."""

    def __init__(self, path: Path, wanted: bool):
        self.fh = open(path, "r+b") if wanted else None  # noqa: SIM115 - closed by __exit__

    def __enter__(self):
        return self.fh

    def __exit__(self, *exc) -> None:
        if self.fh is not None:
            self.fh.close()


# -- loading -----------------------------------------------------------------------------------------
def _load(info: DatasetInfo, layout: Layout, index: dict[str, Any], keys: list[str]) -> CachedData:
    """The cases whose rows are complete (`keys`: each usable case's key), mapped."""
    if info.volumes:
        return _load_studies(info, layout, index, keys)
    usable = info.usable  # a property that filters every case: once, not once per case
    kept = [i for i, k in enumerate(keys) if k in index["slots"]]
    cases = [usable[i] for i in kept]
    order = np.array([index["slots"][keys[i]] for i in kept], np.int64)
    labels = _labels(cases, info.classes)
    rows = max(index["rows"], 1)
    images = _rows(layout.folder / "images.u8", (rows, layout.size, layout.size, layout.channels), order)
    masks = _rows(layout.folder / "masks.u8", (rows, layout.size, layout.size), order) if layout.masks else None
    return CachedData(
        images=images,
        cases=cases,
        classes=list(info.classes),
        labels=labels,
        masks=masks,
        boxes=[[Box(info.classes[int(c)], x, y, w, h) for c, x, y, w, h in index["boxes"][keys[i]]] for i in kept],
        problems=[index["problems"][k] for k in keys if k in index["problems"]],
        fingerprint=dataset_fingerprint(info, keys),
        _readers=hold_rows(layout.folder),
    )


def _load_studies(info: DatasetInfo, layout: Layout, index: dict[str, Any], case_keys: list[str]) -> CachedData:
    """Studies whose every slice decoded, each with the rows of its slices; a slice that did not decode is
    its study's problem."""
    cases, slices, problems, keys = [], [], [], []
    for case, key in zip(info.usable, case_keys, strict=True):
        parts = [slice_key(ref) for ref in case.volume.slices] if case.volume is not None else []
        failed = [index["problems"][k] for k in parts if k in index["problems"]]
        if not parts or failed:
            problems.append(f"{case.title}: {failed[0] if failed else 'not a study'}; the study is left out")
            continue
        cases.append(case)
        slices.append(np.array([index["slots"][k] for k in parts], np.int64))
        keys.append(key)
    shape = (max(index["rows"], 1), layout.size, layout.size, layout.channels)
    images = np.memmap(layout.folder / "images.u8", np.uint8, mode="r", shape=shape) if cases else np.zeros((0, *shape[1:]), np.uint8)
    return CachedData(
        images=images,
        cases=cases,
        classes=list(info.classes),
        labels=_labels(cases, info.classes),
        boxes=[[] for _ in cases],
        problems=problems,
        fingerprint=dataset_fingerprint(info, keys),
        slices=slices,
        slice_classes=[_slice_classes(c.volume, info.classes) for c in cases],
        _readers=hold_rows(layout.folder),
    )


def _slice_classes(volume: Any, classes: list[str]) -> np.ndarray:
    """Each slice's labelled class (its first label that is a class), -1 where the slice has no label."""
    found = np.full(volume.depth, -1, np.int64)
    for index, labels in volume.slice_labels.items():
        known = [classes.index(label) for label in labels if label in classes]
        if known and 0 <= index < volume.depth:
            found[index] = known[0]
    return found


def _labels(cases: list[Case], classes: list[str]) -> np.ndarray:
    """(N, K) multi-hot class labels."""
    labels = np.zeros((len(cases), len(classes)), np.float32)
    for i, case in enumerate(cases):
        for label in case.labels:
            if label in classes:
                labels[i, classes.index(label)] = 1.0
    return labels


def _rows(path: Path, shape: tuple[int, ...], order: np.ndarray) -> Any:
    if len(order) == 0:
        return np.zeros((0, *shape[1:]), np.uint8)
    array = np.memmap(path, np.uint8, mode="r", shape=shape)
    if len(order) == shape[0] and np.array_equal(order, np.arange(shape[0])):
        return array  # the usual case: rows in case order
    return Rows(array, order)
