"""benchmarks/scenes_stream.py (both paths on annotated scenes) and benchmarks/folds.py's folds."""
import json

import cv2
import numpy as np

from conftest import FACE_BOXES, load_script, save_rgb


def write_scenes(root, portraits, names):
    """A VOC folder: each scene a grey 480x400 picture with one portrait pasted at (40, 30), its box the
    hand-annotated FACE_BOXES moved there (the truth: not produced by any detector)."""
    (root / "annotations").mkdir(parents=True)
    for k, name in enumerate(names):
        rgb = np.full((400, 480, 3), 128, np.uint8)
        src = portraits[name][:340, :400]
        rgb[30:30 + src.shape[0], 40:40 + src.shape[1]] = src
        save_rgb(root / "images" / f"scene{k}.jpg", rgb)
        x1, y1, x2, y2 = (v + d for v, d in zip(FACE_BOXES[name], (40, 30, 40, 30)))
        (root / "annotations" / f"scene{k}.xml").write_text(
            f"<annotation><filename>scene{k}.jpg</filename><size><width>480</width><height>400</height></size>"
            f"<object><name>without_mask</name><bndbox><xmin>{x1}</xmin><ymin>{y1}</ymin><xmax>{x2}</xmax>"
            f"<ymax>{y2}</ymax></bndbox></object></annotation>")
    return root


def test_both_paths_find_the_annotated_faces(tmp_path, portraits):
    """Each scene is played as a video, centred on a 1280x720 frame: the stream path's boxes must come back
    in the scene's own pixels, where the annotations are (a shift of the centring would miss them)."""
    data = write_scenes(tmp_path / "scenes", portraits, ["hopper", "astronaut"])
    out = tmp_path / "paths.json"
    assert load_script("benchmarks/scenes_stream.py").main(
        ["--data_dir", str(data), "--split", "all", "--json", str(out)]) == 0
    r = json.loads(out.read_text())
    for path in ("stream", "still"):
        assert r[path]["images"] == 2 and r[path]["faces"] == 2
        assert r[path]["detection"]["recall"] == 1.0, path
        assert r[path]["announce"]["positives"] == 2          # one unmasked face each: both scenes should speak


def test_every_training_scene_is_checked_once_and_learnt_by_the_other_folds(tmp_path, portraits):
    from maskdet.voc import load_scenes
    data = write_scenes(tmp_path / "scenes", portraits, ["hopper"] * 12)
    training = {s.image.name for s in load_scenes(data, "", "train", 40, 0)[0]}
    folds = load_script("benchmarks/folds.py")
    folds.make_folds(data, tmp_path / "work")
    seen = {}
    for k in range(folds.FOLDS):
        test = {p.name for p in (tmp_path / "work" / f"fold{k}" / "test" / "images").glob("*.jpg")}
        train = {p.name for p in (tmp_path / "work" / f"fold{k}" / "train" / "images").glob("*.jpg")}
        assert not test & train and test | train == training
        assert {p.stem for p in (tmp_path / "work" / f"fold{k}" / "test" / "annotations").glob("*.xml")} == \
            {n.rsplit(".", 1)[0] for n in test}
        for name in test:
            seen[name] = seen.get(name, 0) + 1
    assert seen == {name: 1 for name in training}
    assert cv2.imread(str(next((tmp_path / "work" / "fold0" / "train" / "images").glob("*.jpg")))) is not None


def test_missing_clean_crops_is_one_line_before_any_work(tmp_path, capsys):
    folds = load_script("benchmarks/folds.py")
    assert folds.main(["--data_dir", str(tmp_path), "--faces", str(tmp_path / "none"), "--work", str(tmp_path / "work")]) == 2
    assert capsys.readouterr().out.strip() == f"error: {tmp_path / 'none'}: clean face crops (README: extract_faces.py) not found"
    assert not (tmp_path / "work").exists()
