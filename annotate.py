"""README step 9, the annotation loop: export the frames most worth a person's time, import them corrected.

Frames are ranked, the model's predictions exported as pre-annotations, and the corrected files imported back.

    python annotate.py export --data_dir ../shared/data/unlabelled_scenes --n 20   # -> annotation_queue/
    # correct annotation_queue/ in LabelImg, CVAT, Label Studio ... (Pascal VOC or COCO)
    python annotate.py import --data_dir annotation_queue --output_dir scenes       # -> scenes/images + annotations
    python extract_faces.py --data_dir scenes --output_dir scene_faces
    python train_mask_detection_model.py --init_from models/mask_classifier.pt --data_dir scene_faces mask_dataset_faces

Frames are ranked by low classifier confidence, detector probabilities near the cut-off, and
labels that flip between neighbouring frames.
"""
import argparse
import sys
import time
from pathlib import Path

from tqdm import tqdm

from maskdet import InputError, cli, layout
from maskdet.files import clean_partials, copy_file, write_text

def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("action", choices=("export", "import"), help="export pre-annotations, or import corrected ones")
    p.add_argument("--data_dir", default=None, help=f"export: folder of frames (default {layout.FRAMES}); import: the queue")
    p.add_argument("--output_dir", default=None, help=f"export: the queue (default {layout.ANNOTATION_QUEUE}); import: scenes (default {layout.SCENES})")
    p.add_argument("--model", default=layout.DEFAULT_MODEL, help="model that makes the pre-annotations")
    p.add_argument("--n", type=cli.positive_int, default=20, help="export: how many frames to pick")
    p.add_argument("--coco", default=None, help="import: a COCO JSON export instead of the VOC files")
    return p.parse_args(argv)


def frames_of(folder):
    """Images directly in `folder`, or else in its sub-folders (deconstructed videos), sorted; and the
    name each gets in the queue (a sub-folder's frames are prefixed by the video's folder)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"{folder}: frames folder not found")
    if images := layout.list_images(folder):
        return [(p, p.name) for p in images]
    images = [(p, f"{d.name}_{p.name}") for d in layout.list_dirs(folder) for p in layout.list_images(d)]
    if not images:
        raise InputError(f"{folder}: no images found")
    return images


def export(opt):
    """Rank frames, then write images/, annotations/ (VOC), coco.json and selection.csv into the queue."""
    from maskdet.active import coco_json, frame_worth, unsure_band, voc_xml
    from maskdet.classifier import load_classifier
    from maskdet.images import load_rgb

    clf = load_classifier(opt.model)
    det = clf.face_detector()
    ranked, previous = [], None
    for path, name in tqdm(frames_of(opt.data_dir), desc="frames", disable=not sys.stderr.isatty()):
        try:
            rgb = load_rgb(path)
        except InputError as e:
            print(f"skipped: {e}")
            continue
        found = det.detect(rgb)
        labels, scores, _ = clf.predict_faces(rgb, found)
        faces = [{"box": f.box, "label": lab, "score": s, "det_score": f.score} for f, lab, s in zip(found, labels, scores)]
        worth, why = frame_worth(faces, previous, unsure_band(clf.detector))
        ranked.append((worth, name, path, rgb.shape[1], rgb.shape[0], faces, why))
        previous = faces
    chosen = sorted(ranked, key=lambda r: (-r[0], r[1]))[: opt.n]
    out = Path(opt.output_dir)
    rows, entries = ["image,worth,uncertainty,near_threshold,flips,faces"], []
    for worth, name, src, w, h, faces, why in chosen:
        copy_file(src, out / "images" / name)
        write_text(out / "annotations" / (Path(name).stem + ".xml"), voc_xml(name, w, h, faces))
        rows.append(f"{name},{worth:.3f},{why.get('uncertainty', 0)},{why.get('near_threshold', 0)},{why.get('flips', 0)},{len(faces)}")
        entries.append((name, w, h, faces))
    write_text(out / "coco.json", coco_json(entries))  # the same names as images/ and annotations/
    write_text(out / "selection.csv", "\n".join(rows) + "\n")
    return f"{len(chosen)} of {len(ranked):,} frames exported with pre-annotations -> {out}/ (images, annotations, coco.json)"


def import_(opt):
    """Validate corrected annotations and add image + VOC pairs to the scenes folder."""
    from maskdet.active import coco_to_voc
    from maskdet.voc import load_scenes, print_skipped

    queue, out = Path(opt.data_dir), Path(opt.output_dir)
    corrected = None
    if opt.coco:
        corrected = {p.name for p in coco_to_voc(opt.coco, queue / "images", queue / "annotations")}
        print(f"{len(corrected)} images converted from COCO")
    if not layout.is_voc_layout(queue):
        raise InputError(f"{queue}: expected images/ and annotations/ (Pascal VOC)")
    scenes, errors = load_scenes(queue)
    if corrected is not None:  # a frame the COCO file does not cover still has the model's guesses
        errors += [f"{s.xml}: not in {opt.coco} (only its pre-annotation), not imported" for s in scenes
                   if s.xml.name not in corrected]
        scenes = [s for s in scenes if s.xml.name in corrected]
    print_skipped(errors, scenes)
    for s in scenes:
        copy_file(s.image, out / "images" / s.image.name)
        copy_file(s.xml, out / "annotations" / (s.image.stem + ".xml"))
    faces = sum(len(s.boxes) for s in scenes)
    return f"{len(scenes)} annotated frames ({faces} faces) imported, {len(errors)} refused -> {out}/"


def main(argv=None):
    opt = parse_args(argv)
    if opt.action == "export":
        opt.data_dir, opt.output_dir = opt.data_dir or layout.FRAMES, opt.output_dir or layout.ANNOTATION_QUEUE
    else:
        opt.data_dir, opt.output_dir = opt.data_dir or layout.ANNOTATION_QUEUE, opt.output_dir or layout.SCENES
    print(f"annotate: {vars(opt)}")
    t0 = time.time()
    try:
        clean_partials(opt.output_dir)  # what a killed run left half-written
        line = export(opt) if opt.action == "export" else import_(opt)
    except InputError as e:
        print(f"error: {e}")
        return 2
    print(f"{line} ({time.time() - t0:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(cli.run(main))
