"""Pieces of MTCNN (Zhang et al., 2016) that the detector shares: facenet-pytorch's pretrained O-Net
(which follows known faces, and which the verifier is finetuned from) in channels-last layout, its
input scaling, square boxes and non-maximum suppression."""
import numpy as np
import torch


def pretrained_onet():
    """facenet-pytorch's pretrained O-Net alone (follows faces that another backend found)."""
    from facenet_pytorch.models.mtcnn import ONet

    return channels_last(ONet())


def channels_last(net):
    """The network in channels-last layout: same output, max pooling 4-9x faster on CPU."""
    return net.eval().to(memory_format=torch.channels_last)


def to_input(images):
    """(n, h, w, 3) RGB uint8 -> the networks' normalised float input, channels-last without a copy."""
    x = images.astype(np.float32)
    x -= 127.5
    x *= 0.0078125
    return torch.from_numpy(x).permute(0, 3, 1, 2)


def square(boxes):
    """Square boxes around the same centres, side = the longer side (how MTCNN's later stages see a
    box); columns after the fourth are kept."""
    out = np.array(boxes, dtype=np.float64)
    wh = out[:, 2:4] - out[:, 0:2]
    side = wh.max(axis=1, keepdims=True)
    out[:, 0:2] += (wh - side) / 2
    out[:, 2:4] = out[:, 0:2] + side
    return out


def nms(boxes, scores, threshold):
    """Indices kept by non-maximum suppression (intersection over union), best first."""
    from torchvision.ops import nms

    if not len(boxes):
        return np.zeros(0, int)
    return nms(torch.as_tensor(boxes, dtype=torch.float32), torch.as_tensor(scores, dtype=torch.float32),
               threshold).numpy()
