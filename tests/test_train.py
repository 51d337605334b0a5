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
    args = ["--data_dir", data, "--models_dir", tmp_path, "--name", "toy", "--epochs", "6", "--arch", "cnn",
            "--input_size", "32", "--batch_size", "16", "--lr", "2e-3"]
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
    common = ["--data_dir", data, "--epochs", "1", "--arch", "cnn", "--input_size", "32", "--batch_size", "8"]
    for name in ("a", "b"):
        assert run("train_mask_detection_model.py", *common, "--models_dir", tmp_path, "--name", name) == 0
    a, b = (load_checkpoint(tmp_path / f"{n}.pt")["model"] for n in "ab")
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert run("train_mask_detection_model.py", *common, "--models_dir", tmp_path, "--name", "ft",
               "--init_from", tmp_path / "a.pt", "--lr", "1e-4") == 0
    ft = load_checkpoint(tmp_path / "ft.pt")
    assert ft["config"]["init_from"].endswith("a.pt") and not torch.equal(ft["model"]["head.5.weight"], a["head.5.weight"])
    assert load_classifier(tmp_path / "ft.pt").input_size == 32


def test_onet_classifier_learns_and_init_from_keeps_or_swaps_the_network(tmp_path):
    """The default network, MTCNN's pretrained O-Net with a class head: 48 px, O-Net's normalisation. A
    finetune from it stays an O-Net; --arch cnn over the shipped model swaps the network only, keeping the
    detector settings and the verifier."""
    from conftest import ROOT
    data = toy_crops(tmp_path / "crops")
    assert run("train_mask_detection_model.py", "--data_dir", data, "--models_dir", tmp_path, "--name", "o",
               "--epochs", "3", "--batch_size", "16") == 0
    ckpt = load_checkpoint(tmp_path / "o.pt")
    assert ckpt["model_args"] == {"arch": "onet"} and ckpt["input_size"] == 48
    assert ckpt["normalize"] == {"mean": [0.5] * 3, "std": [0.5] * 3}
    assert ckpt["data"]["val_accuracy"] > 0.6
    assert run("train_mask_detection_model.py", "--data_dir", data, "--models_dir", tmp_path, "--name", "o2",
               "--epochs", "0", "--init_from", tmp_path / "o.pt") == 0
    again = load_checkpoint(tmp_path / "o2.pt")
    assert again["model_args"] == {"arch": "onet"} and all(torch.equal(again["model"][k], ckpt["model"][k]) for k in ckpt["model"])
    shipped = load_checkpoint(ROOT / "models" / "mask_classifier.pt")
    assert run("train_mask_detection_model.py", "--data_dir", data, "--models_dir", tmp_path, "--name", "c",
               "--epochs", "0", "--init_from", ROOT / "models" / "mask_classifier.pt", "--arch", "cnn",
               "--input_size", "24") == 0
    swapped = load_checkpoint(tmp_path / "c.pt")
    assert swapped["model_args"] == {"width": 64, "hidden": 128} and swapped["input_size"] == 24
    assert swapped["detector"] == shipped["detector"] and swapped["detect_every"] == shipped["detect_every"]
    assert all(torch.equal(swapped["onet"][k], shipped["onet"][k]) for k in shipped["onet"])
    assert load_classifier(tmp_path / "c.pt").input_size == 24


