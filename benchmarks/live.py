"""The live path against a camera that does not wait: a clip served over local HTTP at its own frame
rate (the packaged ffmpeg, `-re`), read by `test.py --source URL --log ... --save_video ...` exactly
as a user runs it.

    python benchmarks/live.py ../shared/data/footage/walkers_unmasked_1080p.mp4 --json reports/live_1080p.json
    python benchmarks/live.py CLIP --resize 1280x720 --json reports/live_720p.json
    python benchmarks/live.py CLIP --plays 143 --json reports/live_10min.json   # memory over 10 minutes
    python benchmarks/live.py CLIP --torch_threads 1                            # torch on one thread

Prints frames sent, frames processed and their share, frames dropped (test.py's closing line), the
longest run of dropped frames, the latency from a frame's arrival to its log line (median and 95th
percentile, as test.py measured it), test.py's peak memory and its resident memory's peak over each
quarter of the stream, and its CPU use (cores busy on average); checks that the video has the log's frames.
"""
import argparse
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from maskdet import layout  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("clip", help="video file (H.264 in MP4, as a camera sends it)")
    p.add_argument("--model", default=layout.DEFAULT_MODEL, help="model file, passed to test.py")
    p.add_argument("--resize", default=None, help="serve a copy re-encoded at WxH (e.g. 1280x720)")
    p.add_argument("--plays", type=int, default=8, help="play the clip this many times in one stream")
    p.add_argument("--torch_threads", type=int, default=0,
                   help="torch threads of test.py (OMP_NUM_THREADS; 0: torch's default, one per core)")
    p.add_argument("--json", default=None, help="write the numbers here")
    return p.parse_args(argv)


