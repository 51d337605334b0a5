"""YuNet (Wu, Peng and Yu, 2023): a single-shot face detector of 76k parameters, YuNet-n from
libfacedetection.train (Apache-2.0: see MODELS_LICENSE.md), shipped beside this module as ONNX and run
by ONNX Runtime. Nothing is downloaded at run time.

ONNX Runtime, not OpenCV's FaceDetectorYN: the same network on a 1920x1080 frame takes 63 ms against
142 ms in OpenCV 5's DNN module (2 threads, both engines), and the search is the live path's largest
cost. The decoding below is the one FaceDetectorYN applies (OpenCV's face_detect.cpp, in float32): the
same faces up to rounding, which a test checks."""
from pathlib import Path

import cv2
import numpy as np

WEIGHTS = Path(__file__).resolve().parent / "weights" / "yunet_n_dynamic.onnx"
NMS = 0.3         # overlap that makes two boxes one face (FaceDetectorYN's default)
TOP_K = 5000      # candidates kept before NMS (FaceDetectorYN's default)
STRIDES = (8, 16, 32)
DIVISOR = 32      # the input is padded (right and bottom, with zeros) to a multiple of the largest stride


def session(weights, threads=None):
    """An ONNX Runtime CPU session on `weights`, with `threads` threads for one operator (default: as many
    as torch uses, which fleet workers and benchmarks set)."""
    import onnxruntime as ort
    import torch

    opts = ort.SessionOptions()
    opts.intra_op_num_threads, opts.inter_op_num_threads = threads or torch.get_num_threads(), 1
    opts.log_severity_level = 3
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")  # other threads (decoding, encoding) need the cores
    return ort.InferenceSession(str(weights), opts, providers=["CPUExecutionProvider"])


class YuNet:
    """detect(rgb, thresholds) -> (boxes (n, 4) x1 y1 x2 y2, scores (n,), landmarks (n, 5, 2)) in pixels
    of `rgb`; landmarks in MTCNN's order (eyes, nose, mouth corners, each left to right in the image).
    Faces narrower than `min_face_size` pixels are dropped (YuNet has no pyramid to start from)."""

    def __init__(self, min_face_size=0, weights=WEIGHTS):
        self.min_face_size = min_face_size
        self.net = session(weights)
        self.input = self.net.get_inputs()[0].name
        self.outputs = [f"{kind}_{s}" for kind in ("cls", "obj", "bbox", "kps") for s in STRIDES]

    def detect(self, rgb, thresholds):
        """All faces of one RGB uint8 image scoring at least `thresholds[-1]` (one stage: the last of
        the cascade-style thresholds the detector settings carry)."""
        h, w = rgb.shape[:2]
        ph, pw = -(-h // DIVISOR) * DIVISOR, -(-w // DIVISOR) * DIVISOR
        x = np.zeros((1, 3, ph, pw), np.float32)
        for k in range(3):
            x[0, k, :h, :w] = rgb[:, :, 2 - k]  # trained on OpenCV's BGR images
        out = dict(zip(self.outputs, self.net.run(self.outputs, {self.input: x})))
        threshold = float(thresholds[-1])
        boxes, scores, points = decode(out, pw, ph, threshold)
        kept = cv2.dnn.NMSBoxes(boxes.astype(int).tolist(), scores.tolist(), 0.0, NMS,  # integer boxes,
                                top_k=TOP_K)                                     # as FaceDetectorYN's
        kept = np.asarray(kept, dtype=int).reshape(-1)
        boxes, scores, points = boxes[kept], scores[kept], points[kept]
        wide = boxes[:, 2] >= self.min_face_size
        xywh = boxes[wide]
        return (np.concatenate([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]], axis=1), scores[wide],
                points[wide].reshape(-1, 5, 2))


def decode(out, pw, ph, threshold):
    """YuNet's raw outputs on a pw x ph input -> the candidates scoring at least `threshold`: boxes (n, 4)
    as x, y, w, h, scores (n,), landmarks (n, 10); one candidate per grid cell of each stride, scored
    sqrt(class x objectness)."""
    boxes, scores, points = [], [], []
    for s in STRIDES:
        cls = np.clip(out[f"cls_{s}"][0, :, 0], 0, 1)
        obj = np.clip(out[f"obj_{s}"][0, :, 0], 0, 1)
        score = np.sqrt(cls * obj)
        cell = np.flatnonzero(score >= threshold)
        r, c = np.divmod(cell, pw // s)
        grid = np.stack([c, r], 1).astype(np.float32)
        bbox, kps = out[f"bbox_{s}"][0, cell], out[f"kps_{s}"][0, cell]
        centre, size = (grid + bbox[:, :2]) * s, np.exp(bbox[:, 2:]) * s
        boxes.append(np.concatenate([centre - size / 2, size], 1))
        scores.append(score[cell])
        points.append(((kps.reshape(-1, 5, 2) + grid[:, None, :]) * s).reshape(-1, 10))
    return tuple(np.concatenate(v).astype(np.float64) for v in (boxes, scores, points))
