"""The training cache is keyed by each case's files and annotation: a corrected image or mask is decoded
again alone, a new case is appended, and a partial build is resumed, never read as complete."""

import json
import shutil

import numpy as np
from PIL import Image

from deepq_widgets.data.cache import build_cache
from deepq_widgets.data.catalog import scan_dataset
from deepq_widgets.data.preprocess import network_pixels
from deepq_widgets.data.readers import read_image


def decoded(calls):
    return lambda done, total: calls.append(total)


def test_a_corrected_mask_is_decoded_again_and_alone(demo_copy, tmp_path):
    root = tmp_path / "cache"
    calls = []
    first = build_cache(scan_dataset(demo_copy, "abdomen_organs"), root, 32, masks=True, progress=decoded(calls))
    assert calls[-1] == 100
    before = np.array(first.masks[3])
    mask = demo_copy.datasets / "abdomen_organs" / "masks" / "ct_003.png"
    Image.fromarray(np.zeros((128, 128), np.uint8)).save(mask)  # the annotator erased this case's organs
    calls.clear()
    again = build_cache(scan_dataset(demo_copy, "abdomen_organs"), root, 32, masks=True, progress=decoded(calls))
    assert calls[-1] == 1  # only the corrected case
    assert before.any() and not np.array(again.masks[3]).any()
    assert np.array_equal(np.asarray(again.images), np.asarray(first.images))  # the images did not change


def test_an_added_case_is_appended_and_the_rest_reused(demo_copy, tmp_path):
    root, calls = tmp_path / "cache", []
    build_cache(scan_dataset(demo_copy, "ultrasound_lesions"), root, 32)
    source = demo_copy.datasets / "ultrasound_lesions" / "benign" / "benign_000.png"
    shutil.copy(source, source.with_name("benign_zzz.png"))
    data = build_cache(scan_dataset(demo_copy, "ultrasound_lesions"), root, 32, progress=decoded(calls))
    assert calls[-1] == 1 and len(data.cases) == 121
    for i, case in enumerate(data.cases):  # every row is its own case's pixels, wherever it lies
        if i % 20 == 0 or case.image.name == "benign_zzz.png":
            assert np.array_equal(data.images[[i]][0], network_pixels(read_image(case.image).pixels, 1, 32))


def test_rows_no_index_names_are_decoded_again(demo_copy, tmp_path):
    """A build killed before it recorded anything left rows but no index: they are not trusted."""
    root = tmp_path / "cache"
    data = build_cache(scan_dataset(demo_copy, "ultrasound_lesions"), root, 32)
    expected = np.array(data.images)
    del data  # no task reads the rows now: the build may reuse them
    (folder,) = root.iterdir()
    index = json.loads((folder / "slots.json").read_text())
    index["slots"] = dict(list(index["slots"].items())[:50])  # as if killed after recording 50 cases
    (folder / "slots.json").write_text(json.dumps(index))
    with open(folder / "images.u8", "r+b") as fh:  # and the rows after them half written
        fh.seek(60 * 32 * 32)
        fh.write(b"\xff" * 32 * 32 * 10)
    calls = []
    again = build_cache(scan_dataset(demo_copy, "ultrasound_lesions"), root, 32, progress=decoded(calls))
    assert calls[-1] == 70
    assert np.array_equal(np.asarray(again.images), expected)


def test_two_builders_at_once_take_turns(demo_copy, tmp_path):
    """A task and an evaluation may build the same cache together: one waits for the other, then reuses it."""
    from concurrent.futures import ThreadPoolExecutor

    root, calls = tmp_path / "cache", [[], []]
    info = scan_dataset(demo_copy, "ultrasound_lesions")
    with ThreadPoolExecutor(2) as pool:
        built = list(pool.map(lambda i: build_cache(info, root, 32, progress=decoded(calls[i])), [0, 1]))
    assert sorted(c[-1] if c else 0 for c in calls) == [0, 120]  # decoded once, by whichever came first
    assert np.array_equal(np.asarray(built[0].images), np.asarray(built[1].images)) and len(built[1].cases) == 120


def test_rows_a_running_task_reads_are_never_reused(demo_copy, tmp_path):
    """A task holds its rows (a shared lock) while another build drops a changed case: that case's old row is not
    handed to the new case while the task runs, so the task reads the pixels it was given; once it ends, it is."""
    root = tmp_path / "cache"
    running = build_cache(scan_dataset(demo_copy, "ultrasound_lesions"), root, 32)
    before = np.array(running.images)
    changed = running.cases[7].image
    Image.fromarray(np.full((40, 40), 255, np.uint8)).save(changed)  # a corrected file, decoded again
    rebuilt = build_cache(scan_dataset(demo_copy, "ultrasound_lesions"), root, 32)
    assert np.array_equal(np.asarray(running.images), before)  # the running task's rows, as they were
    assert np.asarray(rebuilt.images)[[c.image for c in rebuilt.cases].index(changed)].min() == 255
    (folder,) = root.iterdir()
    assert json.loads((folder / "slots.json").read_text())["rows"] == 121  # the new row went to the end
    del running, rebuilt
    Image.fromarray(np.zeros((40, 40), np.uint8)).save(changed)
    build_cache(scan_dataset(demo_copy, "ultrasound_lesions"), root, 32)
    assert json.loads((folder / "slots.json").read_text())["rows"] == 121  # no reader: a freed row was reused


def test_a_replacement_with_the_same_size_and_time_is_decoded_again(ws, tmp_path):
    """A copy that keeps the size and modification time (`cp -p`, rsync -t) leaves the key as it was: the row's
    stamp (inode, change time, content hash) finds the change; a file whose change time alone moved keeps its row."""
    import os

    def save(path, value):  # uncompressed PNG: the same size whatever the pixels
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.full((40, 40), value, np.uint8)).save(path, compress_level=0)

    for label in ("a", "b"):
        for i in range(3):
            save(ws.datasets / "flat" / label / f"{i}.png", 40 * i + (100 if label == "b" else 0))
    root, calls = tmp_path / "cache", []
    first = build_cache(scan_dataset(ws, "flat"), root, 32)
    target = ws.datasets / "flat" / "a" / "1.png"
    before = target.stat()
    del first
    save(target, 250)
    os.utime(target, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert (target.stat().st_size, target.stat().st_mtime_ns) == (before.st_size, before.st_mtime_ns)
    again = build_cache(scan_dataset(ws, "flat"), root, 32, progress=decoded(calls))
    assert calls[-1] == 1  # that case alone, decoded again
    assert np.asarray(again.images)[[c.image for c in again.cases].index(target)].min() == 250
    del again
    os.chmod(ws.datasets / "flat" / "b" / "2.png", 0o600)  # its change time moved (as on a copy), its content did not
    calls.clear()
    build_cache(scan_dataset(ws, "flat"), root, 32, progress=decoded(calls))
    assert calls == []  # its content hash still matches: kept
