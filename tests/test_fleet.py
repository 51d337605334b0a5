"""fleet.py on Ray: a backlog on the embedded local Ray (the same announcements as test.py --source),
two "machines" that both take work, a worker killed mid-video, two cameras at once; the webhook,
the cameras file and the resumed log."""
import http.server
import json
import os
import signal
import subprocess
import sys
import threading
import time

import pytest
import torch

from conftest import ROOT, SHARED, needs_shared, run, write_video
from maskdet.video import probe

WALKERS = SHARED / "footage" / "walkers_unmasked_1080p.mp4"
FRAMES = 32  # the rule fires at 1.0 s (frame 26); frames wait at most 7 for the next search


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    """The first 32 frames of the walkers clip at 960x540 (25 fps): six unmasked people, the rule fires at 1.0 s."""
    import cv2

    path = tmp_path_factory.mktemp("clips") / "walk.mp4"
    cap = cv2.VideoCapture(str(WALKERS))
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 25.0, (960, 540))
    for _ in range(FRAMES):
        ok, frame = cap.read()
        w.write(cv2.resize(frame, (960, 540)))
    w.release()
    cap.release()
    return path


@pytest.fixture(scope="module")
def cluster():
    """Two Ray nodes of one CPU each on this machine: two "machines" shared by the tests below."""
    from ray.cluster_utils import Cluster

    c = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
    c.add_node(num_cpus=1)
    c.wait_for_nodes()
    yield c
    c.shutdown()


def _whole(folder, frames):
    """Every output of one stream is whole: log lines = frames = video frames, summary last, no leftovers."""
    lines = [json.loads(x) for x in (folder / "log.jsonl").read_text().splitlines()]
    assert [r["index"] for r in lines] == list(range(1, frames + 1))
    info = probe(folder / "annotated.mp4")
    assert info["codec"] == "h264" and info["frames"] == frames
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["frames"] == frames and (folder / "compliance.png").is_file()
    assert not [p for p in folder.rglob("*") if ".part" in p.name]
    events = [json.loads(x) for x in (folder / "events.jsonl").read_text().splitlines()]
    assert [e["time"] for e in events] == summary["announcements"] == [r["time"] for r in lines if r["announce"]]
    return summary, events


