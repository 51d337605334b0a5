"""test.py --source: frames processed as they arrive from a file, camera or network stream."""
import queue
import signal
import threading
import time
from collections import deque
from pathlib import Path

import cv2
import numpy as np

from maskdet import InputError, cli
from maskdet.alerts import hide_credentials
from maskdet.announce import announcer_from, speaker_from
from maskdet.files import keep_previous, missing
from maskdet.footage import FrameProcessor, closing_line
from maskdet.pipeline import FacePipeline
from maskdet.sinks import close_all
from maskdet.video import count_note

QUEUE_SIZE = 48     # frames waiting for the detector, about 2 s: a stream's start (a burst of buffered frames while the
                    # networks' first runs are slow; 24 dropped 12 of 840 frames there at 720p) and one search pass fit
MAX_BACKOFF = 30.0  # seconds between reconnection attempts, at most
PACE_WINDOW = 48    # frames the pacer averages over: a multiple of every search interval up to 8 (and 12, 16, 24)
PACE_START = 8      # frames timed before the pacer decides (one search interval at the default of 8)
PACE_MARGIN = 0.95  # keep a little less than the pipeline can take, so that the queue drains after a search
SEARCH_STEPS = (8, 12, 16, 24)  # live sources behind: search intervals to step through (following every 2nd frame)
PACE_ROOM = 0.6     # ... and back down a step while it uses less than this share of the time between frames
OUTLET_SIZE = 16    # frames whose faces are final, waiting to be drawn and written


def is_stream(source):
    """Cameras and network streams can drop and come back; files end."""
    return source.isdigit() or "://" in source


def open_source(source, stall_s=10.0):
    """An opened capture for a file, camera index or URL; None if it cannot be opened now. A network
    open or read that waits longer than `stall_s` fails, so a stalled stream counts as dropped."""
    if not is_stream(source) and (wrong := missing(source, "video file")):
        raise InputError(f"{wrong} (or give a camera index or rtsp:// / http:// URL)")
    if "://" in source:  # a stalled network stream must not hang the pipeline: reads time out
        ms = int(stall_s * 1000)
        cap = cv2.VideoCapture(source, cv2.CAP_FFMPEG, [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, ms,
                                                        cv2.CAP_PROP_READ_TIMEOUT_MSEC, ms])
    else:
        cap = cv2.VideoCapture(int(source) if source.isdigit() else source)
    return cap if cap.isOpened() else None


class Pacer:
    """Which frames of a live source to keep when the pipeline is slower than the source: the share
    the pipeline can take (its mean time per frame over the last PACE_WINDOW frames, against the
    source's interval between frames), spread evenly by error diffusion, so that the tracker and the
    rule see steady gaps rather than bursts. Keeps everything until PACE_START frames are timed.
    arrived() and keep() run on the reader's thread, took() on the consumer's."""

    def __init__(self, fps, window=PACE_WINDOW, start=PACE_START, margin=PACE_MARGIN):
        self.period, self.start, self.margin, self.credit = 1.0 / fps, start, margin, 0.0
        self.arrivals, self.busy, self.warm = deque(maxlen=window + 1), deque(maxlen=window), False
        self.lock = threading.Lock()

    def arrived(self, t):
        """A source frame came at monotonic time `t`."""
        with self.lock:
            self.arrivals.append(t)

    def took(self, seconds):
        """The consumer spent `seconds` on one frame (from taking it to asking for the next)."""
        if not self.warm:  # the first frame pays for the networks' first run: no measure of the pace
            self.warm = True
            return
        with self.lock:
            self.busy.append(seconds)

    def restart(self):
        """The pipeline's work per frame changed (a new pace): time it afresh, keeping frames meanwhile."""
        with self.lock:
            self.busy.clear()

    def load(self):
        """The pipeline's mean time per frame against the source's time between frames (above 1: it is
        behind); None until measured."""
        with self.lock:
            if len(self.busy) < self.start or len(self.arrivals) <= self.start:
                return None
            busy = sum(self.busy) / len(self.busy)
            arrivals = list(self.arrivals)
        # The source's own rate, or a slower one measured (a camera that sends fewer frames than it says).
        # Never a faster one: frames that come in a burst (from the network's buffer, or after the
        # reader waited for the CPU) are late frames, not a faster source.
        interval = max(self.period, float(np.median(np.diff(arrivals))))
        return busy / interval

    def share(self):
        """The share of source frames the pipeline keeps up with now (1.0 until measured)."""
        load = self.load()
        return 1.0 if not load else min(1.0, self.margin / load)

    def keep(self):
        """Whether to keep the frame that just arrived."""
        self.credit += self.share()
        if self.credit >= 1.0:
            self.credit -= 1.0
            return True
        return False


