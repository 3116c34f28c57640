"""A model's results as DICOM objects a radiology viewer shows: calls, scores, measured values and boxes as a
Comprehensive 3D Structured Report (TID 1500 measurement report), masks as a DICOM Segmentation (highdicom).
Each references the source instances of the patient's study on the PACS and is marked as what it is: an
unverified research result of one model (its name, id and task), never a signed diagnosis.

Class names are the user's own, so they are coded in a local scheme (`99DEEPQ`, as PS3.16 allows private
schemes); their meaning is the class name itself.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..contracts import ModelCard, Prediction

SCHEME = "99DEEPQ"
MANUFACTURER = "deepq_widgets"
SR_SERIES, SEG_SERIES = 9901, 9902  # above the modalities' own series numbers
RESEARCH = "RESEARCH"  # first word of every result's series description


@dataclass(frozen=True)
class Author:
    """The model a result comes from, as the result names it."""

    name: str
    model_id: str
    task_id: int | None
    arch: str
    software: str

    @classmethod
    def of(cls, card: ModelCard) -> Author:
        from importlib.metadata import version

        return cls(card.name, card.id, card.source_task, card.arch, version("deepq_widgets"))

    @property
    def described(self) -> str:
        """A series description (64 characters at most): research, by which model."""
        return f"{RESEARCH} {self.name}"[:64]

    @property
    def task(self) -> str:
        return f"task {self.task_id}" if self.task_id is not None else "no task"


def concept(meaning: str, kind: str = "C") -> Any:
    """`meaning` as a code of the local scheme: a short stable value (16 characters at most) from its text."""
    from highdicom.sr import CodedConcept

    return CodedConcept(value=f"{kind}{hashlib.sha1(meaning.encode()).hexdigest()[:12]}", scheme_designator=SCHEME, meaning=meaning[:64])


def structured_report(
    author: Author,
    value_name: str,
    classes: Sequence[str],
    found: Sequence[tuple[Prediction, Sequence[Any]]],
    evidence: Sequence[Any],
    image_size: int,
) -> Any:
    """One SR for one study: per prediction (an image, a slice or the whole study, with the source headers it
    covers) a measurement group with the call (the finding, each class present or absent) and every value named
    by `value_name` ("Probability of {}"), and a planar region per box, scaled from the network's `image_size`
    square to the source image's pixels. `evidence`: every source instance referenced."""
    import highdicom as hd
    from pydicom.sr.codedict import codes

    algorithm = hd.sr.AlgorithmIdentification(name=author.name, version=author.model_id, parameters=[author.task, author.arch])
    groups: list[Any] = []
    for n, (prediction, sources) in enumerate(found, 1):
        present = set(prediction.decision.split(", ")) & set(classes)
        groups.append(
            hd.sr.MeasurementsAndQualitativeEvaluations(
                tracking_identifier=hd.sr.TrackingIdentifier(uid=hd.UID(), identifier=f"{author.name}: result {n}"),
                finding_type=concept(prediction.decision) if prediction.decision in classes else None,
                algorithm_id=algorithm,
                qualitative_evaluations=[
                    hd.sr.QualitativeEvaluation(concept(c), codes.SCT.Present if c in present else codes.SCT.Absent)
                    for c in (classes if prediction.decision else ())
                ]
                or None,
                measurements=[_measured(value_name.format(k), v, algorithm) for k, v in prediction.values.items()] or None,
                source_images=[hd.sr.SourceImageForMeasurementGroup.from_source_image(s) for s in sources],
            )
        )
        for box in prediction.boxes:
            groups.append(_box_group(author, algorithm, box, sources[0], image_size))
    observer = hd.sr.DeviceObserverIdentifyingAttributes(
        uid=hd.UID(), name=author.name[:64], manufacturer_name=MANUFACTURER, model_name=author.arch[:64], serial_number=author.model_id[:64]
    )
    report = hd.sr.MeasurementReport(
        observation_context=hd.sr.ObservationContext(
            observer_device_context=hd.sr.ObserverContext(observer_type=codes.DCM.Device, observer_identifying_attributes=observer)
        ),
        procedure_reported=concept("Research model inference", "P"),
        imaging_measurements=groups,
    )
    sr = hd.sr.Comprehensive3DSR(
        evidence=list(evidence),
        content=report[0],
        series_instance_uid=hd.UID(),
        series_number=SR_SERIES,
        sop_instance_uid=hd.UID(),
        instance_number=1,
        manufacturer=MANUFACTURER,
        is_complete=True,  # every result of the model is in it; nobody has verified it
        series_description=author.described,
    )
    _equipment(sr, author)
    return sr


