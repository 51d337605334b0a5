"""Detector backends side by side on annotated scenes (still images): recall by size, precision,
classification macro recall, announcement accuracy and milliseconds per scene, each at a range of
score cut-offs, all variants timed on the same scenes in the same run (one scene, every variant).

    python benchmarks/detectors.py --split train --json reports/detectors_train.json   # choose here
    python benchmarks/detectors.py --split test --choose_from reports/detectors_train.json --json reports/detectors_test.json

A variant is the model's detector settings with overrides (VARIANTS); each runs once with its cut-off
at 0, and every cut-off is applied afterwards: keeping faces scoring >= s after non-maximum
suppression is what the detector does with min_score = s (suppression goes best first, so a face
is only ever suppressed by a better one). `count_score` (the score from which the detector is sure of a face; announce.counts) is swept the same way.
Each variant's cut-offs are then chosen (CHOOSE) on this run's split, or taken from --choose_from;
"shipped" keeps the model's own. The other variants are one search alone (no mask detector); "shipped"
runs as the model does, at its own min_score and with its mask detector, whose faces are added only
where no kept face is: a higher cut-off applied afterwards drops faces but adds none of those back.
"""
import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from maskdet import layout  # noqa: E402

MTCNN_DEFAULTS = {"backend": "mtcnn", "min_face_size": 20, "max_side": 0, "upscale": 1.0, "thresholds": [0.6, 0.7, 0.7], "verify": False}
VARIANTS = {
    "shipped": {},                                       # the model's own still-image detector
    "mtcnn": MTCNN_DEFAULTS,                             # facenet-pytorch's defaults
    "yunet": {"backend": "yunet", "max_side": 0, "upscale": 1.0, "thresholds": [0.3], "verify": False},
    "yunet_x2": {"backend": "yunet", "max_side": 0, "upscale": 2.0, "thresholds": [0.3], "verify": False},
    "yunet_verify": {"backend": "yunet", "max_side": 0, "upscale": 1.0, "thresholds": [0.3], "verify": True},
    "yunet_x1.5_verify": {"backend": "yunet", "max_side": 0, "upscale": 1.5, "thresholds": [0.3], "verify": True},
    "yunet_x2_verify": {"backend": "yunet", "max_side": 0, "upscale": 2.0, "thresholds": [0.3], "verify": True},
    "yunet_x2_verify_loose": {"backend": "yunet", "max_side": 0, "upscale": 2.0, "thresholds": [0.1], "verify": True},
}


# The cut-offs chosen for a variant: the lowest min_score whose precision reaches the target (the most
# recall at that precision; else the most precise), then the count_score of best announcement accuracy.
PRECISION_TARGET = 0.88


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--data_dir", default="../shared/data/scenes_dev", help="Pascal VOC scenes")
    p.add_argument("--model", default=layout.DEFAULT_MODEL, help="model file (classifier, verifier, base settings)")
    p.add_argument("--split", default="train", choices=("all", "train", "test"), help="which images (split by image)")
    p.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS), help="detectors to compare")
    p.add_argument("--min_scores", type=float, nargs="+", default=[0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.85, 0.9],
                   help="cut-offs applied to each variant's scores")
    p.add_argument("--count_scores", type=float, nargs="+", default=[0.0, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95],
                   help="faces scoring less are not sure: the rule counts them only when called correctly masked")
    p.add_argument("--threads", type=int, default=1, help="torch, ONNX Runtime (YuNet) and OpenCV threads")
    p.add_argument("--choose_from", nargs="+", default=None, help="--json files of another split: take the cut-offs from them")
    p.add_argument("--json", default=None, help="write every report here")
    return p.parse_args(argv)


def settings_of(clf, name):
    """The detector settings of a variant: the model's with the variant's overrides, cut-off at 0 and no
    mask detector; "shipped": the model's own."""
    from maskdet.detect import DetectorSettings

    if name == "shipped":
        return clf.detector
    return DetectorSettings.from_dict({**clf.detector.to_dict(), **VARIANTS[name], "min_score": 0.0, "mask_ssd": 0.0})


def predict(scenes, clf, names):
    """{variant: [(scene, faces, labels)]} and {variant: detection ms per scene}, variants interleaved."""
    from maskdet.scenes import scene_images

    detectors = {n: clf.face_detector(settings_of(clf, n)) for n in names}
    out, ms = {n: [] for n in names}, {n: [] for n in names}
    for s, rgb in scene_images(scenes, "scenes"):
        for n, det in detectors.items():
            t = time.perf_counter()
            faces = det.detect(rgb)
            ms[n].append(1000 * (time.perf_counter() - t))
            out[n].append((s, faces, clf.predict_faces(rgb, faces)[0]))
    return out, {n: float(np.median(v)) for n, v in ms.items()}, {n: float(np.mean(v)) for n, v in ms.items()}