class SearchPace:
    """A live source the pipeline cannot keep up with gets less work per frame before frames are
    dropped: a frame followed (or placed between two followed ones) is still seen, a dropped one is
    not. The first step follows faces on every other frame only; the next ones also search less often
    (SEARCH_STEPS). Right after a search, the pace steps up while the pacer would drop frames at the
    pace in force (timed since it began, a whole search interval at least: a stream that is far behind
    gets there within a few searches), and back down, at most once per PACE_WINDOW frames, while the
    pipeline uses less than PACE_ROOM of the time between frames. The pacer times each pace afresh
    (keeping every frame until it has), so that it stops dropping frames once the pace has relieved
    it. Files are never paced, nor a stream given its own --detect_every. Searching less often makes
    new faces wait longer for the search that finds them (up to 23 frames, 0.92 s at 25 fps, at every
    24th frame), while frames are final after as many frames as they wait on average at the stream's
    own pace (4 of 8): a face the search finds later is followed back through at most those."""

    def __init__(self, pipe, pacer):
        base = pipe.detect_every
        self.pipe, self.pacer = pipe, pacer
        self.since = PACE_WINDOW  # frames at the pace in force: the first step as soon as the pacer has measured
        pipe.hold = base // 2  # frames wait for a search as long as on average at the stream's own pace, at most
        self.steps = [(base, 1), (base, 2)] + [(k, 2) for k in SEARCH_STEPS if k > base]

    def update(self):
        """Call after each frame is pushed; returns the pace now: (search interval, follow interval)."""
        self.since += 1
        pipe = self.pipe
        now = (pipe.detect_every, pipe.follow_every)
        if pipe.n % pipe.detect_every != 1 % pipe.detect_every:
            return now
        load = self.pacer.load()  # timed at the pace in force
        if load is None:
            return now
        at = self.steps.index(now)
        if load > PACE_MARGIN and self.since >= pipe.detect_every and at + 1 < len(self.steps):
            at += 1
        elif load < PACE_ROOM and self.since >= PACE_WINDOW and at > 0:
            at -= 1
        if self.steps[at] != now:
            pipe.pace(*self.steps[at])
            self.pacer.restart()
            self.since = 0
        return self.steps[at]


