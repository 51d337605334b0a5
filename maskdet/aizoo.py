"""AIZOO's face-mask detector (AIZOOTech/FaceMaskDetection, `models/model360.pth`, MIT: see
MODELS_LICENSE.md): an SSD of 1.0M parameters trained on masked and bare faces (WIDER FACE and MAFA),
shipped beside this module as ONNX and run by ONNX Runtime. It finds large masked faces that YuNet,
trained on bare faces, scores too low; its own two classes (mask, no mask) are not used. Nothing is
downloaded at run time.

The network is fully convolutional: it runs on the frame at its own size, and its anchors keep the pixel
sizes it was trained with (a 360x360 input: 14 to 260 px), so a face is seen at the pixels it has."""
from functools import lru_cache
from pathlib import Path

import numpy as np

from maskdet.mtcnn import nms
from maskdet.yunet import session

WEIGHTS = Path(__file__).resolve().parent / "weights" / "aizoo_mask_ssd.onnx"
TRAINED_SIDE = 360  # anchor sizes below are fractions of this
ANCHOR_SIZES = ((0.04, 0.056), (0.08, 0.11), (0.16, 0.22), (0.32, 0.45), (0.64, 0.72))
ANCHOR_RATIOS = (1.0, 0.62, 0.42)  # width / height
VARIANCES = (0.1, 0.1, 0.2, 0.2)
NMS = 0.4          # the authors' overlap for one face
MIN_SIDE = 160     # smaller inputs are padded: the last feature map needs 3 cells before its valid 3x3 conv


def feature_sizes(n):
    """The five feature maps' sizes along an input side of n pixels: /8, then halved (rounding up)
    three times, the last shrunk by a 3x3 convolution without padding."""
    f = [n // 8]
    for _ in range(3):
        f.append(-(-f[-1] // 2))
    return f[:4] + [f[3] - 2]


@lru_cache(maxsize=8)
def anchors(w, h):
    """(n, 4) anchors as centre x, centre y, width, height in pixels of a w x h input, in the network's
    output order (per level, row, column, then the level's four shapes); a stream's frames share one
    size, so they are computed once per size (read-only: callers index, never write)."""
    out = []
    for level, (fh, fw) in enumerate(zip(feature_sizes(h), feature_sizes(w))):
        small, large = (s * TRAINED_SIDE for s in ANCHOR_SIZES[level])
        shapes = [(small, 1.0), (large, 1.0)] + [(small, r) for r in ANCHOR_RATIOS[1:]]
        wh = np.array([(s * np.sqrt(r), s / np.sqrt(r)) for s, r in shapes])
        cy, cx = np.meshgrid((np.arange(fh) + 0.5) * h / fh, (np.arange(fw) + 0.5) * w / fw, indexing="ij")
        centres = np.repeat(np.stack([cx.ravel(), cy.ravel()], 1), len(wh), axis=0)
        out.append(np.concatenate([centres, np.tile(wh, (fh * fw, 1))], 1))
    grid = np.concatenate(out)
    grid.flags.writeable = False
    return grid


class MaskSSD:
    """detect(rgb, threshold) -> (boxes (n, 4) x1 y1 x2 y2 in pixels of `rgb`, clipped to it, scores (n,)):
    faces, masked or not, scoring at least `threshold` (a face's score is its likelier class's)."""

    def __init__(self, weights=WEIGHTS):
        self.net = session(weights)
        self.input = self.net.get_inputs()[0].name

    def detect(self, rgb, threshold):
        """All faces of one RGB uint8 image scoring at least `threshold`, after non-maximum suppression."""
        h, w = rgb.shape[:2]
        ph, pw = max(h, MIN_SIDE), max(w, MIN_SIDE)
        x = np.zeros((1, 3, ph, pw), np.float32)
        x[0, :, :h, :w] = rgb.transpose(2, 0, 1) / np.float32(255)
        loc, conf = (o[0] for o in self.net.run(None, {self.input: x}))
        scores = conf.max(1)
        keep = scores >= threshold
        boxes, scores = decode(loc[keep], anchors(pw, ph)[keep]), scores[keep].astype(np.float64)
        kept = nms(boxes, scores, NMS)
        return np.clip(boxes[kept], 0, [w, h, w, h]), scores[kept]


def decode(loc, anchor):
    """SSD regressions (dx, dy, dw, dh, scaled by VARIANCES) on their anchors -> boxes x1 y1 x2 y2."""
    d = loc.astype(np.float64) * VARIANCES
    centre = anchor[:, :2] + d[:, :2] * anchor[:, 2:]
    size = anchor[:, 2:] * np.exp(d[:, 2:])
    return np.concatenate([centre - size / 2, centre + size / 2], 1)
