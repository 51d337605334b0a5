"""The mask classifier: its networks (MTCNN's O-Net with a class head; the seed's small CNN), its
checkpoint format, and inference on face crops."""
from pathlib import Path

import numpy as np
import torch
from torch import nn

from maskdet import CLASSES, InputError
from maskdet.config import ModelConfig, odds_ok
from maskdet.detect import FaceDetector, crop_box
from maskdet.files import atomic_path, keep_previous
from maskdet.images import to_square
from maskdet.mtcnn import channels_last
from maskdet.parallel import forward

FORMAT = "cctv-mask-detector/classifier"
VERSION = 1


class Net(nn.Module):
    """Two convolution + pooling stages and a small classifier head (the seed's simple CNN)."""

    def __init__(self, num_classes=3, width=32, hidden=128, pool=8):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(width, 2 * width, 3, padding=1), nn.BatchNorm2d(2 * width), nn.ReLU(), nn.MaxPool2d(2),
            nn.AdaptiveAvgPool2d(pool),  # fixed head size whatever the input size: a small model file
        )
        self.head = nn.Sequential(nn.Flatten(), nn.Dropout(0.3), nn.Linear(2 * width * pool * pool, hidden), nn.ReLU(),
                                  nn.Dropout(0.3), nn.Linear(hidden, num_classes))

    def forward(self, x):
        return self.head(self.features(x))


class FaceNet(nn.Module):
    """MTCNN's O-Net up to its 256-d face feature, pretrained on real faces and their five landmarks
    (nose and mouth corners: where a mask sits), with a new class head; 48x48 input."""

    def __init__(self, num_classes=3, pretrained=False):
        super().__init__()
        from facenet_pytorch.models.mtcnn import ONet

        o = ONet(pretrained=pretrained)  # the weights ship in the facenet-pytorch wheel
        self.features = nn.Sequential(o.conv1, o.prelu1, o.pool1, o.conv2, o.prelu2, o.pool2,
                                      o.conv3, o.prelu3, o.pool3, o.conv4, o.prelu4)
        self.dense = nn.Sequential(o.dense5, o.prelu5)
        self.head = nn.Sequential(nn.Dropout(0.3), nn.Linear(256, num_classes))

    def forward(self, x):
        return self.head(self.dense(self.features(x).permute(0, 3, 2, 1).flatten(1)))  # O-Net's layout


def arch_of(model_args):
    """Which network a model's `model_args` name: "onet", or "cnn" (the seed's, and older files')."""
    return model_args.get("arch", "cnn")


def new_net(num_classes, model_args, pretrained=False):
    """The classifier network a model's `model_args` name."""
    if arch_of(model_args) == "onet":
        return FaceNet(num_classes, pretrained)
    return Net(num_classes, **{k: v for k, v in model_args.items() if k != "arch"})


class Classifier:
    """A loaded model: network, its configuration (class names, input size, crop margin, detector
    settings) and the detector's verifier (an O-Net finetuned on camera faces; None without one)."""

    def __init__(self, ckpt):
        self.ckpt, self.config = ckpt, ModelConfig.from_checkpoint(ckpt)
        self.classes = list(self.config.classes)
        self.input_size = int(self.config.input_size)
        self.margin = float(self.config.crop_margin)
        self.unsure_below = float(self.config.unsure_below)
        self.incorrect_odds = float(self.config.incorrect_odds)
        self.detector = self.config.detector
        self.net = new_net(len(self.classes), self.config.model_args)
        self.net.load_state_dict(ckpt["model"])
        self.net = channels_last(self.net)  # same output; 19 -> 8 ms for 20 crops on 2 threads
        self.mean = torch.tensor(self.config.normalize["mean"]).view(1, 3, 1, 1)
        self.std = torch.tensor(self.config.normalize["std"]).view(1, 3, 1, 1)
        self.verifier = None
        if ckpt.get("onet") is not None:
            from maskdet.onet import new_onet
            self.verifier = channels_last(new_onet(ckpt["onet"]))  # same output, half the time on a CPU

    def face_detector(self, settings=None):
        """The detector this model was tuned with (or with other `settings`), verifier included."""
        return FaceDetector(settings or self.detector, self.verifier)

    def to_tensor(self, crops):
        """List of RGB uint8 crops -> normalised float batch at the input size."""
        arr = np.stack([to_square(c, self.input_size) for c in crops])
        x = torch.from_numpy(arr).permute(0, 3, 1, 2).float() / 255.0
        return (x - self.mean) / self.std

    @torch.no_grad()
    def predict_crops(self, crops):
        """(labels, scores, probabilities) for RGB crops, averaged with the mirrored crop (faces are
        left-right symmetric; costs well under a millisecond); score is the winning class's probability."""
        if not crops:
            return [], [], np.zeros((0, len(self.classes)), np.float32)
        n, x = len(crops), self.to_tensor(crops)
        p = torch.softmax(forward([self.net], torch.cat([x, x.flip(3)]))[0], 1)  # the crops and their mirrors
        probs = self.resplit(((p[:n] + p[n:]) / 2).numpy())
        idx = probs.argmax(1)
        return [self.classes[i] for i in idx], [float(probs[j, i]) for j, i in enumerate(idx)], probs

    def resplit(self, probs):
        """Share each face's non-compliant probability between incorrectly and not masked with the odds
        of the first multiplied by `incorrect_odds`; P(correctly masked) stays as it is, but the label is
        still the likeliest class, so it can change to or from correctly masked. Real incorrectly masked
        camera faces are under-called: nearly all the incorrectly masked faces the classifier learnt
        from are renderings (MaskedFace-Net). Chosen three-fold on the training scenes (docs/measurements.md, section
        3; changing only the label between incorrectly and not masked gained nothing on streams)."""
        if self.incorrect_odds == 1.0:
            return probs
        k, n = self.classes.index("incorrectly_masked"), self.classes.index("not_masked")
        bad, odds = probs[:, k] + probs[:, n], probs[:, k] * self.incorrect_odds
        out = probs.copy()
        out[:, k] = bad * odds / np.maximum(odds + probs[:, n], 1e-12)
        out[:, n] = bad - out[:, k]
        return out

    def is_sure(self, score):
        """Whether a class probability is high enough to count the face; below it the face is shown as
        unsure and the announcement rule leaves it out (a guess must not make the camera speak)."""
        return score >= self.unsure_below

    def crop(self, rgb, box):
        """The crop of a face box exactly as training saw it (square, margin, clipped)."""
        x1, y1, x2, y2 = crop_box(box, rgb.shape[1], rgb.shape[0], self.margin)
        return rgb[y1:y2, x1:x2]

    def predict_faces(self, rgb, faces):
        """Classify detected faces: a verified face is read at both its framings, the search's box and
        the verifier's, and the class probabilities averaged (scenes_dev train split, YuNet + verifier:
        classification accuracy 0.896 / 0.962 / 0.955 and macro recall 0.863 / 0.836 / 0.871 for the
        search's box / the verifier's / both)."""
        moved = [k for k, f in enumerate(faces) if f.proposal is not None]
        probs = self.predict_boxes(rgb, [f.box for f in faces] + [faces[k].proposal for k in moved])[2]
        probs, other = probs[:len(faces)], probs[len(faces):]
        probs[moved] = (probs[moved] + other) / 2
        idx = probs.argmax(1)
        return [self.classes[i] for i in idx], [float(probs[j, i]) for j, i in enumerate(idx)], probs

    def predict_boxes(self, rgb, boxes):
        """Classify the faces at `boxes` in an RGB frame."""
        return self.predict_crops([self.crop(rgb, b) for b in boxes])


