"""Metrics with known answers: confusion, precision/recall, box matching, announcement accuracy."""
import numpy as np


def confusion(truth, pred, classes):
    """Rows: true class; columns: predicted class, plus a last column for 'no face found' (pred None)."""
    idx = {c: i for i, c in enumerate(classes)}
    m = np.zeros((len(classes), len(classes) + 1), dtype=int)
    for t, p in zip(truth, pred):
        m[idx[t], idx[p] if p is not None else len(classes)] += 1
    return m


def per_class(m, classes):
    """Precision, recall and support per class from a confusion matrix (missed faces count as wrong)."""
    out = {}
    for i, c in enumerate(classes):
        support, predicted = int(m[i].sum()), int(m[:, i].sum())
        out[c] = {"precision": _ratio(m[i, i], predicted), "recall": _ratio(m[i, i], support), "support": support}
    return out


def _ratio(a, b):
    return float(a) / b if b else 0.0


def iou(a, b):
    """Intersection over union of two (x1, y1, x2, y2) boxes."""
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    if w <= 0 or h <= 0:
        return 0.0
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def match_boxes(truth, pred, threshold=0.4):
    """One-to-one greedy matching by IoU (best pairs first); returns [(truth_index, pred_index)]."""
    pairs = sorted(((iou(t, p), i, j) for i, t in enumerate(truth) for j, p in enumerate(pred)), reverse=True)
    used_t, used_p, matches = set(), set(), []
    for v, i, j in pairs:
        if v < threshold:
            break
        if i not in used_t and j not in used_p:
            used_t.add(i)
            used_p.add(j)
            matches.append((i, j))
    return sorted(matches)


def size_bin(box):
    """'small' (<32 px longer side), 'medium' (32-64) or 'large' (>=64)."""
    side = max(box[2] - box[0], box[3] - box[1])
    return "small" if side < 32 else "medium" if side < 64 else "large"


def binary_scores(truth, pred):
    """Accuracy and balanced accuracy of boolean decisions (balanced: mean of both recalls)."""
    truth, pred = np.asarray(truth, bool), np.asarray(pred, bool)
    if len(truth) == 0:
        return {"accuracy": 0.0, "balanced_accuracy": 0.0, "count": 0, "positives": 0, "false_alarms": 0, "missed_alarms": 0}
    recalls = [float((pred[truth == v] == v).mean()) for v in (True, False) if (truth == v).any()]
    return {"accuracy": float((truth == pred).mean()), "balanced_accuracy": float(np.mean(recalls)),
            "count": int(len(truth)), "positives": int(truth.sum()),
            "false_alarms": int((pred & ~truth).sum()), "missed_alarms": int((truth & ~pred).sum())}
