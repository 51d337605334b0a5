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


needs_shared = pytest.mark.skipif(not SHARED.is_dir(), reason="../shared/data not present")
