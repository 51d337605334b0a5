"""MTCNN's cascade (Zhang et al., 2016) with facenet-pytorch's pretrained P-, R- and O-Net (the weights
ship inside the wheel), written for a CPU: the same stages, thresholds and box arithmetic as
facenet-pytorch's `MTCNN.detect`, but channels-last tensors and images and crops resized with
OpenCV: a search costs about half as much (walkers, 1080p: 357 -> 190 ms). Crops are resized from
uint8 rather than float pixels, so scores differ slightly near the thresholds: on the walkers frames
both found 79 faces, 76 of them the same. It is the MTCNN backend for still images and streams alike."""
import cv2
import numpy as np
import torch

PNET_STRIDE, PNET_CELL = 2, 12  # P-Net sees 12x12 windows every 2 pixels of a pyramid level
NMS_LEVEL, NMS_STAGE = 0.5, 0.7  # overlap that makes two candidates one: within a pyramid level, between stages


def pretrained_nets():
    """facenet-pytorch's pretrained (P-Net, R-Net, O-Net), in evaluation mode and channels-last."""
    from facenet_pytorch.models.mtcnn import ONet, PNet, RNet

    return tuple(channels_last(net()) for net in (PNet, RNet, ONet))


def pretrained_onet():
    """facenet-pytorch's pretrained O-Net alone (follows faces that another backend found)."""
    from facenet_pytorch.models.mtcnn import ONet

    return channels_last(ONet())


def channels_last(net):
    """The network in channels-last layout: same output, max pooling 4-9x faster on CPU."""
    return net.eval().to(memory_format=torch.channels_last)


class Cascade:
    """detect(rgb) -> (boxes (n, 4) x1 y1 x2 y2, probabilities (n,), landmarks (n, 5, 2)), in pixels of `rgb`."""

    def __init__(self, nets, min_face_size=20, thresholds=(0.6, 0.7, 0.7), factor=0.709):
        self.pnet, self.rnet, self.onet = nets
        self.min_face_size, self.thresholds, self.factor = min_face_size, tuple(thresholds), factor

    @torch.no_grad()
    def detect(self, rgb, thresholds=None):
        """All faces of one RGB uint8 image at least `min_face_size` wide."""
        t = thresholds or self.thresholds
        boxes = self._propose(rgb, t[0])
        boxes = self._refine(rgb, square(boxes), t[1])
        return self._finish(rgb, square(boxes), t[2])

    def scales(self, h, w):
        """Pyramid levels: a level at scale s finds faces about 12/s pixels wide."""
        s, out = PNET_CELL / self.min_face_size, []
        while min(h, w) * s >= PNET_CELL:
            out.append(s)
            s *= self.factor
        return out

    def _propose(self, rgb, threshold):
        """P-Net over the pyramid: candidate boxes (n, 5: x1 y1 x2 y2 score), regressed."""
        h, w = rgb.shape[:2]
        found, level = [], rgb
        for s in self.scales(h, w):  # each level from the one before (from the frame: 56 ms of a 1080p search)
            level = cv2.resize(level, (int(w * s + 1), int(h * s + 1)), interpolation=cv2.INTER_AREA)
            reg, prob = self.pnet(to_input(level[None]))
            cand = _windows(reg[0].numpy(), prob[0, 1].numpy(), s, threshold)
            found.append(cand[nms(cand[:, :4], cand[:, 4], NMS_LEVEL)])
        boxes = np.concatenate(found) if found else np.zeros((0, 9))
        boxes = boxes[nms(boxes[:, :4], boxes[:, 4], NMS_STAGE)]
        side = np.stack([boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]] * 2, axis=1)
        return np.concatenate([boxes[:, :4] + boxes[:, 5:9] * side, boxes[:, 4:5]], axis=1)

    def _refine(self, rgb, boxes, threshold):
        """R-Net on 24x24 crops: kept boxes (n, 5), regressed."""
        boxes, crops = _crops(rgb, boxes, 24)
        if not len(boxes):
            return boxes
        reg, prob = self.rnet(crops)
        keep = (prob[:, 1] > threshold).numpy()
        boxes = np.concatenate([boxes[keep, :4], prob[:, 1].numpy()[keep, None]], axis=1)
        reg = reg.numpy()[keep]
        pick = nms(boxes[:, :4], boxes[:, 4], NMS_STAGE)
        return _regress(boxes[pick], reg[pick])

    def _finish(self, rgb, boxes, threshold):
        """O-Net on 48x48 crops: final boxes, probabilities and landmarks."""
        boxes, crops = _crops(rgb, boxes, 48)
        if not len(boxes):
            return np.zeros((0, 4)), np.zeros(0), np.zeros((0, 5, 2))
        reg, marks, prob = self.onet(crops)
        keep = (prob[:, 1] > threshold).numpy()
        boxes = np.concatenate([boxes[keep, :4], prob[:, 1].numpy()[keep, None]], axis=1)
        reg, marks = reg.numpy()[keep], marks.numpy()[keep].astype(np.float64)
        size = boxes[:, 2:4] - boxes[:, 0:2] + 1
        points = np.stack([marks[:, :5], marks[:, 5:]], axis=2) * size[:, None] + boxes[:, None, 0:2] - 1
        boxes = _regress(boxes, reg)
        pick = _nms_min(boxes[:, :4], boxes[:, 4], NMS_STAGE)
        return boxes[pick, :4], boxes[pick, 4], points[pick]


