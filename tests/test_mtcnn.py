"""maskdet.mtcnn: MTCNN's cascade run the fast way finds what facenet-pytorch's run finds."""
import cv2
import numpy as np
import torch
from facenet_pytorch import MTCNN

from maskdet.metrics import match_boxes
from maskdet.mtcnn import Cascade, pretrained_nets


def group_photo(portraits):
    """Both portraits at two sizes on a grey 960x540 frame: MTCNN finds four faces, 11-99 px wide."""
    frame = np.full((540, 960, 3), 120, np.uint8)
    for name, x, side in (("hopper", 20, 300), ("astronaut", 360, 280), ("hopper", 700, 90), ("astronaut", 820, 70)):
        frame[100:100 + side, x:x + side] = cv2.resize(portraits[name], (side, side), interpolation=cv2.INTER_AREA)
    return frame


def test_cascade_finds_the_faces_facenet_finds(portraits):
    frame = group_photo(portraits)
    ref_boxes, ref_probs = MTCNN(keep_all=True, device="cpu").detect(frame)
    boxes, probs, marks = Cascade(pretrained_nets()).detect(frame)
    assert len(ref_boxes) == 4 == len(boxes)
    pairs = match_boxes([tuple(b) for b in ref_boxes], [tuple(b) for b in boxes], 0.8)
    assert len(pairs) == 4
    assert max(abs(ref_probs[i] - probs[j]) for i, j in pairs) < 0.05
    inside = (marks[..., 0] > boxes[:, None, 0]) & (marks[..., 0] < boxes[:, None, 2]) \
        & (marks[..., 1] > boxes[:, None, 1]) & (marks[..., 1] < boxes[:, None, 3])
    assert inside.all()  # eyes, nose and mouth corners lie inside their face


def test_cascade_settings_and_empty_frames(portraits):
    frame = group_photo(portraits)
    nets = pretrained_nets()
    big = Cascade(nets, min_face_size=40).detect(frame)[0]
    widths = big[:, 2] - big[:, 0]
    assert len(big) < 4 and widths.min() > 20 and widths.max() > 90  # the 11 px face is not searched for
    assert len(Cascade(nets, thresholds=(0.6, 0.7, 1.0)).detect(frame)[0]) == 0  # nothing passes the last stage
    boxes, probs, marks = Cascade(nets).detect(np.full((200, 300, 3), 120, np.uint8))
    assert boxes.shape == (0, 4) and probs.shape == (0,) and marks.shape == (0, 5, 2)


def test_networks_are_channels_last():
    pnet, _, _ = pretrained_nets()
    assert pnet.conv1.weight.is_contiguous(memory_format=torch.channels_last)
