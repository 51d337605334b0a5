"""The H.264 writer when its ffmpeg dies mid-video: one line naming the file, nothing under the final name."""
import json
import os
import signal
import time

import numpy as np
import pytest

from conftest import ROOT, run, save_rgb, write_video
from maskdet.video import H264Writer, probe


def _encoders_of(path):
    """Pids of the ffmpeg processes this process started that write (the temporary file of) `path`."""
    pids = set()
    for task in os.listdir("/proc/self/task"):
        try:
            pids |= {int(p) for p in open(f"/proc/self/task/{task}/children").read().split()}
        except OSError:
            pass
    part = f"{path.parent}/.{path.stem}."
    return [p for p in pids if part in _cmdline(p)]


def _cmdline(pid):
    try:
        return open(f"/proc/{pid}/cmdline", "rb").read().decode(errors="replace")
    except OSError:                      # ended meanwhile
        return ""


def _kill_and_wait(pid):
    """SIGKILL `pid` and return once it is dead (a zombie, or already reaped by the writer's side)."""
    os.kill(pid, signal.SIGKILL)
    deadline = time.time() + 10
    while True:
        try:
            if open(f"/proc/{pid}/stat").read().split(") ")[1][0] == "Z":
                return
        except OSError:
            return
        assert time.time() < deadline
        time.sleep(0.01)


@pytest.fixture
def encoder_dies(monkeypatch):
    """Kill the writer's ffmpeg (a real SIGKILL) just before its 4th frame; the frames keep coming."""
    real, killed = H264Writer.write, []

    def write(self, bgr):
        if self.count == 3 and not killed:
            pids = _encoders_of(self.path)
            assert len(pids) == 1
            _kill_and_wait(pids[0])
            killed.append(pids[0])
        return real(self, bgr)

    monkeypatch.setattr(H264Writer, "write", write)
    return killed


def test_reconstruct_reports_one_line_and_leaves_no_video(tmp_path, encoder_dies, capsys, monkeypatch):
    frames = tmp_path / "out" / "cam"
    for i in range(30):
        save_rgb(frames / f"frame_{i + 1:06d}.jpg", np.full((48, 64, 3), 8 * i, np.uint8))
    (frames / "meta.json").write_text(json.dumps({"source": "cam.mp4", "fps": 10.0}))
    videos = tmp_path / "videos"
    assert run("reconstruct.py", "--data_dir", tmp_path / "out", "--output_dir", videos) == 1
    out = capsys.readouterr().out
    assert encoder_dies, "ffmpeg was not killed"
    lines = [x for x in out.splitlines() if "cam.mp4" in x and "ffmpeg" not in x.split(":", 1)[0]]
    assert len(lines) == 1 and lines[0].startswith("skipped:") and str(videos / "cam.mp4") in lines[0], out
    assert "Traceback" not in out and "FFMPEG COMMAND" not in out
    assert not (videos / "cam.mp4").exists() and not list(videos.glob(".cam.*.part.mp4"))
    monkeypatch.undo()                                                    # a re-run, ffmpeg alive: the whole video
    assert run("reconstruct.py", "--data_dir", tmp_path / "out", "--output_dir", videos) == 0
    assert probe(videos / "cam.mp4")["frames"] == 30 and [p.name for p in videos.iterdir()] == ["cam.mp4"]


def test_live_save_video_reports_one_line_and_leaves_no_video(tmp_path, encoder_dies, capsys):
    clip = write_video(tmp_path / "clip.avi", n=20, size=(96, 64), fps=10.0)
    video, log = tmp_path / "live" / "annotated.mp4", tmp_path / "live" / "live.jsonl"
    code = run("test.py", "--source", clip, "--log", log, "--save_video", video, "--no_speech",
               "--model", ROOT / "models" / "mask_classifier.pt")
    out = capsys.readouterr().out
    assert encoder_dies, "ffmpeg was not killed"
    assert code == 2 and "Traceback" not in out and "FFMPEG COMMAND" not in out
    errors = [x for x in out.splitlines() if x.startswith("error:")]
    assert len(errors) == 1 and str(video) in errors[0], out
    assert not video.exists() and not list(video.parent.glob(".annotated.*.part.mp4"))


@pytest.mark.parametrize("size", [(96, 64), (97, 63)])
def test_colours_survive_the_encoder(tmp_path, size):
    """Flat patches of known BGR colours come back from the H.264 file within a few levels, whether the
    writer converts to YUV itself (even sides) or hands ffmpeg BGR (odd sides, padded)."""
    import cv2

    colours = [(0, 0, 255), (0, 255, 0), (255, 0, 0), (128, 128, 128), (30, 200, 90)]
    frame = np.zeros((size[1], size[0], 3), np.uint8)
    for k, c in enumerate(colours):
        frame[:, k * 16:(k + 1) * 16] = c
    writer = H264Writer(tmp_path / "c.mp4", 10.0, size)
    for _ in range(3):
        writer.write(frame)
    writer.close()
    ok, back = cv2.VideoCapture(str(tmp_path / "c.mp4")).read()
    assert ok
    for k, c in enumerate(colours):
        got = back[8:size[1] - 8, k * 16 + 4:k * 16 + 12].reshape(-1, 3).mean(axis=0)
        assert np.abs(got - c).max() < 12, (c, got)
