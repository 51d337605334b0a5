"""README step 1: build mask_dataset/{class}/{train,test}/ from the face sets a user has.

    python prepare_dataset.py --maskedface_net ../shared/data/maskedface_net \
        --class_folder ../shared/data/real_faces

Sources: a MaskedFace-Net download (class from the file-name suffix), FFHQ-style unmasked faces,
and folder-per-class photo sets. The split is by identity (an FFHQ id is one person), identical
files are dropped, and masks are drawn onto real unmasked faces so every class holds both
photos and renderings.
"""
import argparse
import sys
import time
import zlib
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from maskdet import CLASSES, InputError, cli, layout
from maskdet.dataset import (MANIFEST_FIELDS, ffhq_identity, file_digest, manifest_text, mfn_class,
                             parse_class_map, read_manifest, split_of)
from maskdet.files import clean_partials, write_image, write_text
from maskdet.images import load_rgb

SYNTH = {"correct": "correctly_masked", "nose_out": "incorrectly_masked", "chin_out": "incorrectly_masked"}


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--maskedface_net", nargs="*", default=[], help="MaskedFace-Net folders (searched recursively)")
    p.add_argument("--ffhq", nargs="*", default=[], help="folders of FFHQ-style unmasked faces (class not_masked)")
    p.add_argument("--class_folder", nargs="*", default=[], help="folders with one sub-folder per class")
    p.add_argument("--class_map", default="", help="extra name=class pairs, e.g. masked=correctly_masked")
    p.add_argument("--output_dir", default=layout.DATASET, help="dataset folder to write")
    p.add_argument("--test_percent", type=cli.percent, default=20, help="share of identities held out for test")
    p.add_argument("--synth_masks", type=cli.nonneg_int, default=1, help="masked variants drawn per real unmasked face (0: none)")
    p.add_argument("--limit", type=cli.nonneg_int, default=0, help="use at most this many images per source folder (0: all)")
    p.add_argument("--seed", type=cli.nonneg_int, default=0, help="split and rendering seed")
    return p.parse_args(argv)


def gather(opt, skipped):
    """Candidate items (origin path, class, source, identity) from every source given; unreadable
    sub-folders are added to `skipped`."""
    mapping = parse_class_map(opt.class_map)
    items = []
    for root in map(Path, opt.maskedface_net):
        files = [p for p in _walk(root, skipped) if mfn_class(p.name)]
        items += [(p, mfn_class(p.name), "maskedface_net", ffhq_identity(p.name)) for p in _limit(files, opt)]
    for root in map(Path, opt.ffhq):
        items += [(p, "not_masked", "ffhq", ffhq_identity(p.name) or f"file:{p.name}")
                  for p in _limit(_walk(root, skipped), opt)]
    for root in map(Path, opt.class_folder):
        for sub in _dirs(root):
            if sub.name not in mapping:
                print(f"warning: {sub}: folder name not in the class map, skipped (add --class_map {sub.name}=CLASS)")
                continue
            items += [(p, mapping[sub.name], root.name, None) for p in _limit(_walk(sub, skipped), opt)]
    return items


def _dirs(root):
    if not root.is_dir():
        raise InputError(f"{root}: source folder not found")
    return layout.list_dirs(root)


def _walk(root, skipped):
    if not root.is_dir():
        raise InputError(f"{root}: source folder not found")
    return layout.walk_files(root, layout.IMAGE_EXTS, skipped)


def _limit(files, opt):
    return files[: opt.limit] if opt.limit else files


def add_item(opt, origin, cls, source, identity, seen, rows):
    """Copy one picture into the layout (re-encoded as RGB JPEG); return (rgb, row), None if a copy."""
    digest = file_digest(origin)
    if digest in seen:
        return None
    seen.add(digest)
    rgb = load_rgb(origin)
    identity = identity or f"file:{digest}"
    split = split_of(identity, opt.test_percent, opt.seed)
    name = f"{source}__{origin.stem}.jpg"
    rel = f"{cls}/{split}/{name}"
    if not (Path(opt.output_dir) / rel).exists():
        write_image(Path(opt.output_dir) / rel, cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    rows[rel] = dict(file=rel, **{"class": cls}, split=split, source=source, identity=identity, origin=str(origin))
    return rgb, rows[rel]


def add_synthetic(opt, detector, rgb, row, rows):
    """Draw masks onto a real unmasked face: correct and incorrect positions, same identity and split."""
    from maskdet.detect import detect_main_face
    from maskdet.synth import draw_mask

    face = detect_main_face(detector, rgb)
    if face is None:
        return 0
    rng = np.random.default_rng([opt.seed, zlib.crc32(row["file"].encode())])
    positions = ["correct", "nose_out" if rng.random() < 0.6 else "chin_out"] * opt.synth_masks
    for i, pos in enumerate(positions):
        rel = f"{SYNTH[pos]}/{row['split']}/synthetic__{Path(row['file']).stem.split('__', 1)[1]}_{pos}{i // 2}.jpg"
        if not (Path(opt.output_dir) / rel).exists():
            out = draw_mask(rgb, face.landmarks, pos, rng)
            write_image(Path(opt.output_dir) / rel, cv2.cvtColor(out, cv2.COLOR_RGB2BGR))
        rows[rel] = dict(file=rel, **{"class": SYNTH[pos]}, split=row["split"], source="synthetic",
                         identity=row["identity"], origin=row["origin"])
    return len(positions)


def main(argv=None):
    opt = parse_args(argv)
    print(f"prepare_dataset: {vars(opt)}")
    t0 = time.time()
    try:
        folders_skipped = []
        items = gather(opt, folders_skipped)
        if not items:
            given = [f"--{k} {' '.join(v)}" for k in ("maskedface_net", "ffhq", "class_folder") if (v := getattr(opt, k))]
            raise InputError(f"no source images found in {', '.join(given)}" if given else
                             "no source images: give --maskedface_net, --ffhq or --class_folder")
        clean_partials(opt.output_dir)  # what a killed run left half-written
        rows = {r["file"]: r for r in read_manifest(Path(opt.output_dir) / "manifest.csv")}
        seen, skipped, synth = set(), len(folders_skipped), 0
        detector = None
        if opt.synth_masks:
            from maskdet.detect import CROP_SETTINGS, FaceDetector
            detector = FaceDetector(CROP_SETTINGS)
        for origin, cls, source, identity in tqdm(items, desc="images", disable=not sys.stderr.isatty()):
            try:
                added = add_item(opt, origin, cls, source, identity, seen, rows)
            except InputError as e:
                print(f"skipped: {e}")
                skipped += 1
                continue
            if added and detector and cls == "not_masked":
                synth += add_synthetic(opt, detector, *added, rows)
        write_text(Path(opt.output_dir) / "manifest.csv", manifest_text(list(rows.values()), MANIFEST_FIELDS))
    except InputError as e:
        print(f"error: {e}")
        return 2
    summarize(rows.values(), skipped, synth, time.time() - t0, opt.output_dir)
    return 0


def summarize(rows, skipped, synth, seconds, out):
    """Print the table of images per class and split, and the closing line."""
    rows = list(rows)
    print(f"{'class':<20}{'train':>8}{'test':>8}")
    for cls in CLASSES:
        n = {s: sum(r["class"] == cls and r["split"] == s for r in rows) for s in layout.SPLITS}
        print(f"{cls:<20}{n['train']:>8,}{n['test']:>8,}")
    print(f"{len(rows):,} images ({synth:,} drawn masks), {skipped:,} skipped, {seconds:.0f} s -> {out}/")


if __name__ == "__main__":
    sys.exit(cli.run(main))
