"""Faults and hostile input: one case per fault (message, exit code, nothing valid lost), and every
stage killed mid-run then re-run (nothing missing, duplicated or unreadable)."""
import json
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from PIL import Image

from conftest import ROOT, run, save_rgb, write_video
from maskdet.video import probe


def _exif_rotated(path, rgb):
    im = Image.fromarray(np.ascontiguousarray(np.rot90(rgb)))        # stored on its side ...
    exif = im.getexif()
    exif[0x0112] = 8                                                  # ... with "rotate 90 CW" in EXIF
    im.save(path, exif=exif)


IMAGE_FAULTS = {   # name: (writer, expected line or None when the picture must be used)
    "zero.jpg": (lambda p, rgb: p.write_bytes(b""), "not a readable image (empty file)"),
    "text.jpg": (lambda p, rgb: p.write_text("hello"), "not a readable image"),
    "truncated.jpg": (lambda p, rgb: p.write_bytes(_jpeg(rgb)[:3000]), "not a readable image"),
    "bomb.png": (lambda p, rgb: Image.new("L", (12_000, 12_000)).save(p), "image too large"),
    "grey.png": (lambda p, rgb: Image.fromarray(rgb).convert("L").save(p), None),
    "alpha.png": (lambda p, rgb: Image.fromarray(rgb).convert("RGBA").save(p), None),
    "deep16.png": (lambda p, rgb: Image.fromarray(np.asarray(Image.fromarray(rgb).convert("L"), np.uint16) * 257).save(p), None),
    "cmyk.jpg": (lambda p, rgb: Image.fromarray(rgb).convert("CMYK").save(p), None),
    "exif_rotated.jpg": (_exif_rotated, None),
}


def _jpeg(rgb):
    import io
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "JPEG")
    return buf.getvalue()


@pytest.mark.parametrize("name", sorted(IMAGE_FAULTS))
def test_image_fault(tmp_path, portraits, capsys, name):
    writer, expected = IMAGE_FAULTS[name]
    folder = tmp_path / "ds" / "not_masked" / "test"
    save_rgb(folder / "good.jpg", portraits["hopper"])
    folder.mkdir(parents=True, exist_ok=True)
    writer(folder / name, portraits["astronaut"])
    out = tmp_path / "faces"
    assert run("extract_faces.py", "--data_dir", tmp_path / "ds", "--output_dir", out) == 0
    log = capsys.readouterr().out
    crops = {p.stem for p in out.rglob("*.jpg")}
    assert "good" in crops and "Traceback" not in log                  # the valid picture is never lost
    if expected:
        line = next(x for x in log.splitlines() if name in x)
        assert line.startswith("skipped:") and expected in line and "\n" not in line
        assert "1 unreadable" in log
    else:
        assert name.rsplit(".", 1)[0] in crops                          # converted and used
        crop = Image.open(next(out.rglob(name.rsplit(".", 1)[0] + ".jpg")))
        assert crop.mode == "RGB"
        if name == "exif_rotated.jpg":
            assert crop.height >= crop.width * 0.9                      # upright face, not on its side


def test_nothing_usable_exits_non_zero(tmp_path, capsys):
    folder = tmp_path / "ds" / "not_masked" / "test"
    folder.mkdir(parents=True)
    (folder / "a.jpg").write_bytes(b"")
    assert run("extract_faces.py", "--data_dir", tmp_path / "ds", "--output_dir", tmp_path / "o") == 1
    assert "a.jpg" in capsys.readouterr().out


VIDEO_FAULTS = {
    "zero.mp4": lambda p, good: p.write_bytes(b""),
    "text.mp4": lambda p, good: p.write_text("not a video\n" * 50),
    "truncated.avi": lambda p, good: p.write_bytes(good.read_bytes()[:1500]),
    "no_frames.mp4": lambda p, good: p.write_bytes(good.read_bytes()[:48]),
}


@pytest.mark.parametrize("name", sorted(VIDEO_FAULTS))
def test_video_fault(tmp_path, capsys, name):
    raw = tmp_path / "raw"
    good = write_video(raw / "good.avi", n=8)
    VIDEO_FAULTS[name](raw / name, good)
    assert run("deconstruct.py", "--data_dir", raw, "--output_dir", tmp_path / "frames") == 0
    log = capsys.readouterr().out
    line = next(x for x in log.splitlines() if name in x)
    assert line.startswith("skipped:") and "Traceback" not in log
    assert len(list((tmp_path / "frames" / "good").glob("*.jpg"))) == 8
    assert "1 unreadable" in log


def test_corrupt_meta_json_is_one_line(tmp_path, capsys):
    write_video(tmp_path / "raw" / "clip.avi", n=4)
    assert run("deconstruct.py", "--data_dir", tmp_path / "raw", "--output_dir", tmp_path / "frames") == 0
    (tmp_path / "frames" / "clip" / "meta.json").write_text("{broken")
    assert run("reconstruct.py", "--data_dir", tmp_path / "frames", "--output_dir", tmp_path / "v") == 1
    out = capsys.readouterr().out
    assert "meta.json" in out and "Traceback" not in out


# ---- killed mid-run, then re-run ------------------------------------------------------------

