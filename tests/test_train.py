"""train_mask_detection_model.py: learns a tiny separable set, deterministic, checkpoint contents, finetune."""
import numpy as np
import torch

from conftest import run, save_rgb
from maskdet import CLASSES
from maskdet.classifier import load_checkpoint, load_classifier


def toy_crops(root, n=24, seed=0):
    """Faces as flat skin with a blue band where a mask would be: low, high or absent per class."""
    rng = np.random.default_rng(seed)
    bands = {"correctly_masked": (0.35, 1.0), "incorrectly_masked": (0.7, 1.0), "not_masked": None}
    for cls, band in bands.items():
        for split, count in (("train", n), ("test", n // 3)):
            for i in range(count):
                img = np.full((48, 48, 3), (200, 160, 140), np.float32) + rng.normal(0, 12, (48, 48, 3))
                if band:
                    img[int(48 * band[0]):int(48 * band[1])] = (120, 180, 230)
                save_rgb(root / cls / split / f"{i}.jpg", np.clip(img, 0, 255).astype(np.uint8))
    return root


def test_learns_separable_set_and_writes_full_checkpoint(tmp_path, capsys):
    data = toy_crops(tmp_path / "crops")
    args = ["--data_dir", data, "--models_dir", tmp_path, "--name", "toy", "--epochs", "6", "--input_size", "32",
            "--batch_size", "16"]
    assert run("train_mask_detection_model.py", *args) == 0
    out = capsys.readouterr().out
    assert "epoch  6/6" in out and "val acc" in out
    ckpt = load_checkpoint(tmp_path / "toy.pt")
    assert ckpt["classes"] == list(CLASSES) and ckpt["input_size"] == 32
    for key in ("normalize", "detector", "config", "data", "model_args"):
        assert key in ckpt
    assert ckpt["data"]["val_accuracy"] > 0.6          # chance is 1/3
    assert ckpt["data"]["per_class_train"]["not_masked"] == 24


def test_same_seed_same_weights_and_finetune(tmp_path):
    data = toy_crops(tmp_path / "crops", n=9)
    common = ["--data_dir", data, "--epochs", "1", "--input_size", "32", "--batch_size", "8"]
    for name in ("a", "b"):
        assert run("train_mask_detection_model.py", *common, "--models_dir", tmp_path, "--name", name) == 0
    a, b = (load_checkpoint(tmp_path / f"{n}.pt")["model"] for n in "ab")
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert run("train_mask_detection_model.py", *common, "--models_dir", tmp_path, "--name", "ft",
               "--init_from", tmp_path / "a.pt", "--lr", "1e-4") == 0
    ft = load_checkpoint(tmp_path / "ft.pt")
    assert ft["config"]["init_from"].endswith("a.pt") and not torch.equal(ft["model"]["head.5.weight"], a["head.5.weight"])
    assert load_classifier(tmp_path / "ft.pt").input_size == 32


def test_no_crops_is_one_line(tmp_path, capsys):
    assert run("train_mask_detection_model.py", "--data_dir", tmp_path, "--models_dir", tmp_path) == 2
    out = capsys.readouterr().out
    assert "error:" in out and "Traceback" not in out
    assert not list(tmp_path.glob("*.pt"))
