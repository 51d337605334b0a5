"""Training data in memory and batched augmentation that makes clean faces look like camera faces."""
import math
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from maskdet import CLASSES, InputError
from maskdet.detect import CROP_MARGIN
from maskdet.images import load_rgb, to_square
from maskdet.layout import list_images

LOWRES_P = 0.35  # share of training faces shown at camera resolution


def load_split(dirs, split, size, repeat_first=1):
    """Crops of `split` from every <dir>/<class>/<split>/ as (uint8 N×3×S×S tensor, labels, names,
    face sizes in source pixels)."""
    arrays, labels, names, sides, bad = [], [], [], [], []
    for d in [dirs[0]] * max(repeat_first, 1) + list(dirs[1:]):
        for ci, cls in enumerate(CLASSES):
            folder = Path(d) / cls / split
            for p in list_images(folder, bad) if folder.is_dir() else []:
                try:
                    rgb = load_rgb(p)
                except InputError as e:
                    print(f"skipped: {e}")
                    bad.append(str(e))
                    continue
                arrays.append(to_square(rgb, size))
                labels.append(ci)
                names.append(str(p))
                sides.append(max(rgb.shape[:2]) / (1 + CROP_MARGIN))
    if not arrays:
        return torch.zeros((0, 3, size, size), dtype=torch.uint8), torch.zeros(0, dtype=torch.long), [], []
    x = torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).contiguous()
    return x, torch.tensor(labels), names, sides


def class_weights(labels, n=len(CLASSES)):
    """Inverse-frequency weights (mean 1) so that rare classes count as much as common ones."""
    counts = torch.bincount(labels, minlength=n).float().clamp(min=1)
    w = counts.sum() / (n * counts)
    return w / w.mean()


def normalize(x_uint8, mean, std):
    """uint8 batch -> normalised float batch."""
    return standardize(x_uint8.float() / 255.0, mean, std)


def standardize(x, mean, std):
    """Float batch in [0, 1] (as augment gives) -> normalised with per-channel `mean` and `std`."""
    return (x - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1)


def augment(x, g):
    """Random flip, small affine, colour jitter, grey, blur-by-low-resolution and noise; floats in [0,1]."""
    n, _, s, _ = x.shape
    x = x.float() / 255.0
    flip = torch.rand(n, generator=g) < 0.5
    x[flip] = x[flip].flip(3)
    x = _affine(x, g)
    x = _colour(x, g)
    low = torch.rand(n, generator=g) < LOWRES_P  # camera faces are small: train on some at 12-32 px
    if low.any():
        r = int(torch.randint(12, 33, (1,), generator=g))
        x[low] = F.interpolate(F.interpolate(x[low], size=(r, r), mode="area"), size=(s, s), mode="bilinear",
                               align_corners=False)
    x = x + torch.randn(x.shape, generator=g) * 0.02
    return x.clamp(0, 1)


def _affine(x, g):
    """Scale 0.85-1.15, rotate ±12°, shift ±8% per sample, in one grid_sample."""
    n = x.shape[0]
    scale = 0.85 + 0.3 * torch.rand(n, generator=g)
    angle = (torch.rand(n, generator=g) - 0.5) * (24 * math.pi / 180)
    shift = (torch.rand(n, 2, generator=g) - 0.5) * 0.16
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack([torch.stack([cos, -sin, shift[:, 0]], 1), torch.stack([sin, cos, shift[:, 1]], 1)], 1)
    grid = F.affine_grid(theta, x.shape, align_corners=False)
    return F.grid_sample(x, grid, padding_mode="border", align_corners=False)


def _colour(x, g):
    """Brightness, contrast, saturation jitter and 10% greyscale."""
    n = x.shape[0]
    b = 0.7 + 0.6 * torch.rand(n, 1, 1, 1, generator=g)
    c = 0.7 + 0.6 * torch.rand(n, 1, 1, 1, generator=g)
    grey = x.mean(1, keepdim=True)
    sat = 0.6 + 0.8 * torch.rand(n, 1, 1, 1, generator=g)
    sat[torch.rand(n, generator=g) < 0.1] = 0.0
    x = grey + (x - grey) * sat
    m = x.mean((1, 2, 3), keepdim=True)
    return (x - m) * c + m * b
