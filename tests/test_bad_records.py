"""Malformed records inside otherwise good inputs: one line naming the file, the rest still done, no traceback.
Logs (binary, wrong types), VOC boxes (nan, inf, outside the real image), COCO files, manifests, cameras files."""
import json

import numpy as np
import pytest
from PIL import Image

from conftest import run, save_rgb
from maskdet import InputError
from maskdet.voc import load_scenes

BINARY = bytes(range(256)) * 4          # not UTF-8, not JSON, not CSV


def lines_with(out, text):
    return [line for line in out.splitlines() if text in line]


# announce.py: a bad log is skipped and named, the others summarised

def _log(path, records):
    path.parent.mkdir(parents=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in records))


def _frame(t, **kw):
    return {"time": t, "faces": [], "correctly_masked": 0, "total": 1, "ratio": 0.0, "announce": False, **kw}


def test_announce_skips_bad_logs_and_summarises_the_rest(tmp_path, capsys):
    frames, out = tmp_path / "frames", tmp_path / "summaries"
    (frames / "a_binary").mkdir(parents=True)
    (frames / "a_binary" / "log.jsonl").write_bytes(b'{"time": 0}\n' + BINARY)
    _log(frames / "b_faces_number" / "log.jsonl", [_frame(0.0), _frame(0.1, faces=3)])
    _log(frames / "c_ratio_text" / "log.jsonl", [_frame(0.0, ratio="high")])
    _log(frames / "d_good" / "log.jsonl", [_frame(0.0), _frame(0.1, announce=True, message="Mask!")])
    (frames / "e_empty").mkdir()
    (frames / "e_empty" / "log.jsonl").write_bytes(b"")
    assert run("announce.py", "--data_dir", frames, "--output_dir", out) == 0
    text = capsys.readouterr().out
    for bad, line in (("a_binary", 2), ("b_faces_number", 2), ("c_ratio_text", 1)):
        (skip,) = lines_with(text, f"{bad}/log.jsonl:{line}:")
        assert skip.startswith("skipped: ")
    (skip,) = lines_with(text, "e_empty/log.jsonl: empty")
    assert skip.startswith("skipped: ")
    assert json.loads((out / "d_good.json").read_text())["announcements"] == [0.1]
    assert sorted(p.name for p in out.glob("*.json")) == ["d_good.json"]
    assert "1 logs, 4 skipped" in text and "Traceback" not in text


def test_announce_with_only_bad_logs_fails_with_one_line(tmp_path, capsys):
    log = tmp_path / "x.jsonl"
    log.write_bytes(BINARY)
    assert run("announce.py", "--log", log, "--output_dir", tmp_path / "o") == 2
    text = capsys.readouterr().out
    assert lines_with(text, "skipped: ")[0].startswith(f"skipped: {log}:1:") and f"error: {log}:" in text


# Pascal VOC: boxes refused or clipped where the scene is loaded, so no later stage sees a bad one

def voc(name, objects, size=None):
    """A VOC file for images/<name>.jpg; `objects` [(class, (xmin, ymin, xmax, ymax) as text)]."""
    dims = f"<size><width>{size[0]}</width><height>{size[1]}</height></size>" if size else ""
    objs = "".join(f"<object><name>{c}</name><bndbox><xmin>{b[0]}</xmin><ymin>{b[1]}</ymin>"
                   f"<xmax>{b[2]}</xmax><ymax>{b[3]}</ymax></bndbox></object>" for c, b in objects)
    return f"<annotation><filename>{name}.jpg</filename>{dims}{objs}</annotation>"


SCENES = {  # every image is 100 x 80; name: (objects, <size>), and the boxes that must survive
    "nan": ([("with_mask", ("nan", 10, 50, 50)), ("without_mask", (60, 10, 90, 40))], (100, 80), [(60, 10, 90, 40)]),
    "inf": ([("with_mask", (10, 10, "inf", 50)), ("with_mask", (10, "-inf", 40, 50))], (100, 80), []),
    "nosize": ([("with_mask", (5000, 5000, 5100, 5100)), ("with_mask", (70, 50, 300, 300))], None, [(70, 50, 100, 80)]),
    "bigsize": ([("with_mask", (1000, 1000, 1200, 1200)), ("with_mask", (10, 10, 60, 60))], (4000, 3000), [(10, 10, 60, 60)]),
}


