"""YuNet (Wu, Peng and Yu, 2023): a single-shot face detector of 76k parameters, run by OpenCV's
FaceDetectorYN on the ONNX weights shipped beside this module (YuNet-n from libfacedetection.train,
Apache-2.0: see MODELS_LICENSE.md). Nothing is downloaded at run time."""
from pathlib import Path

import cv2
import numpy as np

WEIGHTS = Path(__file__).resolve().parent / "weights" / "yunet_n_dynamic.onnx"
NMS = 0.3       # overlap that makes two boxes one face (FaceDetectorYN's default)
TOP_K = 5000    # candidates kept before NMS (FaceDetectorYN's default)


class YuNet:
    """detect(rgb, thresholds) -> (boxes (n, 4) x1 y1 x2 y2, scores (n,), landmarks (n, 5, 2)) in pixels
    of `rgb`; landmarks in MTCNN's order (eyes, nose, mouth corners, each left to right in the image).
    Faces narrower than `min_face_size` pixels are dropped (YuNet has no pyramid to start from)."""

    def __init__(self, min_face_size=0, weights=WEIGHTS):
        self.min_face_size = min_face_size
        level = cv2.utils.logging.getLogLevel()
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)  # OpenCV 5 warns that it ignores the target
        try:
            self.net = cv2.FaceDetectorYN.create(str(weights), "", (320, 320), 0.5, NMS, TOP_K)
        finally:
            cv2.utils.logging.setLogLevel(level)
        self.size = (320, 320)

    def detect(self, rgb, thresholds):
        """All faces of one RGB uint8 image scoring at least `thresholds[-1]` (one stage: the last of
        the cascade-style thresholds the detector settings carry)."""
        h, w = rgb.shape[:2]
        if self.size != (w, h):
            self.net.setInputSize((w, h))
            self.size = (w, h)
        self.net.setScoreThreshold(float(thresholds[-1]))
        _, out = self.net.detect(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))  # trained on OpenCV's BGR images
        if out is None:
            return np.zeros((0, 4)), np.zeros(0), np.zeros((0, 5, 2))
        out = out[out[:, 2] >= self.min_face_size].astype(np.float64)
        boxes = np.concatenate([out[:, 0:2], out[:, 0:2] + out[:, 2:4]], axis=1)
        return boxes, out[:, 14], out[:, 4:14].reshape(-1, 5, 2)
