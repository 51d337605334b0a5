"""Faults and hostile input: one case per fault (message, exit code, nothing valid lost), and every
stage killed mid-run then re-run (nothing missing, duplicated or unreadable)."""
import json
import os
import shutil
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

def kill_when(args, ready, timeout=120, stdout=None):
    """Start a script and SIGKILL it as soon as ready() is true. True only when that kill is what ended
    it; False when it finished first or was never ready in time: then the test would only test a plain
    re-run, so every caller asserts the result. `stdout`: a file the script's output goes to."""
    out = open(stdout, "w") if stdout else subprocess.DEVNULL
    proc = subprocess.Popen([sys.executable, *map(str, args)], cwd=ROOT, stdout=out, stderr=subprocess.DEVNULL,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    end = time.time() + timeout
    try:
        while proc.poll() is None and time.time() < end:
            if ready():
                proc.send_signal(signal.SIGKILL)
                return proc.wait() == -signal.SIGKILL          # killed, not exited just before
            time.sleep(0.01)
        return False
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if stdout:
            out.close()


def readable_jpegs(folder):
    files = sorted(folder.rglob("*.jpg"))
    for f in files:
        Image.open(f).load()
    return files


def test_deconstruct_killed_then_resumed(tmp_path):
    raw, frames = tmp_path / "raw", tmp_path / "frames"
    write_video(raw / "clip.avi", n=600, size=(320, 240))
    assert kill_when([ROOT / "deconstruct.py", "--data_dir", raw, "--output_dir", frames],
                     lambda: (frames / "clip" / "frame_000020.jpg").exists())
    assert not (frames / "clip" / "meta.json").exists()                 # killed half-way: not marked done
    assert len(list((frames / "clip").glob("frame_*.jpg"))) < 600
    assert run("deconstruct.py", "--data_dir", raw, "--output_dir", frames) == 0
    files = readable_jpegs(frames)
    assert [f.name for f in files] == [f"frame_{i:06d}.jpg" for i in range(1, 601)]
    assert not list(frames.rglob(".*part*"))


def test_extract_killed_then_resumed(tmp_path, portraits):
    ds = tmp_path / "ds"
    for i in range(12):
        save_rgb(ds / "not_masked" / "train" / f"p{i:02d}.jpg", portraits["hopper" if i % 2 else "astronaut"])
    out = tmp_path / "faces"
    assert kill_when([ROOT / "extract_faces.py", "--data_dir", ds, "--output_dir", out],
                     lambda: len(list(out.rglob("p*.jpg"))) >= 3)
    assert 3 <= len(list(out.rglob("p*.jpg"))) < 12
    assert run("extract_faces.py", "--data_dir", ds, "--output_dir", out) == 0
    assert [f.name for f in readable_jpegs(out)] == [f"p{i:02d}.jpg" for i in range(12)]
    rows = (out / "manifest.csv").read_text().splitlines()[1:]
    assert len(rows) == len(set(rows)) == 12


def test_test_frames_killed_then_resumed(tmp_path):
    raw, frames, out = tmp_path / "raw", tmp_path / "frames", tmp_path / "out"
    write_video(raw / "clip.avi", n=60, size=(320, 240))
    assert run("deconstruct.py", "--data_dir", raw, "--output_dir", frames) == 0
    assert kill_when([ROOT / "test.py", "--data_dir", frames, "--output_dir", out, "--no_speech"],
                     lambda: len(list(out.rglob("frame_*.jpg"))) >= 5)
    assert not (out / "clip" / "log.jsonl").exists()                    # the log is written when a video is done
    assert run("test.py", "--data_dir", frames, "--output_dir", out, "--no_speech") == 0
    assert len(readable_jpegs(out)) == 60
    lines = (out / "clip" / "log.jsonl").read_text().splitlines()
    assert [json.loads(x)["index"] for x in lines] == list(range(1, 61))


def test_reconstruct_killed_leaves_no_half_file(tmp_path):
    raw, frames, videos = tmp_path / "raw", tmp_path / "frames", tmp_path / "videos"
    write_video(raw / "clip.avi", n=300, size=(640, 480))
    assert run("deconstruct.py", "--data_dir", raw, "--output_dir", frames) == 0
    assert kill_when([ROOT / "reconstruct.py", "--data_dir", frames, "--output_dir", videos],
                     lambda: videos.exists() and any(videos.glob(".*part*")))
    assert not (videos / "clip.mp4").exists()                           # killed while encoding: no video yet
    assert run("reconstruct.py", "--data_dir", frames, "--output_dir", videos) == 0
    assert probe(videos / "clip.mp4")["frames"] == 300
    assert not list(videos.glob(".*part*"))


def test_prepare_killed_then_resumed(tmp_path, portraits):
    src = tmp_path / "photos" / "without_mask"
    for i in range(10):
        save_rgb(src / f"p{i}.jpg", np.roll(portraits["hopper"], i * 7, axis=1))
    out = tmp_path / "ds"
    args = ["--class_folder", tmp_path / "photos", "--output_dir", out]
    assert kill_when([ROOT / "prepare_dataset.py", *args], lambda: len(list(out.rglob("*.jpg"))) >= 4)
    assert 4 <= len(list(out.rglob("*.jpg"))) < 30
    assert run("prepare_dataset.py", *args) == 0
    files = readable_jpegs(out)
    rows = (out / "manifest.csv").read_text().splitlines()[1:]
    assert len(rows) == len(files) == 30                               # 10 photos + 2 drawn masks each


def test_train_killed_leaves_no_half_model(tmp_path):
    from test_train import toy_crops
    from maskdet.classifier import load_checkpoint

    data = toy_crops(tmp_path / "crops", n=60)
    args = ["--data_dir", data, "--models_dir", tmp_path / "models", "--name", "toy", "--input_size", "32", "--epochs", "200"]
    printed = tmp_path / "stdout.txt"
    assert kill_when([ROOT / "train_mask_detection_model.py", *args], stdout=printed,
                     ready=lambda: "epoch  2/200" in printed.read_text())   # training, with epochs to go
    assert not (tmp_path / "models" / "toy.pt").exists()
    assert run("train_mask_detection_model.py", *args[:-1], "2") == 0
    assert load_checkpoint(tmp_path / "models" / "toy.pt")["config"]["epochs"] == 2
    assert [p.name for p in (tmp_path / "models").iterdir()] == ["toy.pt"]


# ---- unreadable files and folders (permissions apply to an unprivileged user only) -----------

@pytest.fixture
def shared_tmp():
    """A temporary folder that an unprivileged user can use too."""
    import tempfile
    from pathlib import Path
    d = Path(tempfile.mkdtemp(prefix="maskdet-perm-"))
    d.chmod(0o777)
    yield d
    for p in d.rglob("*"):
        if p.is_dir() and not p.is_symlink():
            p.chmod(0o777)
    shutil.rmtree(d)


def unprivileged(args, home):
    """Run a script as user 65534 when we are root (root reads everything); skip where that cannot work."""
    cmd = [sys.executable, *map(str, args)]
    if os.geteuid() == 0:
        if not shutil.which("setpriv"):
            pytest.skip("running as root and setpriv is missing")
        cmd = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", *cmd]
    env = {**os.environ, "HOME": str(home), "MPLCONFIGDIR": str(home)}
    probe_ok = subprocess.run([*cmd[:-len(args)], "-c", "import maskdet.layout"], cwd=ROOT, env=env,
                              capture_output=True).returncode == 0
    if not probe_ok:
        pytest.skip("the project cannot be read by an unprivileged user here")
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)


