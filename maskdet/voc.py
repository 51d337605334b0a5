"""Pascal VOC annotations from labelling tools, treated as untrusted input: safe XML, no path escapes."""
import math
from dataclasses import dataclass, field
from pathlib import Path

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring, ParseError

from maskdet import InputError
from maskdet.dataset import parse_class_map, split_of
from maskdet.images import image_size
from maskdet.layout import IMAGE_EXTS, list_files

MAX_XML_BYTES = 2_000_000


@dataclass
class Scene:
    """One annotated image: its path, size, face boxes with classes, and what was dropped."""
    image: Path
    width: int
    height: int
    boxes: list = field(default_factory=list)     # (x1, y1, x2, y2)
    classes: list = field(default_factory=list)   # our class names
    dropped: list = field(default_factory=list)   # one-line reasons
    xml: Path = None


def safe_image_path(images_dir, filename, xml_path):
    """images_dir/filename, refusing any name that would leave images_dir; fall back to the XML's stem."""
    images_dir = Path(images_dir).resolve()
    candidates = []
    if filename:
        p = (images_dir / filename).resolve()
        if p.parent != images_dir and images_dir not in p.parents:
            raise InputError(f"{xml_path}: filename '{filename}' points outside {images_dir.name}/, refused")
        candidates.append(p)
    candidates += [images_dir / (Path(xml_path).stem + ext) for ext in IMAGE_EXTS]
    found = next((c for c in candidates if c.is_file()), None)
    if found is None:
        raise InputError(f"{xml_path}: image '{filename}' not found in {images_dir.name}/")
    return found


def parse_voc(xml_path, images_dir, class_map):
    """A Scene from one VOC file; InputError naming the file when it cannot be used at all."""
    xml_path = Path(xml_path)
    if xml_path.stat().st_size > MAX_XML_BYTES:
        raise InputError(f"{xml_path}: annotation file too large, refused")
    try:
        root = fromstring(xml_path.read_bytes(), forbid_dtd=True)
    except (ParseError, DefusedXmlException, ValueError) as e:
        raise InputError(f"{xml_path}: malformed or unsafe XML ({type(e).__name__}: {str(e)[:80]})") from None
    if root.tag != "annotation":
        raise InputError(f"{xml_path}: not a Pascal VOC annotation (root <{root.tag}>)")
    image = safe_image_path(images_dir, (root.findtext("filename") or "").strip(), xml_path)
    # boxes are clipped to the image itself: its <size> may be missing or wrong
    w, h = image_size(image) or (_int(root.findtext("size/width")), _int(root.findtext("size/height")))
    scene = Scene(image, w, h, xml=xml_path)
    for obj in root.iter("object"):
        _add_object(scene, obj, class_map, xml_path)
    return scene


def _add_object(scene, obj, class_map, xml_path):
    """Append one <object> (clipped to the image) or record why it was dropped."""
    name = (obj.findtext("name") or "").strip()
    if name not in class_map:
        scene.dropped.append(f"{xml_path}: unknown class '{name}'")
        return
    b = obj.find("bndbox")
    coords = [_float(b.findtext(k)) if b is not None else None for k in ("xmin", "ymin", "xmax", "ymax")]
    if None in coords:
        scene.dropped.append(f"{xml_path}: object '{name}' without a complete bndbox of finite numbers")
        return
    x1, y1, x2, y2 = coords
    if scene.width and scene.height:
        x1, x2 = max(0.0, min(x1, scene.width)), max(0.0, min(x2, scene.width))
        y1, y2 = max(0.0, min(y1, scene.height)), max(0.0, min(y2, scene.height))
    if x2 - x1 < 2 or y2 - y1 < 2:
        size = f" {scene.width}x{scene.height}" if scene.width and scene.height else ""
        scene.dropped.append(f"{xml_path}: object '{name}' box empty or outside the{size} image")
        return
    scene.boxes.append((x1, y1, x2, y2))
    scene.classes.append(class_map[name])


def _int(text):
    v = _float(text)
    return int(v) if v and v > 0 else 0


def _float(text):
    """A finite number, or None (missing, not a number, nan, inf)."""
    try:
        v = float(text)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def load_scenes(data_dir, class_map_text="", split="all", test_percent=40, seed=0):
    """Scenes of a VOC folder (images/ + annotations/), optionally one split by image; (scenes, errors)."""
    data_dir = Path(data_dir)
    class_map = parse_class_map(class_map_text)
    scenes, errors = [], []
    for xml in list_files(data_dir / "annotations", (".xml",)):
        try:
            scene = parse_voc(xml, data_dir / "images", class_map)
        except InputError as e:
            errors.append(str(e))
            continue
        if split == "all" or scene_split(scene, test_percent, seed) == split:
            scenes.append(scene)
    return scenes, errors


def print_skipped(errors, scenes):
    """One `skipped:` line for each annotation file refused and each object dropped from a scene."""
    for e in errors + [d for s in scenes for d in s.dropped]:
        print(f"skipped: {e}")


def scene_split(scene, test_percent=40, seed=0):
    """Split by image: every face of one picture lands on the same side."""
    return split_of(f"image:{scene.image.stem}", test_percent, seed)


def voc_crop_jobs(data_dir, class_map_text, test_percent, seed):
    """extract_faces jobs for annotated boxes: (image, class, split, box, crop name)."""
    scenes, errors = load_scenes(data_dir, class_map_text, "all", test_percent, seed)
    print_skipped(errors, scenes)
    if not scenes:
        raise InputError(f"{data_dir}: no usable annotations in annotations/*.xml")
    return [(s.image, cls, scene_split(s, test_percent, seed), box, f"{s.image.stem}_{k:03d}.jpg")
            for s in scenes for k, (box, cls) in enumerate(zip(s.boxes, s.classes))]
