"""prepare_dataset.py: classes from MaskedFace-Net names, identity split, duplicates, drawn masks."""
import csv
import shutil

import pytest

from conftest import SHARED, needs_shared, run, save_rgb
from maskdet.dataset import ffhq_identity, mfn_class, parse_class_map, split_of
from maskdet import InputError


@pytest.mark.parametrize("name,cls", [
    ("00042_Mask.jpg", "correctly_masked"), ("00042_Mask_Mouth_Chin.jpg", "incorrectly_masked"),
    ("00042_Mask_Chin.jpg", "incorrectly_masked"), ("00042_Mask_Nose_Mouth.jpg", "incorrectly_masked"),
    ("00042.jpg", None), ("cat_Mask.jpg", None)])
def test_mfn_class_from_suffix(name, cls):
    assert mfn_class(name) == cls


def test_identity_split_is_deterministic_and_shared_by_variants():
    assert ffhq_identity("00042_Mask_Chin.jpg") == ffhq_identity("00042_Mask.jpg") == "ffhq:42"
    splits = [split_of(f"ffhq:{i}") for i in range(2000)]
    assert splits == [split_of(f"ffhq:{i}") for i in range(2000)]
    assert 0.15 < splits.count("test") / len(splits) < 0.25


def test_class_map_rejects_unknown_class():
    assert parse_class_map("masked=correctly_masked")["masked"] == "correctly_masked"
    with pytest.raises(InputError):
        parse_class_map("masked=wearing")


def _manifest(out):
    with open(out / "manifest.csv") as f:
        return list(csv.DictReader(f))


def test_builds_layout_drops_duplicates_and_draws_masks(tmp_path, portraits):
    src = tmp_path / "mfn"
    pictures = [portraits["hopper"], portraits["astronaut"], portraits["hopper"][:, ::-1]]
    for i, (pos, rgb) in enumerate(zip(["Mask", "Mask_Mouth_Chin", "Mask_Nose_Mouth"], pictures)):
        save_rgb(src / f"0000{i}_{pos}.jpg", rgb)
    photos = tmp_path / "photos"
    save_rgb(photos / "without_mask" / "a.jpg", portraits["astronaut"][:, ::-1])
    shutil.copy(photos / "without_mask" / "a.jpg", photos / "without_mask" / "copy_of_a.jpg")
    (photos / "with_mask").mkdir()
    (photos / "with_mask" / "broken.jpg").write_bytes(b"")
    out = tmp_path / "ds"
    assert run("prepare_dataset.py", "--maskedface_net", src, "--class_folder", photos, "--output_dir", out) == 0
    rows = _manifest(out)
    by_source = {}
    for r in rows:
        by_source.setdefault(r["source"], []).append(r)
        assert (out / r["file"]).is_file()
    assert len(by_source["maskedface_net"]) == 3
    assert len(by_source["photos"]) == 1                      # the identical copy is dropped
    assert sorted(r["class"] for r in by_source["synthetic"]) == ["correctly_masked", "incorrectly_masked"]
    assert {r["split"] for r in by_source["synthetic"]} == {by_source["photos"][0]["split"]}


@needs_shared
def test_shared_identity_split_has_no_overlap(tmp_path):
    out = tmp_path / "ds"
    assert run("prepare_dataset.py", "--maskedface_net", SHARED / "maskedface_net", "--limit", "300",
               "--synth_masks", "0", "--output_dir", out) == 0
    rows = _manifest(out)
    train = {r["identity"] for r in rows if r["split"] == "train"}
    test = {r["identity"] for r in rows if r["split"] == "test"}
    assert train and test and not train & test


def test_a_source_folder_without_images_is_named(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert run("prepare_dataset.py", "--class_folder", tmp_path / "empty", "--output_dir", tmp_path / "out") == 2
    assert f"error: no source images found in --class_folder {tmp_path / 'empty'}" in capsys.readouterr().out
    assert run("prepare_dataset.py", "--output_dir", tmp_path / "out") == 2
    assert "give --maskedface_net, --ffhq or --class_folder" in capsys.readouterr().out
