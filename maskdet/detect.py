"""Face detection: one detector for still images and streams alike, whose face search is the backend
its settings name: YuNet (weights in maskdet/weights) or the seed's MTCNN (facenet-pytorch's, weights
inside the wheel), with the settings that make it find masked and small faces. Every backend's faces come out as `Face`."""
from dataclasses import asdict, dataclass, field

import cv2
import numpy as np
import torch

from maskdet import InputError
from maskdet.images import to_square
from maskdet.metrics import iou
from maskdet.mtcnn import nms, pretrained_onet, square, to_input
from maskdet.parallel import forward

BACKENDS = ("mtcnn", "yunet")


@dataclass
class DetectorSettings:
    """How faces are searched for; stored inside every model file so that all stages agree."""
    backend: str = "mtcnn"        # the face search: "mtcnn" or "yunet" (one stage: uses the last threshold)
    min_face_size: int = 20       # smallest face searched for, in pixels of the searched image
    upscale: float = 1.0          # the frame is enlarged by this factor: the search sees small faces bigger
    max_side: int = 0             # ... but the searched image's longer side stays within this (0: no limit)
    thresholds: tuple = (0.6, 0.7, 0.7)  # P-, R-, O-Net; MTCNN's defaults. YuNet's score threshold is the last
    factor: float = 0.709         # image pyramid step
    pad: float = 0.0              # pad each side by this fraction of the image: MTCNN misses faces cut by the border
    min_score: float = 0.0        # drop faces whose final probability is below this (with a verifier: its score)
    count_score: float = 0.0      # a face scoring less is not sure: the rule counts it only when called correctly masked
    verify: bool = True           # use the model's verifier, when it has one
    mask_ssd: float = 0.0         # AIZOO's mask detector searches too; its faces scoring >= this (its own score, not
                                  # min_score's) are added where the search kept none, placed by the verifier (0: off)
    mask_ssd_side: int = 800      # ... on the frame shrunk so that its longer side is at most this (0: no limit)

    @classmethod
    def from_dict(cls, d):
        """Settings from a dict (as stored in a model file); unknown keys are ignored."""
        known = {k: v for k, v in (d or {}).items() if k in cls.__dataclass_fields__}
        if "thresholds" in known:
            known["thresholds"] = tuple(float(t) for t in known["thresholds"])
        if known.get("backend", "mtcnn") not in BACKENDS:
            raise InputError(f"detector backend {known['backend']!r} is not one of {', '.join(BACKENDS)}")
        return cls(**known)

    def to_dict(self):
        """Plain dict for JSON and model files."""
        d = asdict(self)
        d["thresholds"] = list(self.thresholds)
        return d


# Face crops of a labelled dataset: the face fills the picture and a mask hides its lower half, so
# pad the picture and lower the thresholds (MTCNN at defaults misses ~45% of real masked photos).
CROP_SETTINGS = DetectorSettings(min_face_size=20, thresholds=(0.3, 0.3, 0.2), pad=0.3)


@dataclass
class Face:
    """One detected face: box (x1, y1, x2, y2) in frame pixels, probability and five landmarks; `proposal`
    is the search's own box when a verifier moved it (the classifier reads both framings)."""
    box: tuple
    score: float
    landmarks: np.ndarray = field(default=None, repr=False)
    proposal: tuple = None


VERIFY_NMS = 0.3  # verified boxes overlapping more than this are one face


def face_search(settings):
    """The backend the settings name: an object whose detect(image, thresholds) returns (boxes,
    probabilities, landmarks) in pixels of `image`."""
    s = settings
    if s.backend == "yunet":
        from maskdet.yunet import YuNet
        return YuNet(s.min_face_size)
    return FacenetMTCNN(s)


class FacenetMTCNN:
    """facenet-pytorch's MTCNN.detect (the seed's detector) behind the backends' detect(image, thresholds)."""

    def __init__(self, s):
        from facenet_pytorch import MTCNN

        self.mtcnn = MTCNN(keep_all=True, min_face_size=s.min_face_size, thresholds=list(s.thresholds),
                           factor=s.factor, post_process=False, device="cpu")
        self.onet = self.mtcnn.onet

    def detect(self, image, thresholds):
        """(boxes, probabilities, landmarks) of one prepared RGB image."""
        self.mtcnn.thresholds = list(thresholds)
        with torch.no_grad():
            boxes, probs, points = self.mtcnn.detect(image, landmarks=True)
        return (boxes, probs, points) if boxes is not None else ((), (), ())