def report(results, min_score, count_score):
    """scene_report of one variant's faces cut at `min_score`, the rule counting faces as if count_score were `count_score`."""
    from maskdet.announce import counts
    from maskdet.scenes import scene_report

    rows = []
    for s, faces, labels in results:
        kept = [(f, lab) for f, lab in zip(faces, labels) if f.score >= min_score]
        rows.append((s, [f.box for f, _ in kept], [lab for _, lab in kept], [f.score for f, _ in kept],
                     [counts(lab, f.score >= count_score) for f, lab in kept]))
    return summary(scene_report(rows))


def choose(rows):
    """{variant: (min_score, count_score)} by the rule above PRECISION_TARGET."""
    out = {}
    for n in dict.fromkeys(r["variant"] for r in rows):
        mine = [r for r in rows if r["variant"] == n]
        ok = [r for r in mine if r["precision"] >= PRECISION_TARGET]
        m = min(r["min_score"] for r in ok) if ok else max(mine, key=lambda r: r["precision"])["min_score"]
        best = max((r for r in mine if r["min_score"] == m), key=lambda r: (r["announce_accuracy"], r["count_score"]))
        out[n] = (m, best["count_score"])
    return out


def print_row(r):
    """One line of the comparison table."""
    cols = ("recall_ge32", "recall_lt32", "precision", "macro_recall", "announce_accuracy", "announce_balanced")
    print(f"{r['variant']:<16}{r['min_score']:>5.2f}{r['count_score']:>6.2f}"
          + "".join(f"{r[k]:>7.3f}" if r[k] is not None else f"{'-':>7}" for k in cols) + f"{r['ms']:>7.1f}")  # -: no such faces


HEADER = f"{'variant':<16}{'min':>5}{'count':>6}{'>=32':>7}{'<32':>7}{'prec':>7}{'macro':>7}{'ann':>7}{'bal':>7}{'ms':>7}"


def summary(r):
    """The numbers of one report that the comparison table shows."""
    b = r["detection"]["by_size"]
    big = b["medium"]["count"] * (b["medium"]["recall"] or 0) + b["large"]["count"] * (b["large"]["recall"] or 0)
    n_big = b["medium"]["count"] + b["large"]["count"]
    return {"recall_ge32": big / n_big if n_big else None, "recall_lt32": b["small"]["recall"], "precision": r["detection"]["precision"],
            "recall": r["detection"]["recall"], "predicted": r["detection"]["predicted"],
            "macro_recall": r["classification"]["macro_recall"], "accuracy": r["classification"]["accuracy"],
            "announce_accuracy": r["announce"]["accuracy"], "announce_balanced": r["announce"]["balanced_accuracy"]}


def grid(opt, clf, results, ms, ms_mean):
    """A row of numbers for every variant, min_score and count_score (printed as it goes)."""
    rows = []
    print(HEADER)
    for n in opt.variants:
        for m in opt.min_scores:
            for c in sorted({max(c, m) for c in opt.count_scores}):
                r = {"variant": n, "min_score": m, "count_score": c, "ms": ms[n], "ms_mean": ms_mean[n],
                     "settings": {**settings_of(clf, n).to_dict(), "min_score": m, "count_score": c}, **report(results[n], m, c)}
                rows.append(r)
                print_row(r)
    return rows


def main(argv=None):
    opt = parse_args(argv)
    print(f"detectors: {vars(opt)}")
    import cv2
    import torch
    from maskdet.classifier import load_classifier
    from maskdet.voc import load_scenes

    torch.set_num_threads(opt.threads)
    cv2.setNumThreads(opt.threads)
    clf = load_classifier(opt.model)
    scenes, _ = load_scenes(opt.data_dir, "", opt.split)
    print(f"{len(scenes)} scenes ({opt.split}); ms: median detection time per scene, {opt.threads} thread(s)")
    rows = grid(opt, clf, *predict(scenes, clf, opt.variants))
    chosen = choose([r for f in opt.choose_from for r in json.loads(Path(f).read_text())["rows"]] if opt.choose_from else rows)
    chosen["shipped"] = (clf.detector.min_score, clf.detector.count_score)   # as the model ships, not re-chosen
    print(f"\nchosen cut-offs (on {' '.join(opt.choose_from or ['this split'])}):\n{HEADER}")
    for n in opt.variants:
        print_row(next(r for r in rows if r["variant"] == n and (r["min_score"], r["count_score"]) == tuple(chosen[n])))
    if opt.json:
        Path(opt.json).parent.mkdir(parents=True, exist_ok=True)
        Path(opt.json).write_text(json.dumps({"split": opt.split, "scenes": len(scenes), "chosen": chosen, "rows": rows},
                                             indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
