"""Metrics against reference implementations on the same predictions."""

import numpy as np
import pytest

from deepq_widgets.training.box_metrics import detection, detection_intervals, match_boxes, weighted_average_precision
from deepq_widgets.training.metrics import confusion_counts, multi_label, single_label
from deepq_widgets.training.pixel_metrics import pixel_counts, segmentation, segmentation_intervals


def random_detections(rng, n_images=30, classes=2):
    preds, targets = [], []
    for _ in range(n_images):
        k = rng.integers(0, 4)
        xy = rng.uniform(0, 80, (k, 2))
        gt = np.concatenate([xy, xy + rng.uniform(8, 30, (k, 2))], 1)
        labels = rng.integers(1, classes + 1, k)
        noisy = gt + rng.normal(0, 3, gt.shape)
        extra = rng.integers(0, 3)
        exy = rng.uniform(0, 80, (extra, 2))
        boxes = np.concatenate([noisy, np.concatenate([exy, exy + 15], 1)])
        plabels = np.concatenate([labels, rng.integers(1, classes + 1, extra)])
        scores = rng.uniform(0.05, 1, len(boxes))
        preds.append({"boxes": boxes.astype(np.float32), "labels": plabels, "scores": scores.astype(np.float32)})
        targets.append({"boxes": gt.astype(np.float32), "labels": labels})
    return preds, targets


def coco_map50(preds, targets, categories):
    """mAP@0.5 from pycocotools' own COCOeval on the same boxes."""
    import contextlib
    import io

    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    xywh = lambda b: [float(b[0]), float(b[1]), float(b[2] - b[0]), float(b[3] - b[1])]  # noqa: E731
    images = [{"id": i} for i in range(len(targets))]
    anns = [
        {"id": n + 1, "image_id": i, "category_id": int(label), "bbox": xywh(box), "area": xywh(box)[2] * xywh(box)[3], "iscrowd": 0}
        for n, (i, box, label) in enumerate((i, b, c) for i, t in enumerate(targets) for b, c in zip(t["boxes"], t["labels"], strict=True))
    ]
    dets = [
        {"image_id": i, "category_id": int(c), "bbox": xywh(b), "score": float(s)}
        for i, p in enumerate(preds)
        for b, c, s in zip(p["boxes"], p["labels"], p["scores"], strict=True)
    ]
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO()
        gt.dataset = {"images": images, "annotations": anns, "categories": [{"id": c} for c in categories]}
        gt.createIndex()
        ev = COCOeval(gt, gt.loadRes(dets), "bbox")
        ev.params.iouThrs = np.array([0.5])
        ev.evaluate()
        ev.accumulate()
    precision = ev.eval["precision"][0, :, :, 0, -1]  # recall thresholds x categories, area all, maxDets 100
    return float(np.mean([precision[:, k].mean() for k in range(len(categories)) if (precision[:, k] > -1).all()]))


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_map50_agrees_with_pycocotools(seed):
    preds, targets = random_detections(np.random.default_rng(seed))
    assert detection(preds, targets, ["a", "b"]).headline["map50"] == pytest.approx(coco_map50(preds, targets, [1, 2]), abs=1e-9)


@pytest.mark.parametrize("seed", [0, 1])
def test_weighted_ap_equals_the_ap_of_the_images_listed_that_often(seed):
    """The bootstrap re-weights matched boxes instead of re-matching: it must give the AP of the resampled list."""
    rng = np.random.default_rng(seed)
    preds, targets = random_detections(rng)
    weights = rng.multinomial(len(preds), np.full(len(preds), 1 / len(preds)), size=5).astype(float)
    for label in (1, 2):
        matches = match_boxes(preds, targets, label)
        for row, found in zip(weights, weighted_average_precision(matches, weights), strict=True):
            listed = np.repeat(np.arange(len(preds)), row.astype(int))
            expected = detection([preds[i] for i in listed], [targets[i] for i in listed], ["a", "b"]).per_class
            assert found == pytest.approx(expected[["a", "b"][label - 1]]["ap50"], abs=1e-9)