class FaceDetector:
    """A face search (the settings' backend) on CPU with padding and resizing applied around it. With
    `verifier` (an O-Net finetuned on camera faces, see maskdet.onet) the search only proposes faces at
    loose thresholds; the verifier then re-places each proposal twice on the full-resolution frame,
    and a face's score is the geometric mean of the search's probability and the verifier's surer
    pass. Known faces are followed (refine) by MTCNN's pretrained O-Net and the
    verifier together, whichever backend searches."""

    def __init__(self, settings=None, verifier=None):
        self.settings = s = settings or DetectorSettings()
        self.search = face_search(s)
        self.onet = self.search.onet if s.backend == "mtcnn" else pretrained_onet()  # follows known faces
        self.verifier = verifier if s.verify else None
        self.mask_ssd = None
        if s.mask_ssd > 0:
            from maskdet.aizoo import MaskSSD
            self.mask_ssd = MaskSSD()

    def detect(self, rgb, pad=None, thresholds=None):
        """All faces in one RGB uint8 frame, sorted left to right; `pad` and `thresholds` override the settings."""
        s = self.settings
        h, w = rgb.shape[:2]
        scale = min(s.upscale, s.max_side / max(h, w)) if s.max_side else s.upscale
        pad = int(round((s.pad if pad is None else pad) * max(h, w)))
        found = self.search.detect(self._prepare(rgb, scale, pad), thresholds or s.thresholds)
        faces = self._faces(*found, scale, pad, w, h)
        faces = faces if self.verifier is None else self._verify(rgb, faces)
        return faces if self.mask_ssd is None else self._add_masked(rgb, faces, s.min_face_size / scale)

    def is_sure(self, face):
        """Whether this face scores at least count_score (announce.counts: how the rule counts it)."""
        return face.score >= self.settings.count_score

    def refine(self, rgb, boxes):
        """Follow known faces on a full-resolution RGB frame without searching it (~1 ms a face): MTCNN's
        pretrained O-Net and the verifier each read every box (mirror-averaged); a box is kept by
        whichever says face more surely, with its re-fitted box: (boxes, probabilities). Both, because
        each lets go of faces the other holds: the verifier of large motion-blurred faces (walkers
        clip, recall against naive MTCNN 0.840 following with it alone, 0.965 with O-Net alone), O-Net
        of small masked ones (scenes_dev train split as a stream, recall of faces < 32 px 0.911 with
        the verifier alone, 0.647 with O-Net alone). Asking the verifier only where O-Net scored below
        0.9 saved 6% of the stream path's time and lost a small face on the train split: not kept."""
        if self.verifier is None or not len(boxes):
            return onet_boxes(self.onet, rgb, boxes, mirror=True)
        (found, probs), (v_found, v_probs) = onets_boxes((self.onet, self.verifier), rgb, boxes, mirror=True)
        surer = v_probs > probs
        return np.where(surer[:, None], v_found, found), np.maximum(probs, v_probs)

    def _verify(self, rgb, faces):
        """Re-place proposals with the verifier (two passes) and score each face as the geometric mean
        of the search's probability and the verifier's surer pass; keep those scoring at least
        min_score, one per face. The first pass reads the crop where the search put it, often off a
        masked face (annotators frame the mask and chin, YuNet the eyes), and says near 0 where the
        second, on the re-placed box, says face; the surer pass, not the second, so that a pass that
        lost a face cannot overrule one that found it (the two tie on the folds). Three folds of the
        training scenes, each at the lowest min_score reaching precision 0.88 on the still path:
        recall >= 32 px / < 32 px / precision still 0.921 / 0.880 / 0.897 -> 0.938 / 0.895 / 0.886
        and stream 0.931 / 0.860 / 0.870 -> 0.934 / 0.866 / 0.886 against the geometric
        mean of the search's and both passes' scores (min_score 0.4 -> 0.45); wrong announcements
        still 15 -> 15, stream 19 -> 17. The box is always the second pass's, whichever pass is
        surer (the first pass's box is the one the second pass corrects)."""
        floor = self.settings.min_score ** 2  # a proposal below it ends below min_score whatever the verifier says
        faces = [f for f in faces if f.score >= floor]
        if not faces:
            return faces
        boxes, p1, p2 = self._place(rgb, [f.box for f in faces])
        score = np.sqrt(np.array([f.score for f in faces]) * np.maximum(p1, p2))
        keep = [k for k in nms(boxes, score, VERIFY_NMS) if score[k] >= self.settings.min_score]
        out = [Face(tuple(float(v) for v in boxes[k]), float(score[k]), faces[k].landmarks, faces[k].box) for k in keep]
        return sorted(out, key=lambda f: f.box[0])

    def _place(self, rgb, boxes):
        """The verifier's two passes (mirror-averaged) on `boxes`: (the second pass's boxes, the first
        pass's probabilities, the second's)."""
        moved, p1 = onet_boxes(self.verifier, rgb, boxes, mirror=True)
        placed, p2 = onet_boxes(self.verifier, rgb, moved, mirror=True)
        return placed, p1, p2

    def _add_masked(self, rgb, faces, min_width):
        """`faces` and the faces AIZOO's mask detector finds where none of them is (overlap at most
        VERIFY_NMS, before and after placing) and at least `min_width` frame pixels wide (min_face_size,
        which is in pixels of the search's image), surest first: each placed by the verifier's two
        passes when there is one (its own box is then the proposal the classifier also reads) and
        scored by the mask detector. Three folds of the training scenes, recall >= 32 px / < 32 px /
        precision: stream 0.934 / 0.866 / 0.886 -> 0.948 / 0.868 / 0.886, still 0.938 / 0.895 / 0.886
        -> 0.962 / 0.899 / 0.886 (mask_ssd 0.8, mask_ssd_side 800; docs/measurements.md, section 3)."""
        s = self.settings
        h, w = rgb.shape[:2]
        scale = min(1.0, s.mask_ssd_side / max(h, w)) if s.mask_ssd_side else 1.0
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        small = rgb if scale == 1.0 else cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
        boxes, scores = self.mask_ssd.detect(small, s.mask_ssd)
        boxes = boxes * np.tile((w / size[0], h / size[1]), 2)
        new = [k for k, b in enumerate(boxes) if b[2] - b[0] >= max(2.0, min_width)
               and all(iou(b, f.box) <= VERIFY_NMS for f in faces)]  # a face already kept is not placed again
        boxes, scores = boxes[new], scores[new]
        verified = self.verifier is not None
        placed = self._place(rgb, boxes)[0] if verified and len(boxes) else boxes
        out = list(faces)
        for k in np.argsort(-scores, kind="stable"):
            if all(iou(placed[k], f.box) <= VERIFY_NMS for f in out):
                proposal = tuple(float(v) for v in boxes[k]) if verified else None
                out.append(Face(tuple(float(v) for v in placed[k]), float(scores[k]), None, proposal))
        return sorted(out, key=lambda f: f.box[0])

    @staticmethod
    def _prepare(rgb, scale, pad):
        """Resize then pad one frame the way detection expects."""
        if scale != 1.0:
            interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
            rgb = cv2.resize(rgb, None, fx=scale, fy=scale, interpolation=interp)
        if pad:
            p = int(round(pad * scale))
            rgb = cv2.copyMakeBorder(rgb, p, p, p, p, cv2.BORDER_CONSTANT, value=(0, 0, 0))
        return np.ascontiguousarray(rgb)

    def _faces(self, boxes, probs, points, scale, pad, w, h):
        """Map the search's output back to original-frame coordinates, clipped to the frame."""
        p = int(round(pad * scale)) if pad else 0
        faces = []
        min_score = 0.0 if self.verifier is not None else self.settings.min_score  # verified later
        for b, prob, lm in zip(boxes, probs, points):
            if prob is None or prob < min_score:
                continue
            b = (np.asarray(b, dtype=np.float64) - p) / scale
            box = (max(0.0, b[0]), max(0.0, b[1]), min(float(w), b[2]), min(float(h), b[3]))
            if box[2] - box[0] < 2 or box[3] - box[1] < 2:
                continue
            faces.append(Face(tuple(float(v) for v in box), float(prob), (np.asarray(lm) - p) / scale))
        return sorted(faces, key=lambda f: f.box[0])


