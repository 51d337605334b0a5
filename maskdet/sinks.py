"""Where a stream's frames go: each sink is handed every (log record, annotated frame) and closed at
the end. test.py --source and fleet.py build their lists of sinks; the frame loop never knows which."""
import json
from datetime import datetime, timezone
from pathlib import Path

from maskdet import InputError
from maskdet.files import atomic_path, clean_partials, make_parent, write_image


class JsonLines:
    """A JSON Lines file written one whole line at a time. mode "w": in place as lines come (test.py
    --log); "atomic": under a temporary name, renamed into place only when closed with ok=True (a
    killed or failed run leaves nothing); "a": appended (a camera resuming after a restart)."""

    def __init__(self, path, mode="w"):
        self.path, self._ctx = Path(path), None
        target = make_parent(self.path)
        if mode == "atomic":
            self._ctx = atomic_path(self.path)
            target = self._ctx.__enter__()
        try:
            self.f = open(target, "a" if mode == "a" else "w")
        except OSError as e:
            raise InputError(f"{path}: cannot write this file ({e.strerror})") from None

    def add(self, obj):
        """Append one object as a line, flushed, so a reader (or a kill) never sees half a line."""
        self.f.write(json.dumps(obj) + "\n")
        self.f.flush()

    def close(self, ok=True):
        """Close; an atomic file is moved into place when ok, dropped otherwise."""
        self.f.close()
        if self._ctx is not None:
            err = None if ok else RuntimeError("discarded")
            self._ctx.__exit__(type(err) if err else None, err, None)
            self._ctx = None


class LogSink:
    """The per-frame log (test.py --log): one record a frame."""

    def __init__(self, path, mode="w"):
        self.lines = JsonLines(path, mode)

    def write(self, record, frame):
        self.lines.add(record)

    def close(self, ok=True):
        self.lines.close(ok)


class VideoSink:
    """The annotated H.264 video at the source's fps, opened on the first frame (its size is the
    frame's). `keep_partial`: on a failed or interrupted run keep what was written (test.py) rather
    than dropping it (fleet.py, which redoes the video)."""

    def __init__(self, path, fps, keep_partial=True):
        self.path, self.fps, self.keep_partial, self.writer = Path(path), fps, keep_partial, None

    def write(self, record, frame):
        if self.writer is None:
            from maskdet.video import H264Writer

            clean_partials(self.path.parent, only=self.path)  # what a killed run left of this file
            self.writer = H264Writer(self.path, self.fps, (frame.shape[1], frame.shape[0]))
        self.writer.write(frame)

    def close(self, ok=True):
        if self.writer is not None:
            self.writer.close(keep=ok or self.keep_partial)


class EventSink:
    """One line per announcement in an events file (camera, video time, wall time, counts, message,
    snapshot), a JPEG of the annotated frame that fired it in `snapshots` (None: no pictures kept),
    and each event handed to `webhook` (a background poster) when one is given."""

    def __init__(self, path, camera, snapshots=None, root=None, mode="a", webhook=None):
        self.lines = JsonLines(path, mode)
        self.camera, self.webhook = camera, webhook
        self.snapshots = Path(snapshots) if snapshots else None
        self.root = Path(root) if root else Path(path).parent  # snapshot paths are relative to it

    def write(self, record, frame):
        if not record["announce"]:
            return
        event = {"camera": self.camera, "time": record["time"], "index": record["index"],
                 "wall_time": datetime.now(timezone.utc).isoformat(timespec="milliseconds"),
                 "correctly_masked": record["correctly_masked"], "total": record["total"],
                 "message": record["message"], "snapshot": None}
        if self.snapshots is not None:
            jpg = self.snapshots / f"{self.camera}_{record['index']:06d}.jpg"
            write_image(jpg, frame, quality=85)
            event["snapshot"] = _relative(jpg, self.root)
        self.lines.add(event)
        if self.webhook is not None:
            self.webhook.post(event)

    def close(self, ok=True):
        self.lines.close(ok)
        if self.webhook is not None:
            self.webhook.close()


def _relative(path, root):
    """`path` relative to `root` when it lies under it (as a page or a reader of the events file finds it)."""
    try:
        return Path(path).resolve().relative_to(Path(root).resolve()).as_posix()
    except ValueError:
        return str(path)


def close_all(sinks, ok=True):
    """Close every sink even when one fails; re-raise the first failure."""
    error = None
    for sink in sinks:
        try:
            sink.close(ok)
        except Exception as e:  # noqa: BLE001 - the other sinks must still be closed
            error = error or e
    if error is not None:
        raise error
