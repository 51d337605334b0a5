"""Per-frame work: detect faces (every k-th frame), track them in between, classify with votes per track."""
import ctypes
import functools
from collections import deque
from dataclasses import dataclass, field

import cv2
import numpy as np

from maskdet.announce import counts
from maskdet.metrics import iou, match_boxes


# A cut: the share of a 64x36 grey thumbnail that changed by more than 30 levels since the previous frame
# is at least 2% and 6x the mean share of the 5 frames before (at least 0.5%). Measured: walking people
# (walkers clip, 1080p) reach 2.3x and the overhead clip 3.3x; the scenes_dev scenes played one
# after another 11x and more.
CUT_THUMB, CUT_LEVEL, CUT_SHARE, CUT_RATIO, CUT_FLOOR, CUT_HISTORY = (64, 36), 30, 0.02, 6.0, 0.005, 5
FOLLOW_THRESHOLD = 0.2  # follower probability (O-Net or verifier, the surer) that keeps a followed face alive
# A face the last search found whose 16x16 grey thumbnail differs from the one where it was placed by less
# than 4 grey levels on average has not moved: it keeps its box, not re-fitted. (Re-fitting a still face
# on every frame walked its box 1-2 px a frame off it: played as a stream, the training scenes lost
# small faces in the 3 frames after a search; three folds, 2 to 8 levels alike: docs/measurements.md, "Still faces".)
STILL_THUMB, STILL_LEVEL = (16, 16), 4.0


M_MMAP_THRESHOLD, BIG_BLOCK = -3, 16 * 2**20  # glibc's mallopt parameter; blocks this large bypass the heap


@functools.cache
def _libc():
    """glibc, or None (another C library: its allocator is left alone)."""
    try:
        return ctypes.CDLL("libc.so.6")
    except OSError:
        return None


def _steady_heap():
    """Flat memory over long streams. A search pass at full resolution allocates and frees tensors of
    tens of MB, between frames allocated and freed on other threads; glibc then keeps growing its
    heap (walkers 1080p, peak over 1 minute against 12.6 s: +6%). Blocks of 16 MB and more are
    therefore given back to the system as soon as they are freed (10 minutes against 12.6 s: -0.7%,
    at about 10% of the speed at 1080p), and freed heap is returned after each pass."""
    libc = _libc()
    if libc is not None and hasattr(libc, "mallopt"):
        libc.mallopt(M_MMAP_THRESHOLD, BIG_BLOCK)


def _trim_heap():
    """Return freed heap to the system (after each search pass)."""
    libc = _libc()
    if libc is not None and hasattr(libc, "malloc_trim"):
        libc.malloc_trim(0)


@dataclass
class Track:
    """One person followed across frames; `votes` are decayed sums of class probabilities."""
    id: int
    box: np.ndarray
    votes: np.ndarray
    velocity: np.ndarray = field(default_factory=lambda: np.zeros(4))
    missed: int = 0
    sure: bool = True      # the detector was sure of its last detection (announce.counts)
    pending: list = field(default_factory=list)  # boxes shown on frames it was not followed on, placed once it is
    look: np.ndarray = None  # thumbnail of the face where it was last placed (_look)
    seen: bool = False       # the last search found it, and no follower lost it since

    def predicted(self):
        """Where the face should be on this frame: its last box moved by its velocity per frame since."""
        return self.box + self.velocity * (len(self.pending) + 1)