class Reader(threading.Thread):
    """Reads frames into a bounded queue as (source frame number from 1, monotonic arrival time, BGR);
    reconnects a dropped stream with exponential backoff. A live source that comes faster than the
    consumer takes frames has frames dropped evenly (Pacer), and the oldest waiting frame when the
    queue is full anyway; `dropped` counts both. A file waits for the consumer."""

    def __init__(self, source, retries=5, stall_s=10.0):
        super().__init__(daemon=True)
        self.source, self.retries, self.stall_s = source, retries, stall_s
        self.frames = queue.Queue(maxsize=QUEUE_SIZE)
        self.stop = threading.Event()
        self.fps, self.read, self.dropped, self.reconnects = 25.0, 0, 0, 0
        self.cap = open_source(source, stall_s)
        if self.cap is None:
            raise InputError(f"{hide_credentials(source)}: cannot open this source")
        fps = self.cap.get(cv2.CAP_PROP_FPS)
        self.fps = fps if fps and 0 < fps < 1000 else 25.0
        self.reported = 0 if is_stream(source) else int(self.cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        self.ended = False  # a file read to its last decodable frame
        self.pacer, self._given = Pacer(self.fps), None

    def run(self):
        """Until the source ends (or stop is set), put frames; put None at the end. A stream that
        drops is reopened; `retries` attempts in a row without a frame end it."""
        failures = 0
        try:
            while not self.stop.is_set():
                if self.cap is not None and self.cap.grab():
                    failures = 0
                    self._arrived(time.monotonic())
                    continue
                self.ended = not is_stream(self.source)
                if self.ended or failures >= self.retries:
                    if failures:
                        print(f"warning: {hide_credentials(self.source)}: gave up after {failures} reconnection attempts")
                    break
                failures += 1
                if not self._reconnect(failures):
                    break
        finally:
            if self.cap is not None:
                self.cap.release()
            self._wait_put(None)  # the end, for a consumer still reading; once stopped, nobody is

    def _arrived(self, t):
        """Number the frame just grabbed; convert and queue it unless the pacer drops it (a dropped
        frame is decoded, as the next ones need it, but never converted)."""
        self.read += 1
        live = is_stream(self.source)
        if live:
            self.pacer.arrived(t)
            if not self.pacer.keep():
                self.dropped += 1
                return
        ok, frame = self.cap.retrieve()
        if ok:
            (self._put if live else self._wait_put)((self.read, t, frame))

    def _wait_put(self, item):
        """Files wait for the consumer."""
        while not self.stop.is_set():
            try:
                return self.frames.put(item, timeout=0.2)
            except queue.Full:
                continue

    def _put(self, item):
        """Live sources drop the oldest waiting frame rather than lag when the queue is full."""
        while True:
            try:
                return self.frames.put_nowait(item)
            except queue.Full:
                try:
                    self.frames.get_nowait()
                    self.dropped += 1
                except queue.Empty:  # the consumer took it first
                    pass

    def next(self, stop):
        """The next (source frame, arrival, BGR); None at the end of the source or once `stop` is set.
        The time the consumer spent since the previous one paces the source."""
        if self._given is not None:
            self.pacer.took(time.monotonic() - self._given)
        while not stop.is_set():
            try:
                item = self.frames.get(timeout=0.2)
            except queue.Empty:
                continue
            self._given = time.monotonic()
            return item
        return None

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
    p.add_argument("--detect_every", type=cli.positive_int, default=None,
                   help="detect every k-th frame, track in between (default: the model's; a live stream then "
                        "follows and searches less often while it is behind)")
    p.add_argument("--min_face_size", type=cli.positive_int, default=None,
                   help="override the smallest face the search starts from (px; a box can come out somewhat smaller)")
    p.add_argument("--max_frames", type=cli.nonneg_int, default=0, help="streams: stop after this many frames (0: never)")
    p.add_argument("--stall_timeout", type=cli.float_between(0.001, 86400), default=10.0,
                   help="streams: a network read waiting longer (s, 0.001 to 86400) is a dropped stream")
    p.add_argument("--reconnects", type=cli.nonneg_int, default=5, help="streams: reconnection attempts before giving up")


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
          + "; " + stream_line(stats))
    return 0 if stats["frames"] else 1


def stream_line(stats):
    """What the closing line adds for a live source: frames dropped and why, reconnects, and (streams)
    the latency from a frame's arrival to its log line."""
    line = f"{stats['dropped']:,} frames dropped"
    line += " (the pipeline was behind the source)" if stats["dropped"] else ""
    line += f", {stats['reconnects']} reconnects"
    if stats.get("paced"):
        line += "; to keep up, faces were followed on every other frame"
        line += f" and searched as seldom as every {stats['paced'][0]} frames" if stats["paced"][0] > stats["search_base"] else ""
    if stats.get("latency_median") is not None:
        line += (f"; latency from arrival to log line: median {stats['latency_median']:.2f} s, "
                 f"95th percentile {stats['latency_p95']:.2f} s")
    return line


class Latency:
    """Seconds from each frame's arrival to its log line, kept as counts per 10 ms (memory stays flat
    over a stream of any length); quantile() reads them back to the nearest 10 ms."""

    STEP = 0.01

    def __init__(self):
        self.counts = {}

    def add(self, seconds):
        """One frame's latency."""
        k = max(0, round(seconds / self.STEP))
        self.counts[k] = self.counts.get(k, 0) + 1

    def quantile(self, q):
        """The `q` quantile (0-1) in seconds; None before any frame."""
        n = sum(self.counts.values())
        seen = 0
        for k in sorted(self.counts):
            seen += self.counts[k]
            if seen >= q * n:
                return k * self.STEP
        return None