def free_port():
    """A TCP port nobody listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def is_listening(port):
    """Whether something listens on 127.0.0.1:`port`, read from /proc/net/tcp: connecting to ask would
    use up the one client that `ffmpeg -listen 1` serves."""
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        local, state = line.split()[1], line.split()[3]
        if state == "0A" and int(local.split(":")[1], 16) == port:
            return True
    return False


def serve(clip, plays, port):
    """ffmpeg sending `clip` `plays` times over HTTP (MPEG-TS, the frames as they are) at its own rate,
    to the first client; returns the process once it listens."""
    import imageio_ffmpeg

    url = f"http://127.0.0.1:{port}/cam"
    server = subprocess.Popen([imageio_ffmpeg.get_ffmpeg_exe(), "-loglevel", "error", "-re", "-stream_loop", str(plays - 1),
                               "-i", str(clip), "-c", "copy", "-f", "mpegts", "-listen", "1", url])
    deadline = time.time() + 20
    while not is_listening(port):
        if server.poll() is not None or time.time() > deadline:
            server.kill()
            sys.exit(f"error: ffmpeg could not serve {clip} on port {port}")
        time.sleep(0.02)
    return server, url


class RssSampler(threading.Thread):
    """Resident memory of process `pid` every `every` seconds (Linux /proc), until it ends."""

    def __init__(self, pid, every=0.5):
        super().__init__(daemon=True)
        self.pid, self.every, self.samples = pid, every, []

    def run(self):
        status = Path(f"/proc/{self.pid}/status")
        while True:
            try:
                kb = next(int(x.split()[1]) for x in status.read_text().splitlines() if x.startswith("VmRSS:"))
            except (OSError, StopIteration, ValueError):
                return
            self.samples.append(kb / 1024)
            time.sleep(self.every)


def run_pipeline(url, model, tmp, threads=0):
    """test.py --source URL as a user runs it (with `threads` torch threads, 0: torch's default);
    returns (exit code, stdout, seconds, resource usage, RSS samples)."""
    cmd = [sys.executable, str(ROOT / "test.py"), "--source", url, "--model", str(model), "--log", str(tmp / "log.jsonl"),
           "--save_video", str(tmp / "annotated.mp4"), "--no_speech", "--reconnects", "0"]  # the stream ends for good
    t0 = time.time()
    with open(tmp / "stdout.txt", "w") as out:
        env = {**os.environ, "OMP_NUM_THREADS": str(threads)} if threads else None
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT, env=env)
        sampler = RssSampler(proc.pid)
        sampler.start()
        _, status, usage = os.wait4(proc.pid, 0)  # its own peak memory and CPU time, not other children's
        proc.returncode = os.waitstatus_to_exitcode(status)
    sampler.join()
    return proc.returncode, (tmp / "stdout.txt").read_text(), time.time() - t0, usage, sampler.samples


def closing_numbers(stdout):
    """Frames dropped and the latency quantiles from test.py's closing line."""
    dropped = re.search(r"([\d,]+) frames dropped", stdout)
    latency = re.search(r"median ([\d.]+) s, 95th percentile ([\d.]+) s", stdout)
    return {"dropped": int(dropped.group(1).replace(",", "")) if dropped else None,
            "latency_median_s": float(latency.group(1)) if latency else None,
            "latency_p95_s": float(latency.group(2)) if latency else None}


def gaps(records):
    """{gap: count} between the source frames of consecutive log records (1: none dropped between them)."""
    numbers = [r["source_frame"] for r in records]
    counts = {}
    for a, b in zip(numbers, numbers[1:]):
        counts[b - a] = counts.get(b - a, 0) + 1
    return dict(sorted(counts.items()))


def quarter_peaks(samples):
    """Peak resident memory (MB) over each quarter of the samples (the stream's start is in the first)."""
    q = max(1, len(samples) // 4)
    if not samples:
        return [None] * 4
    return [max(samples[k * q:(k + 1) * q] or samples[-1:]) for k in range(3)] + [max(samples[-q:])]


def measure(opt, clip, tmp):
    """Serve, run, and gather every number of one live run."""
    from maskdet.footage import read_jsonl
    from maskdet.video import probe

    sent = probe(clip)["frames"] * opt.plays
    server, url = serve(clip, opt.plays, free_port())
    try:
        code, stdout, seconds, usage, samples = run_pipeline(url, opt.model, tmp, opt.torch_threads)
    finally:
        server.kill()
        server.wait()
    if code != 0:
        sys.exit(f"error: test.py exited with {code}:\n{stdout[-2000:]}")
    records = read_jsonl(tmp / "log.jsonl")
    quarters = quarter_peaks(samples)
    early, late = quarters[0], quarters[-1]
    out = {"clip": str(opt.clip), "resize": opt.resize, "plays": opt.plays, "torch_threads": opt.torch_threads or None,
           "frames_sent": sent,
           "frames_processed": len(records), "share_processed": round(len(records) / sent, 4),
           **closing_numbers(stdout), "gaps": gaps(records), "video_frames": probe(tmp / "annotated.mp4")["frames"],
           "peak_rss_mb": round(usage.ru_maxrss / 1024, 1), "rss_early_mb": early, "rss_late_mb": late,
           "rss_quarters_mb": [round(v, 1) if v else v for v in quarters],
           "rss_growth": round(late / early - 1, 4) if early else None,
           "cpu_cores": round((usage.ru_utime + usage.ru_stime) / seconds, 2), "seconds": round(seconds, 1),
           "load_before": opt.load_before, "closing_line": stdout.strip().splitlines()[-1]}
    out["video_equals_log"] = out["video_frames"] == len(records)
    return out


def main(argv=None):
    opt = parse_args(argv)
    opt.load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        clip = opt.clip
        if opt.resize:
            from maskdet.video import parse_size, scaled_copy
            clip = scaled_copy(opt.clip, parse_size(opt.resize), Path(tmp) / "scaled.mp4")
        out = measure(opt, clip, Path(tmp))
    for k, v in out.items():
        print(f"{k:>18}: {v}")
    if opt.json:
        Path(opt.json).parent.mkdir(parents=True, exist_ok=True)
        Path(opt.json).write_text(json.dumps(out, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
