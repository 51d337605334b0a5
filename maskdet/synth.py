"""Draw a face mask onto a real unmasked face from MTCNN's five landmarks, worn correctly or not,
the way MaskedFace-Net was made, so every class holds both photos and renderings."""
import cv2
import numpy as np

# Where the mask's top and bottom edges sit, in eye-to-mouth distances below the eye line.
POSITIONS = {
    "correct": (0.30, 1.95),     # nose bridge to below the chin
    "nose_out": (None, 1.95),    # top edge under the nose tip (MaskedFace-Net's _Mask_Mouth_Chin)
    "chin_out": (0.30, 1.25),    # nose and mouth covered, chin free (_Mask_Nose_Mouth)
}
COLOURS = [(168, 206, 226), (240, 240, 240), (40, 40, 45), (150, 150, 155), (60, 70, 120), (225, 180, 190)]


def face_frame(landmarks):
    """Origin, unit right vector, unit down vector, inter-ocular and eye-to-mouth distances."""
    lm = np.asarray(landmarks, dtype=np.float64)
    eyes, nose, mouth = (lm[0] + lm[1]) / 2, lm[2], (lm[3] + lm[4]) / 2
    right = lm[1] - lm[0]
    io = max(np.linalg.norm(right), 1.0)
    right = right / io
    down = np.array([-right[1], right[0]])
    d = max(float(np.dot(mouth - eyes, down)), 1.0)
    t_nose = float(np.dot(nose - eyes, down)) / d
    return eyes, right, down, io, d, t_nose


def mask_polygon(landmarks, position):
    """Polygon (N, 2) of a mask in the given position ('correct', 'nose_out', 'chin_out')."""
    eyes, right, down, io, d, t_nose = face_frame(landmarks)
    top, bottom = POSITIONS[position]
    top = t_nose + 0.12 if top is None else top
    rows = np.linspace(top, bottom, 8)
    # half-width in inter-ocular units: widest at the cheeks, narrowing to the chin
    half = [1.05 - 0.55 * max(0.0, (t - 1.2) / 0.75) ** 1.5 for t in rows]
    left_side = [eyes + (-h * io) * right + t * d * down for t, h in zip(rows, half)]
    right_side = [eyes + (h * io) * right + t * d * down for t, h in zip(rows, half)]
    return np.array(left_side + right_side[::-1], dtype=np.float32)


def draw_mask(rgb, landmarks, position, rng, colour=None):
    """A copy of `rgb` with a mask drawn in `position`; colour (unless given), shade and pleats from `rng`."""
    h, w = rgb.shape[:2]
    poly = mask_polygon(landmarks, position)
    alpha = np.zeros((h, w), np.float32)
    cv2.fillPoly(alpha, [np.round(poly).astype(np.int32)], 1.0, lineType=cv2.LINE_AA)
    k = max(3, int(min(h, w) / 100) * 2 + 1)
    alpha = cv2.GaussianBlur(alpha, (k, k), 0)[..., None]
    colour = np.array(COLOURS[rng.integers(len(COLOURS))] if colour is None else colour, np.float32)
    layer = _shaded(colour, poly, h, w, rng)
    out = rgb.astype(np.float32) * (1 - alpha) + layer * alpha
    return np.clip(out, 0, 255).astype(np.uint8)


def _shaded(colour, poly, h, w, rng):
    """The mask's colour with a top-to-bottom shade and faint horizontal pleats."""
    ys = np.arange(h, dtype=np.float32)[:, None]
    top, bottom = poly[:, 1].min(), poly[:, 1].max()
    t = np.clip((ys - top) / max(bottom - top, 1.0), 0, 1)
    shade = 1.0 - 0.18 * np.abs(t - 0.4) - 0.06 * (np.sin(t * np.pi * rng.integers(3, 6)) > 0.85)
    layer = np.ones((h, w, 1), np.float32) * colour * shade[..., None]
    noise = rng.normal(0, 4, size=(h, w, 1)).astype(np.float32)
    return layer + noise