def onet_boxes(onet, rgb, boxes, mirror=False):
    """An O-Net on the square 48 px crops of `boxes`: (regressed boxes clipped to the frame, face probabilities);
    `mirror` averages each crop's output with its mirror image's."""
    return onets_boxes((onet,), rgb, boxes, mirror)[0]


@torch.no_grad()
def onets_boxes(onets, rgb, boxes, mirror=False):
    """onet_boxes of each of `onets` on the same crops, cut once: [(boxes, probabilities)] per network."""
    if not len(boxes):
        return [(np.zeros((0, 4)), np.zeros(0)) for _ in onets]
    h, w = rgb.shape[:2]
    squares = square(np.asarray(boxes, dtype=np.float64)[:, :4])
    x = onet_input([_crop48(rgb, b) for b in squares])
    x = torch.cat([x, x.flip(3)]) if mirror else x  # one batch: the crops and their mirrors
    side = (squares[:, 2] - squares[:, 0] + 1)[:, None]
    return [_onet_out(out, squares, side, mirror, w, h) for out in forward(onets, x)]


def _onet_out(out, squares, side, mirror, w, h):
    """One O-Net's (boxes, probabilities) from its output on a batch (mirror-averaged when it has the mirrors)."""
    reg, _, prob = out
    if mirror:
        n = len(squares)
        reg = (reg[:n] + reg[n:, [2, 1, 0, 3]] * torch.tensor([-1.0, 1.0, -1.0, 1.0])) / 2
        prob = (prob[:n] + prob[n:]) / 2
    found = np.clip(squares + reg.numpy().astype(np.float64) * side, 0, [w, h, w, h])
    return found, prob[:, 1].numpy().astype(np.float64)


