"""The folder layout of the README, declared once; each stage's input is the previous stage's output."""
import os
import re
from pathlib import Path

from maskdet import CLASSES, InputError

DATASET = "mask_dataset"                      # prepare_dataset.py -> extract_faces.py
FACES = "mask_dataset_faces"                  # extract_faces.py -> train_mask_detection_model.py
MODELS = "models"
DEFAULT_MODEL = "models/mask_classifier.pt"   # what test.py uses without --model
BASE_MODEL = "models/mask_classifier_base.pt"  # trained on clean faces only
NEW_MODEL = "models/mask_classifier_new.pt"   # finetune_detector.py: a candidate, compared before it replaces the default
FOOTAGE = "arlo_footage"
RAW_VIDEOS = f"{FOOTAGE}/raw_videos"          # deconstruct.py input
FRAMES = f"{FOOTAGE}/deconstructed_frames"    # deconstruct.py -> test.py
OUTPUT_FRAMES = f"{FOOTAGE}/output_frames"    # test.py -> reconstruct.py, announce.py
SUMMARIES = f"{FOOTAGE}/summaries"           # announce.py: per-video summary JSON + compliance plot
VIDEOS_OUT = f"{FOOTAGE}/reconstructed_videos"  # reconstruct.py output
ANNOTATION_QUEUE = "annotation_queue"         # annotate.py export -> a labelling tool -> annotate.py import
SCENES = "scenes"                             # annotate.py import -> extract_faces.py, finetune_detector.py, drift_report.py
SCENE_FACES = "scene_faces"                   # extract_faces.py on scenes -> train_mask_detection_model.py
FLEET_OUT = "fleet_out"                       # fleet.py: OUT/<video or camera>/, events.jsonl, index.html
REPORTS = "reports"                           # drift_report.py, test.py --report
SPLITS = ("train", "test")

IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")
VIDEO_EXTS = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv", ".flv")


def unreadable_folder(folder, error):
    """The InputError for a folder that cannot be listed (permissions, not a folder)."""
    return InputError(f"{folder}: cannot read this folder ({error.strerror or type(error).__name__})")


def entries(folder):
    """Sorted entries of `folder`; InputError naming it when it cannot be read."""
    folder = Path(folder)
    try:
        return sorted(folder.iterdir())
    except OSError as e:
        raise unreadable_folder(folder, e) from None


def list_files(folder, exts, skipped=None):
    """Sorted files of `folder` (not recursive) whose suffix is one of `exts`, hidden files left out (a
    killed run's temporary files are hidden: maskdet.files). With a `skipped` list, an unreadable folder
    is reported there (and printed) and counts as empty instead of raising."""
    try:
        return [p for p in entries(folder)
                if p.is_file() and p.suffix.lower() in exts and not p.name.startswith(".")]
    except InputError as e:
        if skipped is None:
            raise
        print(f"skipped: {e}")
        skipped.append(str(e))
        return []


def list_images(folder, skipped=None):
    """Sorted image files directly inside `folder` (see list_files for `skipped`)."""
    return list_files(folder, IMAGE_EXTS, skipped)


def list_dirs(folder):
    """Sorted sub-folders of `folder`; InputError naming it when it cannot be read."""
    return [d for d in entries(folder) if d.is_dir()]


def walk_files(folder, exts, skipped):
    """Files under `folder` at any depth with a suffix in `exts`, sorted, hidden files left out (as in
    list_files); unreadable sub-folders are printed and added to `skipped`."""
    def report(e):
        print(f"skipped: {unreadable_folder(e.filename, e)}")
        skipped.append(e.filename)

    entries(folder)  # the top folder itself must be readable
    found = [Path(d) / f for d, _, files in os.walk(folder, onerror=report) for f in files]
    return sorted(p for p in found if p.suffix.lower() in exts and not p.name.startswith("."))


def frame_name(index):
    """Zero-padded, sortable frame file name; frames are numbered from 1."""
    return f"frame_{index:06d}.jpg"


def frame_numbers(paths):
    """The frame number of each path: from its name when every name is a frame_name (a frame deleted from a
    deconstructed folder leaves a gap, not a shift), else their positions from 1."""
    found = [re.fullmatch(r"frame_(\d{6,})\.jpg", Path(p).name) for p in paths]
    return [int(m.group(1)) for m in found] if all(found) else list(range(1, len(paths) + 1))


def is_class_layout(folder):
    """True when `folder` looks like mask_dataset: <class>/<split>/ sub-folders."""
    folder = Path(folder)
    return any((folder / c / s).is_dir() for c in CLASSES for s in SPLITS)


def is_voc_layout(folder):
    """True when `folder` holds Pascal VOC scenes: images/ and annotations/."""
    folder = Path(folder)
    return (folder / "images").is_dir() and (folder / "annotations").is_dir()


def video_names(videos):
    """The output name of each video (its frames folder, its results): the file's stem, or stem_ext for
    every video whose stem another one shares (cam.mp4 and cam.avi: cam_mp4, cam_avi), whatever the order."""
    stems = [Path(v).stem for v in videos]
    names = {v: s if stems.count(s) == 1 else f"{s}_{Path(v).suffix[1:]}" for v, s in zip(videos, stems)}
    seen = {}
    for v, name in names.items():
        if name in seen:
            raise InputError(f"{v}: its results would share the name {name} with {seen[name]}'s; rename one")
        seen[name] = v
    return names


def separate(data_dir, output_dir):
    """InputError when an output folder is the data folder, inside it or holds it (an --overwrite would
    delete the data)."""
    data, out = Path(data_dir).resolve(), Path(output_dir).resolve()
    if data == out or data in out.parents or out in data.parents:
        raise InputError(f"{output_dir}: the output folder must be outside the data folder {data_dir} (and not hold it)")
