"""Detector backends: YuNet and MTCNN find hand-annotated faces where they were pasted, the settings pick the
backend, the settings survive a model file, and the tracker follows a face whichever backend found it."""
import cv2
import numpy as np
import pytest

from conftest import placed_box
from maskdet import InputError
from maskdet.detect import DetectorSettings, Face, FaceDetector, FacenetMTCNN, face_search
from maskdet.metrics import iou
from maskdet.yunet import WEIGHTS, YuNet

YUNET = DetectorSettings(backend="yunet", thresholds=(0.6,), verify=False)


def scene(portraits, placements, size=(640, 480)):
    """A grey frame with portraits pasted as [(name, (w, h), (x, y))]; the hand-annotated truth boxes."""
    frame = np.full((size[1], size[0], 3), 110, np.uint8)
    for name, wh, (x, y) in placements:
        frame[y:y + wh[1], x:x + wh[0]] = cv2.resize(portraits[name], wh, interpolation=cv2.INTER_AREA)
    return frame, [placed_box(name, wh, at) for name, wh, at in placements]


def test_yunet_finds_both_portraits_where_they_were_pasted(portraits):
    frame, truth = scene(portraits, [("hopper", (160, 188), (40, 60)), ("astronaut", (300, 300), (300, 120))])
    faces = FaceDetector(YUNET).detect(frame)
    assert len(faces) == 2 and all(isinstance(f, Face) for f in faces)
    assert [f.box[0] for f in faces] == sorted(f.box[0] for f in faces)         # left to right, like MTCNN's
    for face, known in zip(faces, truth):
        assert iou(face.box, known) > 0.5 and 0.6 <= face.score <= 1.0
        x1, y1, x2, y2 = face.box
        lm = face.landmarks
        assert lm.shape == (5, 2) and ((lm >= (x1, y1)) & (lm <= (x2, y2))).all()
        assert lm[0, 0] < lm[1, 0] and lm[3, 0] < lm[4, 0] and lm[0, 1] < lm[2, 1] < lm[3, 1]  # MTCNN's order


