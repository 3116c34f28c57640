"""Advice on a draft's augmentation against what its images are: flips where left and right differ, large
rotations of images acquired upright, colour jitter on grey-scale images. Never a refusal: Full Manual may
choose them all, and is told why not, by the field."""

from __future__ import annotations

from .data.catalog import DatasetInfo
from .presets import Preset
from .spec import Modality, TaskSpec

MAX_UPRIGHT_ROTATION = 30  # degrees; radiographs and CT/MR slices are acquired in a standard orientation


def augmentation_warnings(draft: TaskSpec, preset: Preset | None, info: DatasetInfo | None) -> dict[str, str]:
    """Each warning by the augmentation field it is about. The modality is the one chosen for Auto, else what the
    images' headers say (Full Manual never asks)."""
    out = {}
    imaged = info.imaged_modality if info else Modality.other
    modality = draft.auto.modality if draft.auto.modality is not Modality.other else imaged
    lateral = preset.lateral_anatomy if preset else modality in (Modality.xray, Modality.ct)
    augment = draft.augment
    if augment.hflip and lateral:
        out["hflip"] = "Horizontal flip is on, but left and right anatomy differ in these images (a flipped chest is not a normal one)."
    upright = preset is not None or modality in (Modality.xray, Modality.ct, Modality.mri)
    if augment.rotate_deg > MAX_UPRIGHT_ROTATION and upright:
        out["rotate_deg"] = (
            f"Rotation up to {augment.rotate_deg:g}° is on, but these images are acquired upright; "
            f"more than about {MAX_UPRIGHT_ROTATION}° shows the network orientations it will never see."
        )
    single_channel = (info is not None and info.channels == 1 and len(draft.windows) <= 1) or len(draft.windows) == 1
    for name in ("saturation", "hue"):
        if single_channel and getattr(augment, name) > 0:
            out[name] = f"{name.capitalize()} jitter has no effect on single-channel (grey-scale) medical images."
    return out
