"""finetune_detector.py: MTCNN's O-Net finetuned on annotated scenes becomes the model's verifier."""
import shutil

import torch

from conftest import ROOT, SHARED, load_script, needs_shared, run

MODEL = ROOT / "models" / "mask_classifier.pt"


@needs_shared
def test_verifier_is_trained_stored_and_inherited(tmp_path):
    scenes = tmp_path / "scenes"
    for xml in sorted((SHARED / "scenes_dev" / "annotations").glob("*.xml"))[:6]:
        (scenes / "annotations").mkdir(parents=True, exist_ok=True)
        (scenes / "images").mkdir(exist_ok=True)
        shutil.copy(xml, scenes / "annotations")
        shutil.copy(SHARED / "scenes_dev" / "images" / f"{xml.stem}.jpg", scenes / "images")
    before = MODEL.read_bytes()
    out = tmp_path / "models" / "tuned.pt"
    out.parent.mkdir()
    out.write_bytes(b"an earlier model")
    assert run("finetune_detector.py", "--data_dir", scenes, "--model", MODEL, "--output", out, "--split", "all",
               "--epochs", "1", "--count_score", "0.8", "--pad", "0.1", "--upscale", "1.5", "--mask_ssd", "0.7", "--mask_ssd_side", "960") == 0
    assert MODEL.read_bytes() == before                         # --output: the source model is untouched
    assert out.with_suffix(".prev.pt").read_bytes() == b"an earlier model"   # what it replaced is kept
    from maskdet.classifier import load_checkpoint, load_classifier

    ckpt = load_checkpoint(out)
    assert ckpt["detector"]["min_score"] == 0.45 and ckpt["detector"]["count_score"] == 0.8
    assert (ckpt["detector"]["mask_ssd"], ckpt["detector"]["mask_ssd_side"]) == (0.7, 960)
    trained = ckpt["onet"]["dense6_1.weight"]
    from maskdet.onet import new_onet
    assert not torch.equal(trained, new_onet().state_dict()["dense6_1.weight"])  # it learned something
    tuned = load_classifier(out)
    assert tuned.verifier is not None and tuned.detector.pad == 0.1
    d = tuned.detector  # one detector for still images and streams: YuNet proposes, the verifier keeps
    assert (d.backend, d.upscale, d.max_side, d.verify) == ("yunet", 1.5, 1920, True)
    # retraining the classifier from this model keeps its verifier
    assert run("extract_faces.py", "--data_dir", scenes, "--output_dir", tmp_path / "crops", "--test_percent", "0") == 0
    assert run("train_mask_detection_model.py", "--init_from", out, "--epochs", "0", "--data_dir", tmp_path / "crops",
               "--models_dir", tmp_path / "models", "--name", "again") == 0
    assert torch.equal(load_checkpoint(tmp_path / "models" / "again.pt")["onet"]["dense6_1.weight"], trained)


def test_default_output_is_a_new_model_not_the_shipped_one():
    from maskdet import layout
    opt = load_script("finetune_detector.py").parse_args(["--data_dir", "scenes"])
    assert opt.model == layout.DEFAULT_MODEL and opt.output == layout.NEW_MODEL != layout.DEFAULT_MODEL


def test_no_annotations_is_one_line(tmp_path, capsys):
    (tmp_path / "annotations").mkdir()
    assert run("finetune_detector.py", "--data_dir", tmp_path, "--output", tmp_path / "m.pt") == 2
    out = capsys.readouterr().out
    assert "error:" in out and "no annotated faces" in out and "Traceback" not in out
    assert not (tmp_path / "m.pt").exists()
