"""The full-frame face search alone on a clip, the model's detector against variants, each detector
run on the same frame in turn (a loaded machine slows them alike).

    python benchmarks/search.py ../shared/data/footage/walkers_unmasked_1080p.mp4 --threads 1
    python benchmarks/search.py CLIP --variant '{"upscale": 1.0}' '{"backend": "mtcnn", "thresholds": [0.6, 0.7, 0.7], "verify": false}'

Prints, for each detector, the median milliseconds of a search and the faces found over the frames.
"""
import argparse
import json
import sys
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from maskdet import layout  # noqa: E402

MTCNN = '{"backend": "mtcnn", "min_face_size": 20, "upscale": 1.0, "thresholds": [0.6, 0.7, 0.7], "verify": false, "min_score": 0.85}'


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("clip", help="video file")
    p.add_argument("--model", default=layout.DEFAULT_MODEL, help="model file (its detector is the reference)")
    p.add_argument("--variant", nargs="+", default=[MTCNN], help="JSON overrides of the model's detector settings")
    p.add_argument("--every", type=int, default=8, help="search every k-th frame of the clip (the streams' default)")
    p.add_argument("--threads", type=int, default=1, help="torch, ONNX Runtime (YuNet) and OpenCV threads")
    return p.parse_args(argv)


def searched_frames(clip, every):
    """Every k-th frame of the clip, RGB."""
    cap, out, n = cv2.VideoCapture(clip), [], 0
    while True:
        ok, f = cap.read()
        if not ok:
            break
        if n % every == 0:
            out.append(np.ascontiguousarray(f[..., ::-1]))
        n += 1
    cap.release()
    return out


def main(argv=None):
    opt = parse_args(argv)
    import torch
    from maskdet.classifier import load_classifier
    from maskdet.detect import DetectorSettings

    torch.set_num_threads(opt.threads)
    cv2.setNumThreads(opt.threads)
    clf = load_classifier(opt.model)
    base = clf.detector.to_dict()
    settings = {"model": clf.detector, **{v: DetectorSettings.from_dict({**base, **json.loads(v)}) for v in opt.variant}}
    detectors = {name: clf.face_detector(s) for name, s in settings.items()}
    ms, faces = {n: [] for n in detectors}, {n: 0 for n in detectors}
    frames = searched_frames(opt.clip, opt.every)
    for rgb in frames:
        for name, det in detectors.items():
            t = time.perf_counter()
            faces[name] += len(det.detect(rgb))
            ms[name].append(1000 * (time.perf_counter() - t))
    for name in detectors:
        print(f"{np.median(ms[name]):8.0f} ms  {faces[name]:5d} faces  {name}  ({len(frames)} frames, {opt.threads} thread(s))")
    return 0


if __name__ == "__main__":
    sys.exit(main())
