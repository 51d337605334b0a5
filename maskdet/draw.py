"""Drawing what the system sees: a box, label and confidence per face, and a compliance banner."""
import cv2

# Okabe-Ito colours, distinguishable with the common colour-vision deficiencies (BGR order).
COLOURS = {
    "correctly_masked": (178, 114, 0),     # blue
    "incorrectly_masked": (66, 228, 240),  # yellow
    "not_masked": (0, 94, 213),            # vermillion
}
SHORT = {"correctly_masked": "mask", "incorrectly_masked": "mask wrong", "not_masked": "no mask"}
UNSURE = (160, 160, 160)                   # grey: shown, not counted by the rule


def draw_frame(bgr, faces, correct, total, announce=False):
    """Draw faces (dicts with box, label, score) and the banner onto `bgr` in place; return it."""
    h = bgr.shape[0]
    scale = max(0.4, h / 900)
    thick = max(1, int(round(2 * scale)))
    for f in faces:
        x1, y1, x2, y2 = (int(round(v)) for v in f["box"])
        colour = UNSURE if f.get("unsure") else COLOURS.get(f["label"], (255, 255, 255))
        cv2.rectangle(bgr, (x1, y1), (x2, y2), colour, thick)
        text = f"{SHORT.get(f['label'], f['label'])}?" if f.get("unsure") else SHORT.get(f["label"], f["label"])
        _label(bgr, f"{text} {f['score']:.2f}", (x1, y1), colour, scale * 0.6, thick)
    _banner(bgr, correct, total, announce, scale, thick)
    return bgr


def _label(bgr, text, corner, colour, font_scale, thick):
    """Filled tag with dark text just above a box (inside the frame)."""
    (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, font_scale, thick)
    x, y = corner[0], max(corner[1], th + base + 2)
    cv2.rectangle(bgr, (x, y - th - base - 2), (x + tw + 4, y), colour, -1)
    cv2.putText(bgr, text, (x + 2, y - base), cv2.FONT_HERSHEY_SIMPLEX, font_scale, (20, 20, 20), thick, cv2.LINE_AA)


def _banner(bgr, correct, total, announce, scale, thick):
    """Dark strip at the top: 'N of M correctly masked', and the warning when it fires."""
    text = f"{correct} of {total} correctly masked" if total else "no faces in view"
    if announce:
        text += "  -  WEAR YOUR MASK CORRECTLY"
    fs = scale * 0.8
    (_, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, fs, thick)
    band = th + base + 12
    roi = bgr[:band]
    roi[:] = (roi * 0.35).astype(roi.dtype)
    colour = (66, 228, 240) if announce else (255, 255, 255)
    cv2.putText(bgr, text, (8, band - base - 6), cv2.FONT_HERSHEY_SIMPLEX, fs, colour, thick, cv2.LINE_AA)
