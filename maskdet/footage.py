"""test.py on footage: a folder of deconstructed frames, or a live source, through the pipeline."""
import json
import sys
from pathlib import Path

import cv2
from tqdm import tqdm

from maskdet import InputError
from maskdet.draw import draw_frame
from maskdet.files import atomic_path, clean_partials, write_image, write_json
from maskdet.images import read_frame
from maskdet.layout import frame_numbers, list_dirs, list_images
from maskdet.video import read_meta

SHOW_WARNING_S = 2.0  # the banner keeps the warning visible this long after it fired


class FrameProcessor:
    """Runs one video's frames through pipeline + announcer and makes the log record of each."""

    def __init__(self, pipeline, announcer, fps, speaker=None):
        from maskdet.drift import DriftMonitor

        self.pipeline, self.announcer, self.fps, self.speaker = pipeline, announcer, fps, speaker
        self.drift = DriftMonitor(pipeline.clf.config.data.get("drift_reference"))
        self.drift_warned = False

    def push(self, index, name, bgr, t=None, source=None):
        """Add frame number `index` (from 1), which is frame `source` of the source (default: `index`;
        more when frames were dropped), at `t` seconds (default: the source frame's time at the frame
        rate); return [(log record, bgr annotated in place)] of the frames now done (see FacePipeline.push)."""
        return [self.finish(*done) for done in self.track(index, name, bgr, t, source)]

    def flush(self):
        """The frames still waiting, at the end of a stream."""
        return [self.finish(*done) for done in self.pipeline.flush()]

    def track(self, index, name, bgr, t=None, source=None):
        """push() without the finishing: [(item, faces)] of the frames whose faces are final, each to
        be given to finish() in this order (a live source finishes them on another thread)."""
        item = (index, name, bgr, t, index if source is None else source)
        # One contiguous RGB copy (0.5 ms at 1080p): a reversed-channel view cost every later OpenCV call a
        # slow copy of its own (the cut check: 28 -> 5 ms a frame at 1080p).
        rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        return self.pipeline.push(rgb, item)

    def finish(self, item, faces):
        """The rule, speech, drift watch and drawing for one frame whose faces are final: (log record,
        bgr annotated in place). Video time comes from the source's frame number: a dropped frame takes
        its time with it, and counts neither as compliant nor as bad."""
        index, name, bgr, t, source = item
        counted = [f for f in faces if f.get("counted", True)]
        correct, total = sum(f["label"] == "correctly_masked" for f in counted), len(counted)
        t = round((source - 1) / self.fps if t is None else t, 3)
        fire = self.announcer.update(t, correct, total)
        if fire:
            wav = self.speaker.say() if self.speaker else None
            print(f"announce: t={t:.2f} s, {correct} of {total} correctly masked: \"{self.announcer.message}\""
                  + (f" -> {wav}" if wav else " (no speech)"))
        self._watch_drift(faces, t)
        showing = self.announcer.last is not None and t - self.announcer.last < SHOW_WARNING_S
        draw_frame(bgr, faces, correct, total, showing)
        record = {"frame": name, "index": index, "source_frame": source, "time": t, "faces": faces,
                  "correctly_masked": correct, "total": total, "ratio": round(correct / total, 3) if total else None,
                  "announce": fire}
        return (dict(record, message=self.announcer.message) if fire else record), bgr

    def _watch_drift(self, faces, t):
        """Warn once when recent faces look unlike the training data: time to annotate again."""
        self.drift.update(faces)
        status = self.drift.status() if not self.drift_warned and faces else {}
        if status.get("drifting"):
            self.drift_warned = True
            ref = status["reference"]
            print(f"drift: t={t:.1f} s, recent confidence {status['confidence_mean']:.3f} and small-face share "
                  f"{status['small_face_share']:.3f} differ from training ({ref['confidence_mean']:.3f} and "
                  f"{ref.get('small_face_share', 0.0):.3f}): consider annotating frames (annotate.py export)")


def video_folders(data_dir):
    """Sub-folders holding frames (one per video); the folder itself if it holds frames directly."""
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise InputError(f"{data_dir}: frames folder not found (run deconstruct.py first)")
    if list_images(data_dir):
        return [data_dir]
    folders = [d for d in list_dirs(data_dir) if _holds_frames(d)]
    if not folders:
        raise InputError(f"{data_dir}: no frames found (expected <video>/frame_000001.jpg ...)")
    return folders


def _holds_frames(folder):
    """True if `folder` has frames, or cannot be read (the stage then reports it and goes on)."""
    try:
        return bool(list_images(folder))
    except InputError:
        return True


def process_folder(src, out, make_processor, overwrite=False, rule=None):
    """Annotate one video's frames into `out`, with log.jsonl and meta.json (the `rule` it was decided
    with included); return (records, skipped)."""
    meta = read_meta(src) or {"source": str(src), "fps": 25.0}
    frames = list_images(src)
    log = out / "log.jsonl"
    if not overwrite and _complete(out, frames):
        print(f"{src.name}: already done, skipped (--overwrite redoes it)")
        return None, 0
    clean_partials(out)
    proc = make_processor(float(meta.get("fps") or 25.0), out)
    records, skipped, times = [], 0, meta.get("times") or []

    def keep(done):
        for record, bgr in done:
            records.append(record)
            write_image(out / record["frame"], bgr)

    try:
        numbered = zip(frame_numbers(frames), frames)
        for i, (n, path) in enumerate(tqdm(numbered, total=len(frames), desc=src.name, leave=False,
                                           disable=not sys.stderr.isatty()), 1):
            try:
                bgr = read_frame(path)
            except InputError as e:
                print(f"skipped: {e}")
                skipped += 1
                continue
            keep(proc.push(i, path.name, bgr, times[n - 1] if n <= len(times) else None, source=n))
        keep(proc.flush())
    finally:  # even when interrupted: the log holds exactly the frames that were written
        write_jsonl(log, records)
        write_json(out / "meta.json", {**meta, "frames": len(records), "annotated_from": str(src),
                                       "drift": proc.drift.status(), "rule": rule})
    return records, skipped


def _complete(out, frames):
    """True when every frame has its annotated copy and the log lists them all."""
    log = out / "log.jsonl"
    if not log.is_file() or not all((out / f.name).is_file() for f in frames):
        return False
    return sum(1 for _ in open(log)) == len(frames)


def write_jsonl(path, records):
    """One JSON object per line, written atomically."""
    with atomic_path(path) as tmp:
        with open(tmp, "w") as f:
            for r in records:
                f.write(json.dumps(r) + "\n")


def read_jsonl(path):
    """Records of a JSON Lines log; InputError naming the file and line if one is broken."""
    records = []
    try:
        with open(path, "rb") as f:  # bytes: a line that is not UTF-8 is a broken line, not a crash
            for n, line in enumerate(f, 1):
                if line.strip():
                    try:
                        records.append(json.loads(line))
                    except ValueError:
                        raise InputError(f"{path}:{n}: not a JSON line") from None
    except OSError as e:
        raise InputError(f"{path}: cannot read the log ({e.strerror})") from None
    return records


def closing_line(n_frames, n_faces, n_ann, skipped, seconds, out):
    """The one closing line: counts, time per frame, where the output went."""
    return (f"{n_frames:,} frames, {n_faces:,} faces, {n_ann} announcements, {skipped} unreadable, "
            f"{seconds / max(n_frames, 1) * 1000:.0f} ms/frame ({n_frames / max(seconds, 1e-9):.1f} frames/s) -> {out}")