def _open_all(root):
    for p in [root, *root.rglob("*")]:
        p.chmod(0o777 if p.is_dir() else 0o666)


def test_unreadable_video_file(shared_tmp):
    raw = shared_tmp / "raw"
    write_video(raw / "good.avi", n=5)
    write_video(raw / "locked.avi", n=5)
    _open_all(shared_tmp)
    (raw / "locked.avi").chmod(0)
    r = unprivileged([ROOT / "deconstruct.py", "--data_dir", raw, "--output_dir", shared_tmp / "frames"], shared_tmp)
    assert r.returncode == 0 and "Traceback" not in r.stderr
    assert f"skipped: {raw / 'locked.avi'}: cannot read this file (Permission denied)" in r.stdout
    assert len(list((shared_tmp / "frames" / "good").glob("*.jpg"))) == 5 and "1 unreadable" in r.stdout


def test_unreadable_frames_folder(shared_tmp):
    raw, frames = shared_tmp / "raw", shared_tmp / "frames"
    write_video(raw / "a.avi", n=4)
    write_video(raw / "b.avi", n=4)
    assert run("deconstruct.py", "--data_dir", raw, "--output_dir", frames) == 0
    _open_all(shared_tmp)
    (frames / "b").chmod(0)
    r = unprivileged([ROOT / "reconstruct.py", "--data_dir", frames, "--output_dir", shared_tmp / "v"], shared_tmp)
    assert r.returncode == 0 and "Traceback" not in r.stderr
    assert f"{frames / 'b'}: cannot read this folder (Permission denied)" in r.stdout
    assert probe(shared_tmp / "v" / "a.mp4")["frames"] == 4
    (frames / "b").chmod(0o777)
    frames.chmod(0)
    r = unprivileged([ROOT / "reconstruct.py", "--data_dir", frames, "--output_dir", shared_tmp / "v"], shared_tmp)
    assert r.returncode == 2 and "Traceback" not in r.stderr and "cannot read this folder" in r.stdout


