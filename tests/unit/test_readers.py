"""Readers against pydicom's own functions on pydicom's own test files."""

import numpy as np
import pydicom
import pytest
from PIL import Image
from pydicom.data import get_testdata_file
from pydicom.pixels import apply_modality_lut, apply_voi_lut

from deepq_widgets import read_frames, read_image
from deepq_widgets.data.readers import ReaderError
from deepq_widgets.data.windowing import NAMED_WINDOWS


def pydicom_display(ds, values):
    """pydicom's VOI output scaled to [0, 1] by the output range pydicom documents."""
    out = apply_voi_lut(values, ds)
    if ds.get("VOILUTSequence"):
        return out / (2 ** int(ds.VOILUTSequence[0].LUTDescriptor[2]) - 1)
    bits = int(ds.BitsStored)
    lo, hi = (0, 2**bits - 1) if ds.PixelRepresentation == 0 else (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1)
    if "RescaleSlope" in ds and "RescaleIntercept" in ds:
        lo, hi = lo * float(ds.RescaleSlope) + float(ds.RescaleIntercept), hi * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
    return (out - lo) / (hi - lo)


@pytest.mark.parametrize("name", ["MR_small.dcm", "vlut_04.dcm", "RG1_UNCI.dcm", "693_J2KI.dcm", "MR-SIEMENS-DICOM-WithOverlays.dcm"])
def test_file_voi_matches_pydicom(name):
    path = get_testdata_file(name)
    ds = pydicom.dcmread(path)
    expected = pydicom_display(ds, apply_modality_lut(ds.pixel_array, ds))
    if ds.PhotometricInterpretation == "MONOCHROME1":
        expected = 1 - expected
    got = read_image(path).pixels
    assert got.shape == (*ds.pixel_array.shape, 1) and got.dtype == np.float32
    np.testing.assert_allclose(got[..., 0], expected, atol=1e-5)


def test_modality_lut_sequence_is_applied():
    path = get_testdata_file("mlut_18.dcm")
    ds = pydicom.dcmread(path)
    values = apply_modality_lut(ds.pixel_array, ds)
    assert not np.array_equal(values, ds.pixel_array)  # the LUT really changes the values
    got = read_image(path).pixels[..., 0]
    np.testing.assert_allclose(got, (values - values.min()) / (values.max() - values.min()), atol=1e-6)


@pytest.mark.parametrize("window", ["brain", "subdural", "bone", "lung", "mediastinum", "pe"])
def test_named_windows_match_pydicom_windowing(window):
    path = get_testdata_file("CT_small.dcm")
    ds = pydicom.dcmread(path)
    hu = apply_modality_lut(ds.pixel_array, ds)
    w = NAMED_WINDOWS[window]
    ds.WindowCenter, ds.WindowWidth = w.center, w.width
    expected = pydicom_display(ds, hu)
    got = read_image(path, windows=[window]).pixels[..., 0]
    np.testing.assert_allclose(got, expected, atol=1e-5)
    low, high = w.center - w.width / 2, w.center + w.width / 2  # the window clips: black below it, white above
    assert (got[hu <= low - 1] == 0).all() and (got[hu >= high] == 1).all()


def test_multi_window_stacking_gives_one_channel_per_window():
    path = get_testdata_file("CT_small.dcm")
    stacked = read_image(path, windows=["brain", "subdural", "bone"])
    assert stacked.pixels.shape == (128, 128, 3)
    for i, w in enumerate(["brain", "subdural", "bone"]):
        np.testing.assert_array_equal(stacked.pixels[..., i], read_image(path, windows=[w]).pixels[..., 0])
    assert stacked.meta["windows"] == ["brain 40/80", "subdural 80/200", "bone 600/2800"]
    assert not np.allclose(stacked.pixels[..., 0], stacked.pixels[..., 2])


def test_custom_window_text_and_unknown_window():
    path = get_testdata_file("CT_small.dcm")
    np.testing.assert_array_equal(read_image(path, windows=["40/80"]).pixels, read_image(path, windows=["brain"]).pixels)
    with pytest.raises(ReaderError, match="unknown window 'nope'"):
        read_image(path, windows=["nope"])


def test_monochrome1_is_inverted():
    """RG1 is stored MONOCHROME1: air (outside the body) has high stored values but must display dark."""
    path = get_testdata_file("RG1_UNCI.dcm")
    ds = pydicom.dcmread(path)
    pixels = read_image(path).pixels[..., 0]
    raw = ds.pixel_array.astype(float)
    bright_stored = raw > np.percentile(raw, 90)
    assert pixels[bright_stored].mean() < pixels[~bright_stored].mean()


