"""Per-frame work: detect faces (every k-th frame), track them in between, classify with votes per track."""
import ctypes
from dataclasses import dataclass, field

import numpy as np

from maskdet.metrics import iou, match_boxes


FOLLOW_THRESHOLD = 0.5  # O-Net probability that keeps a followed face alive


def _trim_heap():
    """Give freed heap back to the system after each search pass: MTCNN allocates differently sized
    large tensors, frames are allocated and freed on different threads, and glibc would otherwise keep
    the fragments, so a long stream's memory would creep up (measured, peak over 1,575 frames against
    105: +45% when trimming every 200 frames, +18% when trimming after each pass, at no cost in speed)."""
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
    counted: bool = True   # the last detection scored high enough for the announcement rule


class FacePipeline:
    """Detector + classifier + tracker. The full detector runs on every `detect_every`-th frame; in
    between, and for faces a detection pass missed, each track is followed by MTCNN's O-Net on its
    predicted box (`follow`: the O-Net probability that keeps a track alive). A face is reported once
    it was confirmed `min_hits` times."""

    def __init__(self, clf, settings=None, detect_every=1, follow=FOLLOW_THRESHOLD, max_missed=1, decay=0.6,
                 min_hits=None):
        self.clf = clf
        self.detector = clf.face_detector(settings or clf.stream_detector)
        self.detect_every, self.max_missed, self.decay = detect_every, max_missed, decay
        self.follow = follow
        self.min_hits = min_hits if min_hits is not None else (2 if detect_every > 1 else 1)
        self.tracks, self.next_id, self.n = [], 1, 0

    def process(self, rgb):
        """Faces of one RGB frame as dicts: box, label, score, track."""
        if self.n % self.detect_every == 0:
            self._update(rgb, self.detector.detect(rgb))
            _trim_heap()
        else:
            self._follow(rgb, self.tracks)
        self.tracks = self._dedupe([t for t in self.tracks if t.missed <= self.max_missed])
        self.n += 1
        return [self._result(t) for t in self.tracks if t.hits >= self.min_hits and t.missed == 0]

    def _update(self, rgb, faces):
        """Match detections to tracks, classify the detections, follow unmatched tracks, start new ones."""
        boxes = [np.array(f.box) for f in faces]
        _, _, probs = self.clf.predict_faces(rgb, faces)
        matches = match_boxes([t.box + t.velocity for t in self.tracks], boxes, threshold=0.3)
        for i, j in matches:
            self._move(self.tracks[i], boxes[j], probs[j])
            self.tracks[i].counted = self.detector.counts(faces[j])
        matched = {i for i, _ in matches}
        self._follow(rgb, [t for i, t in enumerate(self.tracks) if i not in matched])
        for j in sorted(set(range(len(boxes))) - {j for _, j in matches}):
            self.tracks.append(Track(self.next_id, boxes[j], probs[j].copy(), counted=self.detector.counts(faces[j])))
            self.next_id += 1

    def _follow(self, rgb, tracks):
        """Move tracks without a detection: O-Net on the predicted box."""
        predicted = [t.box + t.velocity for t in tracks]
        boxes, scores = self.detector.refine(rgb, predicted)
        kept = [k for k, s in enumerate(scores) if s >= self.follow]
        for k in kept:
            self._move(tracks[k], boxes[k])
        for k in sorted(set(range(len(tracks))) - set(kept)):
            tracks[k].box, tracks[k].missed = predicted[k], tracks[k].missed + 1

    def _move(self, t, box, probs=None):
        """A confirmed new position of track `t`, with its class probabilities when it was classified."""
        t.velocity = 0.5 * t.velocity + 0.5 * (box - t.box)
        t.box, t.missed, t.hits = box, 0, t.hits + 1
        if probs is not None:
            t.votes = self.decay * t.votes + probs

    @staticmethod
    def _dedupe(tracks):
        """Two tracks that converged on one face: keep the older."""
        kept = []
        for t in sorted(tracks, key=lambda t: t.id):
            if all(iou(t.box, k.box) < 0.5 for k in kept):
                kept.append(t)
        return kept

    def _result(self, t):
        """The track as a log/draw record."""
        p = t.votes / t.votes.sum()
        k = int(p.argmax())
        return {"box": [round(float(v), 1) for v in t.box], "label": self.clf.classes[k], "score": round(float(p[k]), 3),
                "track": t.id, "counted": t.counted}
