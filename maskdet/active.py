"""Active learning: score live frames by how much a person's correction would teach the model,
and write the model's predictions as pre-annotations (Pascal VOC and COCO) for a labelling tool."""
import json
import math
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
    """Convert a COCO export into one VOC file per image in out_dir; returns the paths written. A
    broken image entry or annotation is skipped with one line; InputError when the file is no COCO file."""
    from maskdet.files import write_text

    coco = read_coco(coco_path)
    cats = {c["id"]: c["name"] for c in coco["categories"]
            if isinstance(c, dict) and isinstance(c.get("id"), (int, str)) and isinstance(c.get("name"), str)}
    by_image = {}
    for i, im in enumerate(coco["images"]):
        try:
            by_image[im["id"]] = (_coco_image(im), [])
        except (KeyError, TypeError, ValueError, OverflowError) as e:
            print(f"skipped: {coco_path}: images[{i}]: {_why(e)}")
    for i, a in enumerate(coco["annotations"]):
        try:
            image_id, obj = _coco_object(a, cats, by_image)
        except (KeyError, TypeError, ValueError) as e:
            print(f"skipped: {coco_path}: annotations[{i}]: {_why(e)}")
            continue
        by_image[image_id][1].append(obj)
    inverse, written = {v: k for k, v in VOC_NAMES.items()}, []
    for (name, w, h), objs in by_image.values():
        faces = [{"box": o["box"], "label": inverse[o["name"]]} for o in objs if o["name"] in inverse]
        written.append(Path(out_dir) / (Path(name).stem + ".xml"))
        write_text(written[-1], voc_xml(name, w, h, faces))
    return written


def read_coco(path):
    """The top-level object of a COCO file; InputError naming the file when it is missing, not JSON
    or not COCO (an object with images, annotations and categories lists)."""
    from maskdet import InputError

    try:
        coco = json.loads(Path(path).read_bytes())
    except OSError as e:
        raise InputError(f"{path}: cannot read the COCO file ({e.strerror})") from None
    except ValueError as e:
        raise InputError(f"{path}: not a JSON file ({type(e).__name__}: {str(e)[:80]})") from None
    if not isinstance(coco, dict) or not all(isinstance(coco.get(k), list) for k in ("images", "annotations", "categories")):
        raise InputError(f"{path}: not a COCO file (an object with images, annotations and categories lists)")
    return coco


def _coco_image(im):
    """(file name, width, height) of a COCO image entry; KeyError, TypeError or ValueError when it is broken."""
    name = Path(_entry(im)["file_name"]).name
    if not name.strip("."):
        raise ValueError(f"file_name '{im['file_name']}' names no file")
    return name, int(im.get("width") or 0), int(im.get("height") or 0)


def _coco_object(a, cats, images):
    """(image id, {box, name}) of a COCO annotation; KeyError, TypeError or ValueError when it is broken."""
    if _entry(a).get("image_id") not in images:
        raise ValueError(f"image_id {a.get('image_id')!r} is not among the usable images")
    if a.get("category_id") not in cats:
        raise ValueError(f"category_id {a.get('category_id')!r} is not among the categories")
    x, y, w, h = (float(v) for v in a["bbox"])
    if not all(math.isfinite(v) for v in (x, y, w, h)):
        raise ValueError(f"bbox {a['bbox']} is not finite")
    return a["image_id"], {"box": (x, y, x + w, y + h), "name": cats[a["category_id"]]}


def _entry(e):
    if not isinstance(e, dict):
        raise TypeError(f"{json.dumps(e)[:40]} is not an object")
    return e


def _why(e):
    """One line for a broken COCO entry."""
    return f"no {e}" if isinstance(e, KeyError) else str(e)
