"""test.py --source: frames processed as they arrive from a file, camera or network stream."""
import queue
import signal
import threading
import time
from pathlib import Path

import cv2

from maskdet import InputError
from maskdet.alerts import hide_credentials
from maskdet.announce import announcer_from, speaker_from
from maskdet.files import make_parent
from maskdet.footage import FrameProcessor, closing_line
from maskdet.pipeline import FacePipeline
from maskdet.sinks import close_all

QUEUE_SIZE = 8      # frames waiting for the detector; a live source drops the oldest beyond this
MAX_BACKOFF = 30.0  # seconds between reconnection attempts, at most


def is_stream(source):
    """Cameras and network streams can drop and come back; files end."""
    return source.isdigit() or "://" in source


def open_source(source, stall_s=10.0):
    """An opened capture for a file, camera index or URL; None if it cannot be opened now. A network
    open or read that waits longer than `stall_s` fails, so a stalled stream counts as dropped."""
    if not is_stream(source) and not Path(source).is_file():
        raise InputError(f"{source}: no such video file (or give a camera index or rtsp:// / http:// URL)")
    if "://" in source:  # a stalled network stream must not hang the pipeline: reads time out
        ms = int(stall_s * 1000)
        cap = cv2.VideoCapture(source, cv2.CAP_FFMPEG, [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, ms,
                                                        cv2.CAP_PROP_READ_TIMEOUT_MSEC, ms])
    else:
        cap = cv2.VideoCapture(int(source) if source.isdigit() else source)
    return cap if cap.isOpened() else None


class Reader(threading.Thread):
    """Reads frames into a bounded queue; reconnects a dropped stream with exponential backoff."""

    def __init__(self, source, retries=5, stall_s=10.0):
        super().__init__(daemon=True)
        self.source, self.retries, self.stall_s = source, retries, stall_s
        self.frames = queue.Queue(maxsize=QUEUE_SIZE)
        self.stop = threading.Event()
        self.fps, self.dropped, self.reconnects = 25.0, 0, 0
        self.cap = open_source(source, stall_s)
        if self.cap is None:
            raise InputError(f"{hide_credentials(source)}: cannot open this source")
        fps = self.cap.get(cv2.CAP_PROP_FPS)
        self.fps = fps if fps and 0 < fps < 1000 else 25.0

    def run(self):
        """Until the source ends (or stop is set), put frames; put None at the end. A stream that
        drops is reopened; `retries` attempts in a row without a frame end it."""
        failures = 0
        try:
            while not self.stop.is_set():
                ok, frame = self.cap.read() if self.cap is not None else (False, None)
                if ok:
                    failures = 0
                    self._put(frame)
                    continue
                if not is_stream(self.source) or failures >= self.retries:
                    if failures:
                        print(f"warning: {hide_credentials(self.source)}: gave up after {failures} reconnection attempts")
                    break
                failures += 1
                if not self._reconnect(failures):
                    break
        finally:
            if self.cap is not None:
                self.cap.release()
            self.frames.put(None)

    def _put(self, frame):
        """Files wait for the consumer; live sources drop the oldest frame instead of lagging."""
        if not is_stream(self.source):
            while not self.stop.is_set():
                try:
                    return self.frames.put(frame, timeout=0.2)
                except queue.Full:
                    continue
        while True:
            try:
                return self.frames.put_nowait(frame)
            except queue.Full:
                try:
                    self.frames.get_nowait()
                    self.dropped += 1
                except queue.Empty:  # the consumer took it first
                    pass

    def _reconnect(self, attempt):
        """Reopen the stream after waiting 1, 2, 4 ... s (attempt 1, 2, 3 ...); False when stopped."""
        if self.cap is not None:
            self.cap.release()
        if self.stop.wait(min(MAX_BACKOFF, 2.0 ** (attempt - 1))):
            return False
        print(f"reconnecting to {hide_credentials(self.source)} (attempt {attempt}/{self.retries})")
        self.cap = open_source(self.source, self.stall_s)
        self.reconnects += self.cap is not None
        return True


def add_arguments(p):
    """The stream flags, the same in test.py and fleet.py."""
    p.add_argument("--detect_every", type=int, default=None, help="detect every k-th frame, track in between (default: model's)")
    p.add_argument("--min_face_size", type=int, default=None,
                   help="override the smallest face the search starts from (px; a box can come out somewhat smaller)")
    p.add_argument("--max_frames", type=int, default=0, help="streams: stop after this many frames (0: never)")
    p.add_argument("--stall_timeout", type=float, default=10.0, help="streams: a network read waiting longer (s) is a dropped stream")
    p.add_argument("--reconnects", type=int, default=5, help="streams: reconnection attempts before giving up")


