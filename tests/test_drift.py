"""The drift watch: rolling face statistics against the model's training reference, the printed
warning and the status in meta.json."""
import json
import re

import cv2
import numpy as np
import pytest

from conftest import ROOT, save_rgb
from maskdet.drift import DriftMonitor

MODEL = ROOT / "models" / "mask_classifier.pt"
BIG = {"box": (0, 0, 50, 40), "score": 0.9}          # longer side 50: not small
SMALL = {"box": (10, 10, 41, 30), "score": 0.6}      # longer side 31: small (< 32)
EDGE = {"box": (0, 0, 32, 32), "score": 0.6}         # longer side 32: not small


def test_statistics_by_hand_and_both_ways_to_drift():
    faces = [BIG] * 10 + [SMALL] * 9
    m = DriftMonitor({"confidence_mean": 0.86, "small_face_share": 0.2}, window=40)
    m.update(faces)
    assert m.status() == {"faces": 19, "drifting": None}                  # under half a window (and under 20)
    m.update([EDGE])
    s = m.status()
    # 20 faces: confidence (10 * 0.9 + 10 * 0.6) / 20 = 0.75; small 9 / 20 = 0.45
    assert (s["faces"], s["confidence_mean"], s["small_face_share"]) == (20, 0.75, 0.45)
    assert s["drifting"] is True                                          # 0.75 < 0.86 - 0.10
    for ref, drifting in (({"confidence_mean": 0.84, "small_face_share": 0.2}, False),   # 0.75 >= 0.74, 0.45 <= 0.50
                          ({"confidence_mean": 0.84, "small_face_share": 0.1}, True)):   # 0.45 > 0.10 + 0.30
        m2 = DriftMonitor(ref, window=40)
        m2.update(faces + [EDGE])
        assert m2.status()["drifting"] is drifting, ref
    m.update([{"box": (0, 0, 100, 100), "score": 0.2}] * 40)             # the window keeps the last 40 faces only
    s = m.status()
    assert (s["faces"], s["confidence_mean"], s["small_face_share"], s["drifting"]) == (40, 0.2, 0.0, True)
    m3 = DriftMonitor(None, window=40)                                    # a model without a reference: never judged
    m3.update(faces * 5)
    assert m3.status() == {"faces": 40, "drifting": None}


@pytest.fixture(scope="module")
def drifting_model(tmp_path_factory):
    """The shipped model with a training reference no real face can match (mean confidence 2.0)."""
    from maskdet.classifier import load_checkpoint, write_model
    from maskdet.config import ModelConfig

    ckpt = load_checkpoint(MODEL)
    config = ModelConfig.from_checkpoint(ckpt)
    config = config.merged(data={**config.data, "drift_reference": {"confidence_mean": 2.0, "small_face_share": 0.0}})
    path = tmp_path_factory.mktemp("model") / "drifting.pt"
    write_model(path, ckpt["model"], config, onet=ckpt.get("onet"))
    return path


def test_printed_warning_and_meta_json_agree(tmp_path, portraits, drifting_model, capsys):
    """process_folder (test.py's frames path) with the model's reference and a 40-face window: the
    warning fires once, at the frame where 20 faces (half the window) have been seen, with the
    statistics of those faces; meta.json holds those of the last 40 faces."""
    from maskdet.announce import Announcer
    from maskdet.classifier import load_classifier
    from maskdet.footage import FrameProcessor, process_folder
    from maskdet.pipeline import FacePipeline

    big, small = (cv2.resize(portraits["hopper"], s, interpolation=cv2.INTER_AREA) for s in ((100, 120), (70, 84)))
    frames = tmp_path / "frames" / "cam"
    for i in range(12):
        frame = np.full((210, 220, 3), 90, np.uint8)
        for k in range(2):
            frame[:120, 5 + k * 108:105 + k * 108] = big
            frame[124:208, 20 + k * 108:90 + k * 108] = small
        save_rgb(frames / f"frame_{i + 1:06d}.jpg", frame)
    (frames / "meta.json").write_text(json.dumps({"source": "cam.mp4", "fps": 10.0}))
    clf = load_classifier(drifting_model)

    def make_processor(fps, out):
        proc = FrameProcessor(FacePipeline(clf, detect_every=8), Announcer(), fps)
        proc.drift = DriftMonitor(proc.drift.ref, window=40)             # the model's reference, a short window
        return proc

    out = tmp_path / "out"
    log, _ = process_folder(frames, out, make_processor)
    printed = [x for x in capsys.readouterr().out.splitlines() if x.startswith("drift:")]
    assert log == [json.loads(x) for x in (out / "log.jsonl").read_text().splitlines()]
    meta = json.loads((out / "meta.json").read_text())["drift"]

    faces = [f for r in log for f in r["faces"]]
    small = [max(f["box"][2] - f["box"][0], f["box"][3] - f["box"][1]) < 32 for f in faces]
    assert len(faces) > 40 and meta["faces"] == 40 and 0 < np.mean(small) < 1
    assert meta["confidence_mean"] == pytest.approx(np.mean([f["score"] for f in faces[-40:]]), abs=1e-3)
    assert meta["small_face_share"] == pytest.approx(np.mean(small[-40:]), abs=1e-3)
    assert meta["drifting"] is True and meta["reference"] == {"confidence_mean": 2.0, "small_face_share": 0.0}

    assert len(printed) == 1                                              # once, not on every frame
    seen = np.cumsum([len(r["faces"]) for r in log])
    k = int(np.argmax(seen >= 20))                                        # the frame where it could first judge
    m = re.match(r"drift: t=([\d.]+) s, recent confidence ([\d.]+) and small-face share ([\d.]+) differ", printed[0])
    assert float(m.group(1)) == pytest.approx(log[k]["time"], abs=0.05)
    assert float(m.group(2)) == pytest.approx(np.mean([f["score"] for f in faces[:seen[k]]]), abs=1e-3)
    assert float(m.group(3)) == pytest.approx(np.mean(small[:seen[k]]), abs=1e-3)
    assert printed[0].endswith("differ from training (2.000 and 0.000): consider annotating frames (annotate.py export)")
