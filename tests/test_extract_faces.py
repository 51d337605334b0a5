"""extract_faces.py: crops with a manifest, faces not found listed, bad files named, resume."""
import csv

import numpy as np
from PIL import Image

from conftest import run, save_rgb


def make_dataset(root, portraits):
    """A tiny mask_dataset with real faces, a faceless picture and every kind of bad file."""
    test = root / "not_masked" / "test"
    save_rgb(test / "hopper.jpg", portraits["hopper"])
    save_rgb(root / "not_masked" / "train" / "astronaut.jpg", portraits["astronaut"])
    save_rgb(test / "wall.jpg", np.full((120, 160, 3), 128, np.uint8))
    Image.fromarray(portraits["astronaut"]).convert("L").save(test / "grey.png")
    Image.fromarray(portraits["astronaut"]).convert("RGBA").save(test / "alpha.png")
    Image.fromarray(portraits["hopper"]).convert("CMYK").save(test / "cmyk.jpg")
    grey16 = (np.asarray(Image.fromarray(portraits["astronaut"]).convert("L"), np.uint16) * 257)
    Image.fromarray(grey16).save(test / "deep16.png")
    (test / "zero.jpg").write_bytes(b"")
    (test / "text.jpg").write_text("not an image")
    good = (test / "hopper.jpg").read_bytes()
    (test / "truncated.jpg").write_bytes(good[: len(good) // 3])
    (root / "incorrectly_masked" / "test").mkdir(parents=True)   # an empty class folder
    return root


def test_crops_manifest_missed_and_bad_files(tmp_path, portraits, capsys):
    data = make_dataset(tmp_path / "ds", portraits)
    out = tmp_path / "faces"
    assert run("extract_faces.py", "--data_dir", data, "--output_dir", out) == 0
    log = capsys.readouterr().out
    with open(out / "manifest.csv") as f:
        rows = {r["file"]: r for r in csv.DictReader(f)}
    expected = {"hopper", "astronaut", "grey", "alpha", "cmyk", "deep16"}
    assert {r.split("/")[-1][:-4] for r in rows} == expected
    for r in rows.values():
        crop = Image.open(out / r["file"])
        assert crop.mode == "RGB" and min(crop.size) > 40 and float(r["score"]) > 0.5
    assert "wall.jpg" in (out / "missed.txt").read_text()
    for bad in ("zero.jpg", "text.jpg", "truncated.jpg"):
        line = next(line for line in log.splitlines() if bad in line)
        assert line.startswith("skipped:") and "not a readable image" in line
    assert "Traceback" not in log
    assert not list(out.rglob(".*.part*"))


def test_rerun_skips_done_crops(tmp_path, portraits):
    data = tmp_path / "ds"
    save_rgb(data / "not_masked" / "test" / "hopper.jpg", portraits["hopper"])
    out = tmp_path / "faces"
    assert run("extract_faces.py", "--data_dir", data, "--output_dir", out) == 0
    crop = next(out.rglob("hopper.jpg"))
    mtime = crop.stat().st_mtime_ns
    save_rgb(data / "not_masked" / "train" / "astronaut.jpg", portraits["astronaut"])
    assert run("extract_faces.py", "--data_dir", data, "--output_dir", out) == 0
    assert crop.stat().st_mtime_ns == mtime
    assert len(list(out.rglob("*.jpg"))) == 2


def test_missing_data_dir_is_one_line(tmp_path, capsys):
    assert run("extract_faces.py", "--data_dir", tmp_path / "nope", "--output_dir", tmp_path / "o") == 2
    out = capsys.readouterr().out
    assert "error:" in out and "nope" in out and "Traceback" not in out


def test_output_inside_the_data_is_refused_and_the_data_kept(tmp_path, portraits, capsys):
    """An --overwrite into the data folder would delete the pictures: refused before anything is touched."""
    data = make_dataset(tmp_path / "data", portraits)
    before = sorted(p.relative_to(data) for p in data.rglob("*") if p.is_file())
    for out in (data, data / "faces", tmp_path):
        assert run("extract_faces.py", "--data_dir", data, "--output_dir", out, "--overwrite") == 2
        assert "must be outside the data folder" in capsys.readouterr().out
    assert sorted(p.relative_to(data) for p in data.rglob("*") if p.is_file()) == before