def test_new_net_starts_afresh_over_the_same_detector_and_verifier(tmp_path):
    """--init_from with --new_net: the classifier is MTCNN's pretrained O-Net again (not the file's trained
    network, of the same kind), the file's detector settings and verifier are kept."""
    from conftest import ROOT
    from facenet_pytorch.models.mtcnn import ONet
    shipped = load_checkpoint(ROOT / "models" / "mask_classifier.pt")
    assert run("train_mask_detection_model.py", "--data_dir", toy_crops(tmp_path / "crops", n=6), "--models_dir", tmp_path,
               "--name", "fresh", "--epochs", "0", "--init_from", ROOT / "models" / "mask_classifier.pt", "--new_net") == 0
    fresh, pretrained = load_checkpoint(tmp_path / "fresh.pt"), ONet().state_dict()
    conv = [k for k in fresh["model"] if fresh["model"][k].dim() == 4]   # the trunk's four convolutions, in order
    assert len(conv) == 4
    assert all(torch.equal(fresh["model"][k], pretrained[f"conv{i}.weight"]) for i, k in enumerate(conv, 1))
    assert not any(torch.equal(fresh["model"][k], shipped["model"][k]) for k in conv)
    assert fresh["detector"] == shipped["detector"] and fresh["detect_every"] == shipped["detect_every"]
    assert all(torch.equal(fresh["onet"][k], shipped["onet"][k]) for k in shipped["onet"])