@pytest.fixture
def bad_voc(tmp_path):
    root = tmp_path / "queue"
    (root / "annotations").mkdir(parents=True)
    for name, (objects, size, _) in SCENES.items():
        save_rgb(root / "images" / f"{name}.jpg", np.full((80, 100, 3), 90, np.uint8))
        (root / "annotations" / f"{name}.xml").write_text(voc(name, objects, size))
    return root


def test_voc_refuses_non_finite_boxes_and_clips_to_the_real_image(bad_voc):
    scenes, errors = load_scenes(bad_voc)
    assert not errors
    by_name = {s.image.stem: s for s in scenes}
    for name, (objects, _, kept) in SCENES.items():
        s = by_name[name]
        assert (s.width, s.height) == (100, 80) and s.boxes == kept, name
        assert len(s.dropped) == len(objects) - len(kept)
        assert all(d.startswith(f"{bad_voc / 'annotations' / name}.xml: object ") for d in s.dropped)


def test_voc_size_follows_exif_rotation_as_images_are_read(tmp_path):
    from maskdet.images import load_rgb

    (tmp_path / "annotations").mkdir()
    (tmp_path / "images").mkdir()
    exif = Image.Exif()
    exif[0x0112] = 6                                             # stored 100 x 80, shown turned: 80 x 100
    Image.new("RGB", (100, 80)).save(tmp_path / "images" / "r.jpg", exif=exif)
    (tmp_path / "annotations" / "r.xml").write_text(voc("r", [("with_mask", (10, 10, 70, 95))], (100, 80)))
    (s,), _ = load_scenes(tmp_path)
    assert load_rgb(s.image).shape[:2] == (100, 80)
    assert (s.width, s.height) == (80, 100) and s.boxes == [(10, 10, 70, 95)]


def test_import_then_crop_and_verifier_samples_never_see_a_bad_box(bad_voc, tmp_path, capsys):
    from maskdet.images import load_rgb
    from maskdet.onet import samples

    scenes_dir = tmp_path / "scenes"
    assert run("annotate.py", "import", "--data_dir", bad_voc, "--output_dir", scenes_dir) == 0
    text = capsys.readouterr().out
    assert len(lines_with(text, "skipped: ")) == sum(len(o) - len(k) for o, _, k in SCENES.values())
    for name in ("nan", "inf", "nosize", "bigsize"):
        assert lines_with(text, f"{name}.xml: object ")
    crops = tmp_path / "crops"
    assert run("extract_faces.py", "--data_dir", scenes_dir, "--output_dir", crops) == 0
    text = capsys.readouterr().out
    assert len(list(crops.rglob("*.jpg"))) == sum(len(k) for _, _, k in SCENES.values()) and "Traceback" not in text
    scenes, _ = load_scenes(scenes_dir)                          # what finetune_detector.py trains on
    x, labels, _ = samples([(s, load_rgb(s.image), []) for s in scenes], np.random.default_rng(0))
    assert x.shape[1:] == (48, 48, 3) and len(labels) == 4 * sum(len(k) for _, _, k in SCENES.values())


# COCO import: the file itself refused with one line, a broken entry skipped

def _queue(tmp_path, coco):
    queue = tmp_path / "queue"
    (queue / "annotations").mkdir(parents=True)
    save_rgb(queue / "images" / "good.jpg", np.full((80, 100, 3), 90, np.uint8))
    path = tmp_path / "coco.json"
    if isinstance(coco, bytes):
        path.write_bytes(coco)
    elif coco is not None:
        path.write_text(coco if isinstance(coco, str) else json.dumps(coco))
    return queue, path


