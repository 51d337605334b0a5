"""finetune_detector.py --stream_verify: footage and live streams use the verifier too (off by default)."""
import cv2
import numpy as np
import pytest
import torch

from conftest import ROOT, run, save_rgb

MODEL = ROOT / "models" / "mask_classifier.pt"


@pytest.fixture(scope="module")
def tuned(tmp_path_factory, portraits):
    """One annotated scene (the Hopper portrait on grey); the model finetuned on it with --stream_verify
    (no training epochs: the verifier is MTCNN's own O-Net, which is all this needs). Without the flag:
    the shipped model, finetuned the same way without it (its detector_training says so)."""
    root = tmp_path_factory.mktemp("stream_verify")
    frame = np.full((240, 320, 3), 90, np.uint8)
    frame[40:184, 100:220] = cv2.resize(portraits["hopper"], (120, 144), interpolation=cv2.INTER_AREA)
    save_rgb(root / "scenes" / "images" / "a.jpg", frame)
    (root / "scenes" / "annotations").mkdir()
    (root / "scenes" / "annotations" / "a.xml").write_text(   # her face, read by eye (see test_detect_mapping)
        "<annotation><filename>a.jpg</filename><size><width>320</width><height>240</height></size><object>"
        "<name>without_mask</name><bndbox><xmin>140</xmin><ymin>74</ymin><xmax>184</xmax><ymax>120</ymax>"
        "</bndbox></object></annotation>")
    models = {"on": root / "on.pt", "off": MODEL}
    assert run("finetune_detector.py", "--data_dir", root / "scenes", "--model", MODEL, "--output", models["on"],
               "--split", "all", "--epochs", "0", "--min_face_size", "20", "--stream_verify") == 0
    return frame, models


def _sceptic_copy(path, tmp_dir):
    """The same model with a verifier that calls everything background."""
    from maskdet.classifier import load_checkpoint, write_model
    from maskdet.config import ModelConfig

    ckpt = load_checkpoint(path)
    onet = dict(ckpt["onet"], **{"dense6_1.bias": torch.tensor([20.0, -20.0])})
    out = tmp_dir / f"sceptic_{path.name}"
    write_model(out, ckpt["model"], ModelConfig.from_checkpoint(ckpt), onet=onet)
    return out


def _stream_faces(path, frame):
    """Faces the footage/live pipeline reports on two copies of `frame`."""
    from maskdet.classifier import load_classifier
    from maskdet.pipeline import FacePipeline

    pipe = FacePipeline(load_classifier(path), detect_every=1)
    return [len(faces) for _, faces in pipe.push(frame) + pipe.push(frame) + pipe.flush()]


def test_stream_verify_is_stored_with_its_cut_offs(tuned):
    from maskdet.classifier import load_checkpoint

    _, models = tuned
    on, off = (load_checkpoint(models[k])["stream_detector"] for k in ("on", "off"))
    assert load_checkpoint(models["off"])["detector_training"]["stream_verify"] is False
    # verified: the still-image cut-offs (--min_score 0.5, --count_score 0.9); not: --stream_min_score 0.85, all counted
    assert (on["verify"], on["min_score"], on["count_score"]) == (True, 0.5, 0.9)
    assert (off["verify"], off["min_score"], off["count_score"]) == (False, 0.85, 0.0)


def test_stream_pipeline_calls_the_verifier_only_with_the_flag(tuned, tmp_path):
    frame, models = tuned
    assert _stream_faces(models["on"], frame) == [1, 1]                              # a verifier that agrees keeps her
    assert _stream_faces(_sceptic_copy(models["on"], tmp_path), frame) == [0, 0]     # one that disagrees is heard
    assert _stream_faces(_sceptic_copy(models["off"], tmp_path), frame) == [1, 1]    # without the flag, not asked
