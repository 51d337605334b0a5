"""test.py on footage: the whole chain on the sample clip, the per-frame log, and the live path."""
import json
import shutil
import threading
import time

import pytest

from conftest import ROOT, run
from maskdet.live import Reader
from maskdet.video import probe

MODEL = ROOT / "models" / "mask_classifier.pt"


@pytest.fixture(scope="module")
def chain(tmp_path_factory):
    """make_sample -> deconstruct (every 2nd frame) -> test -> reconstruct -> announce, in a temp folder."""
    root = tmp_path_factory.mktemp("footage")
    raw, frames, out, videos, summ = (root / n for n in ("raw", "frames", "out", "videos", "summaries"))
    assert run("make_sample.py", "--output_dir", raw, "--seconds", "8") == 0
    assert run("deconstruct.py", "--data_dir", raw, "--output_dir", frames, "--every", "2") == 0
    assert run("test.py", "--data_dir", frames, "--output_dir", out, "--no_speech") == 0
    assert run("reconstruct.py", "--data_dir", out, "--output_dir", videos) == 0
    assert run("announce.py", "--data_dir", out, "--output_dir", summ) == 0
    return root


def test_log_has_one_line_per_frame_with_video_time(chain):
    lines = [json.loads(x) for x in (chain / "out" / "sample_corridor" / "log.jsonl").read_text().splitlines()]
    meta = json.loads((chain / "frames" / "sample_corridor" / "meta.json").read_text())
    assert len(lines) == meta["frames"] == 100
    for i, r in enumerate(lines):
        assert r["frame"] == f"frame_{i + 1:06d}.jpg" and r["time"] == pytest.approx(i / meta["fps"], abs=1e-3)
        assert {"faces", "correctly_masked", "total", "ratio", "announce"} <= set(r)
        assert all({"box", "label", "score", "counted"} <= set(f) for f in r["faces"])
        assert r["total"] == sum(f["counted"] for f in r["faces"])      # a face below count_score counts only when called correctly masked
    with_faces = [r for r in lines if r["total"]]
    assert len(with_faces) >= 90                              # someone is in view in every frame of the clip
    assert sum(r["announce"] for r in lines) >= 1             # three people, one masked correctly
    labels = {f["label"] for r in lines for f in r["faces"]}
    assert "not_masked" in labels and "correctly_masked" in labels


def test_annotated_frames_and_h264_video(chain):
    frames = sorted((chain / "out" / "sample_corridor").glob("frame_*.jpg"))
    assert len(frames) == 100
    info = probe(chain / "videos" / "sample_corridor.mp4")
    assert info["codec"] == "h264" and info["frames"] == 100 and info["fps"] == pytest.approx(12.5)
    s = json.loads((chain / "summaries" / "sample_corridor.json").read_text())
    assert s["frames"] == 100 and len(s["announcements"]) >= 1
    assert (chain / "summaries" / "sample_corridor.png").is_file()


def test_rerun_skips_finished_video(chain, capsys):
    assert run("test.py", "--data_dir", chain / "frames", "--output_dir", chain / "out", "--no_speech") == 0
    assert "already done" in capsys.readouterr().out


def test_a_deleted_frame_leaves_a_gap_not_a_shift(chain, tmp_path):
    """A frame file removed from a deconstructed folder: the frames after it keep their own video time."""
    frames = tmp_path / "frames" / "sample_corridor"
    shutil.copytree(chain / "frames" / "sample_corridor", frames)
    (frames / "frame_000021.jpg").unlink()
    assert run("test.py", "--data_dir", tmp_path / "frames", "--output_dir", tmp_path / "out", "--no_speech") == 0
    lines = [json.loads(x) for x in (tmp_path / "out" / "sample_corridor" / "log.jsonl").read_text().splitlines()]
    fps = json.loads((frames / "meta.json").read_text())["fps"]
    assert len(lines) == 99 and "frame_000021.jpg" not in [r["frame"] for r in lines]
    for r in lines:
        n = int(r["frame"][6:12])                                     # frame_NNNNNN.jpg
        assert r["source_frame"] == n and r["time"] == pytest.approx((n - 1) / fps, abs=1e-3)