def write_model(path, weights, config, onet=None, keep=False):
    """Write a model file atomically: the classifier's weights (a state dict), its ModelConfig and the
    detector's verifier weights (or None). Every script that writes a model calls this. With `keep`, a
    model already at `path` (the shipped default, say) is first copied to <name>.prev.pt, or .prev2.pt,
    .prev3.pt ... when that one holds an earlier model: none is lost."""
    if keep:
        keep_previous(path)
    ckpt = {"format": FORMAT, "version": VERSION, "model": weights, **config.to_checkpoint(), "onet": onet}
    with atomic_path(path) as tmp:
        torch.save(ckpt, tmp)


def load_checkpoint(path):
    """Load and check a model file without running any code it may carry; InputError if bad."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: model file not found (train one with train_mask_detection_model.py)")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises many types for corrupt or unsafe files
        reason = (str(e).strip().splitlines() or ["empty or truncated"])[0][:120]
        raise InputError(f"{path}: not a loadable model file ({type(e).__name__}: {reason})") from None
    _check(path, ckpt)
    return ckpt


def _check(path, ckpt):
    """Refuse a checkpoint of the wrong format, version, classes or input size."""
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise InputError(f"{path}: not a cctv-mask-detector model (format field missing or wrong)")
    if ckpt.get("version") != VERSION:
        raise InputError(f"{path}: model format version {ckpt.get('version')} not supported (expected {VERSION})")
    classes = ckpt.get("classes")
    if not isinstance(classes, (list, tuple)) or sorted(classes) != sorted(CLASSES):
        raise InputError(f"{path}: model classes {classes} are not {list(CLASSES)}")
    size = ckpt.get("input_size")
    if not isinstance(size, int) or not 8 <= size <= 512:
        raise InputError(f"{path}: model input size {size!r} is not a size between 8 and 512")
    for key in ("model", "model_args", "normalize"):
        if key not in ckpt:
            raise InputError(f"{path}: model file lacks '{key}'")
    odds = ckpt.get("incorrect_odds", 1.0)
    if not odds_ok(odds):
        raise InputError(f"{path}: the model's incorrect_odds {odds!r} is not a finite number above 0")
    if not isinstance(ckpt.get("detector", {}), (dict, type(None))):
        raise InputError(f"{path}: the model's 'detector' settings are not a mapping")
    if not isinstance(ckpt.get("onet", {}), (dict, type(None))):
        raise InputError(f"{path}: the model's 'onet' (detector verifier) is not a set of weights")


def load_classifier(path, min_face_size=None):
    """A ready Classifier from a model file; InputError if the file is missing, corrupt or wrong.
    `min_face_size` overrides where the search starts, for still images and streams alike."""
    ckpt = load_checkpoint(path)
    try:
        clf = Classifier(ckpt)
    except (RuntimeError, KeyError, TypeError, ValueError) as e:
        reason = (str(e).strip().splitlines() or [type(e).__name__])[0][:120]
        raise InputError(f"{path}: model weights do not fit the network ({reason})") from None
    if min_face_size:
        clf.detector.min_face_size = min_face_size
    return clf