@pytest.mark.parametrize(
    "compressed, plain",
    [
        ("RG1_J2KR.dcm", "RG1_UNCR.dcm"),
        ("MR_small_jp2klossless.dcm", "MR_small.dcm"),
        ("MR2_J2KR.dcm", "MR2_UNCR.dcm"),
        ("693_J2KR.dcm", "693_UNCR.dcm"),
    ],
)
def test_lossless_compressed_syntaxes_decode_identically(compressed, plain):
    a, b = read_image(get_testdata_file(compressed)), read_image(get_testdata_file(plain))
    np.testing.assert_array_equal(a.pixels, b.pixels)
    assert a.meta["transfer_syntax"] != b.meta["transfer_syntax"]


def test_lossy_jpeg2000_is_close_to_the_original():
    a, b = read_image(get_testdata_file("RG1_J2KI.dcm")), read_image(get_testdata_file("RG1_UNCI.dcm"))
    assert np.abs(a.pixels - b.pixels).mean() < 0.01


def test_jpeg_lossless_decodes():
    data = read_image(get_testdata_file("JPEG-LL.dcm"))
    assert data.pixels.shape[:2] == (1024, 256) and 0 <= data.pixels.min() < data.pixels.max() <= 1


def test_multi_frame():
    path = get_testdata_file("emri_small.dcm")
    frames = read_frames(path)
    assert frames.pixels.shape == (10, 64, 64, 1) and frames.meta["frames"] == 10
    np.testing.assert_array_equal(read_image(path, frame=3).pixels, frames.pixels[3])
    with pytest.raises(ReaderError, match="frame 10 out of range"):
        read_image(path, frame=10)


def test_rgb_dicom_and_metadata():
    data = read_image(get_testdata_file("US1_UNCR.dcm"))
    assert data.pixels.shape[2] == 3 and data.meta["modality"] == "US"


def test_patient_identifiers_are_in_meta_but_not_public_meta():
    data = read_image(get_testdata_file("CT_small.dcm"))
    assert data.meta["patient_id"]
    assert "patient_id" not in data.public_meta() and "patient_name" not in data.public_meta()


def test_png_and_jpg(tmp_path):
    gray = np.tile(np.arange(256, dtype=np.uint8), (10, 1))
    Image.fromarray(gray).save(tmp_path / "g.png")
    Image.fromarray(np.stack([gray] * 3, -1)).save(tmp_path / "c.jpg", quality=95)
    Image.fromarray(gray.astype(np.uint16) * 257).save(tmp_path / "g16.png")
    g = read_image(tmp_path / "g.png")
    assert g.pixels.shape == (10, 256, 1) and g.pixels[0, 255, 0] == 1.0 and g.meta["format"] == "png"
    assert read_image(tmp_path / "c.jpg").pixels.shape == (10, 256, 3)
    np.testing.assert_allclose(read_image(tmp_path / "g16.png").pixels, g.pixels, atol=1e-6)


def test_bad_files_name_the_file(tmp_path):
    (tmp_path / "text.png").write_text("this is not an image")
    with pytest.raises(ReaderError, match="text.png: not a PNG, JPG or DICOM"):
        read_image(tmp_path / "text.png")
    src = open(get_testdata_file("CT_small.dcm"), "rb").read()
    (tmp_path / "cut.dcm").write_bytes(src[: len(src) // 2])
    with pytest.raises(ReaderError, match="cut.dcm: unreadable DICOM"):
        read_image(tmp_path / "cut.dcm")
    png = tmp_path / "cut.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64), dtype=np.uint8)).save(png)
    png.write_bytes(png.read_bytes()[:300])
    with pytest.raises(ReaderError, match="cut.png: unreadable PNG"):
        read_image(png)
    with pytest.raises(ReaderError, match="missing.png: file not found"):
        read_image(tmp_path / "missing.png")


def test_one_frame_of_a_long_series_costs_one_frames_memory(tmp_path):
    """A 2,000-frame series without a window: one frame is decoded and windowed alone (the series' range found
    frame by frame), not the whole series in float64 first; the frame is the one the whole series gives."""
    import tracemalloc

    ds = pydicom.dcmread(get_testdata_file("emri_small.dcm"))
    series = np.concatenate([ds.pixel_array] * 200)
    series[1999, 0, 0] = series.max() + 500  # the series' range is not the frame's own
    ds.PixelData, ds.NumberOfFrames = series.tobytes(), len(series)
    for keyword in ("WindowCenter", "WindowWidth", "VOILUTSequence"):
        if keyword in ds:
            delattr(ds, keyword)
    path = tmp_path / "long.dcm"
    ds.save_as(path)
    tracemalloc.start()
    one = read_image(path, frame=5)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 48 * 2**20, f"{peak / 2**20:.0f} MiB for one frame of a {series.nbytes / 2**20:.0f} MiB series"
    np.testing.assert_allclose(one.pixels, read_frames(path).pixels[5], atol=1e-6)
