"""Per-frame work: detect faces (every k-th frame), track them in between, classify with votes per track."""
import ctypes
from dataclasses import dataclass, field

import numpy as np

from maskdet.detect import FaceDetector
from maskdet.metrics import match_boxes


TRIM_EVERY = 200  # frames between heap trims


def _trim_heap():
    """Give freed heap back to the system: MTCNN allocates differently sized tensors every frame and
    glibc otherwise keeps the fragments, so a long stream's memory would creep up."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


@dataclass
class Track:
    """One person followed across frames; `votes` are decayed sums of class probabilities."""
    id: int
    box: np.ndarray
    votes: np.ndarray
    velocity: np.ndarray = field(default_factory=lambda: np.zeros(4))
    missed: int = 0
    hits: int = 1


class FacePipeline:
    """Detector + classifier + IoU tracker. `detect_every=1` detects on every frame. With tracking,
    a face is reported once it was detected `min_hits` times: one-off false detections never count."""

    def __init__(self, clf, settings=None, detect_every=1, max_missed=1, decay=0.6, min_hits=None):
        self.clf = clf
        self.detector = FaceDetector(settings or clf.detector)
        self.detect_every, self.max_missed, self.decay = detect_every, max_missed, decay
        self.min_hits = min_hits if min_hits is not None else (2 if detect_every > 1 else 1)
        self.tracks, self.next_id, self.n = [], 1, 0

    def process(self, rgb):
        """Faces of one RGB frame as dicts: box, label, score, track."""
        if self.n % TRIM_EVERY == TRIM_EVERY - 1:
            _trim_heap()
        if self.n % self.detect_every == 0:
            self._update(rgb, self.detector.detect(rgb))
        else:
            for t in self.tracks:
                t.box = t.box + t.velocity
        self.n += 1
        return [self._result(t) for t in self.tracks
                if t.hits >= self.min_hits and (t.missed == 0 or self.detect_every > 1)]

    def _update(self, rgb, faces):
        """Match detections to tracks, classify the detections, start and end tracks."""
        boxes = [np.array(f.box) for f in faces]
        _, _, probs = self.clf.predict_boxes(rgb, [f.box for f in faces])
        matches = match_boxes([t.box for t in self.tracks], boxes, threshold=0.3)
        matched_t = {i for i, _ in matches}
        for i, j in matches:
            t = self.tracks[i]
            t.velocity = (boxes[j] - t.box) / self.detect_every
            t.box, t.votes, t.missed, t.hits = boxes[j], self.decay * t.votes + probs[j], 0, t.hits + 1
        for i, t in enumerate(self.tracks):
            if i not in matched_t:
                t.missed += 1
        self.tracks = [t for t in self.tracks if t.missed <= self.max_missed]
        for j in sorted(set(range(len(boxes))) - {j for _, j in matches}):
            self.tracks.append(Track(self.next_id, boxes[j], probs[j].copy()))
            self.next_id += 1

    def _result(self, t):
        """The track as a log/draw record."""
        p = t.votes / t.votes.sum()
        k = int(p.argmax())
        return {"box": [round(float(v), 1) for v in t.box], "label": self.clf.classes[k], "score": round(float(p[k]), 3),
                "track": t.id}
