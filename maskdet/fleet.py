"""fleet.py's work on Ray: a task per backlog video, an actor per live camera, and the folder each writes.

Both run maskdet.live.process_source, the frame loop of test.py --source, with the same detector,
tracker and rule; only the sinks differ. A stream's state (tracker, rule) never leaves its worker.
"""
import functools
import json
import os
import shutil
import socket
import threading
import time
from pathlib import Path

from maskdet import InputError
from maskdet.announce import announcer_from, rule_from, speaker_from
from maskdet.files import clean_partials, missing

RETRIES = 3          # Ray re-runs a video (or restarts a camera) this often after its worker dies
WORKER_MEMORY = 1.7e9  # bytes Ray reserves per stream: peak 1,535 MiB (1.61e9 bytes) at 1080p, 1,301 MiB at 720p (throughput.py --skip_naive)


def is_done(out):
    """A video is done when its summary.json exists: it is written last."""
    return (Path(out) / "summary.json").is_file()


def process_video(video, out, opt):
    """One backlog video, exactly as test.py --source VIDEO processes it, into `out`: log.jsonl,
    annotated.mp4, events.jsonl (+ snapshots/), compliance.png, then summary.json. Log, video and events
    are written under temporary names and renamed only when the video is finished, so a killed attempt
    leaves nothing half-written and Ray's retry starts the video afresh. Returns a result dict."""
    from maskdet.live import process_source
    from maskdet.sinks import EventSink, LogSink, VideoSink

    out = Path(out)
    try:
        check_video(video)
    except InputError as e:
        return {"name": out.name, "skipped": str(e)}
    (out / "summary.json").unlink(missing_ok=True)  # not done until it is rewritten
    clean_partials(out)
    shutil.rmtree(out / "snapshots", ignore_errors=True)
    clf = _worker_classifier(opt)
    snapshots = None if opt.no_snapshots else out / "snapshots"

    def sinks(fps):
        return [LogSink(out / "log.jsonl", "atomic"), VideoSink(out / "annotated.mp4", fps, keep_partial=False),
                EventSink(out / "events.jsonl", out.name, snapshots, root=out.parent, mode="atomic")]

    try:
        stats = process_source(str(video), clf, sinks, announcer_from(opt), detect_every=opt.detect_every, reconnects=0)
    except InputError as e:
        return {"name": out.name, "skipped": str(e)}
    if not stats["frames"]:
        return {"name": out.name, "skipped": f"{video}: not a readable video (no frame could be decoded)"}
    worker = _worker(stats)
    summary = write_summary(out, opt, {"source": str(video), "videos": ["annotated.mp4"], "processed_by": worker})
    return {"name": out.name, "frames": stats["frames"], "announcements": summary["announcements"], **worker}


def check_video(video):
    """InputError naming the file when it is not a readable video (empty, truncated, not a video)."""
    from maskdet.video import open_video

    if wrong := missing(video, "video file"):
        raise InputError(wrong)
    cap, _ = open_video(video)
    cap.release()


def run_camera(name, source, out, opt, stop):
    """A live camera into `out` until its source ends or `stop` is set. Every start (a new fleet.py run,
    or Ray restarting the actor after its worker died) resumes: whole lines are appended to log.jsonl
    and events.jsonl (frame numbers, and the source frame numbers video time comes from, go on from
    the log's last line; a torn last line is cut), the video goes into a new segment (annotated.mp4,
    then annotated.1.mp4 ...), and summary.json is rewritten from the whole log at the end."""
    from maskdet.alerts import Webhook
    from maskdet.live import process_source
    from maskdet.sinks import EventSink, LogSink, VideoSink

    out = Path(out)
    clean_partials(out)  # the video segment a killed worker could not finish
    last = resume_log(out / "log.jsonl")
    last_index = last.get("index", 0)
    resume_log(out / "events.jsonl")
    video = next_segment(out)
    clf = _worker_classifier(opt)
    webhook = Webhook(opt.webhook) if opt.webhook else None
    snapshots = None if opt.no_snapshots else out / "snapshots"

    def sinks(fps):
        return [LogSink(out / "log.jsonl", "a"), VideoSink(video, fps),
                EventSink(out / "events.jsonl", name, snapshots, root=out.parent, mode="a", webhook=webhook)]

    try:
        stats = process_source(source, clf, sinks, announcer_from(opt), detect_every=opt.detect_every,
                               speaker=speaker_from(opt, out), reconnects=opt.reconnects,
                               stall_s=opt.stall_timeout, max_frames=opt.max_frames, stop=stop,
                               first_index=last_index + 1, first_source=last.get("source_frame", last_index) + 1)
    except InputError as e:
        return {"name": name, "skipped": str(e)}
    if not stats["frames"] and not last:
        return {"name": name, "skipped": f"{_shown(source)}: no frame received"}
    worker = _worker(stats)
    segments = sorted(p.name for p in out.glob("annotated*.mp4"))
    summary = write_summary(out, opt, {"source": _shown(source), "videos": segments, "processed_by": worker})
    return {"name": name, "frames": stats["frames"], "announcements": summary["announcements"], **worker}