def _receiver(answers):
    """A loopback webhook receiver answering with `answers` (HTTP codes, then 200); (server, [(body, auth)])."""
    got = []

    class Receiver(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            got.append((body, self.headers.get("Authorization")))
            self.send_response(answers.pop(0) if answers else 200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    server.url = f"127.0.0.1:{server.server_address[1]}"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, got


@needs_shared
def test_backlog_on_local_ray_matches_test_py(clip, tmp_path, capsys):
    """Embedded local Ray (127.0.0.1, no dashboard): outputs whole, announcements as test.py --source's,
    a bad video skipped with one line, the page; a re-run skips the finished video without starting Ray."""
    videos, out = tmp_path / "videos", tmp_path / "out"
    videos.mkdir()
    (videos / "walk.mp4").symlink_to(clip)
    (videos / "broken.mp4").write_text("not a video")
    cmd = [sys.executable, str(ROOT / "fleet.py"), "--data_dir", videos, "--output_dir", out, "--workers", "1", "--cpus_per_worker", "1", "--no_snapshots",
           "--model", ROOT / "models" / "mask_classifier.pt"]
    p = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "ray: local at 127.0.0.1:" in p.stdout and "skipped: " in p.stdout and "broken.mp4" in p.stdout
    assert "Traceback" not in p.stdout + p.stderr
    summary, events = _whole(out / "walk", FRAMES)
    assert (summary["frames"], summary["processed_by"]["host"]) == (FRAMES, os.uname().nodename)
    assert events[0]["snapshot"] is None and not (out / "walk" / "snapshots").exists()

    log, alerts = tmp_path / "test_py.jsonl", tmp_path / "alerts" / "events.jsonl"
    server, got = _receiver([])
    threads = torch.get_num_threads()
    torch.set_num_threads(1)             # as the worker ran (the same results; faster on a loaded machine)
    try:                                 # test.py --source: the reference, and its events, snapshot and webhook
        assert run("test.py", "--source", clip, "--log", log, "--no_speech", "--events", alerts,
                   "--webhook", f"http://{server.url}/hooks/s3cret") == 0
    finally:
        server.shutdown()
        torch.set_num_threads(threads)
    reference = [json.loads(x) for x in log.read_text().splitlines()]
    assert summary["announcements"] == [r["time"] for r in reference if r["announce"]] == [1.0]
    alert = json.loads(alerts.read_text())
    assert (alert["camera"], alert["time"], alert["total"]) == ("walk", 1.0, events[0]["total"])
    assert (alerts.parent / alert["snapshot"]).read_bytes()[:2] == b"\xff\xd8" and got[0][0]["time"] == 1.0
    assert "s3cret" not in capsys.readouterr().out
    assert [json.loads(x) for x in (out / "events.jsonl").read_text().splitlines()] == events

    page = (out / "index.html").read_text()
    assert 'href="walk/annotated.mp4"' in page and 'src="walk/compliance.png"' in page and "1.00 s" in page

    capsys.readouterr()
    assert run(*cmd[1:]) == 0                                                    # the re-run: nothing to do
    again = capsys.readouterr().out
    assert "walk: already done" in again and "ray:" not in again


@needs_shared
def test_two_nodes_both_take_work(cluster, clip, tmp_path, capsys):
    videos, out = tmp_path / "videos", tmp_path / "out"
    videos.mkdir()
    for name in ("a", "b"):
        (videos / f"{name}.mp4").symlink_to(clip)
    assert run("fleet.py", "--data_dir", videos, "--output_dir", out, "--address", cluster.address,
               "--cpus_per_worker", "1") == 0
    assert "2 CPUs on 2 nodes" in capsys.readouterr().out
    nodes = {_whole(out / name, FRAMES)[0]["processed_by"]["node"] for name in ("a", "b")}
    assert nodes == {n.node_id for n in cluster.list_all_nodes()}
    assert len((out / "events.jsonl").read_text().splitlines()) == 2


@needs_shared
def test_killed_worker_loses_and_duplicates_nothing(cluster, clip, tmp_path):
    """SIGKILL the Ray worker while it writes a video: Ray runs the task again, the job exits 0 and every
    output is whole, once."""
    import psutil

    videos, out = tmp_path / "videos", tmp_path / "out"
    videos.mkdir()
    (videos / "walk.mp4").symlink_to(clip)
    killed = []

    def kill_when_half_written():
        deadline = time.time() + 120
        while time.time() < deadline and not killed:
            partial = [p for p in (out / "walk").glob(".log.*.part.jsonl") if p.read_text().count("\n") >= 5]
            workers = [p for p in psutil.process_iter(["cmdline"]) if "ray::process_video" in " ".join(p.info["cmdline"] or [])]
            if partial and workers:
                workers[0].send_signal(signal.SIGKILL)
                killed.append(workers[0].pid)
            time.sleep(0.05)

    killer = threading.Thread(target=kill_when_half_written, daemon=True)
    killer.start()
    code = run("fleet.py", "--data_dir", videos, "--output_dir", out, "--address", cluster.address, "--cpus_per_worker", "1")
    killer.join(5)
    assert killed and code == 0
    summary, events = _whole(out / "walk", FRAMES)
    assert summary["processed_by"]["pid"] != killed[0] and summary["announcements"] == [1.0]
    assert len(events) == 1 and len((out / "events.jsonl").read_text().splitlines()) == 1
    assert [p.name for p in (out / "walk" / "snapshots").iterdir()] == ["walk_000026.jpg"]


def test_two_cameras_run_at_once(cluster, tmp_path, capsys):
    a = write_video(tmp_path / "door_a.avi", n=60, size=(320, 240), fps=10.0)
    b = write_video(tmp_path / "door_b.avi", n=45, size=(320, 240), fps=10.0)
    cams = tmp_path / "cameras.txt"
    cams.write_text(f"# name source\nfront {a}\n\nback {b}\n")
    out = tmp_path / "out"
    assert run("fleet.py", "--cameras", cams, "--output_dir", out, "--address", cluster.address,
               "--cpus_per_worker", "1", "--no_speech") == 0
    front, back = (_whole(out / name, n)[0]["processed_by"] for name, n in (("front", 60), ("back", 45)))
    assert front["node"] != back["node"]    # each actor holds its node's one CPU while it lives: both at once
    assert "2 of 2 streams processed" in capsys.readouterr().out


def test_webhook_retries_and_hides_its_secret(tmp_path, capsys):
    """A receiver that fails once: the event arrives on the second attempt, as JSON with a `text` line;
    credentials in the URL become a header and the URL's path never reaches the output."""
    from maskdet.alerts import Webhook

    server, got = _receiver([500, 200])
    try:
        hook = Webhook(f"http://bot:pw@{server.url}/services/T0/B0/s3cret", backoff=0.05)
        t0 = time.time()
        hook.post({"camera": "door", "time": 1.0, "correctly_masked": 1, "total": 6, "message": "Mask!"})
        assert time.time() - t0 < 0.05                                      # never blocks detection
        hook.close()
    finally:
        server.shutdown()
    assert hook.sent == 1 and len(got) == 2 and got[1][1].startswith("Basic ")
    assert got[1][0]["camera"] == "door" and got[1][0]["text"] == "door: Mask! (1 of 6 correctly masked at 1.00 s)"
    hook = Webhook("http://127.0.0.1:9/hooks/s3cret", retries=2, backoff=0.01)
    hook.post({"camera": "door", "time": 1.0, "correctly_masked": 1, "total": 6, "message": "Mask!"})
    hook.close()
    out = capsys.readouterr().out
    assert hook.failed == 1 and "gave up after 2 attempts" in out and "s3cret" not in out and "hooks" not in out


def test_cameras_file_mistakes_and_resumed_log(tmp_path, capsys):
    from maskdet.fleet import resume_log

    cams = tmp_path / "cams.txt"
    cams.write_text("front 0\nfront rtsp://x/y\n")
    assert run("fleet.py", "--cameras", cams, "--output_dir", tmp_path / "o") == 2
    assert "cams.txt:2: camera name front used twice" in capsys.readouterr().out
    assert run("fleet.py", "--output_dir", tmp_path / "o") == 2
    from maskdet.alerts import hide_credentials, redact
    assert hide_credentials("rtsp://admin:pw@10.0.0.2/s1") == "rtsp://10.0.0.2/s1" and hide_credentials("0") == "0"
    assert redact("https://u:p@hooks.example.com/services/T/B/x?k=1") == "https://hooks.example.com/..."
    log = tmp_path / "log.jsonl"
    log.write_text('{"index": 1}\n{"index": 2}\n{"ind')                      # a worker killed mid-line
    assert resume_log(log) == {"index": 2} and log.read_text() == '{"index": 1}\n{"index": 2}\n'
