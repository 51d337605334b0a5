"""Finetuning MTCNN's last stage (O-Net) on annotated camera scenes: the detector's verifier.

MTCNN, pretrained on unmasked web faces, rejects many small and masked camera faces. At loose
thresholds it still proposes most of them, among many false ones. The verifier is MTCNN's own O-Net,
finetuned on those proposals (a face when IoU >= 0.4 with an annotated box, background below 0.25)
and on jittered annotated boxes, to score them and to move each box onto the annotated face. It is
trained twice: the second round also learns from the first round's moved boxes, which is what the
detector's second verification pass sees.
"""
import numpy as np
import torch
import torch.nn.functional as F

from maskdet.detect import FaceDetector, _crop48, onet_boxes, onet_input
from maskdet.mtcnn import square
from maskdet.metrics import iou
from maskdet.scenes import scene_images

POSITIVE, NEGATIVE = 0.4, 0.25  # IoU with an annotated face: face at or above, background below


def new_onet(state=None):
    """MTCNN's pretrained O-Net (weights from the facenet-pytorch wheel), or with `state` loaded."""
    from facenet_pytorch.models.mtcnn import ONet

    net = ONet(pretrained=state is None)
    if state is not None:
        net.load_state_dict(state)
    return net.eval()


def proposals(scenes, settings):
    """[(scene, rgb, proposed boxes)]: the settings' face search (YuNet or MTCNN) at loose settings, unverified."""
    detector = FaceDetector(settings)
    return [(s, rgb, [f.box for f in detector.detect(rgb)]) for s, rgb in scene_images(scenes, "proposals")]


def jittered(box, rng, n):
    """`n` copies of an annotated box, shifted by up to 12% and scaled by up to 15%."""
    x1, y1, x2, y2 = box
    w, h = x2 - x1, y2 - y1
    out = []
    for _ in range(n):
        s, (dx, dy) = 1 + rng.uniform(-0.15, 0.15), rng.uniform(-0.12, 0.12, 2)
        cx, cy = (x1 + x2) / 2 + dx * w, (y1 + y2) / 2 + dy * h
        out.append((cx - w * s / 2, cy - h * s / 2, cx + w * s / 2, cy + h * s / 2))
    return out


def samples(proposed, rng, previous=None, jitter=4):
    """Training crops (N×48×48×3 uint8), labels (1 face, 0 background, -1 box only) and box targets
    (NaN where there is none); `previous` (a first-round verifier) adds its moved boxes."""
    crops, labels, targets = [], [], []
    for scene, rgb, boxes in proposed:
        cand = list(boxes) + [j for b in scene.boxes for j in jittered(b, rng, jitter)]
        if previous is not None:
            cand += list(onet_boxes(previous, rgb, boxes)[0])
        if not cand:
            continue
        squares = square(np.asarray(cand, dtype=np.float64))
        for b, q in zip(cand, squares):
            overlaps = [iou(b, g) for g in scene.boxes]
            k = int(np.argmax(overlaps)) if overlaps else -1
            best = overlaps[k] if overlaps else 0.0
            crops.append(_crop48(rgb, q))
            labels.append(1 if best >= POSITIVE else 0 if best < NEGATIVE else -1)
            targets.append((np.asarray(scene.boxes[k]) - q) / (q[2] - q[0] + 1) if best >= NEGATIVE else np.full(4, np.nan))
    return np.stack(crops), np.array(labels), np.array(targets, np.float32)


def augment(x, reg, g):
    """Flip (with the box targets), brightness/contrast, low resolution and noise on an O-Net batch."""
    n = x.shape[0]
    flip = torch.rand(n, generator=g) < 0.5
    x[flip] = x[flip].flip(3)
    reg = reg.clone()
    reg[flip] = torch.stack([-reg[flip][:, 2], reg[flip][:, 1], -reg[flip][:, 0], reg[flip][:, 3]], 1)
    x = x * (0.7 + 0.6 * torch.rand(n, 1, 1, 1, generator=g)) + (torch.rand(n, 1, 1, 1, generator=g) - 0.5) * 0.6
    low = torch.rand(n, generator=g) < 0.3
    if low.any():
        r = int(torch.randint(10, 30, (1,), generator=g))
        x[low] = F.interpolate(F.interpolate(x[low], size=(r, r), mode="area"), size=(48, 48), mode="bilinear",
                               align_corners=False)
    return x + torch.randn(x.shape, generator=g) * 0.03, reg


def train(data, epochs, lr, seed, batch_size=128):
    """A verifier trained from the pretrained O-Net on (crops, labels, targets); returns the network."""
    crops, labels, targets = data
    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    net = new_onet().train()
    x, y, t = onet_input(list(crops)), torch.from_numpy(labels), torch.from_numpy(targets)
    has_box = ~torch.isnan(t).any(1)
    t = torch.nan_to_num(t)
    opt = torch.optim.Adam(net.parameters(), lr=lr, weight_decay=1e-4)
    for epoch in range(1, epochs + 1):
        order, total = torch.randperm(len(y), generator=g), 0.0
        for i in range(0, len(y), batch_size):
            idx = order[i:i + batch_size]
            xb, tb = augment(x[idx].clone(), t[idx], g)
            reg, _, prob = net(xb)
            yb, mb = y[idx], has_box[idx]
            loss = F.nll_loss(torch.log(prob[yb >= 0].clamp_min(1e-7)), yb[yb >= 0]) if (yb >= 0).any() else 0.0
            if mb.any():
                loss = loss + 0.5 * F.smooth_l1_loss(reg[mb], tb[mb], beta=0.05)
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
        print(f"  epoch {epoch:>2}/{epochs}  loss {total / len(y):.4f}", flush=True)
    return net.eval()


def finetune(proposed, epochs=12, lr=5e-4, seed=0):
    """Two rounds (see the module docstring); returns the verifier's state dict."""
    rng = np.random.default_rng(seed)
    first = samples(proposed, rng)
    print(f"round 1: {len(first[1]):,} crops ({int((first[1] == 1).sum()):,} faces, {int((first[1] == 0).sum()):,} background)")
    net = train(first, epochs, lr, seed)
    second = samples(proposed, rng, previous=net)
    print(f"round 2: {len(second[1]):,} crops ({int((second[1] == 1).sum()):,} faces, {int((second[1] == 0).sum()):,} background)")
    return train(second, epochs, lr, seed).state_dict()
