"""The annotation loop: export pre-annotations, import (VOC or COCO), crop, and the drift report."""
import json

import cv2
import numpy as np
import pytest

from conftest import FACE_BOXES, ROOT, run, save_rgb
from maskdet.active import frame_worth, unsure_band
from maskdet.drift import DriftMonitor
from maskdet.voc import load_scenes

MODEL = ROOT / "models" / "mask_classifier.pt"


def test_frame_worth_prefers_uncertain_and_flipping_frames():
    sure = [{"box": (0, 0, 40, 40), "label": "not_masked", "score": 0.99, "det_score": 0.99}]
    unsure = [{"box": (0, 0, 40, 40), "label": "correctly_masked", "score": 0.55, "det_score": 0.99}]
    assert frame_worth(sure, None)[0] < frame_worth(unsure, None)[0]
    flipped, why = frame_worth(unsure, sure)
    assert why["flips"] == 1 and flipped > frame_worth(unsure, None)[0]
    assert frame_worth([], sure) == (0.0, {})
    doubtful = [dict(sure[0], det_score=0.7)]             # a face shown but not counted by the rule
    assert frame_worth(doubtful, None, (0.5, 0.9))[1]["near_threshold"] == 1.0
    assert frame_worth(sure, None, (0.5, 0.9))[1]["near_threshold"] == 0.0


def test_unsure_band_follows_the_model_cut_offs():
    from maskdet.detect import DetectorSettings
    assert unsure_band(DetectorSettings(min_score=0.5, count_score=0.9)) == (0.5, 0.9)
    assert unsure_band(DetectorSettings(min_score=0.0)) == pytest.approx((0.6, 0.8))


def test_export_import_round_trip(tmp_path, portraits):
    frames = tmp_path / "frames"
    save_rgb(frames / "a.jpg", portraits["hopper"])
    save_rgb(frames / "b.jpg", portraits["astronaut"])
    save_rgb(frames / "c.jpg", np.full((60, 80, 3), 100, np.uint8))
    queue, scenes = tmp_path / "queue", tmp_path / "scenes"
    assert run("annotate.py", "export", "--data_dir", frames, "--output_dir", queue, "--n", "2", "--model", MODEL) == 0
    assert sorted(p.name for p in (queue / "images").iterdir()) == ["a.jpg", "b.jpg"]     # the faceless frame is worth least
    coco = json.loads((queue / "coco.json").read_text())
    assert len(coco["images"]) == 2 and len(coco["annotations"]) >= 2
    assert run("annotate.py", "import", "--data_dir", queue, "--output_dir", scenes) == 0
    imported, errors = load_scenes(scenes)
    assert len(imported) == 2 and not errors and all(s.boxes for s in imported)
    # the same queue through its COCO file gives the same boxes
    for xml in (queue / "annotations").glob("*.xml"):
        xml.unlink()
    assert run("annotate.py", "import", "--data_dir", queue, "--output_dir", tmp_path / "s2", "--coco", queue / "coco.json") == 0
    again, _ = load_scenes(tmp_path / "s2")
    assert [len(s.boxes) for s in again] == [len(s.boxes) for s in imported]
    assert run("extract_faces.py", "--data_dir", scenes, "--output_dir", tmp_path / "crops") == 0
    assert len(list((tmp_path / "crops").rglob("*.jpg"))) == sum(len(s.boxes) for s in imported)


def test_drift_monitor_flags_small_unsure_faces():
    m = DriftMonitor({"confidence_mean": 0.95, "small_face_share": 0.0}, window=40)
    assert m.status()["drifting"] is None
    for _ in range(40):
        m.update([{"box": (0, 0, 60, 60), "score": 0.95}])
    assert m.status()["drifting"] is False
    for _ in range(40):
        m.update([{"box": (0, 0, 20, 20), "score": 0.6}])
    assert m.status()["drifting"] is True


def test_drift_report_compares_models_on_the_same_scenes(tmp_path, portraits):
    """Two scenes annotated by hand (FACE_BOXES); a third scene holds a face nobody annotated, so a
    detector that finds it loses precision."""
    from maskdet.active import voc_xml

    half = [cv2.resize(portraits[n][:512], (256, 256), interpolation=cv2.INTER_AREA) for n in ("astronaut", "hopper")]
    scenes = dict(portraits, both=np.hstack(half))                      # small: the loose search costs by the pixel
    boxes = dict(FACE_BOXES, both=tuple(v / 2 for v in FACE_BOXES["astronaut"]))
    for name, rgb in scenes.items():
        save_rgb(tmp_path / "scenes" / "images" / f"{name}.jpg", rgb)
        xml = voc_xml(f"{name}.jpg", rgb.shape[1], rgb.shape[0], [{"box": boxes[name], "label": "not_masked"}])
        (tmp_path / "scenes" / "annotations").mkdir(exist_ok=True)
        (tmp_path / "scenes" / "annotations" / f"{name}.xml").write_text(xml)
    models = [ROOT / "models" / "mask_classifier_base.pt", MODEL]
    out = tmp_path / "reports"
    assert run("drift_report.py", "--data_dir", tmp_path / "scenes", "--split", "all", "--models", *models,
               "--output_dir", out) == 0
    table = (out / "drift_report.md").read_text()
    assert "| mask_classifier_base | mask_classifier |" in table and "| detection recall | 1.000 | 1.000 |" in table
    assert "| detection precision | 0.750 | 0.750 |" in table       # 3 of the 4 faces found were annotated
    assert (out / "drift_report.png").read_bytes()[:4] == b"\x89PNG"
    assert json.loads((out / "scenes_mask_classifier.json").read_text())["faces"] == 3


def test_frames_of_several_videos_round_trip_through_coco(tmp_path, portraits):
    """Frames folders of two videos (deconstruct.py's layout): the exported images are prefixed by the
    video's folder, and coco.json names those same files, so a COCO correction imports every frame."""
    frames = tmp_path / "frames"
    save_rgb(frames / "cam1" / "frame_000001.jpg", portraits["hopper"])
    save_rgb(frames / "cam2" / "frame_000001.jpg", portraits["astronaut"])
    queue = tmp_path / "queue"
    assert run("annotate.py", "export", "--data_dir", frames, "--output_dir", queue, "--n", "2", "--model", MODEL) == 0
    names = sorted(p.name for p in (queue / "images").iterdir())
    assert names == ["cam1_frame_000001.jpg", "cam2_frame_000001.jpg"]
    assert sorted(im["file_name"] for im in json.loads((queue / "coco.json").read_text())["images"]) == names
    for xml in (queue / "annotations").glob("*.xml"):
        xml.unlink()
    assert run("annotate.py", "import", "--data_dir", queue, "--output_dir", tmp_path / "s", "--coco", queue / "coco.json") == 0
    imported, errors = load_scenes(tmp_path / "s")
    assert sorted(s.image.name for s in imported) == names and not errors
