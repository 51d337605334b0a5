"""Three folds of the training scenes, each checked by a verifier and a classifier trained without it:
how the project chooses (DEVELOPERS.md). Both paths, and the classifier alone on the annotated boxes,
pooled over the 188 training scenes.

    python benchmarks/folds.py                                                    # the shipped recipe
    python benchmarks/folds.py --tag odds1 --train_args "--incorrect_odds 1"      # a variant of the classifier

A scene's fold is the SHA-1 of "cv3:<image file name>" modulo 3; each fold's verifier
(finetune_detector.py over models/mask_classifier_base.pt, the shipped detector settings) and
classifier (train_mask_detection_model.py, the shipped recipe plus --train_args) learn the other two
folds' scenes, and both paths run on the fold's own (benchmarks/scenes_stream.py). Needs the clean
face crops (README: prepare_dataset.py, then extract_faces.py -> mask_dataset_faces). Each step is
skipped when its output exists: the fold scenes, crops and verifiers are shared by every --tag.
"""
import argparse
import hashlib
import json
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parents[1]), str(Path(__file__).resolve().parent)]
from maskdet import layout  # noqa: E402
from maskdet.classifier import load_classifier  # noqa: E402
from maskdet.scenes import predict_scenes, print_scene_report, scene_images, scene_report  # noqa: E402
from maskdet.voc import load_scenes  # noqa: E402
from scenes_stream import stream_path  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
FOLDS = 3
RECIPE = ["--repeat_first", "4", "--detect_every", "8", "--incorrect_odds", "2"]  # README section 3's classifier


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--data_dir", default="../shared/data/scenes_dev", help="Pascal VOC scenes; their training split is folded")
    p.add_argument("--faces", default=layout.FACES, help="the clean face crops the classifier also learns")
    p.add_argument("--base", default=str(Path(layout.MODELS) / "mask_classifier_base.pt"), help="the model each verifier is added to")
    p.add_argument("--work", default="folds", help="where the folds, their crops and models are written")
    p.add_argument("--tag", default="recipe", help="name of this classifier variant (its models: <work>/fold<k>/<tag>.pt)")
    p.add_argument("--train_args", default="", help="more train_mask_detection_model.py flags for this variant")
    p.add_argument("--json", default=None, help="write both pooled reports here")
    return p.parse_args(argv)


def fold_of(name):
    """The fold (0-2) of a scene, from its image file name."""
    return int(hashlib.sha1(f"cv3:{name}".encode()).hexdigest(), 16) % FOLDS


def make_folds(data_dir, work):
    """Copy each training scene into its fold's test/ and the other folds' train/ (images/ + annotations/)."""
    scenes, _ = load_scenes(data_dir, "", "train", 40, 0)
    for s in scenes:
        for k in range(FOLDS):
            part = Path(work) / f"fold{k}" / ("test" if fold_of(s.image.name) == k else "train")
            for sub, src in (("images", s.image), ("annotations", s.xml)):
                (part / sub).mkdir(parents=True, exist_ok=True)
                shutil.copy(src, part / sub / src.name)


def step(done, log, script, *args):
    """Run a stage script (its output into `log`) unless `done` exists."""
    if Path(done).exists():
        return
    print(f"{script} -> {log}", flush=True)
    with open(log, "w") as f:
        rc = subprocess.run([sys.executable, str(ROOT / script), *map(str, args)], stdout=f, stderr=subprocess.STDOUT).returncode
    if rc:
        raise SystemExit(f"error: {script} stopped with status {rc}: see {log}")


def fold_model(d, opt):
    """The fold's model under `opt.tag`, trained as needed: crops, verifier, then the classifier over it."""
    step(d / "crops" / "manifest.csv", d / "crops.log", "extract_faces.py", "--data_dir", d / "train",
         "--output_dir", d / "crops", "--test_percent", 0)
    step(d / "verifier.pt", d / "verifier.log", "finetune_detector.py", "--model", opt.base, "--data_dir", d / "train",
         "--split", "all", "--output", d / "verifier.pt")
    step(d / f"{opt.tag}.pt", d / f"{opt.tag}.log", "train_mask_detection_model.py", "--init_from", d / "verifier.pt",
         "--new_net", "--data_dir", d / "crops", opt.faces, *RECIPE, "--models_dir", d, "--name", opt.tag,
         *shlex.split(opt.train_args))
    return d / f"{opt.tag}.pt"


def main(argv=None):
    opt = parse_args(argv)
    for path, what in ((opt.data_dir, "scenes folder"), (opt.faces, "clean face crops (README: extract_faces.py)"),
                       (opt.base, "base model")):
        if not Path(path).exists():
            print(f"error: {path}: {what} not found")
            return 2
    work = Path(opt.work)
    make_folds(opt.data_dir, work)
    rows = {"stream": [], "still": [], "annotated boxes": []}  # the last: the classifier alone, on the true boxes
    for k in range(FOLDS):
        d = work / f"fold{k}"
        model = fold_model(d, opt)
        scenes, _ = load_scenes(d / "test", "", "all", 40, 0)
        clf = load_classifier(model)
        rows["stream"] += stream_path(model, scenes, (1280, 720))
        rows["still"] += predict_scenes(scenes, clf)
        rows["annotated boxes"] += [(s, s.boxes, *clf.predict_boxes(rgb, s.boxes)[:2], [True] * len(s.boxes))
                                    for s, rgb in scene_images(scenes, "boxes")]
    reports = {path: scene_report(r) for path, r in rows.items()}
    for path, r in reports.items():
        print_scene_report(r, f"{path}, {FOLDS} folds ({opt.tag}): ")
    if opt.json:
        Path(opt.json).parent.mkdir(parents=True, exist_ok=True)
        Path(opt.json).write_text(json.dumps({"tag": opt.tag, "train_args": opt.train_args, **reports}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
