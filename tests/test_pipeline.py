"""The footage pipeline between detections: O-Net follows a moving face, drops what is not a face."""
import cv2
import numpy as np
import pytest
import torch

from conftest import SHARED, needs_shared, placed_box
from maskdet import CLASSES
from maskdet.classifier import load_classifier
from maskdet.detect import FaceDetector
from maskdet.metrics import iou
from maskdet.pipeline import FacePipeline


def truth(i):
    """The hand-annotated face in frame `i` of moving_face (the portrait at x = 100 + 7 i, y = 90)."""
    return placed_box("hopper", (150, 180), (100 + 7 * i, 90))


def lag(box, known):
    """How far (px) a box's centre is from the known face's along the motion (x). MTCNN's box sits a few
    px higher than the hand annotation (it takes in the forehead), so y is left to the IoU."""
    return abs((box[0] + box[2]) - (known[0] + known[2])) / 2


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


def test_verifier_rescores_and_the_classifier_reads_both_framings(moving_face):
    """With a verifier, the search only proposes: the verifier decides, and the classifier averages its
    reading of the search's box and of the verifier's."""
    from maskdet.detect import DetectorSettings
    from maskdet.onet import new_onet

    settings = DetectorSettings(min_score=0.5)
    found = FaceDetector(settings, verifier=new_onet()).detect(moving_face[0])
    assert len(found) == 1 and found[0].proposal is not None and iou(found[0].proposal, found[0].box) < 1
    clf = load_classifier("models/mask_classifier.pt")
    both = clf.predict_faces(moving_face[0], found)[2][0]
    one, other = (clf.predict_boxes(moving_face[0], [b])[2][0] for b in (found[0].box, found[0].proposal))
    assert np.allclose(both, (one + other) / 2) and not np.allclose(one, other)
    assert 0.5 <= found[0].score <= 1.0
    sceptic = new_onet()
    with torch.no_grad():
        sceptic.dense6_1.bias.copy_(torch.tensor([20.0, -20.0]))   # calls everything background
    assert FaceDetector(settings, verifier=sceptic).detect(moving_face[0]) == []
    assert len(FaceDetector(DetectorSettings(verify=False), verifier=sceptic).detect(moving_face[0])) == 1  # switched off
    assert FaceDetector(settings).detect(moving_face[0])[0].proposal is None  # no verifier: nothing moved


def run(pipe, frames):
    """[faces] per frame, pushed one by one and flushed at the end; checks every frame comes back once, in order."""
    done = [d for i, frame in enumerate(frames) for d in pipe.push(frame, i)] + pipe.flush()
    assert [i for i, _ in done] == list(range(len(frames)))
    return [faces for _, faces in done]


@pytest.mark.parametrize("follow_every", [1, 2])
def test_tracked_boxes_follow_the_face(moving_face, follow_every):
    """Followed on every frame, or (a live stream that is behind) on every other frame, the face placed
    on the frames between on a straight line: every frame's box is on the pasted portrait."""
    pipe = FacePipeline(load_classifier("models/mask_classifier.pt"), detect_every=8)
    pipe.follow_every = follow_every
    for i, reported in enumerate(run(pipe, moving_face)):
        assert len(reported) == 1 and reported[0]["track"] == 1
        box = reported[0]["box"]
        assert iou(box, truth(i)) > 0.6 and lag(box, truth(i)) < 5, f"frame {i}"  # moved 7 px a frame, still on it


def test_frames_wait_for_the_next_search(moving_face):
    """Frames come back at search passes: the first at once, the next seven with the 9th frame's pass."""
    pipe = FacePipeline(load_classifier("models/mask_classifier.pt"), detect_every=8)
    returned = [[i for i, _ in pipe.push(frame, n)] for n, frame in enumerate(moving_face[:10])]
    assert returned == [[0], [], [], [], [], [], [], [], [1, 2, 3, 4, 5, 6, 7, 8], []]
    assert [i for i, _ in pipe.flush()] == [9] and pipe.flush() == []


def test_a_live_streams_frames_wait_no_longer_than_its_hold(moving_face):
    """Searching every 12th frame with a hold of 4 (a paced live stream): each frame comes back 4 frames
    later at most, in order and once. The face entering at frame 3 is found by the search at frame 12
    and followed back through the frames still waiting (8 to 11), not into those already final."""
    frames = [np.full_like(moving_face[0], 90)] * 3 + moving_face[3:16]
    pipe = FacePipeline(load_classifier("models/mask_classifier.pt"), detect_every=12)
    pipe.hold = 4
    returned = [[i for i, _ in pipe.push(frame, n)] for n, frame in enumerate(frames)]
    assert returned == [[0], [], [], [], [], [1], [2], [3], [4], [5], [6], [7], [8, 9, 10, 11, 12], [], [], []]
    reported = dict(pipe.flush())
    assert sorted(reported) == [13, 14, 15]
    pipe = FacePipeline(load_classifier("models/mask_classifier.pt"), detect_every=12)
    pipe.hold = 4
    faces = [f for n, frame in enumerate(frames) for f in pipe.push(frame, n)] + pipe.flush()
    assert [n for n, shown in faces if shown] == list(range(8, 16))
    for n, shown in faces[8:]:
        assert iou(shown[0]["box"], truth(n)) > 0.6, f"frame {n}"


