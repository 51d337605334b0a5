"""A model's configuration: everything a model file says besides its weights, read, merged and written
in one place, so that a script that writes a model keeps whatever it does not change."""
import math
from dataclasses import dataclass, field, fields, replace

from maskdet import CLASSES
from maskdet.detect import CROP_MARGIN, DetectorSettings

MEAN, STD = (0.5, 0.5, 0.5), (0.25, 0.25, 0.25)


@dataclass
class ModelConfig:
    """Classes, input and crop of the classifier, the detector settings (the same for still images and
    streams), how often streams search, and the record of how the model was made."""
    classes: list = field(default_factory=lambda: list(CLASSES))
    input_size: int = 32
    model_args: dict = field(default_factory=lambda: {"width": 32, "hidden": 128})
    normalize: dict = field(default_factory=lambda: {"mean": list(MEAN), "std": list(STD)})
    crop_margin: float = CROP_MARGIN
    detector: DetectorSettings = field(default_factory=DetectorSettings)  # still images and streams alike
    detect_every: int = 1               # streams: search every k-th frame, follow faces in between
    unsure_below: float = 0.0           # a face whose class probability is lower is "unsure": shown, not counted
    incorrect_odds: float = 1.0         # non-compliant faces: odds of incorrectly over not masked multiplied by this
    config: dict = field(default_factory=dict)             # train_mask_detection_model.py's settings
    detector_training: dict = field(default_factory=dict)  # finetune_detector.py's settings
    data: dict = field(default_factory=dict)               # what the classifier was trained on, drift reference

    @classmethod
    def from_checkpoint(cls, ckpt):
        """The configuration stored in a (checked) model file; missing keys take the defaults, and keys
        no longer used (older files' separate stream settings) are ignored."""
        known = {f.name: ckpt[f.name] for f in fields(cls) if ckpt.get(f.name) is not None}
        known["detector"] = DetectorSettings.from_dict(known.get("detector"))
        return cls(**known)

    def to_checkpoint(self):
        """Plain values for a model file (torch.load(weights_only=True) reads them back)."""
        d = {f.name: getattr(self, f.name) for f in fields(self)}
        d.update(detector=self.detector.to_dict())
        return d

    def merged(self, detector=None, **changes):
        """A copy with `changes`; `detector` is a dict of the detector settings that change."""
        if detector:
            changes["detector"] = DetectorSettings.from_dict({**self.detector.to_dict(), **detector})
        return replace(self, **changes)


def odds_ok(value):
    """Whether `value` can be a model's incorrect_odds: a finite number above 0."""
    return not isinstance(value, bool) and isinstance(value, (int, float)) and 0 < value < math.inf
