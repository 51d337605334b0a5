"""Throughput on one clip: decode only (the ceiling), the naive loop (MTCNN at its defaults on every
full frame, then the classifier) and the project's footage path (as test.py --source runs it:
search every k-th frame, follow faces in between and back through the frames that waited for the
search, classify, draw, encode H.264).

    python benchmarks/throughput.py ../shared/data/footage/walkers_unmasked_1080p.mp4 --json reports/bench_1080p.json
    python benchmarks/throughput.py CLIP --resize 1280x720 --json reports/bench_720p.json
    python benchmarks/throughput.py CLIP --detector '{"backend": "mtcnn", "thresholds": [0.6, 0.7, 0.7], "verify": false}'

Prints frames/s of each, the speed-up over naive, the fraction of the decode ceiling, peak memory
(and resident memory at the end), and the recall of the project's faces against the naive loop's (IoU >= 0.5).
"""
import argparse
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from maskdet import layout  # noqa: E402
from maskdet.metrics import match_boxes  # noqa: E402


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("clip", help="video file")
    p.add_argument("--model", default=layout.DEFAULT_MODEL, help="model file (its detector settings are the pipeline's)")
    p.add_argument("--resize", default=None, help="re-encode the clip at WxH first and measure that (e.g. 1280x720)")
    p.add_argument("--detect_every", type=int, default=0, help="run the full detector every k-th frame (0: the model's)")
    p.add_argument("--max_frames", type=int, default=0, help="stop after this many frames (0: all)")
    p.add_argument("--loops", type=int, default=1, help="play the clip this many times (memory over long runs)")
    p.add_argument("--detector", default=None, help="JSON overrides of the model's detector settings")
    p.add_argument("--skip_naive", action="store_true", help="pipeline only (e.g. for the memory check)")
    p.add_argument("--json", default=None, help="write the numbers here")
    return p.parse_args(argv)


def frames(opt):
    """Decoded BGR frames, the clip looped --loops times."""
    n = 0
    for _ in range(opt.loops):
        cap = cv2.VideoCapture(opt.clip)
        while True:
            ok, f = cap.read()
            if not ok or (opt.max_frames and n >= opt.max_frames):
                break
            n += 1
            yield f
        cap.release()


def decode_only(opt):
    t = time.perf_counter()
    n = sum(1 for _ in frames(opt))
    return n / (time.perf_counter() - t)


def naive(opt, clf):
    """facenet-pytorch MTCNN at its defaults on every full frame, then the classifier."""
    from facenet_pytorch import MTCNN
    mtcnn, boxes, t = MTCNN(keep_all=True, device="cpu"), [], time.perf_counter()
    for f in frames(opt):
        rgb = np.ascontiguousarray(f[..., ::-1])
        b, _ = mtcnn.detect(rgb)
        b = [] if b is None else [tuple(x) for x in b]
        clf.predict_boxes(rgb, b)
        boxes.append(b)
    return len(boxes) / (time.perf_counter() - t), boxes


def pipeline(opt, clf):
    """The footage path exactly as test.py --source --save_video runs it (maskdet.live.process_source:
    background decoding, pipeline, rule and drawing, H.264), each frame's boxes kept."""
    from maskdet.announce import Announcer
    from maskdet.live import process_source
    from maskdet.sinks import VideoSink

    boxes, n, t = [], 0, time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(opt.loops):
            if opt.max_frames and n >= opt.max_frames:
                break
            sinks = [Boxes(boxes, keep=opt.loops == 1), VideoSink(Path(tmp) / "out.mp4", 25.0)]
            stats = process_source(opt.clip, clf, lambda fps: sinks, Announcer(), detect_every=opt.detect_every,
                                   max_frames=opt.max_frames and opt.max_frames - n)
            n += stats["frames"]
    return n / (time.perf_counter() - t), boxes


class Boxes:
    """A sink keeping each frame's boxes (None for each frame when not `keep`: long runs)."""

    def __init__(self, boxes, keep=True):
        self.boxes, self.keep = boxes, keep

    def write(self, record, frame):
        self.boxes.append([tuple(x["box"]) for x in record["faces"]] if self.keep else None)

    def close(self, ok=True):
        pass


def current_rss_mb():
    """Resident memory now (Linux), as opposed to the peak."""
    try:
        return int(Path("/proc/self/statm").read_text().split()[1]) * resource.getpagesize() / 2**20
    except (OSError, IndexError, ValueError):
        return None


def recall(ours, ref):
    """Share of the naive loop's faces that the pipeline also reports (IoU >= 0.5), over all frames."""
    total = sum(len(r) for r in ref)
    found = sum(len(match_boxes(r, o, 0.5)) for r, o in zip(ref, ours))
    return found / total if total else None


def main(argv=None):
    opt = parse_args(argv)
    opt.clip_name = opt.clip
    import torch
    from maskdet.classifier import load_classifier
    from maskdet.video import parse_size, scaled_copy
    torch.set_num_threads(2)
    clf = load_classifier(opt.model)
    if opt.detector:
        from maskdet.detect import DetectorSettings
        clf.detector = DetectorSettings.from_dict({**clf.detector.to_dict(), **json.loads(opt.detector)})
    with tempfile.TemporaryDirectory() as tmp:
        if opt.resize:
            opt.clip = scaled_copy(opt.clip, parse_size(opt.resize), Path(tmp) / "scaled.mp4")
        out = measure(opt, clf)
    for k, v in out.items():
        print(f"{k:>20}: {v:.3f}" if isinstance(v, float) else f"{k:>20}: {v}")
    if opt.json:
        Path(opt.json).parent.mkdir(parents=True, exist_ok=True)
        Path(opt.json).write_text(json.dumps(out, indent=2) + "\n")
    return 0


def measure(opt, clf):
    """All the numbers for one (possibly scaled) clip."""
    opt.detect_every = opt.detect_every or clf.config.detect_every
    out = {"clip": opt.clip_name, "resize": opt.resize, "detector": clf.detector.to_dict(),
           "detect_every": opt.detect_every, "decode_fps": decode_only(opt)}
    out["pipeline_fps"], ours = pipeline(opt, clf)
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out["end_rss_mb"] = current_rss_mb()
    out["frames"] = len(ours)
    out["pipeline_faces"] = sum(len(b) for b in ours) if opt.loops == 1 else None
    if not opt.skip_naive:
        out["naive_fps"], ref = naive(opt, clf)
        out["speedup"] = out["pipeline_fps"] / out["naive_fps"]
        out["recall_vs_naive"] = recall(ours, ref)
        out["naive_faces"] = sum(len(r) for r in ref)
    out["fraction_of_decode"] = out["pipeline_fps"] / out["decode_fps"]
    return out


if __name__ == "__main__":
    sys.exit(main())