def _box_group(author: Author, algorithm: Any, box: Any, source: Any, image_size: int) -> Any:
    import highdicom as hd

    sx, sy = int(source.Columns) / image_size, int(source.Rows) / image_size  # the network saw a squashed square
    x0, y0, x1, y1 = box.box
    corners = np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]], dtype=float) * [sx, sy]
    region = hd.sr.ImageRegion(
        graphic_type=hd.sr.GraphicTypeValues.POLYLINE,
        graphic_data=corners,
        source_image=hd.sr.SourceImageForRegion.from_source_image(source),
    )
    return hd.sr.PlanarROIMeasurementsAndQualitativeEvaluations(
        tracking_identifier=hd.sr.TrackingIdentifier(uid=hd.UID(), identifier=f"{author.name}: {box.label}"),
        referenced_region=region,
        finding_type=concept(box.label),
        algorithm_id=algorithm,
        measurements=[_measured("Detection score", box.score, algorithm)],
    )


def _measured(name: str, value: float, algorithm: Any) -> Any:
    """A unitless value (a probability, a fraction, a count; a regression's unit is in its name)."""
    import highdicom as hd
    from pydicom.sr.codedict import codes

    return hd.sr.Measurement(name=concept(name, "V"), value=float(value), unit=codes.UCUM.NoUnits, algorithm_id=algorithm)


def segmentation(author: Author, classes: Sequence[str], masks: np.ndarray, sources: Sequence[Any]) -> Any:
    """One DICOM SEG for one series: `masks` (one class-index mask per source instance, at the network's size,
    0 the background, k the k-th class) resized to each source's pixels; a segment per class."""
    import highdicom as hd
    from pydicom.sr.codedict import codes

    rows, columns = int(sources[0].Rows), int(sources[0].Columns)
    labels = np.stack([_resized(m, rows, columns) for m in masks]).astype(np.uint8)
    algorithm = hd.AlgorithmIdentificationSequence(
        name=author.name[:64],
        version=author.model_id[:64],
        family=codes.cid7162.ArtificialIntelligence,
        parameters={"task": author.task, "network": author.arch},
    )
    segments = [
        hd.seg.SegmentDescription(
            segment_number=k,
            segment_label=name[:64],
            segmented_property_category=codes.SCT.MorphologicallyAbnormalStructure,
            segmented_property_type=concept(name),
            algorithm_type=hd.seg.SegmentAlgorithmTypeValues.AUTOMATIC,
            algorithm_identification=algorithm,
        )
        for k, name in enumerate(classes, 1)
    ]
    seg = hd.seg.Segmentation(
        source_images=list(sources),
        pixel_array=labels,
        segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=segments,
        series_instance_uid=hd.UID(),
        series_number=SEG_SERIES,
        sop_instance_uid=hd.UID(),
        instance_number=1,
        manufacturer=MANUFACTURER,
        manufacturer_model_name=author.arch[:64],
        software_versions=author.software,
        device_serial_number=author.model_id[:64],
        series_description=author.described,
        content_label="DEEPQ",
        content_description=f"Research result, unverified: {author.name} ({author.task})"[:64],
        omit_empty_frames=bool(labels.any()),  # a series where nothing was found still says so, frame by frame
    )
    return seg


def _resized(mask: np.ndarray, rows: int, columns: int) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.fromarray(mask.astype(np.uint8)).resize((columns, rows), Image.NEAREST))


def _equipment(ds: Any, author: Author) -> None:
    """The General Equipment module's names of the model, as a SEG carries them."""
    ds.ManufacturerModelName = author.arch[:64]
    ds.SoftwareVersions = author.software
    ds.DeviceSerialNumber = author.model_id[:64]