def test_detection_intervals_hold_their_points_and_narrow_with_more_images():
    rng = np.random.default_rng(0)
    few, many = random_detections(rng, n_images=20), random_detections(rng, n_images=400)
    widths = []
    for preds, targets in (few, many):
        found = detection(preds, targets, ["a", "b"])
        (low, high), per_class = detection_intervals(preds, targets, ["a", "b"], found)
        assert low <= found.headline["map50"] <= high
        assert detection_intervals(preds, targets, ["a", "b"], found) == ((low, high), per_class)  # seeded
        for name in ("a", "b"):  # each class's AP and recall too
            (ap_low, ap_high), (rec_low, rec_high) = per_class[name]["ap50"], per_class[name]["recall"]
            assert ap_low <= found.per_class[name]["ap50"] <= ap_high and rec_low < rec_high
        widths.append(high - low)
    assert widths[1] < widths[0] / 2  # 20x the images: about 1/4.5 the width


def test_single_label_metrics_match_sklearn():
    from sklearn.metrics import accuracy_score, roc_auc_score

    rng = np.random.default_rng(0)
    truth = rng.integers(0, 2, 200)
    probs = np.clip(truth * 0.6 + rng.uniform(0, 0.6, 200), 0, 1)
    p = np.stack([1 - probs, probs], 1)
    m = single_label(p, truth, ["PTX", "normal"])
    assert m.headline["accuracy"] == pytest.approx(accuracy_score(truth, p.argmax(1)))
    assert m.headline["auroc"] == pytest.approx(roc_auc_score(truth, probs))
    # the positive class is PTX (index 0): sensitivity is recall of class 0
    assert m.headline["sensitivity"] == pytest.approx(((p.argmax(1) == 0) & (truth == 0)).sum() / (truth == 0).sum())


def test_multi_label_per_label_auroc_and_f1():
    from sklearn.metrics import f1_score, roc_auc_score

    rng = np.random.default_rng(1)
    truth = rng.integers(0, 2, (100, 3)).astype(float)
    probs = np.clip(truth * 0.5 + rng.uniform(0, 0.6, (100, 3)), 0, 1)
    m = multi_label(probs, truth, ["a", "b", "c"], thresholds=[0.5, 0.5, 0.5])
    for k, c in enumerate("abc"):
        assert m.per_class[c]["auroc"] == pytest.approx(roc_auc_score(truth[:, k], probs[:, k]))
        assert m.per_class[c]["f1"] == pytest.approx(f1_score(truth[:, k], probs[:, k] >= 0.5))


def test_dice_and_iou():
    truth = np.zeros((1, 10, 10), int)
    truth[0, :5, :5] = 1
    pred = np.zeros_like(truth)
    pred[0, :5, :4] = 1
    m = segmentation(pixel_counts(pred, truth, 2), ["organ"])
    assert m.headline["dice"] == pytest.approx(2 * 20 / (20 + 25)) and m.headline["iou"] == pytest.approx(20 / 25)


def test_segmentation_intervals_resample_images_for_the_means_and_every_class():
    rng = np.random.default_rng(4)
    counts = np.zeros((30, 3, 3), int)  # 30 images x (background, organ, lesion) x (tp, fp, fn) pixels
    counts[:, 1] = rng.integers([50, 0, 0], [100, 30, 30], (30, 3))
    counts[:, 2] = rng.integers([20, 0, 0], [60, 20, 20], (30, 3))
    headline, per_class = segmentation_intervals(counts, ["organ", "lesion"])
    found = segmentation(counts.sum(0), ["organ", "lesion"])
    assert set(headline) == {"dice", "iou"} and set(per_class) == {"organ", "lesion"}
    for name in ("organ", "lesion"):
        for fig in ("dice", "iou"):
            low, high = per_class[name][fig]
            assert low <= found.per_class[name][fig] <= high and low < high


def test_confusion_counts_dor():
    c = confusion_counts(np.array([1, 1, 0, 0]), np.array([1, 0, 0, 0]))
    assert (c["sensitivity"], c["specificity"], c["precision"]) == (0.5, 1.0, 1.0)
    assert c["dor"] == pytest.approx(1.5 * 2.5 / (0.5 * 1.5))
