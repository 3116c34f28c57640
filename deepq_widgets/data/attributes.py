"""What a case can be grouped by when its results are broken down (subgroups): the columns of its label file beyond
the label (site, scanner, sex, age band...), and chosen DICOM attributes of its image (or its study's first slice),
continuous ones in bands. Identifiers (names, ids, dates) are never among them."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from .cases import Case

AGE = re.compile(r"^(\d{1,3})([DWMY])$")  # DICOM AS: '045Y', '018M'


def age_band(value: str) -> str:
    """'045Y' -> '40–49 y'; months, weeks and days are under a year."""
    found = AGE.match(value.strip())
    if found is None:
        return ""
    years = int(found[1]) if found[2] == "Y" else 0
    low = years // 10 * 10
    return f"{low}–{low + 9} y"


def thickness_band(value: object) -> str:
    mm = float(value)
    return "≤ 1 mm" if mm <= 1 else "1–3 mm" if mm <= 3 else "3–5 mm" if mm <= 5 else "> 5 mm"


DICOM_ATTRIBUTES: dict[str, Callable[[object], str]] = {
    "Manufacturer": str,
    "ManufacturerModelName": str,
    "InstitutionName": str,
    "PatientSex": str,
    "PatientAge": lambda v: age_band(str(v)),
    "SliceThickness": thickness_band,
    "KVP": lambda v: f"{float(v):g} kV",
}


def case_attributes(case: Case) -> dict[str, str]:
    """The case's label-file columns, then the DICOM attributes its image's header has (a header that cannot be
    read adds none)."""
    found = dict(case.attributes)
    image = case.volume.slices[0].path if case.volume is not None else case.slice.ref.path if case.slice is not None else case.image
    for name, value in dicom_attributes(Path(image)).items():
        found.setdefault(name, value)
    return found


def dicom_attributes(path: Path) -> dict[str, str]:
    if path.suffix.lower() not in (".dcm", ".dicom", "") or not path.is_file():
        return {}
    import pydicom

    try:
        ds = pydicom.dcmread(path, stop_before_pixels=True, specific_tags=list(DICOM_ATTRIBUTES))
    except Exception:  # not DICOM, or a header too broken to read: no attributes (the reader says why elsewhere)
        return {}
    found = {}
    for name, band in DICOM_ATTRIBUTES.items():
        value = ds.get(name)
        if value is None or str(value).strip() == "":
            continue
        try:
            shown = band(value).strip()
        except (TypeError, ValueError):
            continue
        if shown:
            found[name] = shown
    return found
