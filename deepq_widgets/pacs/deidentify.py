"""De-identification on the way in: the DICOM PS3.15 basic profile as dicognito applies it (names, IDs, dates,
institution and every non-standard UID replaced; dates moved back by one offset per patient, so intervals
hold), private attributes removed, and burned-in annotation flagged. dicognito is seeded with a key kept
beside the import's mapping, outside the dataset: the same study gets the same new UIDs on every run, so a
resumed import groups its series and studies as the first run did."""

from __future__ import annotations

import secrets
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from ..files import atomic_write_text

MAY_CARRY_TEXT = ("US", "SC", "XC", "OT", "ES")  # modalities whose pixels often carry names and dates
FIRST = ("PatientName", "PatientID", "PatientBirthDate", "AccessionNumber", "InstitutionName", "ReferringPhysicianName")
PRIVATE = "private attributes"


@dataclass
class Removed:
    """What de-identification did over an import: attributes removed or replaced (by keyword, instances)."""

    removed: Counter = field(default_factory=Counter)
    replaced: Counter = field(default_factory=Counter)

    def summary(self) -> str:
        def top(counts: Counter) -> str:
            names = sorted(counts, key=lambda n: (FIRST.index(n) if n in FIRST else len(FIRST), n != PRIVATE, -counts[n], n))
            return ", ".join(names[:12]) + (f" and {len(names) - 12} more" if len(names) > 12 else "")

        parts = []
        if self.replaced:
            parts.append(f"replaced {top(self.replaced)}")
        if self.removed:
            parts.append(f"removed {top(self.removed)}")
        return "; ".join(parts) or "nothing to remove"


def _code(value: str, meaning: str):
    from pydicom import Dataset

    code = Dataset()
    code.CodeValue, code.CodingSchemeDesignator, code.CodeMeaning = value, "DCM", meaning
    return code


class Deidentifier:
    def __init__(self, keys: Path):
        from dicognito.anonymizer import Anonymizer

        key = keys / "key"
        if not key.exists():
            keys.mkdir(parents=True, exist_ok=True, mode=0o700)
            atomic_write_text(secrets.token_hex(16), key)
            key.chmod(0o600)
        self._anonymizer = Anonymizer(seed=key.read_text().strip())
        self.done = Removed()

    def __call__(self, ds) -> bool:
        """De-identify `ds` in place; True when its pixels may carry burned-in text (flag it for a look)."""
        if private := sum(1 for tag in ds.keys() if tag.is_private):  # noqa: SIM118 - iterating a Dataset decodes every element
            self.done.removed[PRIVATE] += private
        ds.remove_private_tags()
        before = {el.keyword: el.value for el in ds if el.keyword and el.tag != 0x7FE00010}
        self._anonymizer.anonymize(ds)
        after = {el.keyword: el.value for el in ds if el.keyword and el.tag != 0x7FE00010}
        for name, value in before.items():
            if name not in after:
                self.done.removed[name] += 1
            elif after[name] != value:
                self.done.replaced[name] += 1
        burned = str(ds.get("BurnedInAnnotation", "")).upper()
        if burned != "YES":  # the header's identity is gone; pixels that say they carry text are not vouched for
            ds.PatientIdentityRemoved = "YES"
        ds.DeidentificationMethodCodeSequence = [_code("113100", "Basic Application Confidentiality Profile")]
        return burned == "YES" or (burned != "NO" and str(ds.get("Modality", "")) in MAY_CARRY_TEXT)


SAMPLES = {"DA": "20000101", "DT": "20000101120000", "TM": "120000", "PN": "SAMPLE^NAME", "UI": "1.2.3.4", "AS": "040Y"}


def removed_by_deidentification(keyword: str) -> bool:
    """Whether the basic profile replaces or removes this attribute (it may identify the patient): a sample value
    of its type is put through dicognito."""
    from dicognito.anonymizer import Anonymizer
    from pydicom import Dataset, FileMetaDataset
    from pydicom.datadict import dictionary_VR, tag_for_keyword

    probe = Dataset()
    probe.file_meta = FileMetaDataset()
    vr = dictionary_VR(tag_for_keyword(keyword))
    value = SAMPLES.get(vr, "7" if vr in ("IS", "DS") else "SAMPLE")
    setattr(probe, keyword, value)
    probe.PatientID, probe.StudyInstanceUID = "ID", "1.2.3"
    Anonymizer(seed="probe").anonymize(probe)
    return str(probe.get(keyword, "")) != value