def test_unreadable_class_folder(shared_tmp, portraits):
    ds = shared_tmp / "ds"
    save_rgb(ds / "not_masked" / "train" / "good.jpg", portraits["hopper"])
    save_rgb(ds / "not_masked" / "test" / "hidden.jpg", portraits["astronaut"])
    save_rgb(ds / "correctly_masked" / "train" / "locked.jpg", portraits["astronaut"])
    _open_all(shared_tmp)
    (ds / "not_masked" / "test").chmod(0)
    (ds / "correctly_masked" / "train" / "locked.jpg").chmod(0)
    r = unprivileged([ROOT / "extract_faces.py", "--data_dir", ds, "--output_dir", shared_tmp / "faces"], shared_tmp)
    assert r.returncode == 0 and "Traceback" not in r.stderr
    assert f"skipped: {ds / 'not_masked' / 'test'}: cannot read this folder (Permission denied)" in r.stdout
    assert f"{ds / 'correctly_masked' / 'train' / 'locked.jpg'}: not a readable image (Permission denied)" in r.stdout
    assert "2 unreadable" in r.stdout
    assert [p.name for p in (shared_tmp / "faces").rglob("*.jpg")] == ["good.jpg"]


# ---- variable frame rate and broken index ---------------------------------------------------

def _vfr_clip(path):
    """20 frames 0.04 s apart, then 30 frames 0.2 s apart (H.264, real timestamps)."""
    import imageio_ffmpeg
    path.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-y", "-loglevel", "error", "-f", "lavfi", "-i",
                    "testsrc=size=160x120:rate=25:duration=2", "-vf",
                    "setpts='if(lt(N,20),N*0.04,0.8+(N-20)*0.2)/TB'", "-fps_mode", "vfr", "-c:v", "libx264",
                    "-pix_fmt", "yuv420p", str(path)], check=True)


def _broken_index_avi(path):
    """An MJPEG AVI whose index chunk is overwritten and whose headers claim 999 frames."""
    import cv2
    path.parent.mkdir(parents=True, exist_ok=True)
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (96, 64))
    for i in range(12):
        w.write(np.full((64, 96, 3), i * 20, np.uint8))
    w.release()
    b = bytearray(path.read_bytes())
    k = b.find(b"idx1")
    b[k + 8:] = b"\xff" * (len(b) - k - 8)
    avih = b.find(b"avih")
    strh = b.find(b"strh")
    b[avih + 24:avih + 28] = (999).to_bytes(4, "little")   # avih dwTotalFrames
    b[strh + 40:strh + 44] = (999).to_bytes(4, "little")   # strh dwLength
    path.write_bytes(bytes(b))


