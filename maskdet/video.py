"""Video in (OpenCV decoding of files, cameras and streams) and out (H.264 through a packaged ffmpeg)."""
import json
import queue
import threading
from pathlib import Path

import cv2
import numpy as np

from maskdet import InputError
from maskdet.files import atomic_path
from maskdet.layout import unreadable_folder

WRITE_QUEUE = 8  # frames waiting for the encoder


def open_video(path):
    """An opened cv2.VideoCapture and its meta dict; InputError naming the file if it has no frames."""
    path = Path(path)
    if path.stat().st_size == 0:
        raise InputError(f"{path}: empty file, not a video")
    try:
        open(path, "rb").close()
    except OSError as e:
        raise InputError(f"{path}: cannot read this file ({e.strerror})") from None
    cap = cv2.VideoCapture(str(path))
    ok, first = cap.read() if cap.isOpened() else (False, None)
    if not ok or first is None:
        cap.release()
        raise InputError(f"{path}: not a readable video (no frame could be decoded)")
    cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
    fps = cap.get(cv2.CAP_PROP_FPS)
    meta = {"source": str(path), "fps": float(fps) if fps and np.isfinite(fps) and 0 < fps < 1000 else 25.0,
            "width": int(first.shape[1]), "height": int(first.shape[0]),
            "frames_reported": int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)}
    return cap, meta


def read_frames(cap, every=1):
    """(index from 1, BGR frame, timestamp in s) for every `every`-th decoded frame; stops at the
    first unreadable one."""
    n = 0
    while True:
        ok, frame = cap.read()
        if not ok or frame is None:
            return
        n += 1
        if (n - 1) % every == 0:
            yield n, frame, cap.get(cv2.CAP_PROP_POS_MSEC) / 1000.0


def variable_rate(times, fps):
    """True when frame timestamps stray from a constant rate by more than half a frame interval."""
    if len(times) < 3 or any(b <= a for a, b in zip(times, times[1:])):
        return False  # too short, or the container gives no usable timestamps
    steps = np.diff(times)
    return bool(np.abs(steps - np.median(steps)).max() > 0.5 / fps)


def count_note(video, reported, decoded, slack=1):
    """The note for a file whose container index declares `reported` frames where `decoded` (more than
    `slack` apart) could be decoded: a file cut short, or a broken or missing index; None when they agree."""
    if reported and abs(reported - decoded) > slack:
        return (f"note: {video}: the index says {reported} frames, {decoded} decoded (a file cut short, or a "
                "broken or missing index); all decodable frames were used")
    return None


def read_meta(folder):
    """meta.json of a frames folder, or None."""
    p = Path(folder) / "meta.json"
    try:
        if not p.is_file():
            return None
    except OSError as e:
        raise unreadable_folder(folder, e) from None
    try:
        meta = json.loads(p.read_text())
    except (ValueError, OSError):
        meta = None
    if not _valid_meta(meta):
        raise InputError(f"{p}: unreadable meta.json (delete it and re-run deconstruct.py)")
    return meta


def _valid_meta(meta):
    """meta.json as deconstruct.py writes it: an object, a positive fps, numeric frame times."""
    if not isinstance(meta, dict):
        return False
    fps, times = meta.get("fps", 25.0), meta.get("times", [])
    number = (int, float)
    return (isinstance(fps, number) and not isinstance(fps, bool) and 0 < fps < 1000 and isinstance(times, list)
            and all(isinstance(t, number) for t in times))