def run_live(opt, clf):
    """Process a live source until it ends, --max_frames, or Ctrl-C; outputs are always closed cleanly."""
    out_dir = Path(opt.log).parent if opt.log else Path(".")
    interrupted = threading.Event()
    previous = _on_ctrl_c(lambda *_: interrupted.set())
    try:
        stats = process_source(opt.source, clf, lambda fps: live_sinks(opt, fps), announcer_from(opt),
                               detect_every=opt.detect_every, speaker=speaker_from(opt, out_dir),
                               reconnects=opt.reconnects, stall_s=opt.stall_timeout, max_frames=opt.max_frames,
                               stop=interrupted)
    finally:
        _on_ctrl_c(previous)
    print(closing_line(stats["frames"], stats["faces"], stats["announcements"], 0, stats["seconds"], opt.log or "(no log)")
          + f"; {stats['dropped']} frames dropped, {stats['reconnects']} reconnects")
    return 0 if stats["frames"] else 1


def live_sinks(opt, fps):
    """test.py --source's outputs: --log, --save_video, and --events (with snapshots and --webhook)."""
    from maskdet.sinks import EventSink, LogSink, VideoSink

    sinks = [LogSink(opt.log)] if opt.log else []
    sinks += [VideoSink(opt.save_video, fps)] if opt.save_video else []
    if opt.events:
        from maskdet.alerts import Webhook, check_url

        events = Path(opt.events)
        webhook = Webhook(check_url(opt.webhook)) if opt.webhook else None
        sinks.append(EventSink(events, _camera_name(opt.source), None if opt.no_snapshots else events.parent / "snapshots",
                               webhook=webhook))
    return sinks


def _camera_name(source):
    """A short name for a source in events: a file's stem, "camera0", or a URL's host."""
    if source.isdigit():
        return f"camera{source}"
    if "://" in source:
        from urllib.parse import urlsplit
        return urlsplit(source).hostname or "stream"
    return Path(source).stem


def process_source(source, clf, make_sinks, announcer, *, detect_every=None, speaker=None, reconnects=5,
                   stall_s=10.0, max_frames=0, stop=None, first_index=1):
    """Run `source` through the pipeline until it ends, `max_frames` frames, or `stop` (an Event) is set.
    Every (log record, annotated frame) goes to each sink of make_sinks(fps), in frame order; the sinks
    are closed at the end (ok=False after an error). Frames are numbered from `first_index`.
    The one frame loop of test.py --source and fleet.py; returns counts and timings."""
    reader = Reader(source, reconnects, stall_s)
    try:
        sinks = make_sinks(reader.fps)
    except BaseException:
        reader.cap.release()
        raise
    pipe = FacePipeline(clf, detect_every=detect_every or clf.config.detect_every)
    proc = FrameProcessor(pipe, announcer, reader.fps, speaker)
    stop = stop or threading.Event()
    stats = {"frames": 0, "faces": 0, "announcements": 0, "fps": reader.fps, "t0": time.time()}
    ok = False
    reader.start()
    try:
        while (frame := _next_frame(reader, stop)) is not None:
            stats["frames"] += 1
            index = first_index + stats["frames"] - 1
            _hand(sinks, proc.push(index, f"{index:06d}", frame), stats)
            if max_frames and stats["frames"] >= max_frames:
                break
        if stop.is_set():
            print("interrupted: closing outputs")
        _hand(sinks, proc.flush(), stats)  # the frames still waiting for a search pass
        ok = True
    finally:
        reader.stop.set()
        close_all(sinks, ok)
    stats.update(seconds=time.time() - stats.pop("t0"), dropped=reader.dropped, reconnects=reader.reconnects)
    return stats


def _hand(sinks, done, stats):
    """Give each finished frame to every sink, in order; count faces and announcements."""
    for record, frame in done:
        stats["faces"] += len(record["faces"])
        stats["announcements"] += record["announce"]
        for sink in sinks:
            sink.write(record, frame)


def _on_ctrl_c(handler):
    """Install the signal `handler` for Ctrl-C when this is the main thread; return the one it replaced.
    Ctrl-C then ends the stream between two frames, so the log and the video hold the same frames."""
    if threading.current_thread() is not threading.main_thread() or handler is None:
        return None
    return signal.signal(signal.SIGINT, handler)


def _next_frame(reader, interrupted):
    """The reader's next frame; None at the end of the source or after Ctrl-C."""
    while not interrupted.is_set():
        try:
            return reader.frames.get(timeout=0.2)
        except queue.Empty:
            continue
    return None


def open_log(path):
    """A line-buffered log that each frame appends to (every line is whole JSON)."""
    if path is None:
        return None
    make_parent(path)
    try:
        return open(path, "w")
    except OSError as e:
        raise InputError(f"{path}: cannot write the log ({e.strerror})") from None
