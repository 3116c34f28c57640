"""The plain records every layout produces: cases, boxes and problems."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .studies import SliceRef, Volume

SINGLE, MULTI, DETECTION, SEGMENTATION = "single_label", "multi_label", "detection", "segmentation"  # built-in annotation types


@dataclass(frozen=True)
class Box:
    """An axis-aligned box in pixels: left, top, width, height."""

    label: str
    x: float
    y: float
    w: float
    h: float

    def valid(self) -> bool:
        """Finite numbers and a positive width and height (a NaN would become a box to the image edge)."""
        return all(math.isfinite(v) for v in (self.x, self.y, self.w, self.h)) and self.w > 0 and self.h > 0

    def clipped(self, width: int, height: int) -> Box | None:
        x0, y0 = max(0.0, self.x), max(0.0, self.y)
        x1, y1 = min(float(width), self.x + self.w), min(float(height), self.y + self.h)
        return Box(self.label, x0, y0, x1 - x0, y1 - y0) if x1 > x0 and y1 > y0 else None

    def inside(self, width: int, height: int) -> bool:
        return self.w > 0 and self.h > 0 and self.x >= 0 and self.y >= 0 and self.x + self.w <= width and self.y + self.h <= height


@dataclass(frozen=True)
class Polygon:
    """A COCO polygon outline, flat [x0, y0, x1, y1, ...] in pixels."""

    label: str
    points: tuple[float, ...]


@dataclass(frozen=True, eq=False)
class VolumeSlice:
    """One slice of a volume as a case of its own: segmentation trains on a volume slice by slice."""

    volume: Volume
    index: int

    @property
    def ref(self) -> SliceRef:
        return self.volume.slices[self.index]


NO_LABEL = "no class given in the label file"  # a case a model can still be run on, but not trained or scored on


@dataclass
class Case:
    """One training example: an image, or a study (`volume`: its slices in patient order), and its annotation."""

    image: Path  # the image file; for a study, its folder or volume file
    labels: tuple[str, ...] = ()
    boxes: tuple[Box, ...] = ()
    polygons: tuple[Polygon, ...] = ()
    mask: Path | None = None
    fields: dict[str, Any] = field(default_factory=dict)  # what a kind's label format read that the core does not interpret
    attributes: dict[str, str] = field(default_factory=dict)  # label.csv columns beyond the label (site, sex): subgroups
    volume: Volume | None = None  # set when the case is a study
    slice: VolumeSlice | None = None  # set when the case is one slice of a volume (its mask that slice of the volume's)
    study: str | None = None
    patient: str | None = None
    width: int = 0
    height: int = 0
    problem: str | None = None  # set when the case cannot be used; it stays listed

    @property
    def usable(self) -> bool:
        return self.problem is None

    @property
    def predictable(self) -> bool:
        """Readable, labelled or not: what a model can be run on (new studies from a PACS, say)."""
        return self.problem in (None, NO_LABEL)

    @property
    def files(self) -> list[Path]:
        """The image files the case is read from: its image, or each file of its study once."""
        if self.volume is None:
            return [self.image]
        return list(dict.fromkeys(ref.path for ref in self.volume.slices))

    @property
    def title(self) -> str:
        """How the case is named to the user: the image's path, the study's name, or a volume's name and slice."""
        if self.slice is not None:
            return f"{self.slice.volume.name} #{self.slice.index + 1}"
        return self.volume.name if self.volume is not None else str(self.image)

    @property
    def shown(self) -> str:
        """What names the picture of the case for a view (preview.read_shown): its file, or for a slice of a volume
        in one file (NIfTI, multi-frame DICOM) the volume and the slice ('scan.nii.gz#3')."""
        if self.slice is not None and self.slice.volume.format != "DICOM series":
            return f"{self.image}#{self.slice.index + 1}"
        return str(self.image)

    @property
    def group(self) -> str:
        """What must not be split across train and validation: patient, else study, else the image."""
        return self.patient or self.study or str(self.image)


@dataclass(frozen=True)
class Problem:
    kind: str  # missing_file, unreadable, unknown_class, few_cases, imbalance, layout, box, mask, outside, study
    message: str
    file: str | None = None

    def __str__(self) -> str:
        return f"{self.file}: {self.message}" if self.file else self.message


@dataclass
class Annotations:
    """What a layout reader found in a dataset folder, before the images are probed."""

    layout: str
    annotation: str  # the annotation type: single_label, multi_label, detection, segmentation, or a kind's own
    fits: list[str]
    classes: list[str]
    cases: list[Case] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
