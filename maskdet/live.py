"""test.py --source: frames processed as they arrive from a file, camera or network stream."""
import json
import queue
import signal
import threading
import time
from pathlib import Path

import cv2

from maskdet import InputError
from maskdet.announce import announcer_from, speaker_from
from maskdet.files import clean_partials, make_parent
from maskdet.footage import FrameProcessor, closing_line
from maskdet.pipeline import FacePipeline

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
            raise InputError(f"{source}: cannot open this source")
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
                        print(f"warning: {self.source}: gave up after {failures} reconnection attempts")
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
        print(f"reconnecting to {self.source} (attempt {attempt}/{self.retries})")
        self.cap = open_source(self.source, self.stall_s)
        self.reconnects += self.cap is not None
        return True


def run_live(opt, clf):
    """Process a live source until it ends, --max_frames, or Ctrl-C; outputs are always closed cleanly."""
    reader = Reader(opt.source, opt.reconnects, opt.stall_timeout)
    log_path = Path(opt.log) if opt.log else None
    out_dir = log_path.parent if log_path else Path(".")
    try:
        log = open_log(log_path)
    except InputError:
        reader.cap.release()
        raise
    pipe = FacePipeline(clf, detect_every=opt.detect_every or clf.config.detect_every)
    proc = FrameProcessor(pipe, announcer_from(opt), reader.fps, speaker_from(opt, out_dir))
    writer, n, faces, ann, t0 = None, 0, 0, 0, time.time()

    def keep(done):
        nonlocal writer, faces, ann
        for rec, frame in done:
            faces, ann = faces + len(rec["faces"]), ann + rec["announce"]
            if log:
                log.write(json.dumps(rec) + "\n")
                log.flush()
            writer = writer or _writer(opt.save_video, reader.fps, frame)
            if writer:
                writer.write(frame)

    interrupted = threading.Event()
    previous = _on_ctrl_c(lambda *_: interrupted.set())
    reader.start()
    try:
        while (frame := _next_frame(reader, interrupted)) is not None:
            n += 1
            keep(proc.push(n, f"{n:06d}", frame))
            if opt.max_frames and n >= opt.max_frames:
                break
        if interrupted.is_set():
            print("interrupted: closing outputs")
        keep(proc.flush())  # the frames still waiting for a search pass
    finally:
        _on_ctrl_c(previous)
        reader.stop.set()
        if writer:
            writer.close()
        if log:
            log.close()
    print(closing_line(n, faces, ann, 0, time.time() - t0, opt.log or "(no log)")
          + f"; {reader.dropped} frames dropped, {reader.reconnects} reconnects")
    return 0 if n else 1


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


def _writer(path, fps, frame):
    """The H.264 writer of --save_video, after removing what a killed run left of that same file."""
    from maskdet.video import H264Writer
    if not path:
        return None
    clean_partials(Path(path).parent, only=path)
    return H264Writer(path, fps, (frame.shape[1], frame.shape[0]))