@pytest.mark.parametrize("coco, why", [(None, "cannot read"), (BINARY, "not a JSON file"), ("[1, 2]", "not a COCO file"),
                                       ('{"images": 3, "annotations": [], "categories": []}', "not a COCO file")])
def test_coco_file_that_is_not_coco_is_one_line(tmp_path, capsys, coco, why):
    queue, path = _queue(tmp_path, coco)
    assert run("annotate.py", "import", "--data_dir", queue, "--output_dir", tmp_path / "s", "--coco", path) == 2
    text = capsys.readouterr().out
    assert f"error: {path}: {why}" in text and "Traceback" not in text


def test_coco_broken_entries_are_skipped_and_the_rest_imported(tmp_path, capsys):
    coco = {"categories": [{"id": 1, "name": "with_mask"}],
            "images": [{"id": 1, "width": 100, "height": 80},                          # no file_name
                       {"id": 2, "file_name": "good.jpg", "width": 100, "height": 80}],
            "annotations": [{"id": 1, "image_id": 2, "category_id": 1, "bbox": [10, 10, 40, 40]},
                            {"id": 2, "image_id": 2, "category_id": 1, "bbox": [float("nan"), 10, 40, 40]},
                            {"id": 3, "image_id": 2, "category_id": 9, "bbox": [50, 10, 40, 40]}]}
    queue, path = _queue(tmp_path, coco)
    assert run("annotate.py", "import", "--data_dir", queue, "--output_dir", tmp_path / "s", "--coco", path) == 0
    text = capsys.readouterr().out
    for entry in ("images[0]: no 'file_name'", "annotations[1]: bbox", "annotations[2]: category_id 9"):
        assert len(lines_with(text, f"skipped: {path}: {entry}")) == 1, entry
    (scene,), errors = load_scenes(tmp_path / "s")
    assert not errors and scene.boxes == [(10, 10, 50, 50)] and "Traceback" not in text


# manifest.csv: a broken one stops the stage with one line and is left as it was

@pytest.mark.parametrize("manifest", [BINARY, b"correctly_masked/test/a.jpg,correctly_masked,test\n"])
def test_broken_manifest_is_one_line_and_kept(tmp_path, capsys, manifest):
    save_rgb(tmp_path / "src" / "with_mask" / "a.jpg", np.full((80, 100, 3), 90, np.uint8))
    save_rgb(tmp_path / "ds" / "not_masked" / "test" / "a.jpg", np.full((80, 100, 3), 90, np.uint8))
    for script, args in (("prepare_dataset.py", ["--class_folder", tmp_path / "src", "--synth_masks", "0"]),
                         ("extract_faces.py", ["--data_dir", tmp_path / "ds"])):
        out = tmp_path / script
        out.mkdir()
        (out / "manifest.csv").write_bytes(manifest)
        assert run(script, *args, "--output_dir", out) == 2
        text = capsys.readouterr().out
        assert f"error: {out / 'manifest.csv'}: " in text and "Traceback" not in text
        assert (out / "manifest.csv").read_bytes() == manifest


# fleet.py --cameras: a binary file is one line

def test_binary_cameras_file_is_one_line(tmp_path, capsys):
    from maskdet.fleet import read_cameras

    cams = tmp_path / "cams.txt"
    cams.write_bytes(BINARY)
    with pytest.raises(InputError, match=f"{cams}: not a text file"):
        read_cameras(cams)
    assert run("fleet.py", "--cameras", cams, "--output_dir", tmp_path / "o") == 2
    assert f"error: {cams}: not a text file" in capsys.readouterr().out


# drift_report.py: each refused annotation file named

def test_drift_report_names_refused_annotation_files(tmp_path, capsys):
    (tmp_path / "annotations").mkdir()
    save_rgb(tmp_path / "images" / "a.jpg", np.full((80, 100, 3), 90, np.uint8))
    (tmp_path / "annotations" / "a.xml").write_text("<annotation><filename>a.jpg")
    (tmp_path / "annotations" / "b.xml").write_text("<html/>")
    assert run("drift_report.py", "--data_dir", tmp_path, "--split", "all", "--output_dir", tmp_path / "r") == 2
    text = capsys.readouterr().out
    for name in ("a.xml", "b.xml"):
        assert lines_with(text, f"skipped: {tmp_path / 'annotations' / name}: ")