class Camera:
    """One live camera as a Ray actor: its tracker and rule live here. run() blocks until the source
    ends; stop() (from another thread: the actor has two) ends it cleanly between two frames."""

    def __init__(self, name, source, out, opt):
        self.args, self.stopping = (name, source, out, opt), threading.Event()

    def run(self):
        return run_camera(*self.args, self.stopping)

    def stop(self):
        self.stopping.set()


def resume_log(path):
    """The last whole record of a JSON Lines file ({} when there is none), after cutting a torn last
    line that a killed writer left."""
    path = Path(path)
    if not path.is_file():
        return {}
    data = path.read_bytes()
    whole = data[: data.rfind(b"\n") + 1]
    if len(whole) != len(data):
        with open(path, "r+b") as f:
            f.truncate(len(whole))
    lines = whole.splitlines()
    return json.loads(lines[-1]) if lines else {}


def next_segment(out):
    """annotated.mp4 for a camera's first run, then annotated.1.mp4, annotated.2.mp4 ..."""
    k = 0
    while (out / ("annotated.mp4" if k == 0 else f"annotated.{k}.mp4")).exists():
        k += 1
    return out / ("annotated.mp4" if k == 0 else f"annotated.{k}.mp4")


def write_summary(out, opt, extra):
    """compliance.png and summary.json (last) from the stream's log: what announce.py writes for it."""
    from maskdet import summary
    return summary.write_summary(out / "log.jsonl", out / "summary.json", out / "compliance.png", out.name,
                                 rule_from(opt), extra)


def _worker_classifier(opt):
    """The model, loaded once per worker process, with torch using the CPUs Ray gave this worker."""
    import torch

    torch.set_num_threads(max(1, int(opt.cpus_per_worker)))
    return _classifier(opt.model, opt.min_face_size)


@functools.cache
def _classifier(model, min_face_size):
    from maskdet.classifier import load_classifier

    return load_classifier(model, min_face_size)


def _worker(stats):
    """Where and how fast a stream ran: node, host, process, seconds, frames/s."""
    try:
        import ray
        node = ray.get_runtime_context().get_node_id()
    except Exception:  # noqa: BLE001 - outside Ray (a direct call)
        node = None
    end = time.time()
    return {"node": node, "host": socket.gethostname(), "pid": os.getpid(), "seconds": round(stats["seconds"], 2),
            "frames_per_s": round(stats["frames"] / max(stats["seconds"], 1e-9), 2),
            "started": round(end - stats["seconds"], 2), "finished": round(end, 2)}


def _shown(source):
    """A source as it may be written down: a stream URL without its credentials."""
    from maskdet.alerts import hide_credentials
    return hide_credentials(source)


def merge_events(out_root):
    """OUT/events.jsonl, rebuilt from each stream's own events.jsonl (sorted by stream, then video time).
    A backlog video's events file appears only when the video is done and a retry rewrites it whole, so
    the merged file never holds an event twice; rebuilding (rather than appending) keeps that true
    across re-runs and --overwrite. Returns the number of events."""
    from maskdet.files import write_text

    out_root = Path(out_root)
    events = [e for path in sorted(out_root.glob("*/events.jsonl")) for e in stream_events(path.parent)]
    events.sort(key=lambda e: (e["camera"], e["time"]))
    write_text(out_root / "events.jsonl", "".join(json.dumps(e) + "\n" for e in events))
    return len(events)


def read_cameras(path):
    """[(name, source)] from a cameras file: one `NAME SOURCE` a line, # comments; InputError naming the
    file and line for a bad one."""
    import re

    path, cameras = Path(path), []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as e:
        raise InputError(f"{path}: cannot read the cameras file ({e.strerror})") from None
    except UnicodeDecodeError:
        raise InputError(f"{path}: not a text file (one `NAME SOURCE` a line)") from None
    for n, line in enumerate(lines, 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split(None, 1)
        if len(parts) != 2 or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", parts[0]):
            raise InputError(f"{path}:{n}: expected `NAME SOURCE` (NAME: letters, digits, _ . -)")
        if parts[0] in {c for c, _ in cameras}:
            raise InputError(f"{path}:{n}: camera name {parts[0]} used twice")
        source = parts[1].strip()
        local_file = not source.isdigit() and "://" not in source
        cameras.append((parts[0], str(Path(source).resolve()) if local_file else source))
    if not cameras:
        raise InputError(f"{path}: no cameras listed (one `NAME SOURCE` a line)")
    return cameras


def stream_events(folder):
    """The events of one stream folder, in order."""
    path = Path(folder) / "events.jsonl"
    return [json.loads(x) for x in path.read_text().splitlines() if x.strip()] if path.is_file() else []
