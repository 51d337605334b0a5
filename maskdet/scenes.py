"""test.py on Pascal VOC scenes: detection, classification and announcement measured against annotations."""
import sys
import time

import numpy as np
from tqdm import tqdm

from maskdet import CLASSES, InputError
from maskdet.announce import counts, is_bad
from maskdet.images import load_rgb
from maskdet.metrics import binary_scores, confusion, match_boxes, per_class, size_bin
from maskdet.voc import load_scenes

IOU = 0.4


def scene_images(scenes, desc):
    """(scene, RGB image) for every readable scene; an unreadable one is skipped with one line."""
    for s in tqdm(scenes, desc=desc, disable=not sys.stderr.isatty()):
        try:
            yield s, load_rgb(s.image)
        except InputError as e:
            print(f"skipped: {e}")


def predict_scenes(scenes, clf, settings=None):
    """[(scene, predicted boxes, labels, scores, counted)] with the model's detector settings (or
    `settings`); `counted`: which faces the announcement rule counts (announce.counts)."""
    detector = clf.face_detector(settings)
    out = []
    for s, rgb in scene_images(scenes, "scenes"):
        faces = detector.detect(rgb)
        labels, scores, _ = clf.predict_faces(rgb, faces)
        out.append((s, [f.box for f in faces], labels, scores,
                    [counts(lab, detector.is_sure(f), clf.is_sure(p)) for f, lab, p in zip(faces, labels, scores)]))
    return out


def scene_report(results, threshold=0.75):
    """detection (recall, precision, by_size), classification on matched faces, announce decisions."""
    bins = {b: [0, 0] for b in ("small", "medium", "large")}   # [count, found]
    tp = n_pred = 0
    truth_cls, pred_cls, ann_truth, ann_pred = [], [], [], []
    for scene, boxes, labels, _, counted in results:
        matches = match_boxes(scene.boxes, boxes, IOU)
        found = {i for i, _ in matches}
        for i, b in enumerate(scene.boxes):
            bins[size_bin(b)][0] += 1
            bins[size_bin(b)][1] += i in found
        tp, n_pred = tp + len(matches), n_pred + len(boxes)
        truth_cls += [scene.classes[i] for i, _ in matches]
        pred_cls += [labels[j] for _, j in matches]
        ann_truth.append(is_bad(scene.classes.count("correctly_masked"), len(scene.classes), threshold))
        counted_labels = [lab for lab, c in zip(labels, counted) if c]
        ann_pred.append(is_bad(counted_labels.count("correctly_masked"), len(counted_labels), threshold))
    n_truth = sum(c for c, _ in bins.values())
    big = [bins[b] for b in ("medium", "large")]             # faces >= 32 px
    m = confusion(truth_cls, pred_cls, CLASSES)[:, :-1]
    pc = per_class(m, CLASSES)
    present = [c for c in CLASSES if pc[c]["support"]]
    return {
        "images": len(results), "faces": n_truth, "iou": IOU,
        "detection": {"recall": tp / max(n_truth, 1), "precision": tp / max(n_pred, 1), "predicted": n_pred,
                      "by_size": {b: {"count": c, "recall": f / c if c else None} for b, (c, f) in bins.items()},
                      "large_and_medium_recall": sum(f for _, f in big) / max(sum(c for c, _ in big), 1)},
        "classification": {"matched": len(truth_cls), "accuracy": float(np.trace(m)) / max(len(truth_cls), 1),
                           "macro_recall": float(np.mean([pc[c]["recall"] for c in present])) if present else 0.0,
                           "per_class": pc, "confusion": {"rows": list(CLASSES), "matrix": m.tolist()}},
        "announce": binary_scores(ann_truth, ann_pred),
    }


def print_scene_report(r, title=""):
    """A readable table of the scene report."""
    d, c, a = r["detection"], r["classification"], r["announce"]
    sizes = "  ".join(f"{b} {v['recall']:.3f} (n={v['count']})" for b, v in d["by_size"].items() if v["count"])
    print(f"{title}{r['images']} images, {r['faces']} faces")
    print(f"  detection      recall {d['recall']:.3f} (>= 32 px {d['large_and_medium_recall']:.3f})  "
          f"precision {d['precision']:.3f}  by size: {sizes}")
    print(f"  classification accuracy {c['accuracy']:.3f}  macro recall {c['macro_recall']:.3f}  "
          + "  ".join(f"{k} {v['recall']:.2f}" for k, v in c["per_class"].items() if v["support"]))
    print(f"  announcement   accuracy {a['accuracy']:.3f}  balanced accuracy {a['balanced_accuracy']:.3f}  "
          f"false alarms {a['false_alarms']} of {a['count'] - a['positives']}, missed {a['missed_alarms']} of {a['positives']}")


def run_scenes(opt, clf):
    """test.py entry for a VOC folder."""
    from maskdet.evaluate import save_report

    t0 = time.time()
    scenes, errors = load_scenes(opt.data_dir, opt.class_map, opt.split, opt.test_percent, opt.seed)
    for e in errors:
        print(f"skipped: {e}")
    if not scenes:
        raise InputError(f"{opt.data_dir}: no usable annotated scenes (split {opt.split})")
    report = scene_report(predict_scenes(scenes, clf), opt.threshold)
    report.update(model=opt.model, split=opt.split, detector=clf.detector.to_dict(), skipped=len(errors))
    print_scene_report(report)
    if opt.report:
        save_report(report, opt.report)
    print(f"{report['images']} scenes in {time.time() - t0:.0f} s" + (f" -> {opt.report}" if opt.report else ""))
    return 0
