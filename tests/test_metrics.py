"""Box matching and every metric on hand-made cases with known answers."""
import pytest

from maskdet.metrics import binary_scores, confusion, iou, match_boxes, per_class, size_bin
from maskdet.scenes import scene_report
from maskdet.voc import Scene

C = ("correctly_masked", "incorrectly_masked", "not_masked")


def test_iou_known_values():
    assert iou((0, 0, 10, 10), (0, 0, 10, 10)) == 1.0
    assert iou((0, 0, 10, 10), (5, 0, 15, 10)) == pytest.approx(50 / 150)
    assert iou((0, 0, 10, 10), (10, 10, 20, 20)) == 0.0


def test_matching_is_one_to_one_best_first():
    truth = [(0, 0, 10, 10), (20, 0, 30, 10)]
    pred = [(1, 0, 11, 10), (0, 0, 10, 10), (100, 100, 110, 110)]
    assert match_boxes(truth, pred, 0.4) == [(0, 1)]      # the exact box wins; the other truth has no match
    assert match_boxes(truth, [(21, 0, 31, 10), (0, 0, 10, 10)], 0.4) == [(0, 1), (1, 0)]
    assert match_boxes([], pred) == [] and match_boxes(truth, []) == []


def test_size_bins_edges():
    assert size_bin((0, 0, 31, 10)) == "small"
    assert size_bin((0, 0, 32, 10)) == "medium"
    assert size_bin((0, 0, 10, 63.9)) == "medium"
    assert size_bin((0, 0, 64, 64)) == "large"


def test_confusion_and_per_class_with_missed():
    m = confusion(["correctly_masked", "correctly_masked", "not_masked", "incorrectly_masked"],
                  ["correctly_masked", None, "correctly_masked", "incorrectly_masked"], C)
    assert m.tolist() == [[1, 0, 0, 1], [0, 1, 0, 0], [1, 0, 0, 0]]
    pc = per_class(m, C)
    assert pc["correctly_masked"] == {"precision": 0.5, "recall": 0.5, "support": 2}
    assert pc["not_masked"]["recall"] == 0.0 and pc["incorrectly_masked"]["precision"] == 1.0


def test_binary_scores():
    r = binary_scores([True, False, False, False], [False, False, False, False])
    assert r["accuracy"] == 0.75 and r["balanced_accuracy"] == 0.5
    assert (r["false_alarms"], r["missed_alarms"]) == (0, 1)
    assert binary_scores([False, True, False], [True, True, True])["false_alarms"] == 2
    assert binary_scores([True, False], [True, False])["balanced_accuracy"] == 1.0


def test_scene_report_known_answer():
    s1 = Scene(None, 100, 100, [(0, 0, 20, 20), (50, 50, 120, 120)], ["not_masked", "correctly_masked"])
    s2 = Scene(None, 100, 100, [(0, 0, 40, 40)], ["correctly_masked"])
    results = [(s1, [(0, 0, 20, 20), (200, 200, 210, 210)], ["not_masked", "not_masked"], [0.9, 0.9], [True, True]),
               (s2, [(0, 0, 40, 40)], ["incorrectly_masked"], [0.8], [True])]
    r = scene_report(results)
    d = r["detection"]
    assert d["recall"] == pytest.approx(2 / 3) and d["precision"] == pytest.approx(2 / 3)
    assert d["by_size"]["small"] == {"count": 1, "recall": 1.0}
    assert d["by_size"]["medium"] == {"count": 1, "recall": 1.0}
    assert d["by_size"]["large"] == {"count": 1, "recall": 0.0}
    assert d["large_and_medium_recall"] == 0.5                             # the 40 px face found, the 70 px one not
    c = r["classification"]
    assert c["accuracy"] == 0.5 and c["macro_recall"] == pytest.approx(0.5)  # not_masked 1.0, correct 0.0
    # scene 1 is bad in truth (1 of 2) and prediction (0 of 2); scene 2 is fine in truth, bad in prediction
    assert r["announce"] == {"accuracy": 0.5, "balanced_accuracy": 0.5, "count": 2, "positives": 1,
                             "false_alarms": 1, "missed_alarms": 0}


def test_scene_report_announces_on_counted_faces_only():
    """A face not counted (here a not_masked face the detector is unsure of) is drawn and measured, not announced on."""
    scene = Scene(None, 100, 100, [(0, 0, 40, 40)], ["correctly_masked"])
    boxes, labels = [(0, 0, 40, 40), (50, 50, 90, 90)], ["correctly_masked", "not_masked"]
    counted = scene_report([(scene, boxes, labels, [0.9, 0.9], [True, True])])
    unsure = scene_report([(scene, boxes, labels, [0.9, 0.9], [True, False])])
    assert counted["announce"]["accuracy"] == 0.0   # 1 of 2 correctly masked: announces, truth does not
    assert unsure["announce"]["accuracy"] == 1.0    # the unsure face does not count: 1 of 1
    assert unsure["detection"] == counted["detection"]  # detection is measured on every face