def test_onet_classifier_starts_from_mtcnns_own_face_feature():
    """The pretrained trunk gives exactly the 256-d feature MTCNN's O-Net computes (its layout kept)."""
    from facenet_pytorch.models.mtcnn import ONet
    from maskdet.classifier import FaceNet
    onet, net, seen = ONet().eval(), FaceNet(3, pretrained=True).eval(), []
    onet.prelu5.register_forward_hook(lambda m, i, out: seen.append(out))
    x = torch.randn(5, 3, 48, 48, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        onet(x)
        assert torch.allclose(net.dense(net.features(x).permute(0, 3, 2, 1).flatten(1)), seen[0])
        assert not torch.allclose(net.dense(net.features(x).flatten(1)), seen[0])   # the layout matters


def test_training_sees_a_small_face_as_the_classifier_reads_it(tmp_path):
    """A 16-px camera crop is learnt enlarged exactly as inference enlarges it (bilinear), not in
    blocks of repeated pixels; a large crop is shrunk by area averaging on both sides too."""
    import cv2
    from maskdet.training import load_split
    rng = np.random.default_rng(3)
    small, large = (rng.integers(0, 256, (n, n, 3), dtype=np.uint8) for n in (16, 96))
    save_rgb(tmp_path / "c" / "not_masked" / "train" / "a.png", small)
    save_rgb(tmp_path / "c" / "not_masked" / "train" / "b.png", large)
    x, _, _, _ = load_split([tmp_path / "c"], "train", 48)
    assert np.array_equal(x[0].permute(1, 2, 0).numpy(), cv2.resize(small, (48, 48), interpolation=cv2.INTER_LINEAR))
    assert not np.array_equal(x[0].permute(1, 2, 0).numpy(), np.repeat(np.repeat(small, 3, 0), 3, 1))
    assert np.array_equal(x[1].permute(1, 2, 0).numpy(), cv2.resize(large, (48, 48), interpolation=cv2.INTER_AREA))
    clf = load_classifier("models/mask_classifier.pt")   # and the classifier reads it the same way
    read = clf.to_tensor([small])[0] * clf.std[0] + clf.mean[0]
    assert torch.allclose(read * 255, x[0].float(), atol=1e-3)


def test_no_crops_is_one_line(tmp_path, capsys):
    assert run("train_mask_detection_model.py", "--data_dir", tmp_path, "--models_dir", tmp_path) == 2
    out = capsys.readouterr().out
    assert "error:" in out and "Traceback" not in out
    assert not list(tmp_path.glob("*.pt"))
    assert run("train_mask_detection_model.py", "--data_dir", tmp_path / "nope", "--models_dir", tmp_path) == 2
    assert f"error: {tmp_path / 'nope'}: crops folder not found" in capsys.readouterr().out


def test_init_from_keeps_what_the_flags_do_not_change(tmp_path):
    """Retraining from the shipped model keeps its detector settings, its verifier and how the verifier was
    trained; only the flag given (--min_face_size) changes."""
    from conftest import ROOT
    shipped = load_checkpoint(ROOT / "models" / "mask_classifier.pt")
    assert shipped["detector"] and shipped["detector_training"] and shipped["onet"]   # something to keep
    assert shipped["incorrect_odds"] != 1.0 and shipped["detector"]["mask_ssd"] > 0
    data = toy_crops(tmp_path / "crops", n=6)
    assert run("train_mask_detection_model.py", "--data_dir", data, "--models_dir", tmp_path, "--name", "again",
               "--epochs", "0", "--init_from", ROOT / "models" / "mask_classifier.pt", "--min_face_size", "12") == 0
    again = load_checkpoint(tmp_path / "again.pt")
    for key in ("detector_training", "detect_every", "incorrect_odds", "classes", "input_size", "model_args",
                "normalize", "crop_margin"):
        assert again[key] == shipped[key], key
    assert again["detector"]["min_face_size"] == 12 and shipped["detector"]["min_face_size"] != 12
    for k, v in shipped["detector"].items():                              # settings added later take defaults
        assert k == "min_face_size" or again["detector"][k] == v, k
    assert all(torch.equal(again["onet"][k], shipped["onet"][k]) for k in shipped["onet"])
    assert all(torch.equal(again["model"][k], shipped["model"][k]) for k in shipped["model"])   # 0 epochs
    assert run("train_mask_detection_model.py", "--data_dir", data, "--models_dir", tmp_path, "--name", "off",
               "--epochs", "0", "--init_from", tmp_path / "again.pt", "--mask_ssd", "0", "--mask_ssd_side", "640") == 0
    off = load_checkpoint(tmp_path / "off.pt")["detector"]
    changed = ("mask_ssd", "mask_ssd_side")
    assert (off["mask_ssd"], off["mask_ssd_side"]) == (0, 640) and again["detector"]["mask_ssd_side"] != 640
    assert {k: v for k, v in off.items() if k not in changed} == {k: v for k, v in again["detector"].items() if k not in changed}
    assert load_classifier(tmp_path / "off.pt").face_detector().mask_ssd is None


def test_model_config_round_trip():
    from maskdet.config import ModelConfig
    config = ModelConfig(input_size=40, detect_every=5).merged(detector={"min_face_size": 9, "thresholds": [0.1, 0.2, 0.3]},
                                                               data={"n": 1})
    again = ModelConfig.from_checkpoint(config.to_checkpoint())
    assert again == config
    assert again.detector.thresholds == (0.1, 0.2, 0.3) and again.detector.min_face_size == 9
    old = {"detector": {"min_face_size": 9}, "stream_detector": {"max_side": 640}}   # older files: one detector now
    assert ModelConfig.from_checkpoint(old).detector.max_side == 0 and "stream_detector" not in again.to_checkpoint()


def test_incorrect_odds_reshares_only_the_non_compliant_probability(tmp_path, capsys):
    """Hand-worked: P = (0.5, 0.1, 0.4) with odds x4 gives 0.1 * 4 : 0.4 of the 0.5 non-compliant,
    (0.5, 0.25, 0.25); (0.3, 0.3, 0.4) with odds x2 gives (0.3, 0.42, 0.28), now incorrectly masked."""
    from conftest import ROOT
    clf = load_classifier(ROOT / "models" / "mask_classifier.pt")
    assert clf.incorrect_odds == load_checkpoint(ROOT / "models" / "mask_classifier.pt")["incorrect_odds"] == 2.0
    order = [clf.classes.index(c) for c in ("correctly_masked", "incorrectly_masked", "not_masked")]
    as_model = lambda rows: np.array(rows)[:, np.argsort(order)]          # noqa: E731  the model's class order
    clf.incorrect_odds = 4.0
    assert np.allclose(clf.resplit(as_model([[0.5, 0.1, 0.4]])), as_model([[0.5, 0.25, 0.25]]))
    clf.incorrect_odds = 2.0
    assert np.allclose(clf.resplit(as_model([[0.3, 0.3, 0.4]])), as_model([[0.3, 0.42, 0.28]]))
    crops = [np.random.default_rng(i).integers(0, 255, (40, 40, 3), np.uint8) for i in range(6)]
    clf.incorrect_odds = 1.0
    plain = clf.predict_crops(crops)[2]
    clf.incorrect_odds = 3.0
    labels, _, probs = clf.predict_crops(crops)
    k, n, c = order[1], order[2], order[0]
    assert np.allclose(probs[:, c], plain[:, c], atol=1e-6) and np.allclose(probs.sum(1), 1, atol=1e-6)
    assert np.allclose(probs[:, k] / probs[:, n], 3 * plain[:, k] / plain[:, n], rtol=1e-4)
    assert labels == [clf.classes[i] for i in probs.argmax(1)]
    data = toy_crops(tmp_path / "crops", n=3)
    for bad in ("0", "inf"):
        assert run("train_mask_detection_model.py", "--data_dir", data, "--models_dir", tmp_path,
                   "--incorrect_odds", bad) == 2
        assert "error: --incorrect_odds must be a finite number above 0" in capsys.readouterr().out


def test_dry_run_writes_no_model_and_keeps_the_one_there(tmp_path, capsys):
    data = toy_crops(tmp_path / "crops", n=6)
    model = tmp_path / "toy.pt"
    model.write_bytes(b"the model a user trained")
    assert run("train_mask_detection_model.py", "--data_dir", data, "--models_dir", tmp_path, "--name", "toy",
               "--arch", "cnn", "--input_size", "32", "--batch_size", "8", "--dry_run") == 0
    assert "no model written" in capsys.readouterr().out
    assert model.read_bytes() == b"the model a user trained"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["crops", "toy.pt"]


def test_a_model_path_that_cannot_be_written_is_one_line_before_training(tmp_path, capsys):
    data = toy_crops(tmp_path / "crops", n=6)
    (tmp_path / "toy.pt").mkdir()  # a folder where the model file should go
    assert run("train_mask_detection_model.py", "--data_dir", data, "--models_dir", tmp_path, "--name", "toy",
               "--arch", "cnn", "--input_size", "32", "--epochs", "1") == 2
    out = capsys.readouterr().out
    assert "toy.pt: is a folder" in out and "val acc" not in out


def test_dry_run_with_no_epochs_writes_no_model_either(tmp_path):
    data = toy_crops(tmp_path / "crops", n=6)
    assert run("train_mask_detection_model.py", "--data_dir", data, "--models_dir", tmp_path / "m", "--name", "toy",
               "--arch", "cnn", "--input_size", "32", "--dry_run", "--epochs", "0") == 0
    assert not (tmp_path / "m" / "toy.pt").exists()


def test_training_over_a_model_keeps_the_one_it_replaces(tmp_path, capsys):
    data = toy_crops(tmp_path / "crops", n=6)
    (tmp_path / "toy.pt").write_bytes(b"the model a user trained")
    assert run("train_mask_detection_model.py", "--data_dir", data, "--models_dir", tmp_path, "--name", "toy",
               "--arch", "cnn", "--input_size", "32", "--batch_size", "8", "--epochs", "1") == 0
    assert (tmp_path / "toy.prev.pt").read_bytes() == b"the model a user trained"
    assert load_checkpoint(tmp_path / "toy.pt")["input_size"] == 32
    assert "note: replacing" in capsys.readouterr().out


def test_a_second_model_written_over_keeps_both_earlier_ones(tmp_path):
    """The README's recipe trains the classifier into the default model's name, then the verifier over
    it: the shipped model (first replaced) must survive the second replacement too."""
    data = toy_crops(tmp_path / "crops", n=6)
    (tmp_path / "toy.pt").write_bytes(b"the shipped model")
    args = ["--data_dir", data, "--models_dir", tmp_path, "--name", "toy", "--arch", "cnn", "--input_size", "32",
            "--batch_size", "8", "--epochs", "1"]
    assert run("train_mask_detection_model.py", *args) == 0
    first = (tmp_path / "toy.pt").read_bytes()
    assert run("train_mask_detection_model.py", *args, "--seed", "2") == 0
    assert (tmp_path / "toy.prev.pt").read_bytes() == b"the shipped model"
    assert (tmp_path / "toy.prev2.pt").read_bytes() == first