class H264Writer:
    """Writes BGR frames to an H.264 MP4 (yuv420p, browser-playable); the file appears only when closed.
    Frames go to ffmpeg from a background thread through a bounded queue, so encoding overlaps the
    caller's work. Frames of even sides are converted to YUV 4:2:0 here, by OpenCV, which is the copy
    the queue needs anyway and halves what goes through the pipe (the same colours as ffmpeg's own
    conversion, to 1 level; 1080p: about 5 ms a frame less); odd sides go as BGR, for ffmpeg to pad."""

    def __init__(self, path, fps, size):
        import imageio_ffmpeg

        self.path, self.size = Path(path), tuple(size)
        self.yuv = self.size[0] % 2 == 0 and self.size[1] % 2 == 0  # 4:2:0 halves both sides
        self._tmp_ctx = atomic_path(self.path)
        tmp = self._tmp_ctx.__enter__()
        self._gen = imageio_ffmpeg.write_frames(
            str(tmp), self.size, fps=fps, codec="libx264", pix_fmt_in="yuv420p" if self.yuv else "bgr24",
            pix_fmt_out="yuv420p",
            macro_block_size=1, ffmpeg_log_level="error", quality=None,
            output_params=["-crf", "23", "-preset", "ultrafast", "-threads", "1", "-movflags", "+faststart",
                           "-vf", "pad=ceil(iw/2)*2:ceil(ih/2)*2"])
        self._gen.send(None)
        self.count, self.error = 0, None
        self._queue = queue.Queue(maxsize=WRITE_QUEUE)
        self._thread = threading.Thread(target=self._send_all, daemon=True)
        self._thread.start()

    def write(self, bgr):
        """Append one frame (resized if its size differs from the video's)."""
        if self.error:
            raise self.error
        if (bgr.shape[1], bgr.shape[0]) != self.size:
            bgr = cv2.resize(bgr, self.size)
        # a new array either way: the caller may reuse its frame
        self._queue.put(cv2.cvtColor(bgr, cv2.COLOR_BGR2YUV_I420) if self.yuv else np.array(bgr, order="C"))
        self.count += 1

    def _send_all(self):
        """The background side: hand queued frames to ffmpeg until None."""
        while (frame := self._queue.get()) is not None:
            if self.error is None:
                try:
                    self._gen.send(frame)
                except Exception as e:  # ffmpeg died (disk full, killed): reported by write/close
                    self.error = self._failed(e)

    def _failed(self, e):
        """One line naming the video for an encoder that died (imageio's message has ffmpeg's command)."""
        reason = (str(e).strip().splitlines() or [type(e).__name__])[0]
        return InputError(f"{self.path}: video encoding failed, not written (ffmpeg: {reason})")

    def __enter__(self):
        return self

    def __exit__(self, kind, error, trace):
        """Closed when the block ends: the file moved into place, or dropped if the block failed or was
        interrupted (nothing half-written is left)."""
        self.close(keep=kind is None)

    def close(self, keep=True):
        """Finish the file and move it into place (or drop it when keep is False)."""
        self._queue.put(None)
        self._thread.join()
        try:
            self._gen.close()
        except Exception as e:
            self.error = self.error or self._failed(e)
        if keep and self.count and self.error is None:
            self._tmp_ctx.__exit__(None, None, None)
        else:
            self._tmp_ctx.__exit__(RuntimeError, RuntimeError("discarded"), None)
        if self.error and keep:
            raise self.error


def probe(path):
    """(codec, frame count, fps, width, height) of a video, read by the packaged ffmpeg."""
    import re
    import subprocess

    import imageio_ffmpeg

    out = subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-i", str(path), "-map", "0:v:0", "-c", "copy", "-f", "null", "-"],
                         capture_output=True, text=True).stderr
    codec = re.search(r"Video: (\w+)", out)
    frames = re.findall(r"frame=\s*(\d+)", out)
    fps = re.search(r"([\d.]+) fps", out)
    size = re.search(r"Video: .*?, (\d{2,5})x(\d{2,5})", out)
    return {"codec": codec.group(1) if codec else None, "frames": int(frames[-1]) if frames else 0,
            "fps": float(fps.group(1)) if fps else None,
            "width": int(size.group(1)) if size else None, "height": int(size.group(2)) if size else None}


def scaled_copy(clip, size, out):
    """The video `clip` re-encoded at `size` (w, h) into `out` (H.264, the clip's fps): a real clip of
    that size to measure on. Returns `out` as a string."""
    cap = cv2.VideoCapture(str(clip))
    fps = cap.get(cv2.CAP_PROP_FPS)
    with H264Writer(out, fps if fps and 0 < fps < 1000 else 25.0, size) as writer:
        ok, f = cap.read()
        while ok:
            writer.write(cv2.resize(f, size, interpolation=cv2.INTER_AREA))
            ok, f = cap.read()
    cap.release()
    return str(out)


def parse_size(text):
    """"1280x720" -> (1280, 720); InputError for anything else."""
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise InputError(f"{text}: not a size (expected WxH, e.g. 1280x720)") from None
    if w <= 0 or h <= 0:
        raise InputError(f"{text}: not a size (expected WxH, e.g. 1280x720)")
    return w, h