def live_sinks(opt, fps):
    """test.py --source's outputs: --log, --save_video, and --events (with snapshots and --webhook)."""
    from maskdet.sinks import EventSink, LogSink, VideoSink

    for path in (opt.log, opt.save_video):
        keep_previous(path)
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
                   stall_s=10.0, max_frames=0, stop=None, first_index=1, first_source=1):
    """Run `source` through the pipeline until it ends, `max_frames` frames, or `stop` (an Event) is set.
    Every (log record, annotated frame) goes to each sink of make_sinks(fps), in frame order; the sinks
    are closed at the end (ok=False after an error). Frames processed are numbered from `first_index`,
    frames read (dropped ones included: video time comes from these) from `first_source`.
    The one frame loop of test.py --source and fleet.py; returns counts and timings."""
    reader = Reader(source, reconnects, stall_s)
    try:
        sinks = make_sinks(reader.fps)
    except BaseException:
        reader.cap.release()
        raise
    pipe = FacePipeline(clf, detect_every=detect_every or clf.config.detect_every)
    pace = SearchPace(pipe, reader.pacer) if is_stream(source) and not detect_every else None
    stats = {"frames": 0, "faces": 0, "announcements": 0, "fps": reader.fps, "search_base": pipe.detect_every}
    proc = FrameProcessor(pipe, announcer, reader.fps, speaker)
    stop = stop or threading.Event()
    stats["t0"] = time.time()
    outlet, ok = Outlet(proc, sinks, stats), False
    reader.start()
    outlet.start()
    try:
        while (item := reader.next(stop)) is not None:
            n, arrived_at, frame = item
            index = first_index + stats["frames"]
            stats["frames"] += 1
            outlet.arrived[index] = arrived_at
            outlet.put(proc.track(index, f"{index:06d}", frame, source=first_source + n - 1))
            if pace is not None and (now := pace.update()) != pace.steps[0]:
                stats["paced"] = max(now, stats.get("paced", now))
            if max_frames and stats["frames"] >= max_frames:
                break
        if stop.is_set():
            print("interrupted: closing outputs")
        outlet.put(pipe.flush())  # the frames still waiting for a search pass
        ok = True
    finally:
        reader.stop.set()
        reader.join(stall_s + 1)  # a decoder still running when Python exits aborts the process
        try:
            outlet.close()  # every frame handed over is finished and written, whatever happened
        finally:
            close_all(sinks, ok and outlet.error is None)
    stats.update(seconds=time.time() - stats.pop("t0"), dropped=reader.dropped, reconnects=reader.reconnects)
    if reader.ended and (note := count_note(source, reader.reported, reader.read)):
        print(note)
    if is_stream(source):  # a file's frames arrive when the pipeline asks: no latency to speak of
        stats.update(latency_median=outlet.latency.quantile(0.5), latency_p95=outlet.latency.quantile(0.95))
    return stats


class Outlet(threading.Thread):
    """Finishes frames (the rule, speech, drift watch, drawing: FrameProcessor.finish) and gives each to
    every sink, in order, on its own thread: the frame loop goes on with the next frame meanwhile.
    Counts faces and announcements into `stats` and times each frame from its arrival (`arrived`, by
    index) to its log line. A failure stops the writing; put() and close() raise it."""

    def __init__(self, proc, sinks, stats):
        super().__init__(daemon=True)
        self.proc, self.sinks, self.stats = proc, sinks, stats
        self.arrived, self.latency, self.error = {}, Latency(), None
        self.done = queue.Queue(maxsize=OUTLET_SIZE)

    def put(self, done):
        """Hand over [(item, faces)] of frames whose faces are final (FrameProcessor.track)."""
        for finished in done:
            if self.error is not None:
                raise self.error
            self.done.put(finished)

    def close(self):
        """Wait until every frame handed over is written; raise the failure that stopped it, if any."""
        self.done.put(None)
        self.join()
        if self.error is not None:
            raise self.error

    def run(self):
        while (finished := self.done.get()) is not None:
            if self.error is None:
                try:
                    self._write(*finished)
                except BaseException as e:  # noqa: BLE001 - raised on the frame loop's thread
                    self.error = e

    def _write(self, item, faces):
        record, frame = self.proc.finish(item, faces)
        self.stats["faces"] += len(record["faces"])
        self.stats["announcements"] += record["announce"]
        for sink in self.sinks:
            sink.write(record, frame)
        self.latency.add(time.monotonic() - self.arrived.pop(record["index"]))


def _on_ctrl_c(handler):
    """Install the signal `handler` for Ctrl-C when this is the main thread; return the one it replaced.
    Ctrl-C then ends the stream between two frames, so the log and the video hold the same frames."""
    if threading.current_thread() is not threading.main_thread() or handler is None:
        return None
    return signal.signal(signal.SIGINT, handler)