@pytest.mark.parametrize("follow_every", [1, 2])
def test_a_face_found_late_is_shown_back_to_where_it_appeared(moving_face, follow_every):
    """The face enters at frame 3; the search at frame 8 finds it and it is followed back to frame 3 (on
    every frame, or on every other one and placed in between)."""
    blank = [np.full_like(moving_face[0], 90)] * 3
    frames = blank + moving_face[3:10]
    clf = load_classifier("models/mask_classifier.pt")
    pipe = FacePipeline(clf, detect_every=8)
    pipe.follow_every = follow_every
    reported = run(pipe, frames)
    assert [len(faces) for faces in reported] == [0, 0, 0, 1, 1, 1, 1, 1, 1, 1]
    assert len({f["track"] for faces in reported for f in faces}) == 1
    for i in range(3, 10):
        box = reported[i][0]["box"]
        assert iou(box, truth(i)) > 0.6 and lag(box, truth(i)) < 5, f"frame {i}"


def noisy_frames(portraits, step, n=12, seed=0):
    """`n` frames of a 48x56 Grace Hopper portrait on grey, moved `step` px right a frame, each with its own
    sensor noise (Gaussian, sigma 2 levels): (frames, the hand-annotated face per frame)."""
    rng = np.random.default_rng(seed)
    face = cv2.resize(portraits["hopper"], (48, 56), interpolation=cv2.INTER_AREA).astype(np.float32)
    frames, known = [], []
    for i in range(n):
        f = np.full((360, 640, 3), 90, np.float32)
        f[150:206, 300 + step * i:348 + step * i] = face
        frames.append(np.clip(f + rng.normal(0, 2, f.shape), 0, 255).astype(np.uint8))
        known.append(placed_box("hopper", (48, 56), (300 + step * i, 150)))
    return frames, known


def test_a_still_face_stays_where_the_search_placed_it(portraits):
    """A face that does not move keeps the search's box on every frame until the next search, however
    the noise changes the pixels (re-fitted on each frame, its box wandered a pixel or two a frame),
    and that box is on the pasted face; a face moving 2 px a frame is followed all the same."""
    clf = load_classifier("models/mask_classifier.pt")
    frames, known = noisy_frames(portraits, 0)
    reported = run(FacePipeline(clf, detect_every=12), frames)
    assert all(len(faces) == 1 for faces in reported)
    assert all(faces[0]["box"] == reported[0][0]["box"] for faces in reported)
    assert all(iou(faces[0]["box"], known[i]) > 0.5 for i, faces in enumerate(reported))
    frames, known = noisy_frames(portraits, 2)
    reported = run(FacePipeline(clf, detect_every=12), frames)
    assert all(len(faces) == 1 for faces in reported)
    for i, faces in enumerate(reported):                          # moved 22 px in all, followed all along
        assert iou(faces[0]["box"], known[i]) > 0.5 and lag(faces[0]["box"], known[i]) < 4, f"frame {i}"


def test_a_still_face_that_leaves_is_let_go(portraits):
    """The still face is replaced by the wall at frame 6: its box is not kept there (the picture in
    it changed, so it is re-fitted, and the follower finds no face)."""
    frames, _ = noisy_frames(portraits, 0)
    wall = np.full_like(frames[0], 90)
    reported = run(FacePipeline(load_classifier("models/mask_classifier.pt"), detect_every=12), frames[:6] + [wall] * 6)
    assert [len(faces) for faces in reported] == [1] * 6 + [0] * 6


def test_the_rule_counts_faces_by_the_pipeline_detector_cut_off(moving_face):
    """`counted` follows the count_score of the settings the pipeline detects with: a face below it
    counts only when it is called correctly masked (the class the network picks is renamed, so both
    cases are seen on one face)."""
    from maskdet.detect import DetectorSettings

    clf = load_classifier("models/mask_classifier.pt")
    winner = clf.classes.index(FacePipeline(clf, settings=DetectorSettings()).push(moving_face[0])[0][1][0]["label"])
    for cut, name, counted in ((0.0, "not_masked", True), (1.01, "not_masked", False), (1.01, "correctly_masked", True)):
        others = [c for c in CLASSES if c != name]
        clf.classes = others[:winner] + [name] + others[winner:]
        pipe = FacePipeline(clf, settings=DetectorSettings(count_score=cut))
        face = pipe.push(moving_face[0])[0][1][0]
        assert (face["label"], face["counted"]) == (name, counted)