def test_live_source_file_writes_log_and_video(chain, tmp_path):
    src = chain / "raw" / "sample_corridor.mp4"
    log, video = tmp_path / "live.jsonl", tmp_path / "live.mp4"
    assert run("test.py", "--source", src, "--log", log, "--save_video", video, "--max_frames", "30", "--no_speech") == 0
    lines = log.read_text().splitlines()
    assert len(lines) == 30 and json.loads(lines[-1])["time"] == pytest.approx(29 / 25)
    assert probe(video)["frames"] == 30
    assert not list((chain / "out").glob("*live*"))           # live mode writes no frames
    assert not [t for t in threading.enumerate() if isinstance(t, Reader)]   # no decoder left running at exit


def test_live_outputs_written_over_keep_the_earlier_ones(chain, tmp_path, capsys):
    """A re-run naming the same --log and --save_video keeps what the first run wrote."""
    src, log, video = chain / "raw" / "sample_corridor.mp4", tmp_path / "live.jsonl", tmp_path / "live.mp4"
    log.write_text("precious\n")
    video.write_bytes(b"an earlier recording")
    assert run("test.py", "--source", src, "--log", log, "--save_video", video, "--max_frames", "5", "--no_speech") == 0
    assert (tmp_path / "live.prev.jsonl").read_text() == "precious\n"
    assert (tmp_path / "live.prev.mp4").read_bytes() == b"an earlier recording"
    assert len(log.read_text().splitlines()) == 5 and probe(video)["frames"] == 5
    assert f"note: replacing {log}; the previous file is kept as {tmp_path / 'live.prev.jsonl'}" in capsys.readouterr().out


def test_live_source_missing_is_one_line(tmp_path, capsys):
    assert run("test.py", "--source", tmp_path / "nope.mp4", "--log", tmp_path / "l.jsonl") == 2
    out = capsys.readouterr().out
    assert "nope.mp4" in out and "Traceback" not in out


@pytest.mark.parametrize("script, what", [("test.py", "video file"), ("announce.py", "log file")])
def test_a_folder_given_for_a_file_is_one_line_saying_so(tmp_path, capsys, script, what):
    args = {"test.py": ["--source", tmp_path, "--log", tmp_path / "l.jsonl"], "announce.py": ["--log", tmp_path]}
    assert run(script, *args[script]) == 2
    out = capsys.readouterr().out
    assert f"error: {tmp_path}: a folder, not a {what}" in out and "Traceback" not in out


def test_unreachable_stream_is_one_line(tmp_path, capsys):
    assert run("test.py", "--source", "rtsp://127.0.0.1:9/cam", "--log", tmp_path / "l.jsonl") == 2
    out = capsys.readouterr().out
    assert "rtsp://127.0.0.1:9/cam: cannot open this source" in out and "Traceback" not in out


def test_dropped_stream_reconnects(tmp_path, capsys):
    """A loopback HTTP stream that ends is a dropped stream: the reader reopens it with backoff."""
    import functools
    import http.server
    import threading

    from conftest import write_video

    write_video(tmp_path / "clip.avi", n=20, size=(160, 120), fps=10.0)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    handler.log_message = lambda *a: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/clip.avi"
        log = tmp_path / "live.jsonl"
        assert run("test.py", "--source", url, "--log", log, "--max_frames", "50", "--no_speech") == 0
    finally:
        server.shutdown()
    out = capsys.readouterr().out
    assert len(log.read_text().splitlines()) == 50
    import re
    assert "reconnecting to" in out and int(re.search(r"(\d+) reconnects", out).group(1)) >= 2   # 20-frame clip, 50 frames


def test_stalled_stream_times_out(tmp_path, capsys):
    """A loopback HTTP stream that sends some frames and then goes silent with the connection open
    (and sends nothing on later connections): the read times out, the reader reconnects once, gives
    up, and the frames it had are kept."""
    import http.server
    import threading

    from conftest import write_video

    data = write_video(tmp_path / "clip.avi", n=40, size=(160, 120), fps=10.0).read_bytes()
    release, served = threading.Event(), []

    class Stalling(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "video/x-msvideo")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if not served:
                self.wfile.write(data[: len(data) // 2])
                self.wfile.flush()
            served.append(1)
            release.wait(60)                                  # silent, connection open

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Stalling)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/clip.avi"
    log, t0 = tmp_path / "live.jsonl", time.time()
    try:
        code = run("test.py", "--source", url, "--log", log, "--no_speech", "--stall_timeout", "1", "--reconnects", "1")
    finally:
        release.set()
        server.shutdown()
    out = capsys.readouterr().out
    assert code == 0 and time.time() - t0 < 60                      # did not hang
    assert "gave up after 1 reconnection attempts" in out and "Traceback" not in out
    assert 0 < len(log.read_text().splitlines()) < 80                # the frames that arrived, no more