def kill_when(args, ready, timeout=60):
    """Start a script, SIGKILL it as soon as ready() is true (or it ends); return whether it was killed."""
    proc = subprocess.Popen([sys.executable, *map(str, args)], cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    end = time.time() + timeout
    while proc.poll() is None:
        if ready() or time.time() > end:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            return True
        time.sleep(0.01)
    return False


def readable_jpegs(folder):
    files = sorted(folder.rglob("*.jpg"))
    for f in files:
        Image.open(f).load()
    return files


def test_deconstruct_killed_then_resumed(tmp_path):
    raw, frames = tmp_path / "raw", tmp_path / "frames"
    write_video(raw / "clip.avi", n=300, size=(320, 240))
    kill_when([ROOT / "deconstruct.py", "--data_dir", raw, "--output_dir", frames],
              lambda: (frames / "clip" / "frame_000020.jpg").exists())
    assert not (frames / "clip" / "meta.json").exists() or json.loads((frames / "clip" / "meta.json").read_text())
    assert run("deconstruct.py", "--data_dir", raw, "--output_dir", frames) == 0
    files = readable_jpegs(frames)
    assert [f.name for f in files] == [f"frame_{i:06d}.jpg" for i in range(1, 301)]
    assert not list(frames.rglob(".*part*"))


def test_extract_killed_then_resumed(tmp_path, portraits):
    ds = tmp_path / "ds"
    for i in range(12):
        save_rgb(ds / "not_masked" / "train" / f"p{i:02d}.jpg", portraits["hopper" if i % 2 else "astronaut"])
    out = tmp_path / "faces"
    kill_when([ROOT / "extract_faces.py", "--data_dir", ds, "--output_dir", out],
              lambda: len(list(out.rglob("p*.jpg"))) >= 3)
    assert run("extract_faces.py", "--data_dir", ds, "--output_dir", out) == 0
    assert [f.name for f in readable_jpegs(out)] == [f"p{i:02d}.jpg" for i in range(12)]
    rows = (out / "manifest.csv").read_text().splitlines()[1:]
    assert len(rows) == len(set(rows)) == 12


def test_test_frames_killed_then_resumed(tmp_path):
    raw, frames, out = tmp_path / "raw", tmp_path / "frames", tmp_path / "out"
    write_video(raw / "clip.avi", n=40, size=(320, 240))
    assert run("deconstruct.py", "--data_dir", raw, "--output_dir", frames) == 0
    kill_when([ROOT / "test.py", "--data_dir", frames, "--output_dir", out, "--no_speech"],
              lambda: len(list(out.rglob("frame_*.jpg"))) >= 5)
    assert run("test.py", "--data_dir", frames, "--output_dir", out, "--no_speech") == 0
    assert len(readable_jpegs(out)) == 40
    lines = (out / "clip" / "log.jsonl").read_text().splitlines()
    assert [json.loads(x)["index"] for x in lines] == list(range(1, 41))


def test_reconstruct_killed_leaves_no_half_file(tmp_path):
    raw, frames, videos = tmp_path / "raw", tmp_path / "frames", tmp_path / "videos"
    write_video(raw / "clip.avi", n=200, size=(640, 480))
    assert run("deconstruct.py", "--data_dir", raw, "--output_dir", frames) == 0
    kill_when([ROOT / "reconstruct.py", "--data_dir", frames, "--output_dir", videos],
              lambda: any(videos.glob(".*part*")) if videos.exists() else False)
    assert not (videos / "clip.mp4").exists() or probe(videos / "clip.mp4")["frames"] == 200
    assert run("reconstruct.py", "--data_dir", frames, "--output_dir", videos) == 0
    assert probe(videos / "clip.mp4")["frames"] == 200
    assert not list(videos.glob(".*part*"))


def test_prepare_killed_then_resumed(tmp_path, portraits):
    src = tmp_path / "photos" / "without_mask"
    for i in range(10):
        save_rgb(src / f"p{i}.jpg", np.roll(portraits["hopper"], i * 7, axis=1))
    out = tmp_path / "ds"
    args = ["--class_folder", tmp_path / "photos", "--output_dir", out]
    kill_when([ROOT / "prepare_dataset.py", *args], lambda: len(list(out.rglob("*.jpg"))) >= 4)
    assert run("prepare_dataset.py", *args) == 0
    files = readable_jpegs(out)
    rows = (out / "manifest.csv").read_text().splitlines()[1:]
    assert len(rows) == len(files) == 30                               # 10 photos + 2 drawn masks each


def test_train_killed_leaves_no_half_model(tmp_path):
    from test_train import toy_crops
    from maskdet.classifier import load_checkpoint

    data = toy_crops(tmp_path / "crops", n=60)
    args = ["--data_dir", data, "--models_dir", tmp_path / "models", "--name", "toy", "--input_size", "32", "--epochs", "30"]
    kill_when([ROOT / "train_mask_detection_model.py", *args], lambda: False, timeout=4)
    assert not (tmp_path / "models" / "toy.pt").exists()
    assert run("train_mask_detection_model.py", *args[:-1], "2") == 0
    assert load_checkpoint(tmp_path / "models" / "toy.pt")["config"]["epochs"] == 2
    assert [p.name for p in (tmp_path / "models").iterdir()] == ["toy.pt"]