def test_variable_frame_rate_keeps_frame_times(tmp_path, capsys):
    _vfr_clip(tmp_path / "raw" / "vfr.mp4")
    assert run("deconstruct.py", "--data_dir", tmp_path / "raw", "--output_dir", tmp_path / "frames") == 0
    out = capsys.readouterr().out
    assert f"note: {tmp_path / 'raw' / 'vfr.mp4'}: variable frame rate" in out
    meta = json.loads((tmp_path / "frames" / "vfr" / "meta.json").read_text())
    assert meta["frames"] == 50 and meta["times"][19] == pytest.approx(0.76) and meta["times"][-1] == pytest.approx(6.6)
    assert run("test.py", "--data_dir", tmp_path / "frames", "--output_dir", tmp_path / "out", "--no_speech") == 0
    log = [json.loads(x) for x in (tmp_path / "out" / "vfr" / "log.jsonl").read_text().splitlines()]
    assert [r["time"] for r in log] == meta["times"]                  # the rule sees real time


def test_broken_index_keeps_every_frame(tmp_path, capsys):
    _broken_index_avi(tmp_path / "raw" / "broken.avi")
    write_video(tmp_path / "raw" / "good.avi", n=6)
    assert run("deconstruct.py", "--data_dir", tmp_path / "raw", "--output_dir", tmp_path / "frames") == 0
    out = capsys.readouterr().out
    assert f"note: {tmp_path / 'raw' / 'broken.avi'}: the index says 999 frames, 12 decoded" in out
    assert len(readable_jpegs(tmp_path / "frames" / "broken")) == 12
    assert len(readable_jpegs(tmp_path / "frames" / "good")) == 6
    assert "Traceback" not in out


def test_footage_from_a_file_cut_short_says_so(tmp_path, capsys):
    """test.py --source on a file whose index declares more frames than it holds: every decodable
    frame is logged, and one note says the two counts; a whole file gets no note."""
    _broken_index_avi(tmp_path / "broken.avi")
    write_video(tmp_path / "good.avi", n=6)
    for name, frames in (("broken", 12), ("good", 6)):
        log = tmp_path / f"{name}.jsonl"
        assert run("test.py", "--source", tmp_path / f"{name}.avi", "--log", log, "--no_speech") == 0
        out = capsys.readouterr().out
        assert len(log.read_text().splitlines()) == frames
        assert ("note: " in out) == (name == "broken")
        assert ("the index says 999 frames, 12 decoded" in out) == (name == "broken")
        assert "Traceback" not in out


def _fake_logs(root, videos=40, frames=200):
    """Frame logs as test.py writes them: a masked and an unmasked person; the rule fired at frame 26."""
    for v in range(videos):
        recs = [{"frame": f"frame_{i:06d}.jpg", "index": i, "time": (i - 1) / 25, "correctly_masked": 1, "total": 2,
                 "ratio": 0.5, "announce": i == 26,
                 "faces": [{"box": [1, 1, 20, 20], "label": "correctly_masked", "score": 0.9, "track": 1},
                           {"box": [30, 1, 50, 20], "label": "not_masked", "score": 0.9, "track": 2}]}
                for i in range(1, frames + 1)]
        (root / f"v{v:02d}").mkdir(parents=True)
        (root / f"v{v:02d}" / "log.jsonl").write_text("".join(json.dumps(r) + "\n" for r in recs))


