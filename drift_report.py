"""README step 11: how much finetuning on annotated camera frames gains, in numbers.

    python drift_report.py --data_dir ../shared/data/scenes_dev --split test \
        --models models/mask_classifier_base.pt models/mask_classifier.pt

Evaluates every model (each with its own detector settings) on the same held-out annotated scenes
and writes reports/drift_report.md (a table), reports/drift_report.png (a bar chart) and the JSON
of each model beside them.
"""
import argparse
import sys
import time
from pathlib import Path

from maskdet import InputError, cli, layout
from maskdet.files import check_writable, save_figure, write_json, write_text

ROWS = [("detection recall", ("detection", "recall")), ("detection precision", ("detection", "precision")),
        ("recall, faces < 32 px", ("detection", "by_size", "small", "recall")),
        ("recall, faces >= 32 px", ("detection", "large_and_medium_recall")),
        ("classification accuracy", ("classification", "accuracy")),
        ("classification macro recall", ("classification", "macro_recall")),
        ("announcement accuracy", ("announce", "accuracy")),
        ("announcement balanced accuracy", ("announce", "balanced_accuracy"))]


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--data_dir", default=layout.SCENES, help="Pascal VOC scenes (images/ + annotations/)")
    p.add_argument("--models", nargs="+", default=[layout.BASE_MODEL, layout.DEFAULT_MODEL], help="models to compare")
    p.add_argument("--split", default="test", choices=("all", "train", "test"), help="which images (split by image)")
    p.add_argument("--test_percent", type=cli.percent, default=40, help="share of images in the test split")
    p.add_argument("--seed", type=cli.nonneg_int, default=0, help="split seed")
    p.add_argument("--class_map", default="", help="extra name=class pairs")
    p.add_argument("--output_dir", default=layout.REPORTS, help="where the table, chart and JSON go")
    return p.parse_args(argv)


def value(report, path):
    """A number from a nested report (None if absent)."""
    for key in path:
        report = report.get(key) if isinstance(report, dict) else None
    return report


def evaluate(model, scenes):
    """The scene report of one model on the given scenes."""
    from maskdet.classifier import load_classifier
    from maskdet.scenes import predict_scenes, scene_report

    clf = load_classifier(model)
    r = scene_report(predict_scenes(scenes, clf))
    r.update(model=str(model), detector=clf.detector.to_dict())
    return r


def table(reports, names):
    """Markdown table: one row per measure, one column per model."""
    lines = ["| measure | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    for label, path in ROWS:
        cells = [f"{v:.3f}" if isinstance(v, float) else "-" for v in (value(r, path) for r in reports)]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def chart(reports, names, png):
    """Grouped bar chart of the table."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    fig, ax = plt.subplots(figsize=(10, 4))
    x = np.arange(len(ROWS))
    for i, (r, n) in enumerate(zip(reports, names)):
        ax.bar(x + i * 0.8 / len(reports), [value(r, p) or 0 for _, p in ROWS], 0.8 / len(reports), label=n)
    ax.set_xticks(x + 0.4 - 0.4 / len(reports), [label.replace(", ", ",\n").replace("n ", "n\n", 1) for label, _ in ROWS], fontsize=7)
    ax.set_ylim(0, 1.12)
    ax.legend(loc="upper center", ncol=len(reports), fontsize=8)
    ax.set_title("held-out annotated scenes")
    save_figure(fig, png)


def main(argv=None):
    opt = parse_args(argv)
    print(f"drift_report: {vars(opt)}")
    t0 = time.time()
    try:
        from maskdet.voc import load_scenes, print_skipped
        check_writable(Path(opt.output_dir) / "drift_report.md")
        scenes, errors = load_scenes(opt.data_dir, opt.class_map, opt.split, opt.test_percent, opt.seed)
        print_skipped(errors, scenes)
        if not scenes:
            raise InputError(f"{opt.data_dir}: no usable annotated scenes (split {opt.split})")
        reports = [evaluate(m, scenes) for m in opt.models]
        if not reports[0]["images"]:
            raise InputError(f"{opt.data_dir}: none of its {len(scenes)} scene images could be read")
    except InputError as e:
        print(f"error: {e}")
        return 2
    out, names = Path(opt.output_dir), [Path(m).stem for m in opt.models]
    for r, n in zip(reports, names):
        write_json(out / f"scenes_{n}.json", r)
    text, n = table(reports, names), reports[0]["images"]  # the scenes whose image could be read
    write_text(out / "drift_report.md", f"{n} scenes ({opt.split} split of {opt.data_dir})\n\n" + text)
    chart(reports, names, out / "drift_report.png")
    print(text + f"{n} scenes, {len(scenes) - n} unreadable images, {len(errors)} annotation files refused, "
          f"{time.time() - t0:.0f} s -> {out}/drift_report.md, .png")
    return 0


if __name__ == "__main__":
    sys.exit(cli.run(main))