def to_input(images):
    """(n, h, w, 3) RGB uint8 -> the networks' normalised float input, channels-last without a copy."""
    x = images.astype(np.float32)
    x -= 127.5
    x *= 0.0078125
    return torch.from_numpy(x).permute(0, 3, 1, 2)


def _windows(reg, prob, scale, threshold):
    """P-Net windows scoring at least `threshold` on one level: (n, 9: x1 y1 x2 y2 score, regression)."""
    ys, xs = np.nonzero(prob >= threshold)
    corner = np.stack([xs, ys], axis=1).astype(np.float64) * PNET_STRIDE
    q1, q2 = np.floor((corner + 1) / scale), np.floor((corner + PNET_CELL) / scale)
    return np.concatenate([q1, q2, prob[ys, xs, None], reg[:, ys, xs].T], axis=1)


def _regress(boxes, reg):
    """Apply a stage's box regression (offsets in units of the box size, as the networks were trained)."""
    size = np.tile(boxes[:, 2:4] - boxes[:, 0:2] + 1, 2)
    return np.concatenate([boxes[:, :4] + reg * size, boxes[:, 4:]], axis=1)


def square(boxes):
    """Square boxes around the same centres, side = the longer side (how MTCNN's later stages see a
    box); columns after the fourth are kept."""
    out = np.array(boxes, dtype=np.float64)
    wh = out[:, 2:4] - out[:, 0:2]
    side = wh.max(axis=1, keepdims=True)
    out[:, 0:2] += (wh - side) / 2
    out[:, 2:4] = out[:, 0:2] + side
    return out


def _crops(rgb, boxes, size):
    """Crops of `boxes` (the part inside the image, as integer pixels) resized to size x size:
    (the boxes that had a crop, network input)."""
    h, w = rgb.shape[:2]
    b = np.trunc(boxes[:, :4]).astype(int)
    x1, y1 = np.maximum(b[:, 0], 1) - 1, np.maximum(b[:, 1], 1) - 1
    x2, y2 = np.minimum(b[:, 2], w), np.minimum(b[:, 3], h)
    ok = (x2 > x1) & (y2 > y1)
    crops = [cv2.resize(rgb[y1[k]:y2[k], x1[k]:x2[k]], (size, size), interpolation=cv2.INTER_AREA)
             for k in np.flatnonzero(ok)]
    return boxes[ok], (to_input(np.stack(crops)) if crops else None)


def nms(boxes, scores, threshold):
    """Indices kept by non-maximum suppression (intersection over union), best first."""
    from torchvision.ops import nms

    if not len(boxes):
        return np.zeros(0, int)
    return nms(torch.as_tensor(boxes, dtype=torch.float32), torch.as_tensor(scores, dtype=torch.float32),
               threshold).numpy()


def _nms_min(boxes, scores, threshold):
    """Non-maximum suppression where overlap is the intersection over the smaller box (MTCNN's last step)."""
    area = (boxes[:, 2] - boxes[:, 0] + 1) * (boxes[:, 3] - boxes[:, 1] + 1)
    order, keep = list(np.argsort(scores)[::-1]), []
    while order:
        i, rest = order[0], np.array(order[1:], dtype=int)
        keep.append(i)
        iw = np.maximum(0, np.minimum(boxes[i, 2], boxes[rest, 2]) - np.maximum(boxes[i, 0], boxes[rest, 0]) + 1)
        ih = np.maximum(0, np.minimum(boxes[i, 3], boxes[rest, 3]) - np.maximum(boxes[i, 1], boxes[rest, 1]) + 1)
        order = [j for j, o in zip(rest, iw * ih / np.minimum(area[i], area[rest])) if o <= threshold]
    return np.array(keep, dtype=int)