def test_drift_report_counts_only_the_scenes_it_could_read(tmp_path, capsys):
    """Two annotated scenes, one of them a JPEG cut short: the report is of one scene, and says one
    image was unreadable; when no image can be read it is one error line, no report."""
    from maskdet.active import voc_xml
    (tmp_path / "annotations").mkdir()
    for name in ("good", "cut"):
        save_rgb(tmp_path / "images" / f"{name}.jpg", np.full((80, 100, 3), 90, np.uint8))
        face = {"box": (20, 10, 60, 60), "label": "not_masked"}
        (tmp_path / "annotations" / f"{name}.xml").write_text(voc_xml(f"{name}.jpg", 100, 80, [face]))
    cut = tmp_path / "images" / "cut.jpg"
    cut.write_bytes(cut.read_bytes()[:-200])
    out = tmp_path / "r"
    assert run("drift_report.py", "--data_dir", tmp_path, "--split", "all", "--output_dir", out) == 0
    text = capsys.readouterr().out
    assert lines_with(text, f"skipped: {cut}: ")
    assert "1 scenes, 1 unreadable images, 0 annotation files refused" in text
    assert (out / "drift_report.md").read_text().startswith("1 scenes (all split")
    (tmp_path / "images" / "good.jpg").write_bytes(cut.read_bytes())
    assert run("drift_report.py", "--data_dir", tmp_path, "--split", "all", "--output_dir", tmp_path / "r2") == 2
    assert f"error: {tmp_path}: none of its 2 scene images could be read" in capsys.readouterr().out
    assert not (tmp_path / "r2" / "drift_report.md").exists()


def test_a_frame_the_coco_file_does_not_cover_keeps_out_its_pre_annotation(tmp_path, capsys):
    """The queue holds the model's guesses for every exported frame; with --coco only the frames the
    COCO file covers (a person corrected them) are imported."""
    coco = {"categories": [{"id": 1, "name": "with_mask"}],
            "images": [{"id": 1, "width": 100, "height": 80},                          # broken: no file_name
                       {"id": 2, "file_name": "good.jpg", "width": 100, "height": 80}],
            "annotations": [{"id": 1, "image_id": 2, "category_id": 1, "bbox": [10, 10, 40, 40]}]}
    queue, path = _queue(tmp_path, coco)
    save_rgb(queue / "images" / "guess.jpg", np.full((80, 100, 3), 90, np.uint8))
    (queue / "annotations" / "guess.xml").write_text(voc("guess", [("without_mask", (5, 5, 40, 40))], (100, 80)))
    assert run("annotate.py", "import", "--data_dir", queue, "--output_dir", tmp_path / "s", "--coco", path) == 0
    text = capsys.readouterr().out
    assert len(lines_with(text, "guess.xml: not in")) == 1
    (scene,), _ = load_scenes(tmp_path / "s")
    assert scene.image.name == "good.jpg" and not (tmp_path / "s" / "images" / "guess.jpg").exists()


def test_an_image_over_the_pixel_limit_is_refused_not_only_over_twice_it(tmp_path, monkeypatch):
    """Pillow warns from the limit and refuses only from twice it; the project refuses from the limit."""
    from maskdet.images import load_rgb

    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 10_000)
    save_rgb(tmp_path / "ok.png", np.zeros((100, 90, 3), np.uint8))       # 9,000 pixels
    save_rgb(tmp_path / "big.png", np.zeros((100, 150, 3), np.uint8))     # 15,000: between the limit and twice it
    assert load_rgb(tmp_path / "ok.png").shape == (100, 90, 3)
    with pytest.raises(InputError, match="big.png: image too large"):
        load_rgb(tmp_path / "big.png")
