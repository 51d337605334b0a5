"""Face detection on a shrunk (max_side), enlarged (upscale) or padded (pad) image, by either backend:
boxes come back in the original frame's pixels."""
import cv2
import numpy as np
import pytest

from maskdet.detect import DetectorSettings, FaceDetector
from maskdet.metrics import iou

# Grace Hopper's face (brow to chin, cheek to cheek) in the 512x600 portrait, read by eye off a 50 px grid.
HOPPER_FACE = (170, 140, 360, 335)
PASTE = (900, 500, 1200, 860)  # where the portrait goes in the 1600x1200 frame (x1, y1, x2, y2)


@pytest.fixture(scope="module")
def big_frame(portraits):
    """1600x1200 grey frame with the portrait pasted at PASTE; the face's true box in frame pixels."""
    x1, y1, x2, y2 = PASTE
    frame = np.full((1200, 1600, 3), 90, np.uint8)
    frame[y1:y2, x1:x2] = cv2.resize(portraits["hopper"], (x2 - x1, y2 - y1), interpolation=cv2.INTER_AREA)
    sx, sy = (x2 - x1) / 512, (y2 - y1) / 600
    fx1, fy1, fx2, fy2 = HOPPER_FACE
    return frame, (x1 + fx1 * sx, y1 + fy1 * sy, x1 + fx2 * sx, y1 + fy2 * sy)


def _one_face(frame, backend, **settings):
    faces = FaceDetector(DetectorSettings(backend=backend, min_face_size=30, thresholds=(0.6, 0.7, 0.7), **settings)).detect(frame)
    assert len(faces) == 1, settings
    return faces[0]


@pytest.mark.parametrize("backend", ["mtcnn", "yunet"])
@pytest.mark.parametrize("settings", [{"max_side": 640}, {"pad": 0.3}, {"max_side": 640, "pad": 0.3},
                                      {"upscale": 2.0, "max_side": 2000}],
                         ids=["max_side", "pad", "max_side+pad", "upscale_capped"])
def test_boxes_map_back_to_the_original_frame(big_frame, settings, backend):
    frame, truth = big_frame
    plain = _one_face(frame, backend)                        # full resolution, no padding: nothing to map
    face = _one_face(frame, backend, **settings)
    x1, y1, x2, y2 = PASTE
    bx1, by1, bx2, by2 = face.box
    assert x1 - 2 <= bx1 < bx2 <= x2 + 2 and y1 - 2 <= by1 < by2 <= y2 + 2, face.box   # on the pasted portrait
    assert iou(face.box, truth) > 0.6, (face.box, truth)    # and on her face, where it was pasted
    assert face.box == pytest.approx(plain.box, abs=10)     # within a few px of the unshrunk, unpadded search
    lm = np.asarray(face.landmarks)                          # landmarks are mapped too: eyes, nose, mouth inside
    assert ((lm[:, 0] > bx1) & (lm[:, 0] < bx2) & (lm[:, 1] > by1) & (lm[:, 1] < by2)).all(), lm
