"""README step 2: crop the face of every dataset image with MTCNN.

    python extract_faces.py                      # mask_dataset -> mask_dataset_faces
    python extract_faces.py --data_dir scenes    # Pascal VOC frames: crops the annotated boxes

Crops mirror the class/split tree, with manifest.csv (source, box, probability) beside them;
images where no face is found are counted and listed in missed.txt. Re-running skips crops
already made.
"""
import argparse
import sys
import time
from pathlib import Path

from tqdm import tqdm

from maskdet import InputError, cli, layout
from maskdet.dataset import labelled_images, manifest_text, read_manifest
from maskdet.files import clean_partials, write_image, write_text
from maskdet.images import load_rgb

FIELDS = ("file", "class", "split", "source_image", "x1", "y1", "x2", "y2", "score")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--data_dir", default=layout.DATASET, help="mask_dataset-style folder, or VOC images/+annotations/")
    p.add_argument("--output_dir", default=layout.FACES, help="where crops and manifest.csv go")
    p.add_argument("--class_map", default="", help="VOC only: extra name=class pairs")
    p.add_argument("--test_percent", type=cli.percent, default=40, help="VOC only: share of images held out for evaluation")
    p.add_argument("--seed", type=cli.nonneg_int, default=0, help="VOC only: split seed")
    p.add_argument("--overwrite", action="store_true", help="re-crop everything instead of resuming")
    return p.parse_args(argv)


def crop_jobs(opt, skipped):
    """(source image, class, split, face box or None, crop name) for every face to crop; unreadable
    folders are added to `skipped`."""
    data = Path(opt.data_dir)
    if not data.is_dir():
        raise InputError(f"{data}: data folder not found (run prepare_dataset.py first, or pass --data_dir)")
    if layout.is_voc_layout(data):
        from maskdet.voc import voc_crop_jobs
        return voc_crop_jobs(data, opt.class_map, opt.test_percent, opt.seed)
    if not layout.is_class_layout(data):
        raise InputError(f"{data}: expected <class>/<train|test>/ folders or images/ + annotations/")
    items = labelled_images(data, layout.SPLITS, skipped)
    return [(p, cls, p.parent.name, None, p.stem + ".jpg") for p, cls in items]


def crop_one(detector, job, out_dir):
    """Detect (or take the annotated box), crop with margin and write; return the manifest row."""
    from maskdet.detect import crop_box, detect_main_face

    src, cls, split, box, name = job
    rgb = load_rgb(src)
    score = 1.0
    if box is None:
        face = detect_main_face(detector, rgb)
        if face is None:
            return None
        box, score = face.box, face.score
    x1, y1, x2, y2 = crop_box(box, rgb.shape[1], rgb.shape[0])
    rel = f"{cls}/{split}/{name}"
    write_image(out_dir / rel, rgb[y1:y2, x1:x2, ::-1])
    return dict(file=rel, **{"class": cls}, split=split, source_image=str(src),
                x1=round(box[0], 1), y1=round(box[1], 1), x2=round(box[2], 1), y2=round(box[3], 1), score=round(score, 4))


def main(argv=None):
    opt = parse_args(argv)
    print(f"extract_faces: {vars(opt)}")
    out = Path(opt.output_dir)
    t0 = time.time()
    try:
        folders_skipped = []
        layout.separate(opt.data_dir, out)
        jobs = crop_jobs(opt, folders_skipped)
        rows, missed, skipped = run_jobs(opt, jobs, out)
        skipped += len(folders_skipped)
    except InputError as e:
        print(f"error: {e}")
        return 2
    n = len(jobs)
    print(f"{len(rows):,} crops, {len(missed):,} without a face (missed.txt), {skipped:,} unreadable, "
          f"{(time.time() - t0) / max(n, 1) * 1000:.0f} ms/image -> {out}/")
    return 0 if rows else 1


def run_jobs(opt, jobs, out):
    """Crop every job not done yet; write the manifest and missed list; return rows, missed, skipped."""
    from maskdet.detect import CROP_SETTINGS, FaceDetector

    if out.exists() and not out.is_dir():
        raise InputError(f"{out}: not a folder (pass another --output_dir)")
    if opt.overwrite and out.exists():
        import shutil
        shutil.rmtree(out)
    clean_partials(out)
    done = {r["file"]: r for r in read_manifest(out / "manifest.csv") if (out / r["file"]).exists()}
    detector = FaceDetector(CROP_SETTINGS)
    missed, skipped = [], 0
    try:
        for job in tqdm(jobs, desc="faces", disable=not sys.stderr.isatty()):
            rel = f"{job[1]}/{job[2]}/{job[4]}"
            if rel in done:
                continue
            try:
                row = crop_one(detector, job, out)
            except InputError as e:
                print(f"skipped: {e}")
                skipped += 1
                continue
            if row is None:
                missed.append(f"{job[1]}\t{job[0]}")
            else:
                done[rel] = row
    finally:  # an interrupted run still records what it made, so the next run resumes
        write_text(out / "manifest.csv", manifest_text(list(done.values()), FIELDS))
        write_text(out / "missed.txt", "".join(m + "\n" for m in missed))
    return list(done.values()), missed, skipped


if __name__ == "__main__":
    sys.exit(cli.run(main))
