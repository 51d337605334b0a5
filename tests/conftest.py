"""Shared helpers: run a stage's main() in-process, make tiny images and videos, find ../shared/data."""
import importlib.util
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
sys.path.insert(0, str(ROOT))


def load_script(name):
    """Import a top-level script (test.py clashes with the stdlib's `test`, so load by path)."""
    spec = importlib.util.spec_from_file_location(f"script_{Path(name).stem}", ROOT / name)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def run(name, *args):
    """main() of a script with string arguments; returns its exit code."""
    return load_script(name).main([str(a) for a in args])


# The faces of the two portraits, (x1, y1, x2, y2) from the brows to the chin, annotated by hand on a
# 50-px grid drawn over each picture: the truth for detector tests, not produced by any detector.
FACE_BOXES = {"hopper": (170, 165, 350, 330), "astronaut": (178, 80, 265, 165)}


def placed_box(name, size, at):
    """Where the hand-annotated face of portrait `name` lands when the whole portrait is resized to
    `size` (w, h) and pasted with its top-left corner at `at` (x, y)."""
    h, w = {"hopper": (600, 512), "astronaut": (512, 512)}[name]
    sx, sy = size[0] / w, size[1] / h
    x1, y1, x2, y2 = FACE_BOXES[name]
    return (at[0] + x1 * sx, at[1] + y1 * sy, at[0] + x2 * sx, at[1] + y2 * sy)


@pytest.fixture(scope="session")
def portraits():
    """Two public-domain face portraits that ship inside installed packages (RGB)."""
    import matplotlib.cbook as cbook
    from PIL import Image
    from skimage import data

    with cbook.get_sample_data("grace_hopper.jpg") as f:
        hopper = np.asarray(Image.open(f).convert("RGB"))
    return {"hopper": hopper, "astronaut": data.astronaut()}


def save_rgb(path, rgb):
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    return path


def write_video(path, n=12, size=(96, 64), fps=10.0):
    """A tiny real video (mp4v via OpenCV) whose frames differ, for round-trip tests."""
    path.parent.mkdir(parents=True, exist_ok=True)
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
    for i in range(n):
        frame = np.full((size[1], size[0], 3), (i * 20) % 255, np.uint8)
        cv2.circle(frame, (10 + i * 5, 30), 8, (0, 0, 255), -1)
        w.write(frame)
    w.release()
    return path


@pytest.fixture(scope="session")
def unmasked_clip(tmp_path_factory, portraits):
    """2 s at 10 fps (mp4v): Grace Hopper, unmasked, still in a grey 320x240 frame, so the rule fires
    once, at 1.0 s (a full window of bad frames). Alone in its folder."""
    path = tmp_path_factory.mktemp("unmasked") / "clip.avi"
    face = cv2.cvtColor(cv2.resize(portraits["hopper"], (128, 150), interpolation=cv2.INTER_AREA), cv2.COLOR_RGB2BGR)
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (320, 240))
    for _ in range(20):
        frame = np.full((240, 320, 3), 90, np.uint8)
        frame[45:195, 96:224] = face
        w.write(frame)
    w.release()
    return path


needs_shared = pytest.mark.skipif(not SHARED.is_dir(), reason="../shared/data not present")