def test_announce_killed_then_rerun(tmp_path):
    logs, out = tmp_path / "frames_out", tmp_path / "summaries"
    _fake_logs(logs)
    args = [ROOT / "announce.py", "--data_dir", logs, "--output_dir", out]
    assert kill_when(args, lambda: len(list(out.glob("*.png"))) >= 3)
    for f in out.glob("v*.json"):
        json.loads(f.read_text())                                   # whatever exists is whole
    for f in out.glob("v*.png"):
        Image.open(f).load()
    assert run("announce.py", "--data_dir", logs, "--output_dir", out) == 0
    summaries = sorted(out.glob("v*.json"))
    assert [f.stem for f in summaries] == [f"v{v:02d}" for v in range(40)]
    assert all(json.loads(f.read_text())["announcements"] == [1.0] for f in summaries)
    assert not list(out.glob(".*part*"))


def test_live_killed_then_rerun(tmp_path):
    src = write_video(tmp_path / "clip.avi", n=400, size=(320, 240))
    log, video = tmp_path / "live" / "log.jsonl", tmp_path / "live" / "annotated.mp4"
    args = [ROOT / "test.py", "--source", src, "--log", log, "--save_video", video, "--no_speech"]
    assert kill_when(args, lambda: log.is_file() and len(log.read_text().splitlines()) >= 20)
    assert len(log.read_text().splitlines()) < 400                    # killed mid-stream
    lines = log.read_text().splitlines()
    assert all(json.loads(x)["index"] == i for i, x in enumerate(lines, 1))   # whole lines, in order
    assert not video.exists()                                       # never a half-written video
    assert run("test.py", "--source", src, "--log", log, "--save_video", video, "--no_speech") == 0
    assert len(log.read_text().splitlines()) == 400 and probe(video)["frames"] == 400
    assert not list(video.parent.glob(".*part*"))