class FacePipeline:
    """Detector + classifier + tracker. The full detector runs on every `detect_every`-th frame; in
    between, and for faces a detection pass missed, each track is followed on its predicted box
    (FaceDetector.refine; `follow`: the probability that keeps a track alive). A live stream that is
    behind may follow only every `follow_every`-th frame (and the frame before a search): on the frames
    between, a face is shown where it was, then moved on a straight line to where it is next found.

    Frames wait for the next search pass (at most `detect_every` - 1 of them, or `hold`): a face that
    pass finds is followed back through the waiting frames, so it is shown from where it appeared, not
    from where the search happened to look. Call push() per frame and flush() at the end."""

    def __init__(self, clf, settings=None, detect_every=1, follow=FOLLOW_THRESHOLD, max_missed=1, decay=0.6):
        self.clf = clf
        self.detector = clf.face_detector(settings)
        self.detect_every, self.max_missed, self.decay = detect_every, max_missed, decay
        self.follow_every = 1
        self.hold = None  # frames kept waiting for the next search at most (None: until it; a live source's bound)
        self.follow = follow
        self.thumb, self.changes, self.cuts = None, deque(maxlen=CUT_HISTORY), True
        self.tracks, self.next_id, self.n = [], 1, 0
        self.waiting = []  # [rgb, item, [(track, box, sure)]] of frames not yet returned
        _steady_heap()

    def push(self, rgb, item=None):
        """Add the next RGB frame (with the caller's `item`); return [(item, faces)] for the frames whose
        faces are final, oldest first. Faces are dicts: box, label, score, track, counted."""
        done = self._cut(rgb)
        step = self.n % self.detect_every
        search = step == 0
        if search:
            self._backfill(self._update(rgb, self.detector.detect(rgb)))
            _trim_heap()
        elif (step - 1) % self.follow_every == 0 or step == self.detect_every - 1:
            self._follow(rgb, self.tracks)
        else:
            for t in self.tracks:
                t.pending.append(t.box.copy())
        self.tracks = self._dedupe([t for t in self.tracks if t.missed <= self.max_missed])
        self.n += 1
        self.waiting.append([rgb, item, [(t, t.pending[-1] if t.pending else t.box, t.sure)
                                         for t in self.tracks if t.missed == 0]])
        return done + (self.flush() if search else self._release())

    def pace(self, search_every, follow_every):
        """Search every `search_every`-th frame and follow every `follow_every`-th from now on, counting
        from the last search (a live source's pace; called right after a search)."""
        self.n = (self.n - 1) % self.detect_every + 1 if self.n else 0
        self.detect_every, self.follow_every = search_every, follow_every

    def _cut(self, rgb):
        """At a cut (the picture changed at once: another camera, a moved one, the lights), the faces known
        so far are forgotten, the frames before it are final (no face is followed back across it) and this
        frame is searched. Returns the frames made final."""
        thumb = cv2.resize(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY), CUT_THUMB, interpolation=cv2.INTER_AREA).astype(np.int16)
        before, self.thumb = self.thumb, thumb
        if before is None:
            return []
        share = float(np.mean(np.abs(thumb - before) > CUT_LEVEL))
        steady = len(self.changes) == self.changes.maxlen
        usual = max(float(np.mean(self.changes)), CUT_FLOOR) if steady else None
        self.changes.append(share)
        if not (self.cuts and steady and share >= CUT_SHARE and share >= CUT_RATIO * usual):
            return []
        self.tracks, self.n = [], 0
        return self.flush()

    def flush(self, keep=0):
        """Return every waiting frame (at the end of a stream) but the last `keep`."""
        release, self.waiting = self.waiting[:len(self.waiting) - keep], self.waiting[len(self.waiting) - keep:]
        return [(item, [self._result(*shown) for shown in faces]) for _, item, faces in release]

    def _release(self):
        """The frames waiting longer than `hold` frames: final now, without the look-back of the next search."""
        return self.flush(keep=self.hold) if self.hold is not None and len(self.waiting) > self.hold else []

    def _update(self, rgb, faces):
        """Match detections to tracks, classify the detections, follow unmatched tracks, start new ones;
        return the new ones."""
        boxes = [np.array(f.box) for f in faces]
        _, _, probs = self.clf.predict_faces(rgb, faces)
        matches = match_boxes([t.predicted() for t in self.tracks], boxes, threshold=0.3)
        for i, j in matches:
            self._move(self.tracks[i], boxes[j], _look(rgb, boxes[j]), probs[j])
            self.tracks[i].sure = self.detector.is_sure(faces[j])
        matched = {i for i, _ in matches}
        for i, t in enumerate(self.tracks):
            t.seen = i in matched
        self._follow(rgb, [t for i, t in enumerate(self.tracks) if i not in matched])
        born = [Track(self.next_id + k, boxes[j], probs[j].copy(), sure=self.detector.is_sure(faces[j]),
                      look=_look(rgb, boxes[j]), seen=True)
                for k, j in enumerate(sorted(set(range(len(boxes))) - {j for _, j in matches}))]
        self.next_id += len(born)
        self.tracks += born
        return born

    def _backfill(self, born):
        """Follow new tracks back through the waiting frames, newest first, while O-Net keeps them and
        no other track already shows that face there (on every frame, whatever the pace: reading every
        other frame left boxes 7 px behind a face moving 7 px a frame)."""
        boxes = {t.id: t.box for t in born}
        for rgb, _, shown in reversed(self.waiting):
            alive = [t for t in born if t.id in boxes]
            if not alive:
                break
            found, scores = self.detector.refine(rgb, [boxes[t.id] for t in alive])
            for t, box, score in zip(alive, found, scores):
                if score >= self.follow and all(iou(box, b) < 0.5 for _, b, _ in shown):
                    boxes[t.id] = box
                    shown.append((t, box, t.sure))
                else:
                    del boxes[t.id]

    def _follow(self, rgb, tracks):
        """Move tracks without a detection. A face the last search found that has not moved (_still) keeps
        its box; the others are re-fitted by O-Net and the verifier on their predicted boxes. A track they
        lose leaves the boxes shown while it was not followed where it was last seen."""
        still = [_still(rgb, t) for t in tracks]
        for t in (t for t, s in zip(tracks, still) if s):
            self._move(t, t.box, t.look)
        tracks = [t for t, s in zip(tracks, still) if not s]
        predicted = [t.predicted() for t in tracks]
        boxes, scores = self.detector.refine(rgb, predicted)
        kept = [k for k, s in enumerate(scores) if s >= self.follow]
        for k in kept:
            self._move(tracks[k], boxes[k], _look(rgb, boxes[k]))
        for k in sorted(set(range(len(tracks))) - set(kept)):
            t = tracks[k]
            t.box, t.missed, t.pending, t.seen = predicted[k], t.missed + 1, [], False

    def _move(self, t, box, look, probs=None):
        """A confirmed new position of track `t` and its thumbnail there (_look), with its class
        probabilities when it was classified; the boxes shown on the frames since its last one move in
        steps from there to here. The velocity (per frame) moves the box's centre only: extrapolating its
        size let boxes grow off a turning head (walkers, searching every 8th frame: recall against naive
        0.899 -> 0.908)."""
        steps = len(t.pending) + 1
        for k, shown in enumerate(t.pending, 1):
            shown[:] = t.box + (box - t.box) * k / steps
        shift = np.tile(((box[:2] + box[2:]) - (t.box[:2] + t.box[2:])) / 2, 2) / steps
        t.velocity = 0.5 * t.velocity + 0.5 * shift
        t.box, t.look, t.missed, t.pending = box, look, 0, []
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

    def _result(self, t, box, sure_face):
        """One shown face as a log/draw record, labelled by its track's votes so far."""
        p = t.votes / t.votes.sum()
        k = int(p.argmax())
        sure = self.clf.is_sure(float(p[k]))
        return {"box": [round(float(v), 1) for v in box], "label": self.clf.classes[k], "score": round(float(p[k]), 3),
                "track": t.id, "counted": counts(self.clf.classes[k], sure_face, sure), **({} if sure else {"unsure": True})}


def _still(rgb, t):
    """Whether track `t` has not moved: the last search found it and its box still looks as it did
    where it was placed (STILL_LEVEL)."""
    return t.seen and t.look is not None and float(np.mean(np.abs(_look(rgb, t.box) - t.look))) < STILL_LEVEL


def _look(rgb, box):
    """The 16x16 grey thumbnail (float32) of `box` on an RGB frame: whether a face moved (STILL_LEVEL)."""
    h, w = rgb.shape[:2]
    x1, y1 = min(max(0, int(box[0])), w - 1), min(max(0, int(box[1])), h - 1)
    x2, y2 = max(x1 + 1, min(w, int(np.ceil(box[2])))), max(y1 + 1, min(h, int(np.ceil(box[3]))))
    grey = cv2.cvtColor(np.ascontiguousarray(rgb[y1:y2, x1:x2]), cv2.COLOR_RGB2GRAY)
    return cv2.resize(grey, STILL_THUMB, interpolation=cv2.INTER_AREA).astype(np.float32)
