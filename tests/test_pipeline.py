"""The footage pipeline between detections: O-Net follows a moving face, drops what is not a face."""
import cv2
import numpy as np
import pytest

from maskdet.classifier import load_classifier
from maskdet.detect import FaceDetector
from maskdet.metrics import iou
from maskdet.pipeline import FacePipeline


@pytest.fixture(scope="module")
def moving_face(portraits):
    """16 frames of 640x360 corridor-grey with the Grace Hopper portrait sliding 7 px right per frame."""
    face = cv2.resize(portraits["hopper"], (150, 180), interpolation=cv2.INTER_AREA)
    frames = []
    for i in range(16):
        f = np.full((360, 640, 3), 90, np.uint8)
        x = 100 + 7 * i
        f[90:270, x:x + 150] = face
        frames.append(f)
    return frames


def test_refine_keeps_a_face_and_rejects_a_wall(moving_face):
    det = FaceDetector()
    face = det.detect(moving_face[0])[0]
    boxes, scores = det.refine(moving_face[0], [face.box, (500, 20, 560, 80)])
    assert iou(boxes[0], face.box) > 0.8 and scores[0] > 0.9
    assert scores[1] < 0.1                                               # plain wall: not a face


def test_tracked_boxes_follow_the_face(moving_face):
    clf = load_classifier("models/mask_classifier.pt")
    det = FaceDetector(clf.detector)
    pipe = FacePipeline(clf, detect_every=8, min_hits=1)
    for i, frame in enumerate(moving_face):
        reported = pipe.process(frame)
        truth = det.detect(frame)
        assert len(reported) == 1 == len(truth)
        assert iou(reported[0]["box"], truth[0].box) > 0.6, f"frame {i}"  # moved 7 px a frame, still on it
        assert reported[0]["track"] == 1
