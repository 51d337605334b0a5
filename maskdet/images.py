"""Reading images from untrusted files: one clear error per bad file; RGB uint8 out (frames: OpenCV's BGR, for speed)."""
import warnings
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageOps

from maskdet import InputError

Image.MAX_IMAGE_PIXELS = 60_000_000   # ~8k x 8k; larger is treated as a decompression bomb


def to_uint8(im):
    """Convert any PIL mode (grayscale, alpha, 16-bit, CMYK, palette) to an RGB uint8 array."""
    if im.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        a = np.asarray(im, dtype=np.float32)
        top = 65535.0 if im.mode.startswith("I;16") or a.max() > 255 else 255.0
        a = np.clip(a / top * 255.0, 0, 255).astype(np.uint8)
        return np.stack([a] * 3, axis=-1)
    if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
        bg = Image.new("RGBA", im.size, (255, 255, 255, 255))
        im = Image.alpha_composite(bg, im.convert("RGBA"))
    return np.asarray(im.convert("RGB"), dtype=np.uint8)


def to_square(rgb, side):
    """`rgb` resized to side x side as the networks read a face and learn it: averaged when its height
    shrinks, bilinear when it grows (OpenCV's area resampling would enlarge by repeating pixels)."""
    return cv2.resize(rgb, (side, side), interpolation=cv2.INTER_AREA if rgb.shape[0] > side else cv2.INTER_LINEAR)


def load_rgb(path):
    """Load `path` as an RGB uint8 array, EXIF rotation applied; raise InputError naming the file."""
    too_large = InputError(f"{path}: image too large (over {Image.MAX_IMAGE_PIXELS:,} pixels), skipped")
    try:
        with _open(path) as im:
            if im.width * im.height > Image.MAX_IMAGE_PIXELS:  # Pillow itself refuses only from twice the limit
                raise too_large
            im = ImageOps.exif_transpose(im)
            im.load()
            rgb = to_uint8(im)
    except Image.DecompressionBombError:
        raise too_large from None
    except (OSError, ValueError, SyntaxError) as e:
        reason = "empty file" if _is_empty(path) else (getattr(e, "strerror", None) or str(e).split("\n")[0])
        raise InputError(f"{path}: not a readable image ({reason})") from None
    if rgb.ndim != 3 or min(rgb.shape[:2]) < 2:
        raise InputError(f"{path}: image has no usable pixels ({rgb.shape})")
    return rgb


def image_size(path):
    """(width, height) of an image as load_rgb gives it (EXIF rotation applied), from its header;
    None when the header cannot be read (load_rgb then skips the image with its own message)."""
    try:
        with _open(path) as im:
            (w, h), turned = im.size, im.getexif().get(0x0112) in (5, 6, 7, 8)
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        return None
    return (h, w) if turned else (w, h)


def read_frame(path):
    """A frame file (deconstruct.py's, or a folder of pictures) as OpenCV's BGR array, fast; InputError
    naming it when it cannot be decoded, or when a .jpg is empty, not a JPEG, or cut short (OpenCV would
    decode the missing part of a cut JPEG as grey and only warn, without the file's name)."""
    if Path(path).suffix.lower() in (".jpg", ".jpeg") and (wrong := _jpeg_problem(path)):
        raise InputError(f"{path}: not a readable image ({wrong})")
    bgr = cv2.imread(str(path))
    if bgr is None:
        raise InputError(f"{path}: not a readable image")
    return bgr


def _jpeg_problem(path, tail=1024):
    """Why a .jpg file is not a whole JPEG (empty; no start-of-image marker; no end-of-image marker FF D9
    in its last `tail` bytes, which inside the coded data an FF byte never is), or None."""
    try:
        with open(path, "rb") as f:
            head = f.read(2)
            f.seek(max(0, f.seek(0, 2) - tail))
            end = f.read()
    except OSError as e:
        return e.strerror or "cannot be read"
    if not head:
        return "empty file"
    if head != b"\xff\xd8":
        return "not a JPEG"
    return None if b"\xff\xd9" in end else "a JPEG cut short"


def _open(path):
    """Image.open without Pillow's warning for pictures over the pixel limit: load_rgb refuses them in
    one line of its own."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        return Image.open(path)


def _is_empty(path):
    """True when `path` is a zero-byte file."""
    try:
        return path.stat().st_size == 0 if hasattr(path, "stat") else False
    except OSError:
        return False
