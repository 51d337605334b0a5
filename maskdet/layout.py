"""The folder layout of the README, declared once; each stage's input is the previous stage's output."""
from pathlib import Path

from maskdet import CLASSES

DATASET = "mask_dataset"                      # prepare_dataset.py -> extract_faces.py
FACES = "mask_dataset_faces"                  # extract_faces.py -> train_mask_detection_model.py
MODELS = "models"
DEFAULT_MODEL = "models/mask_classifier.pt"   # what test.py uses without --model
BASE_MODEL = "models/mask_classifier_base.pt"  # trained on clean faces only
FOOTAGE = "arlo_footage"
RAW_VIDEOS = f"{FOOTAGE}/raw_videos"          # deconstruct.py input
FRAMES = f"{FOOTAGE}/deconstructed_frames"    # deconstruct.py -> test.py
OUTPUT_FRAMES = f"{FOOTAGE}/output_frames"    # test.py -> reconstruct.py, announce.py
SUMMARIES = f"{FOOTAGE}/summaries"           # announce.py: per-video summary JSON + compliance plot
VIDEOS_OUT = f"{FOOTAGE}/reconstructed_videos"  # reconstruct.py output
SPLITS = ("train", "test")

IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")
VIDEO_EXTS = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv", ".flv")


def list_files(folder, exts):
    """Sorted files of `folder` (not recursive) whose suffix is one of `exts`."""
    folder = Path(folder)
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in exts)


def list_images(folder):
    """Sorted image files directly inside `folder`."""
    return list_files(folder, IMAGE_EXTS)


def frame_name(index):
    """Zero-padded, sortable frame file name; frames are numbered from 1."""
    return f"frame_{index:06d}.jpg"


def is_class_layout(folder):
    """True when `folder` looks like mask_dataset: <class>/<split>/ sub-folders."""
    folder = Path(folder)
    return any((folder / c / s).is_dir() for c in CLASSES for s in SPLITS)


def is_voc_layout(folder):
    """True when `folder` holds Pascal VOC scenes: images/ and annotations/."""
    folder = Path(folder)
    return (folder / "images").is_dir() and (folder / "annotations").is_dir()
