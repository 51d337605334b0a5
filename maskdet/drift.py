"""A cheap live drift signal: recent classifier confidence and face sizes against the training data."""
from collections import deque

SMALL = 32  # px: a face whose longer box side is below this counts as small


class DriftMonitor:
    """Rolling statistics over the last `window` faces, compared with the model's training reference."""

    def __init__(self, reference, window=500, confidence_drop=0.10, small_rise=0.30):
        self.ref = reference or {}
        self.conf, self.small = deque(maxlen=window), deque(maxlen=window)
        self.confidence_drop, self.small_rise = confidence_drop, small_rise

    def update(self, faces):
        """Add the faces of one frame (dicts with box and score)."""
        for f in faces:
            b = f["box"]
            self.conf.append(f["score"])
            self.small.append(max(b[2] - b[0], b[3] - b[1]) < SMALL)

    def status(self):
        """Current statistics and whether they have drifted (None until half a window is seen)."""
        if len(self.conf) < max(20, self.conf.maxlen // 2) or "confidence_mean" not in self.ref:
            return {"faces": len(self.conf), "drifting": None}
        conf = sum(self.conf) / len(self.conf)
        small = sum(self.small) / len(self.small)
        drifting = (conf < self.ref["confidence_mean"] - self.confidence_drop
                    or small > self.ref.get("small_face_share", 0.0) + self.small_rise)
        return {"faces": len(self.conf), "confidence_mean": round(conf, 3), "small_face_share": round(small, 3),
                "reference": self.ref, "drifting": bool(drifting)}
