"""README quick start: render a short synthetic corridor clip to try the pipeline on.

    python make_sample.py        # -> arlo_footage/raw_videos/sample_corridor.mp4

Built only from public-domain portraits that ship inside installed packages (matplotlib's
Grace Hopper, scikit-image's astronaut), with masks drawn on some faces: the clip shows all
three classes, and for a few seconds fewer than 75% wear a mask correctly, so the
announcement fires. Nothing is downloaded.
"""
import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

from maskdet import InputError, cli, layout
from maskdet.detect import FaceDetector
from maskdet.files import clean_partials
from maskdet.synth import draw_mask
from maskdet.video import H264Writer

W, H, FPS = 1280, 720, 25


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--output_dir", default=layout.RAW_VIDEOS, help="where the clip is written")
    p.add_argument("--seconds", type=cli.float_between(0.04, 3600), default=10.0, help="clip length (0.04, one frame, to 3600)")
    p.add_argument("--overwrite", action="store_true", help="render again even if the clip exists")
    return p.parse_args(argv)


def portraits():
    """RGB head-and-shoulders sprites: (name, image) for each person of the clip."""
    import matplotlib.cbook as cbook
    from PIL import Image
    from skimage import data

    with cbook.get_sample_data("grace_hopper.jpg") as f:
        hopper = np.asarray(Image.open(f).convert("RGB"))
    astronaut = data.astronaut()
    det = FaceDetector()
    rng = np.random.default_rng(0)
    people = []
    for name, img, position in (("hopper_masked", hopper, "correct"), ("astronaut", astronaut, None),
                                ("hopper_nose_out", hopper[:, ::-1].copy(), "nose_out")):
        face = max(det.detect(img), key=lambda f: f.score)
        if position:  # a light-blue surgical mask: the most common kind at an office door
            img = draw_mask(img, face.landmarks, position, rng, colour=(168, 206, 226))
        people.append((name, _sprite(img, face.box)))
    return people


def _sprite(img, box):
    """Crop head and shoulders around a face box (2.2 faces wide, 2.6 tall)."""
    x1, y1, x2, y2 = box
    w, cx = x2 - x1, (x1 + x2) / 2
    left, right = int(max(0, cx - 1.1 * w)), int(min(img.shape[1], cx + 1.1 * w))
    top, bottom = int(max(0, y1 - 0.5 * w)), int(min(img.shape[0], y2 + 1.2 * w))
    return img[top:bottom, left:right]


def corridor():
    """A plain corridor: floor, walls and a door in perspective (BGR)."""
    bg = np.zeros((H, W, 3), np.uint8)
    bg[:] = (150, 160, 165)
    cv2.fillPoly(bg, [np.array([[0, H], [W, H], [W * 0.62, H * 0.55], [W * 0.38, H * 0.55]], np.int32)], (95, 105, 115))
    cv2.rectangle(bg, (int(W * 0.42), int(H * 0.2)), (int(W * 0.58), int(H * 0.55)), (70, 90, 120), -1)
    for x in (0.38, 0.62):
        cv2.line(bg, (int(W * x), int(H * 0.55)), (0 if x < 0.5 else W, H), (80, 80, 80), 2)
    return bg


def schedule(t):
    """Who is in view at time t (seconds) and where: (person index, centre x, face scale 0..1)."""
    walkers = [(0, 0.0, 6.0, 0.30), (1, 2.5, 9.0, 0.68), (2, 3.5, 10.0, 0.50)]  # person, enter, leave, x
    out = []
    for k, t0, t1, x in walkers:
        if t0 <= t < t1:
            u = (t - t0) / (t1 - t0)
            out.append((k, x + 0.05 * np.sin(u * 6), 0.35 + 0.65 * u))
    return sorted(out, key=lambda s: s[2])  # nearer people are drawn last


def paste(frame, sprite, cx, scale):
    """Paste an RGB sprite onto a BGR frame with an oval soft edge; nearer means larger and lower."""
    h = int(H * (0.35 + 0.45 * scale))
    w = int(sprite.shape[1] * h / sprite.shape[0])
    spr = cv2.resize(sprite, (w, h), interpolation=cv2.INTER_AREA)[..., ::-1]
    alpha = np.zeros((h, w), np.float32)
    cv2.ellipse(alpha, (w // 2, h // 2), (w // 2 - 2, h // 2 - 2), 0, 0, 360, 1.0, -1)
    alpha = cv2.GaussianBlur(alpha, (15, 15), 0)[..., None]
    x0, y0 = int(cx * W - w / 2), H - h
    xs, xe = max(0, x0), min(W, x0 + w)
    if xe <= xs:
        return
    region = frame[y0:y0 + h, xs:xe].astype(np.float32)
    a, s = alpha[:, xs - x0:xe - x0], spr[:, xs - x0:xe - x0].astype(np.float32)
    frame[y0:y0 + h, xs:xe] = (region * (1 - a) + s * a).astype(np.uint8)


def render(path, people, bg, n):
    """Write the clip's `n` frames to `path` (H.264); nothing half-written is left if it fails or is interrupted."""
    with H264Writer(path, FPS, (W, H)) as writer:
        for i in range(n):
            frame = bg.copy()
            for k, cx, scale in schedule(i / FPS):
                paste(frame, people[k][1], cx, scale)
            writer.write(frame)


def main(argv=None):
    opt = parse_args(argv)
    path = Path(opt.output_dir) / "sample_corridor.mp4"
    if path.exists() and not opt.overwrite:
        print(f"{path}: exists, kept (--overwrite renders it again)")
        return 0
    clean_partials(path.parent, only=path.name)  # a killed run's half-written clip
    people, bg = portraits(), corridor()
    n = int(opt.seconds * FPS)
    try:
        render(path, people, bg, n)
    except InputError as e:  # the folder cannot be written, or the encoder died (disk full)
        print(f"error: {e}")
        return 2
    print(f"{n} frames, {W}x{H} at {FPS} fps, people: {', '.join(p[0] for p in people)} -> {path}")
    return 0


if __name__ == "__main__":
    sys.exit(cli.run(main))