def test_live_interrupted_between_two_frames(tmp_path):
    """Ctrl-C ends the stream between two frames: every frame read is logged and encoded, none half
    (with Ctrl-C raised inside the loop, a frame could be logged and not encoded: 24 lines, 23 frames)."""
    src = write_video(tmp_path / "clip.avi", n=400, size=(320, 240))
    log, video = tmp_path / "live" / "log.jsonl", tmp_path / "live" / "annotated.mp4"
    proc = subprocess.Popen([sys.executable, ROOT / "test.py", "--source", src, "--log", log, "--save_video", video,
                             "--no_speech"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    end = time.time() + 60
    while proc.poll() is None and not (log.is_file() and len(log.read_text().splitlines()) >= 21) and time.time() < end:
        time.sleep(0.01)
    proc.send_signal(signal.SIGINT)
    out = proc.communicate(timeout=60)[0]
    assert proc.returncode == 0 and "interrupted: closing outputs" in out
    read = int(out.strip().splitlines()[-1].split(" frames,")[0].replace(",", ""))   # the closing line
    lines = log.read_text().splitlines()
    assert [json.loads(x)["index"] for x in lines] == list(range(1, len(lines) + 1))
    assert len(lines) == read < 400
    assert probe(video)["frames"] == len(lines)


@pytest.mark.parametrize("meta", ['{"fps": "abc"}', '{"fps": -5}', '[1, 2]', '{"fps": 10, "times": ["x"]}'])
def test_wrong_meta_json_is_one_line(tmp_path, capsys, meta):
    write_video(tmp_path / "raw" / "clip.avi", n=4)
    assert run("deconstruct.py", "--data_dir", tmp_path / "raw", "--output_dir", tmp_path / "frames") == 0
    (tmp_path / "frames" / "clip" / "meta.json").write_text(meta)
    assert run("test.py", "--data_dir", tmp_path / "frames", "--output_dir", tmp_path / "out", "--no_speech") == 1
    assert run("reconstruct.py", "--data_dir", tmp_path / "frames", "--output_dir", tmp_path / "v") == 1
    out = capsys.readouterr().out
    assert out.count("clip/meta.json: unreadable meta.json") == 2 and "Traceback" not in out


def test_output_folder_blocked_by_a_file(tmp_path, capsys):
    write_video(tmp_path / "raw" / "clip.avi", n=4)
    (tmp_path / "blocked").write_text("a file where a folder should go")
    assert run("deconstruct.py", "--data_dir", tmp_path / "raw", "--output_dir", tmp_path / "blocked") == 1
    assert run("test.py", "--source", tmp_path / "raw" / "clip.avi", "--log", tmp_path / "blocked" / "l.jsonl",
               "--no_speech") == 2
    out = capsys.readouterr().out
    assert out.count(f"{tmp_path / 'blocked'}") >= 2 and "cannot create this folder" in out and "Traceback" not in out
    assert (tmp_path / "blocked").read_text().startswith("a file")           # left as it was


def test_a_report_or_model_path_that_is_a_folder_is_one_line_before_the_work(tmp_path, capsys):
    """Checked before the run (test.py --report, finetune_detector.py --output), not after it."""
    (tmp_path / "r").mkdir()
    assert run("test.py", "--data_dir", tmp_path / "nothing_here", "--report", tmp_path / "r", "--no_speech") == 2
    assert run("finetune_detector.py", "--data_dir", tmp_path / "nothing_here", "--output", tmp_path / "r") == 2
    out = capsys.readouterr().out
    assert out.count(f"{tmp_path / 'r'}: is a folder") == 2 and "Traceback" not in out
    assert list((tmp_path / "r").iterdir()) == []


def test_make_sample_removes_what_a_killed_run_left(tmp_path):
    left = tmp_path / ".sample_corridor.x1y2.part.mp4"
    left.write_bytes(b"half a video")
    assert run("make_sample.py", "--output_dir", tmp_path, "--seconds", "0.4") == 0
    assert not left.exists() and (tmp_path / "sample_corridor.mp4").is_file()


def test_a_frame_cut_short_is_named_and_skipped_not_drawn_half_grey(tmp_path, capsys):
    """A frames folder with one JPEG cut in half (OpenCV alone decodes it, grey below the cut, with a
    warning that names no file): test.py and reconstruct.py skip it by name and count it."""
    raw, frames = tmp_path / "raw", tmp_path / "frames"
    write_video(raw / "clip.avi", n=6, size=(320, 240))
    assert run("deconstruct.py", "--data_dir", raw, "--output_dir", frames) == 0
    cut = frames / "clip" / "frame_000003.jpg"
    cut.write_bytes(cut.read_bytes()[: cut.stat().st_size // 2])
    assert run("test.py", "--data_dir", frames, "--output_dir", tmp_path / "out", "--no_speech") == 0
    assert run("reconstruct.py", "--data_dir", frames, "--output_dir", tmp_path / "videos") == 0
    out = capsys.readouterr().out
    assert len([x for x in out.splitlines() if x.startswith(f"skipped: {cut}: not a readable image")]) == 2
    lines = (tmp_path / "out" / "clip" / "log.jsonl").read_text().splitlines()
    assert [json.loads(x)["frame"] for x in lines] == [f"frame_00000{k}.jpg" for k in (1, 2, 4, 5, 6)]
    assert probe(tmp_path / "videos" / "clip.mp4")["frames"] == 5


@pytest.mark.parametrize("content, why", [(b"", "empty file"), (b"hello, not a picture", "not a JPEG"),
                                          ("half", "a JPEG cut short")])
def test_a_bad_frame_file_says_what_is_wrong(tmp_path, content, why):
    """A frame .jpg that is empty, is not a JPEG at all, or is a JPEG cut short: each named as such."""
    from maskdet import InputError
    from maskdet.images import read_frame
    whole = _jpeg(np.zeros((32, 32, 3), np.uint8))
    path = tmp_path / "frame_000001.jpg"
    path.write_bytes(whole[: len(whole) // 2] if content == "half" else content)
    with pytest.raises(InputError, match=f"^{path}: not a readable image \\({why}\\)$"):
        read_frame(path)
    path.write_bytes(whole)
    assert read_frame(path).shape == (32, 32, 3)
