"""Active learning: score live frames by how much a person's correction would teach the model,
and write the model's predictions as pre-annotations (Pascal VOC and COCO) for a labelling tool."""
import json
from pathlib import Path
from xml.sax.saxutils import escape

from maskdet.metrics import match_boxes

# Our classes written back under the names labelling tools and public sets use.
VOC_NAMES = {"correctly_masked": "with_mask", "incorrectly_masked": "mask_weared_incorrect", "not_masked": "without_mask"}
NEAR = 0.1  # without a count cut-off: a detector probability within this of the cut-off is "near threshold"


def unsure_band(settings):
    """Detector scores a person should check: shown, not sure (min_score to count_score: the rule counts them only when called correctly masked),
    or within NEAR of the cut-off when the model counts every face."""
    if settings.count_score > settings.min_score:
        return settings.min_score, settings.count_score
    lo = max(settings.min_score, 0.7 - NEAR)
    return lo, lo + 2 * NEAR


def frame_worth(faces, previous, band=(0.6, 0.8)):
    """Score one frame: low classifier confidence, detector scores in the unsure `band`, and labels
    that flip against the previous frame. Returns (score, reasons)."""
    if not faces:
        return 0.0, {}
    uncertain = max(1.0 - f["score"] for f in faces)
    near = sum(band[0] <= f["det_score"] < band[1] for f in faces) / len(faces)
    flips = 0
    if previous:
        pairs = match_boxes([f["box"] for f in previous], [f["box"] for f in faces], 0.3)
        flips = sum(previous[i]["label"] != faces[j]["label"] for i, j in pairs)
    reasons = {"uncertainty": round(uncertain, 3), "near_threshold": round(near, 3), "flips": flips}
    return uncertain + 0.5 * near + 0.5 * min(flips, 2), reasons


def voc_xml(image_name, width, height, faces):
    """A Pascal VOC annotation with one <object> per predicted face (boxes rounded to pixels)."""
    objs = []
    for f in faces:
        x1, y1, x2, y2 = (int(round(v)) for v in f["box"])
        objs.append(f"  <object>\n    <name>{VOC_NAMES[f['label']]}</name>\n    <pose>Unspecified</pose>\n"
                    f"    <truncated>0</truncated>\n    <difficult>0</difficult>\n"
                    f"    <bndbox><xmin>{x1}</xmin><ymin>{y1}</ymin><xmax>{x2}</xmax><ymax>{y2}</ymax></bndbox>\n"
                    f"  </object>\n")
    return (f"<annotation>\n  <folder>images</folder>\n  <filename>{escape(image_name)}</filename>\n"
            f"  <size><width>{width}</width><height>{height}</height><depth>3</depth></size>\n"
            f"  <segmented>0</segmented>\n{''.join(objs)}</annotation>\n")


def coco_json(entries):
    """COCO detection JSON for [(image name, width, height, faces)]."""
    cats = [{"id": i + 1, "name": n} for i, n in enumerate(VOC_NAMES.values())]
    cat_id = {c["name"]: c["id"] for c in cats}
    images, anns = [], []
    for img_id, (name, w, h, faces) in enumerate(entries, 1):
        images.append({"id": img_id, "file_name": name, "width": w, "height": h})
        for f in faces:
            x1, y1, x2, y2 = f["box"]
            anns.append({"id": len(anns) + 1, "image_id": img_id, "category_id": cat_id[VOC_NAMES[f["label"]]],
                         "bbox": [round(x1, 1), round(y1, 1), round(x2 - x1, 1), round(y2 - y1, 1)],
                         "area": round((x2 - x1) * (y2 - y1), 1), "iscrowd": 0, "score": f["score"]})
    return json.dumps({"images": images, "annotations": anns, "categories": cats}, indent=1)


def coco_to_voc(coco_path, images_dir, out_dir):
    """Convert a COCO export into one VOC file per image in out_dir; returns the number written."""
    from maskdet import InputError
    from maskdet.files import write_text

    try:
        coco = json.loads(Path(coco_path).read_text())
        cats = {c["id"]: c["name"] for c in coco["categories"]}
        by_image = {im["id"]: (im, []) for im in coco["images"]}
        for a in coco["annotations"]:
            x, y, w, h = a["bbox"]
            by_image[a["image_id"]][1].append({"box": (x, y, x + w, y + h), "name": cats[a["category_id"]]})
    except (ValueError, KeyError, TypeError) as e:
        raise InputError(f"{coco_path}: not a usable COCO file ({type(e).__name__}: {e})") from None
    inverse = {v: k for k, v in VOC_NAMES.items()}
    for im, objs in by_image.values():
        faces = [{"box": o["box"], "label": inverse.get(o["name"], o["name"])} for o in objs if o["name"] in inverse]
        name = Path(im["file_name"]).name
        write_text(Path(out_dir) / (Path(name).stem + ".xml"), voc_xml(name, im["width"], im["height"], faces))
    return len(by_image)
