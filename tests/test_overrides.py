"""test.py's --min_face_size and --detect_every override the model's settings, observably."""
import json

import cv2
import numpy as np
import pytest

from conftest import ROOT, run, save_rgb
from maskdet.metrics import iou

MODEL = ROOT / "models" / "mask_classifier.pt"
HOPPER_FACE = (170, 140, 360, 335)  # her face in the 512x600 portrait, read by eye off a 50 px grid
PASTE = (100, 40, 220, 184)         # the portrait in a 320x240 frame: a face of about 45 px


@pytest.fixture(scope="module")
def scene(tmp_path_factory, portraits):
    """A 12-frame clip, a 9-frame frames folder and a one-image VOC scene, all of the same frame; the
    face's true box in frame pixels."""
    root = tmp_path_factory.mktemp("overrides")
    x1, y1, x2, y2 = PASTE
    frame = np.full((240, 320, 3), 90, np.uint8)
    frame[y1:y2, x1:x2] = cv2.resize(portraits["hopper"], (x2 - x1, y2 - y1), interpolation=cv2.INTER_AREA)
    sx, sy = (x2 - x1) / 512, (y2 - y1) / 600
    truth = (x1 + HOPPER_FACE[0] * sx, y1 + HOPPER_FACE[1] * sy, x1 + HOPPER_FACE[2] * sx, y1 + HOPPER_FACE[3] * sy)
    bgr = cv2.cvtColor(frame, cv2.COLOR_RGB2BGR)
    w = cv2.VideoWriter(str(root / "clip.avi"), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (320, 240))
    for _ in range(12):
        w.write(bgr)
    w.release()
    save_rgb(root / "scenes" / "images" / "a.jpg", frame)
    for i in range(9):
        save_rgb(root / "frames" / "cam" / f"frame_{i + 1:06d}.jpg", frame)
    b = [round(v) for v in truth]
    (root / "scenes" / "annotations").mkdir()
    (root / "scenes" / "annotations" / "a.xml").write_text(
        "<annotation><filename>a.jpg</filename><size><width>320</width><height>240</height></size><object>"
        f"<name>without_mask</name><bndbox><xmin>{b[0]}</xmin><ymin>{b[1]}</ymin><xmax>{b[2]}</xmax>"
        f"<ymax>{b[3]}</ymax></bndbox></object></annotation>")
    return root, truth


def _live(root, tmp_path, *flags):
    log = tmp_path / f"live{len(list(tmp_path.glob('*.jsonl')))}.jsonl"
    assert run("test.py", "--source", root / "clip.avi", "--log", log, "--no_speech", "--model", MODEL, *flags) == 0
    return [json.loads(x) for x in log.read_text().splitlines()]


def test_min_face_size_larger_than_the_face_hides_it_live(scene, tmp_path):
    root, truth = scene
    found = _live(root, tmp_path, "--max_frames", "3")
    assert [len(r["faces"]) for r in found] == [1, 1, 1]
    assert all(iou(r["faces"][0]["box"], truth) > 0.5 for r in found)        # where it was pasted
    assert [len(r["faces"]) for r in _live(root, tmp_path, "--max_frames", "3", "--min_face_size", "150")] == [0, 0, 0]


def test_min_face_size_overrides_the_stills_detector_too(scene, tmp_path):
    """VOC scenes use the model's still-image detector (its own min_face_size): the flag reaches it as well.
    (Its loose thresholds let the later stages shrink a box: at 100 it still finds this 42 px face, so 150.)"""
    root, _ = scene
    recall, stored = {}, {}
    for flags in ((), ("--min_face_size", "150")):
        report = tmp_path / f"r{len(flags)}.json"
        assert run("test.py", "--data_dir", root / "scenes", "--split", "all", "--report", report, "--model", MODEL,
                   *flags) == 0
        r = json.loads(report.read_text())
        recall[flags], stored[flags] = r["detection"]["recall"], r["detector"]["min_face_size"]
    assert recall == {(): 1.0, ("--min_face_size", "150"): 0.0}
    assert stored == {(): 5, ("--min_face_size", "150"): 150}             # the report names the settings used


def test_detect_every_sets_how_often_the_full_search_runs(scene, tmp_path, monkeypatch):
    """9 frames: the search runs on frames 1, 1+k, 1+2k ...; the model's own k is 8."""
    from maskdet.detect import FaceDetector

    calls, real = [], FaceDetector.detect

    def counting(self, rgb, *args, **kwargs):    # a spy: counts, then runs the real search
        calls.append(rgb.shape)
        return real(self, rgb, *args, **kwargs)

    monkeypatch.setattr(FaceDetector, "detect", counting)
    for flags, searches in (((), 2), (("--detect_every", "3"), 3)):
        calls.clear()
        log = _live(scene[0], tmp_path, "--max_frames", "9", *flags)
        assert len(calls) == searches, flags
        assert [len(r["faces"]) for r in log] == [1] * 9                      # followed in between
    calls.clear()                                                             # the frames-folder path too
    assert run("test.py", "--data_dir", scene[0] / "frames", "--output_dir", tmp_path / "out", "--no_speech",
               "--model", MODEL, "--detect_every", "1") == 0
    assert len(calls) == 9