def onet_input(crops):
    """48x48 RGB uint8 crops -> the O-Net's input batch (MTCNN's scaling)."""
    return to_input(np.stack(crops)).contiguous()


def _crop48(rgb, box):
    """The 48x48 O-Net input for one square box; parts outside the frame are black."""
    h, w = rgb.shape[:2]
    x1, y1, x2, y2 = (int(round(v)) for v in box)
    side = max(1, x2 - x1)
    if x1 >= 0 and y1 >= 0 and x1 + side <= w and y1 + side <= h:
        patch = rgb[y1:y1 + side, x1:x1 + side]
    else:
        patch = np.zeros((side, side, 3), np.uint8)
        sx1, sy1, sx2, sy2 = max(0, x1), max(0, y1), min(w, x1 + side), min(h, y1 + side)
        if sx2 > sx1 and sy2 > sy1:
            patch[sy1 - y1:sy2 - y1, sx1 - x1:sx2 - x1] = rgb[sy1:sy2, sx1:sx2]
    return to_square(patch, 48)


# Second chances for a face photo where nothing was found: a wider pad finds tight crops, lower
# thresholds find heavily covered faces (measured: 13 of the 35 test pictures missed otherwise).
RETRIES = ({"pad": 0.6}, {"thresholds": (0.2, 0.2, 0.1)}, {"pad": 0.6, "thresholds": (0.2, 0.2, 0.1)})


def detect_main_face(detector, rgb):
    """The one face of a face photo, trying the second chances in turn."""
    face = main_face(detector.detect(rgb))
    for retry in RETRIES if detector.settings.pad else ():
        if face is not None:
            break
        face = main_face(detector.detect(rgb, **retry))
    return face


def main_face(faces):
    """The face a single-person crop is about: the largest of the confident ones."""
    if not faces:
        return None
    confident = [f for f in faces if f.score >= 0.9] or faces
    return max(confident, key=lambda f: (f.box[2] - f.box[0]) * (f.box[3] - f.box[1]))


CROP_MARGIN = 0.4  # context around a face box: masked faces get short boxes, and the chin must stay in view


def crop_box(box, w, h, margin=CROP_MARGIN):
    """Square crop around `box` enlarged by `margin` of its size, clipped to the image (int pixels)."""
    x1, y1, x2, y2 = box
    side = max(x2 - x1, y2 - y1) * (1 + margin)
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    left, top = int(round(cx - side / 2)), int(round(cy - side / 2))
    right, bottom = int(round(cx + side / 2)), int(round(cy + side / 2))
    return max(0, left), max(0, top), min(w, right), min(h, bottom)
