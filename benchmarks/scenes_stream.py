"""Both paths on the same annotated scenes: still images (test.py --data_dir) and the stream path
(test.py --source) on the scenes played as a video.

    python benchmarks/scenes_stream.py --data_dir ../shared/data/scenes_dev --split test --json reports/scenes_paths.json

Each scene is centred, unscaled, on a 1280x720 grey frame and held 12 frames at 25 fps (H.264, as a
camera would send it); test.py --source runs on that video exactly as on a camera, and the last
frame of each scene's block is matched against the scene's boxes (IoU >= 0.4, one to one). Both
paths are scored by the same scene_report: detection by size, classification on matched faces,
announcement accuracy with false and missed alarms.
"""
import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from maskdet import layout  # noqa: E402
from maskdet.scenes import predict_scenes, print_scene_report, scene_images, scene_report  # noqa: E402
from maskdet.voc import load_scenes  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
GREY = 114


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--data_dir", default=layout.SCENES, help="Pascal VOC scenes (images/ + annotations/)")
    p.add_argument("--split", default="test", choices=("all", "train", "test"), help="which images (split by image)")
    p.add_argument("--model", default=layout.DEFAULT_MODEL, help="model file")
    p.add_argument("--size", default="1280x720", help="video frame size (scenes are centred, never scaled up)")
    p.add_argument("--hold", type=int, default=12, help="frames each scene is shown")
    p.add_argument("--fps", type=float, default=25.0, help="video frame rate")
    p.add_argument("--max_scenes", type=int, default=0, help="only the first N scenes (0: all)")
    p.add_argument("--skip_still", action="store_true", help="the stream path only")
    p.add_argument("--json", default=None, help="write both reports here")
    return p.parse_args(argv)


def place(rgb, size):
    """Centre a scene on a grey frame of `size` (w, h), shrinking only a scene that does not fit;
    return (BGR frame, scale, (x offset, y offset))."""
    w, h = size
    scale = min(1.0, w / rgb.shape[1], h / rgb.shape[0])
    if scale < 1.0:
        rgb = cv2.resize(rgb, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    frame = np.full((h, w, 3), GREY, np.uint8)
    x0, y0 = (w - rgb.shape[1]) // 2, (h - rgb.shape[0]) // 2
    frame[y0:y0 + rgb.shape[0], x0:x0 + rgb.shape[1]] = rgb[..., ::-1]
    return frame, scale, (x0, y0)


def render(scenes, video, size, hold, fps):
    """Write the scenes as one H.264 video; return [(scene, scale, offset)] in playing order."""
    from maskdet.video import H264Writer
    writer, placed = H264Writer(video, fps, size), []
    for s, rgb in scene_images(scenes, "render"):
        frame, scale, offset = place(rgb, size)
        for _ in range(hold):
            writer.write(frame)
        placed.append((s, scale, offset))
    writer.close()
    return placed


def stream_results(placed, log, hold):
    """scene_report's input from the log: the faces of the last frame of each scene's block, in scene pixels."""
    records = [json.loads(x) for x in Path(log).read_text().splitlines()]
    out = []
    for k, (scene, scale, (x0, y0)) in enumerate(placed):
        faces = records[(k + 1) * hold - 1]["faces"]
        boxes = [((f["box"][0] - x0) / scale, (f["box"][1] - y0) / scale, (f["box"][2] - x0) / scale,
                  (f["box"][3] - y0) / scale) for f in faces]
        out.append((scene, boxes, [f["label"] for f in faces], [f["score"] for f in faces],
                    [f.get("counted", True) for f in faces]))
    return out


def stream_path(model, scenes, size, hold=12, fps=25.0):
    """scene_report's input for the stream path: render, run test.py --source, take the last frame of each block."""
    with tempfile.TemporaryDirectory() as tmp:
        video, log = Path(tmp) / "scenes.mp4", Path(tmp) / "log.jsonl"
        placed = render(scenes, video, size, hold, fps)
        subprocess.run([sys.executable, str(ROOT / "test.py"), "--source", str(video), "--log", str(log),
                        "--model", str(model), "--no_speech"], check=True, stdout=subprocess.DEVNULL)
        return stream_results(placed, log, hold)


def main(argv=None):
    opt = parse_args(argv)
    from maskdet.classifier import load_classifier

    scenes, errors = load_scenes(opt.data_dir, "", opt.split, 40, 0)
    scenes = scenes[:opt.max_scenes] if opt.max_scenes else scenes
    size = tuple(int(v) for v in opt.size.split("x"))
    reports = {"stream": scene_report(stream_path(opt.model, scenes, size, opt.hold, opt.fps))}
    if not opt.skip_still:
        reports["still"] = scene_report(predict_scenes(scenes, load_classifier(opt.model)))
    for name, r in reports.items():
        print_scene_report(r, f"{name} path ({opt.model}): ")
    if opt.json:
        Path(opt.json).parent.mkdir(parents=True, exist_ok=True)
        Path(opt.json).write_text(json.dumps({"model": opt.model, "split": opt.split, "hold": opt.hold, **reports}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