def test_yunet_gives_the_faces_opencvs_facedetectoryn_gives(portraits):
    """The ONNX Runtime run and its decoding against OpenCV's own YuNet runner on the same weights, on
    hand-made frames with faces of 23 to 300 px (many candidates at the loose threshold streams search
    with): the same faces, boxes, landmarks and scores."""
    frames = [scene(portraits, [("hopper", (160, 188), (40, 60)), ("astronaut", (300, 300), (300, 120))])[0],
              scene(portraits, [("hopper", (64, 75), (200, 100)), ("astronaut", (40, 40), (20, 20))], size=(400, 300))[0]]
    for frame, threshold in zip(frames, (0.1, 0.1)):
        h, w = frame.shape[:2]
        ref = cv2.FaceDetectorYN.create(str(WEIGHTS), "", (w, h), threshold, 0.3, 5000)
        _, want = ref.detect(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
        boxes, scores, points = YuNet().detect(frame, (threshold,))
        order = np.argsort(want[:, 0])
        assert len(want) >= 2 and len(boxes) == len(want)
        want, got = want[order], np.argsort(boxes[:, 0])
        assert np.allclose(boxes[got, :2], want[:, :2], atol=0.01) and np.allclose(boxes[got, 2:] - boxes[got, :2], want[:, 2:4], atol=0.01)
        assert np.allclose(points[got].reshape(-1, 10), want[:, 4:14], atol=0.01)
        assert np.allclose(scores[got], want[:, 14], atol=1e-4)


def test_yunet_sees_nothing_on_a_wall_and_upscale_maps_boxes_back(portraits):
    wall = np.full((240, 320, 3), 110, np.uint8)
    assert FaceDetector(YUNET).detect(wall) == []
    frame, truth = scene(portraits, [("hopper", (64, 75), (200, 100))], size=(400, 300))  # a face of ~23 px
    big = FaceDetector(DetectorSettings(backend="yunet", thresholds=(0.6,), upscale=2.0, verify=False)).detect(frame)
    assert len(big) == 1 and iou(big[0].box, truth[0]) > 0.4                # in the frame's pixels, not the enlarged's


def test_yunet_threshold_is_the_last_one_and_the_verifier_rescores_its_faces(portraits):
    from maskdet.onet import new_onet

    frame, truth = scene(portraits, [("hopper", (160, 188), (40, 60))])
    assert FaceDetector(DetectorSettings(backend="yunet", thresholds=(0.0, 0.0, 0.999), verify=False)).detect(frame) == []
    found = FaceDetector(DetectorSettings(backend="yunet", thresholds=(0.3,), min_score=0.5), verifier=new_onet()).detect(frame)
    assert len(found) == 1 and found[0].proposal is not None and iou(found[0].box, truth[0]) > 0.5


def test_the_settings_pick_the_backend():
    assert isinstance(face_search(YUNET), YuNet)
    assert isinstance(face_search(DetectorSettings()), FacenetMTCNN)
    with pytest.raises(InputError, match="backend 'retina'"):
        DetectorSettings.from_dict({"backend": "retina"})


def test_settings_round_trip_through_a_model_file_dict():
    s = DetectorSettings(backend="yunet", upscale=2.0, thresholds=(0.4,), min_score=0.7, count_score=0.9, mask_ssd=0.8,
                         mask_ssd_side=960)
    assert DetectorSettings.from_dict(s.to_dict()) == s
    old = {"min_face_size": 5, "thresholds": [0.3, 0.05, 0.05], "verify": True}   # a model file from before backends
    assert DetectorSettings.from_dict(old).backend == "mtcnn" and DetectorSettings.from_dict(old).upscale == 1.0


def test_the_tracker_follows_a_face_that_yunet_found(portraits):
    from maskdet.classifier import load_classifier
    from maskdet.pipeline import FacePipeline

    frames, truth = [], []
    for i in range(10):
        f, t = scene(portraits, [("hopper", (150, 180), (100 + 7 * i, 90))], size=(640, 360))
        frames.append(f)
        truth += t
    pipe = FacePipeline(load_classifier("models/mask_classifier.pt"), settings=YUNET, detect_every=8)
    done = [d for i, frame in enumerate(frames) for d in pipe.push(frame, i)] + pipe.flush()
    assert [i for i, _ in done] == list(range(10))
    for (i, faces), known in zip(done, truth):
        assert len(faces) == 1 and faces[0]["track"] == 1 and iou(faces[0]["box"], known) > 0.5, f"frame {i}"


def test_detectors_benchmark_on_two_hand_made_scenes(portraits, tmp_path):
    """benchmarks/detectors.py on a tiny VOC folder: a row per variant and cut-off, each with the numbers."""
    import json

    from conftest import load_script, save_rgb

    for k, (name, wh, at) in enumerate([("hopper", (128, 150), (40, 30)), ("astronaut", (200, 200), (150, 40))]):
        frame, (box,) = scene(portraits, [(name, wh, at)], size=(400, 300))
        save_rgb(tmp_path / "images" / f"s{k}.jpg", frame)
        obj = "".join(f"<{t}>{v:.0f}</{t}>" for t, v in zip(("xmin", "ymin", "xmax", "ymax"), box))
        (tmp_path / "annotations").mkdir(exist_ok=True)
        (tmp_path / "annotations" / f"s{k}.xml").write_text(
            f"<annotation><filename>s{k}.jpg</filename><size><width>400</width><height>300</height></size>"
            f"<object><name>without_mask</name><bndbox>{obj}</bndbox></object></annotation>")
    out = tmp_path / "r.json"
    assert load_script("benchmarks/detectors.py").main(
        ["--data_dir", str(tmp_path), "--split", "all", "--variants", "mtcnn", "yunet", "--min_scores", "0.5",
         "--count_scores", "0.9", "--json", str(out)]) == 0
    r = json.loads(out.read_text())
    assert r["scenes"] == 2 and [row["variant"] for row in r["rows"]] == ["mtcnn", "yunet"]
    yunet = r["rows"][1]
    assert yunet["settings"]["backend"] == "yunet" and yunet["recall_ge32"] == 1.0 and yunet["precision"] == 1.0
    assert yunet["ms"] > 0 and set(r["chosen"]) >= {"mtcnn", "yunet"}


@pytest.mark.parametrize("size, settings, searched", [
    ((400, 300), {"upscale": 2.0, "max_side": 2560}, (800, 600)),      # a small scene is enlarged 2x
    ((1280, 720), {"upscale": 2.0, "max_side": 2560}, (2560, 1440)),   # 720p: 2x still fits
    ((1920, 1080), {"upscale": 2.0, "max_side": 2560}, (2560, 1440)),  # 1080p: the longer side is capped
    ((1600, 1200), {"max_side": 640}, (640, 480)),                     # without upscale: max_side shrinks
    ((1600, 1200), {}, (1600, 1200))])
def test_the_searched_image_size(size, settings, searched):
    """upscale enlarges, max_side caps the longer side of what the search sees: every frame size gets the
    same rule, still image or stream."""
    seen = []

    class Spy:
        def detect(self, image, thresholds):
            seen.append(image.shape[1::-1])
            return np.zeros((0, 4)), np.zeros(0), np.zeros((0, 5, 2))

    det = FaceDetector(DetectorSettings(backend="yunet", verify=False, **settings))
    det.search = Spy()
    assert det.detect(np.zeros((size[1], size[0], 3), np.uint8)) == [] and seen == [searched]


def test_mtcnn_finds_both_portraits_where_they_were_pasted(portraits):
    """The seed's MTCNN at its defaults: both faces, where they were pasted, eyes to mouth inside each
    box; nothing on a wall; O-Net (the follower) runs channels-last."""
    import torch

    from maskdet.mtcnn import pretrained_onet

    frame, truth = scene(portraits, [("hopper", (160, 188), (40, 60)), ("astronaut", (300, 300), (300, 120))])
    faces = FaceDetector(DetectorSettings(verify=False)).detect(frame)
    assert len(faces) == 2 and [f.box[0] for f in faces] == sorted(f.box[0] for f in faces)
    for face, known in zip(faces, truth):
        assert iou(face.box, known) > 0.5 and face.score >= 0.7
        lm = face.landmarks
        assert ((lm >= face.box[:2]) & (lm <= face.box[2:])).all()
    assert FaceDetector(DetectorSettings(verify=False)).detect(np.full((200, 300, 3), 120, np.uint8)) == []
    assert pretrained_onet().conv1.weight.is_contiguous(memory_format=torch.channels_last)


@pytest.mark.parametrize("threads", [1, 2])
def test_parallel_forward_gives_each_networks_own_output(portraits, threads):
    """Batches split over threads (O-Net's tuple, the classifier's tensor) come back as the networks
    give them on the whole batch at once, in order, for any batch size."""
    import torch

    from maskdet.classifier import Net
    from maskdet.mtcnn import pretrained_onet, to_input
    from maskdet.parallel import forward

    torch.manual_seed(0)
    onet, clf = pretrained_onet(), Net().eval()
    crops = np.stack([cv2.resize(portraits["hopper"][k:k + 200, k:k + 200], (48, 48)) for k in range(0, 70, 10)])
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        for n in (1, 2, 3, 7):
            x = to_input(crops[:n])
            with torch.no_grad():
                whole_onet, whole_clf = onet(x), clf(x)
            split_onet, = forward([onet], x)
            split_clf, again = forward([clf, clf], x)
            for a, b in zip(split_onet, whole_onet):
                assert a.shape == b.shape and torch.allclose(a, b, atol=1e-5)
            assert torch.allclose(split_clf, whole_clf, atol=1e-5) and torch.equal(split_clf, again)
            assert not split_clf.requires_grad
    finally:
        torch.set_num_threads(before)


def test_the_verifier_scores_a_proposal_where_it_re_places_it(portraits, monkeypatch):
    """A proposal framed off the face (shifted up by 0.4 of the face, as YuNet frames masked faces)
    is moved onto the hand-annotated face, and its score is the geometric mean of the search's
    probability and the verifier's surer pass (not of all three); a proposal scoring below
    min_score squared cannot reach min_score and is dropped unverified."""
    import maskdet.detect as detect
    from maskdet.onet import new_onet

    frame, (truth,) = scene(portraits, [("hopper", (160, 188), (40, 60))])
    x1, y1, x2, y2 = truth
    off = (x1, y1 - 0.4 * (y2 - y1), x2, y2 - 0.4 * (y2 - y1))
    det = FaceDetector(DetectorSettings(backend="yunet", min_score=0.45), verifier=new_onet())
    (face,) = det._verify(frame, [Face(off, 0.9)])
    moved, p1 = detect.onet_boxes(det.verifier, frame, [off], mirror=True)
    _, p2 = detect.onet_boxes(det.verifier, frame, moved, mirror=True)
    assert iou(off, truth) < 0.5 < iou(face.box, truth) and face.proposal == off
    assert face.score == pytest.approx(np.sqrt(0.9 * max(p1[0], p2[0])))
    assert abs(face.score - np.cbrt(0.9 * p1[0] * p2[0])) > 0.01              # not the mean of all three
    crops = []
    monkeypatch.setattr(detect, "onet_boxes", lambda net, rgb, boxes, mirror=False: crops.append(len(boxes)))
    assert det._verify(frame, [Face(truth, 0.2)]) == [] and crops == []     # 0.2 < 0.45 ** 2: never verified


MASK_SSD = DetectorSettings(backend="yunet", thresholds=(0.999,), verify=False, mask_ssd=0.5)  # YuNet finds nothing


def test_aizoo_mask_detector_finds_both_portraits_where_they_were_pasted(portraits):
    from maskdet.aizoo import MaskSSD

    frame, truth = scene(portraits, [("hopper", (160, 188), (40, 60)), ("astronaut", (300, 300), (300, 120))])
    boxes, scores = MaskSSD().detect(frame, 0.5)
    assert len(boxes) == 2 and (scores >= 0.5).all() and (scores <= 1).all()
    for box, known in zip(sorted(boxes.tolist()), truth):
        assert iou(box, known) > 0.4
    assert len(MaskSSD().detect(np.full((240, 320, 3), 110, np.uint8), 0.5)[0]) == 0


@pytest.mark.parametrize("w, h", [(360, 360), (400, 296), (1280, 720), (203, 161)])
def test_aizoo_anchors_are_the_networks_grid(w, h):
    """One anchor per output row of the network at any input size, and at the 360x360 input it was trained
    on, the authors' feature maps (45, 23, 12, 6, 4 cells a side; their pytorch_infer.py)."""
    from maskdet.aizoo import WEIGHTS, anchors, feature_sizes
    from maskdet.yunet import session

    net = session(WEIGHTS)
    loc, conf = net.run(None, {net.get_inputs()[0].name: np.zeros((1, 3, h, w), np.float32)})
    assert loc.shape[1] == conf.shape[1] == len(anchors(w, h))
    assert feature_sizes(360) == [45, 23, 12, 6, 4]


def test_the_mask_detector_adds_the_faces_the_search_kept_none_of(portraits):
    """Where the search keeps nothing, the mask detector's faces come back as faces (its box as the
    proposal); where the search keeps a face, the mask detector adds no second one."""
    frame, truth = scene(portraits, [("hopper", (160, 188), (40, 60)), ("astronaut", (300, 300), (300, 120))])
    added = FaceDetector(MASK_SSD).detect(frame)
    assert len(added) == 2 and all(f.landmarks is None and f.proposal is None for f in added)   # no verifier
    assert all(iou(f.box, known) > 0.4 and f.score >= 0.5 for f, known in zip(added, truth))
    widths = [b[2] - b[0] for b in truth]        # min_face_size (pixels of the search's image, here the frame's)
    narrow = lambda size: DetectorSettings(**{**MASK_SSD.to_dict(), "min_face_size": size})   # noqa: E731
    assert len(FaceDetector(narrow(min(widths) / 2)).detect(frame)) == 2
    assert FaceDetector(narrow(max(widths) * 2)).detect(frame) == []
    both = FaceDetector(DetectorSettings(backend="yunet", thresholds=(0.6,), verify=False, mask_ssd=0.5)).detect(frame)
    assert len(both) == 2 and all(f.landmarks is not None for f in both)   # YuNet's faces, none added
    assert FaceDetector(MASK_SSD).detect(np.full((240, 320, 3), 110, np.uint8)) == []


def test_the_mask_detector_sees_the_frame_shrunk_to_its_side(portraits):
    """A 1280x720 frame is searched at 640x360 when mask_ssd_side is 640, and its faces come back in the
    frame's pixels."""
    frame, (truth,) = scene(portraits, [("astronaut", (400, 400), (500, 200))], size=(1280, 720))
    det = FaceDetector(DetectorSettings(**{**MASK_SSD.to_dict(), "mask_ssd_side": 640}))
    seen, detect = [], det.mask_ssd.detect
    det.mask_ssd.detect = lambda image, threshold: seen.append(image.shape[1::-1]) or detect(image, threshold)
    (face,) = det.detect(frame)
    assert seen == [(640, 360)] and iou(face.box, truth) > 0.4


def test_the_verifier_places_the_mask_detectors_faces(portraits, monkeypatch):
    """With a verifier, each added face is where its two passes put it, its own box kept as the proposal;
    two boxes the verifier places on one face give one face, the mask detector's surer."""
    from maskdet.classifier import load_classifier

    frame, truth = scene(portraits, [("hopper", (160, 188), (40, 60)), ("astronaut", (300, 300), (300, 120))])
    det = FaceDetector(DetectorSettings(**{**MASK_SSD.to_dict(), "verify": True}),
                       load_classifier("models/mask_classifier.pt").verifier)
    faces = det.detect(frame)
    assert len(faces) == 2 and all(f.proposal is not None and f.proposal != f.box for f in faces)
    assert all(iou(f.box, known) > 0.5 for f, known in zip(faces, truth))
    monkeypatch.setattr(det, "_place", lambda rgb, boxes: (np.array([truth[0]] * len(boxes)), None, None))
    (one,) = det.detect(frame)
    assert one.box == truth[0] and one.score == max(f.score for f in faces)