def test_mirrored_verification_is_mirror_symmetric(moving_face):
    """Averaging with the mirror image: a mirrored frame gives the mirrored box and the same score."""
    from maskdet.detect import onet_boxes
    from maskdet.onet import new_onet

    net, frame = new_onet(), moving_face[0]
    box, score = onet_boxes(net, frame, [(100, 90, 250, 270)], mirror=True)
    mbox, mscore = onet_boxes(net, np.ascontiguousarray(frame[:, ::-1]), [(390, 90, 540, 270)], mirror=True)
    w = frame.shape[1]
    assert mscore[0] == pytest.approx(score[0], abs=1e-5)
    assert mbox[0] == pytest.approx([w - box[0][2], box[0][1], w - box[0][0], box[0][3]], abs=1e-3)
    plain, _ = onet_boxes(net, frame, [(100, 90, 250, 270)])
    assert iou(plain[0], box[0]) > 0.8                                     # still on the face


def test_a_face_the_classifier_cannot_call_is_unsure_drawn_grey_and_not_counted(moving_face):
    from maskdet.draw import UNSURE, draw_frame

    clf = load_classifier("models/mask_classifier.pt")
    sure = FacePipeline(clf).push(moving_face[0])[0][1][0]
    assert sure["counted"] and "unsure" not in sure and sure["score"] < 1.0
    clf.unsure_below = sure["score"] + 0.001                               # just above what it can say
    face = FacePipeline(clf).push(moving_face[0])[0][1][0]
    assert face["unsure"] and not face["counted"] and face["label"] == sure["label"]
    frame = draw_frame(moving_face[0].copy(), [face], 0, 0)
    x1, y1 = (int(round(v)) for v in face["box"][:2])
    assert tuple(frame[y1 + 10, x1]) == UNSURE                              # the box's left edge, in grey


def test_a_cut_forgets_the_faces_before_it_and_searches_at_once(moving_face, portraits):
    """Ten frames of the moving portrait, then a cut to another camera: the astronaut, still, elsewhere.
    After the cut only the astronaut's face is shown (the old face is not carried over), from the cut's
    first frame (searched at once, not at the next scheduled search), and no frame before the cut shows
    it (nothing is followed back across a cut). Without cut handling the astronaut is not shown on the
    cut's frame: the next scheduled search is at frame 16."""
    other = np.full((360, 640, 3), 60, np.uint8)
    other[150:350, 400:600] = cv2.resize(portraits["astronaut"], (200, 200), interpolation=cv2.INTER_AREA)
    frames = moving_face[:10] + [other] * 6
    astronaut = placed_box("astronaut", (200, 200), (400, 150))
    clf = load_classifier("models/mask_classifier.pt")
    reported = run(FacePipeline(clf, detect_every=8), frames)
    for i in range(10):
        assert len(reported[i]) == 1 and iou(reported[i][0]["box"], truth(i)) > 0.6, f"frame {i}"
    for i in range(10, 16):
        assert len(reported[i]) == 1 and iou(reported[i][0]["box"], astronaut) > 0.5, f"frame {i}"
        assert reported[i][0]["track"] != reported[9][0]["track"]
    blind = FacePipeline(clf, detect_every=8)
    blind.cuts = False
    seen = run(blind, frames)
    assert not any(iou(f["box"], astronaut) > 0.5 for f in seen[10])


@needs_shared
def test_people_walking_at_the_camera_are_no_cut():
    """The walkers clip (six people walking towards the camera, 1080p) changes up to 6% of the picture
    from frame to frame, steadily: never a cut. A jump to the overhead clip's picture is one."""
    pipe = FacePipeline(load_classifier("models/mask_classifier.pt"))
    cap = cv2.VideoCapture(str(SHARED / "footage" / "walkers_unmasked_1080p.mp4"))
    cuts = []
    while (frame := cap.read())[0]:
        cuts.append(bool(pipe._cut(frame[1][..., ::-1])) or pipe.n == 0)
        pipe.n += 1
    assert len(cuts) == 105 and not any(cuts[1:])
    ok, overhead = cv2.VideoCapture(str(SHARED / "footage" / "overhead_pedestrians.avi")).read()
    pipe.waiting = [[None, "last walkers frame", []]]
    assert pipe._cut(cv2.resize(overhead, (1920, 1080))[..., ::-1]) == [("last walkers frame", [])] and pipe.n == 0
