"""Pascal VOC parsing of untrusted files: malformed XML, entities, boxes outside, unknown classes, path escapes."""
import pytest

from conftest import run, save_rgb
from maskdet import InputError
from maskdet.dataset import parse_class_map
from maskdet.voc import load_scenes, parse_voc

CMAP = parse_class_map("")


def voc(filename="a.jpg", objects=(("with_mask", (10, 10, 50, 50)),), size=(100, 80), extra=""):
    objs = "".join(f"<object><name>{n}</name><bndbox><xmin>{b[0]}</xmin><ymin>{b[1]}</ymin>"
                   f"<xmax>{b[2]}</xmax><ymax>{b[3]}</ymax></bndbox></object>" for n, b in objects)
    return (f"{extra}<annotation><filename>{filename}</filename><size><width>{size[0]}</width>"
            f"<height>{size[1]}</height></size>{objs}</annotation>")


@pytest.fixture
def scene_dir(tmp_path):
    import numpy as np
    save_rgb(tmp_path / "images" / "a.jpg", np.zeros((80, 100, 3), np.uint8))
    (tmp_path / "annotations").mkdir()
    return tmp_path


def write(scene_dir, text, name="a.xml"):
    p = scene_dir / "annotations" / name
    p.write_text(text)
    return p


def test_parses_and_maps_classes(scene_dir):
    s = parse_voc(write(scene_dir, voc(objects=[("with_mask", (10, 10, 50, 50)), ("mask_weared_incorrect", (1, 1, 9, 9)),
                                                 ("without_mask", (60, 10, 90, 40))])), scene_dir / "images", CMAP)
    assert s.classes == ["correctly_masked", "incorrectly_masked", "not_masked"] and s.boxes[0] == (10, 10, 50, 50)


def test_boxes_outside_image_are_clipped_or_dropped(scene_dir):
    s = parse_voc(write(scene_dir, voc(objects=[("with_mask", (-5, -5, 30, 200)), ("with_mask", (150, 150, 190, 190))])),
                  scene_dir / "images", CMAP)
    assert s.boxes == [(0.0, 0.0, 30.0, 80.0)] and len(s.dropped) == 1 and "outside" in s.dropped[0]


def test_unknown_class_is_dropped_and_named(scene_dir):
    s = parse_voc(write(scene_dir, voc(objects=[("helmet", (10, 10, 50, 50))])), scene_dir / "images", CMAP)
    assert s.boxes == [] and "unknown class 'helmet'" in s.dropped[0]


@pytest.mark.parametrize("text,msg", [
    ("<annotation><filename>a.jpg</filename>", "malformed"),
    ("", "malformed"),
    ('<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;">]>'
     "<annotation><filename>&lol2;</filename></annotation>", "unsafe"),
    ('<?xml version="1.0"?><!DOCTYPE a [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
     "<annotation><filename>&xxe;</filename></annotation>", "unsafe"),
    ("<html><body/></html>", "not a Pascal VOC"),
])
def test_malformed_and_hostile_xml_is_refused(scene_dir, text, msg):
    with pytest.raises(InputError, match=msg if msg != "unsafe" else "malformed or unsafe"):
        parse_voc(write(scene_dir, text), scene_dir / "images", CMAP)


@pytest.mark.parametrize("name", ["../../etc/passwd", "/etc/passwd", "../outside.jpg", "sub/../../outside.jpg"])
def test_filename_may_not_leave_the_data_folder(scene_dir, name):
    save_rgb(scene_dir / "outside.jpg", __import__("numpy").zeros((8, 8, 3), "uint8"))
    with pytest.raises(InputError, match="outside"):
        parse_voc(write(scene_dir, voc(filename=name)), scene_dir / "images", CMAP)


def test_load_scenes_collects_errors_and_splits_by_image(scene_dir):
    write(scene_dir, voc())
    write(scene_dir, "<broken", name="b.xml")
    scenes, errors = load_scenes(scene_dir)
    assert len(scenes) == 1 and len(errors) == 1 and "b.xml" in errors[0]
    train, _ = load_scenes(scene_dir, split="train")
    test, _ = load_scenes(scene_dir, split="test")
    assert len(train) + len(test) == 1


def test_extract_faces_crops_annotated_boxes(scene_dir, tmp_path):
    write(scene_dir, voc(objects=[("with_mask", (10, 10, 50, 50)), ("without_mask", (55, 20, 95, 60))]))
    out = tmp_path.with_name(tmp_path.name + "_crops")  # beside the scenes: never inside the data folder
    assert run("extract_faces.py", "--data_dir", scene_dir, "--output_dir", out) == 0
    crops = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.jpg"))
    assert len(crops) == 2 and crops[0].startswith("correctly_masked/") and crops[1].startswith("not_masked/")
