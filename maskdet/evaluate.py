"""test.py's sanity check on a labelled class folder: detector + classifier on every test image."""
import sys
from pathlib import Path

from tqdm import tqdm

from maskdet import CLASSES, InputError
from maskdet.dataset import labelled_images, source_of
from maskdet.detect import CROP_SETTINGS, FaceDetector, detect_main_face
from maskdet.files import keep_previous, write_json
from maskdet.images import load_rgb
from maskdet.metrics import confusion, per_class


def predict_folder(data_dir, clf):
    """(path, truth, prediction or None when no face was found) for every test image."""
    folders_skipped = []
    items = labelled_images(data_dir, ("test",), folders_skipped)
    if not items:
        raise InputError(f"{data_dir}: no test images in <class>/test/ folders")
    detector = FaceDetector(CROP_SETTINGS)
    results, unreadable = [], len(folders_skipped)
    for path, truth in tqdm(items, desc="images", disable=not sys.stderr.isatty()):
        try:
            rgb = load_rgb(path)
        except InputError as e:
            print(f"skipped: {e}")
            unreadable += 1
            continue
        face = detect_main_face(detector, rgb)
        label = clf.predict_boxes(rgb, [face.box])[0][0] if face else None
        results.append((path, truth, label))
    return results, unreadable


def class_report(results, unreadable):
    """The JSON report: accuracy (missed faces count as wrong), misses, per class, per source, confusion."""
    truth = [t for _, t, _ in results]
    pred = [p for _, _, p in results]
    m = confusion(truth, pred, CLASSES)
    sources = sorted({source_of(p) for p, _, _ in results})
    per_source = {}
    for s in sources:
        sel = [(t, p) for q, t, p in results if source_of(q) == s]
        per_source[s] = {"accuracy": sum(t == p for t, p in sel) / len(sel), "count": len(sel),
                         "missed_faces": sum(p is None for _, p in sel)}
    return {
        "accuracy": sum(t == p for t, p in zip(truth, pred)) / max(len(truth), 1),
        "images": len(truth), "unreadable": unreadable,
        "missed_faces": sum(p is None for p in pred),
        "missed_per_class": {c: int(m[i, -1]) for i, c in enumerate(CLASSES)},
        "per_class": per_class(m, CLASSES),
        "per_source": per_source,
        "confusion": {"rows": list(CLASSES), "columns": list(CLASSES) + ["no_face"], "matrix": m.tolist()},
    }


def print_class_report(r):
    """A table a person can read."""
    print(f"{'class':<20}{'precision':>10}{'recall':>8}{'support':>9}{'missed':>8}")
    for c, v in r["per_class"].items():
        print(f"{c:<20}{v['precision']:>10.3f}{v['recall']:>8.3f}{v['support']:>9,}{r['missed_per_class'][c]:>8,}")
    for s, v in r["per_source"].items():
        print(f"source {s:<14} accuracy {v['accuracy']:.3f} on {v['count']:,} images ({v['missed_faces']} missed)")
    print(f"accuracy {r['accuracy']:.4f} on {r['images']:,} images ({r['missed_faces']:,} without a face found, "
          f"counted wrong; {r['unreadable']} unreadable)")


def save_report(report, path, plot=None):
    """Write the JSON report and, if given, a PNG drawn by `plot(report, png_path)` beside it."""
    path = Path(path)
    keep_previous(path)
    write_json(path, report)
    if plot:
        plot(report, path.with_suffix(".png"))


def plot_confusion(report, png):
    """Confusion matrix as a PNG (written atomically)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from maskdet.files import save_figure

    c = report["confusion"]
    fig, ax = plt.subplots(figsize=(6, 4.5))
    ax.imshow(c["matrix"], cmap="Blues")
    ax.set_xticks(range(len(c["columns"])), [s.replace("_", "\n") for s in c["columns"]])
    ax.set_yticks(range(len(c["rows"])), c["rows"])
    for i, row in enumerate(c["matrix"]):
        for j, v in enumerate(row):
            ax.text(j, i, str(v), ha="center", va="center", color="black")
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(f"accuracy {report['accuracy']:.3f}")
    save_figure(fig, png)
