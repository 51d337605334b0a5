"""The labelled dataset: where its pictures come from, which class and split each belongs to."""
import csv
import hashlib
import re
from pathlib import Path

from maskdet import CLASSES, InputError

# MaskedFace-Net file-name suffix -> class. `_Mask_Nose_Mouth` leaves the chin out: NOT correct.
MFN_SUFFIXES = {
    "_Mask": "correctly_masked",
    "_Mask_Mouth_Chin": "incorrectly_masked",
    "_Mask_Chin": "incorrectly_masked",
    "_Mask_Nose_Mouth": "incorrectly_masked",
    "_Mask_incorrect": "incorrectly_masked",
}
# Folder or annotation class names seen in public sets -> our classes (override with --class_map).
DEFAULT_CLASS_MAP = {
    "correctly_masked": "correctly_masked", "with_mask": "correctly_masked", "mask": "correctly_masked",
    "incorrectly_masked": "incorrectly_masked", "mask_weared_incorrect": "incorrectly_masked",
    "incorrect_mask": "incorrectly_masked",
    "not_masked": "not_masked", "without_mask": "not_masked", "no_mask": "not_masked",
}
MANIFEST_FIELDS = ("file", "class", "split", "source", "identity", "origin")


def parse_class_map(text):
    """'a=correctly_masked,b=not_masked' -> dict, merged over the defaults; one-line error if bad."""
    mapping = dict(DEFAULT_CLASS_MAP)
    for item in filter(None, (t.strip() for t in (text or "").split(","))):
        name, _, cls = item.partition("=")
        if cls not in CLASSES:
            raise InputError(f"--class_map: '{item}' must map a name to one of {', '.join(CLASSES)}")
        mapping[name.strip()] = cls
    return mapping


def mfn_class(name):
    """Class of a MaskedFace-Net file name (e.g. 00042_Mask_Chin.jpg), or None if it is not one."""
    m = re.fullmatch(r"(\d+)(_Mask(?:_\w+)?)", Path(name).stem)
    return MFN_SUFFIXES.get(m.group(2)) if m else None


def ffhq_identity(name):
    """The FFHQ id that all variants of one person share (00042_Mask_Chin.jpg -> ffhq:00042)."""
    m = re.match(r"(\d+)", Path(name).stem)
    return f"ffhq:{int(m.group(1))}" if m else None


def split_of(identity, test_percent=20, seed=0):
    """Deterministic split by identity: the same person always lands in the same split."""
    h = int(hashlib.sha1(f"{seed}:{identity}".encode()).hexdigest()[:8], 16)
    return "test" if h % 100 < test_percent else "train"


def file_digest(path):
    """MD5 of a file's bytes, to drop identical copies."""
    return hashlib.md5(Path(path).read_bytes()).hexdigest()


def source_of(path):
    """The source a dataset file came from, encoded in its name as '<source>__<name>'."""
    stem = Path(path).name
    return stem.split("__", 1)[0] if "__" in stem else "unknown"


def read_manifest(path):
    """Rows of a CSV manifest as dicts ([] when the file does not exist or is empty). It is the only
    record of earlier runs' rows, so one that is not a manifest is an InputError naming the file, never
    silently replaced."""
    path = Path(path)
    if not path.exists():
        return []
    again = "fix it, or move it away to start a new one"
    try:
        with open(path, newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            rows, header = list(reader), reader.fieldnames
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise InputError(f"{path}: unreadable manifest ({type(e).__name__}); {again}") from None
    if header is not None and ("file" not in header or not all(r["file"] for r in rows)):
        raise InputError(f"{path}: not a manifest (no 'file' column in its first line, or a row without a file); {again}")
    return rows


def manifest_text(rows, fields):
    """CSV text of `rows` with the given columns, in a stable order."""
    import io

    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=fields, extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    w.writerows(sorted(rows, key=lambda r: r[fields[0]]))
    return buf.getvalue()


def labelled_images(data_dir, splits=("test",), skipped=None):
    """(path, class) for every image of a mask_dataset-style folder in the given splits, sorted; with a
    `skipped` list, unreadable folders are reported there instead of raising."""
    from maskdet.layout import list_images

    data_dir = Path(data_dir)
    items = []
    for cls in CLASSES:
        for split in splits:
            folder = data_dir / cls / split
            if folder.is_dir():
                items += [(p, cls) for p in list_images(folder, skipped)]
    return items
