"""Where the live path's time goes, stage by stage, on the first frames of a clip: the frame loop of
test.py --source (with --log and --save_video) and its outlet thread (drawing and writing) under
cProfile, then decoding and encoding alone (they run on threads of their own, which the profile does
not see).

    python benchmarks/stages.py ../shared/data/footage/walkers_unmasked_1080p.mp4 --max_frames 48
    python benchmarks/stages.py CLIP --resize 1280x720 --json reports/stages_720p.json

Prints milliseconds per frame of each stage (a search every k-th frame is spread over the k frames)
and how many calls it took.
"""
import argparse
import cProfile
import json
import pstats
import sys
import tempfile
import time
from pathlib import Path

import cv2

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from maskdet import layout  # noqa: E402

# stage -> (module file, function[, class]): what the frame loop and the outlet thread spend their time in
STAGES = {"wait for decode": ("live.py", "next"), "search": ("detect.py", "detect"),
          "follow (O-Net)": ("detect.py", "refine"), "classify": ("classifier.py", "predict_faces"),
          "frame loop": ("live.py", "process_source"),
          "draw": ("draw.py", "draw_frame"), "hand to encoder": ("sinks.py", "write", "VideoSink"),
          "log": ("sinks.py", "write", "LogSink"), "outlet thread": ("live.py", "run", "Outlet")}


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("clip", help="video file")
    p.add_argument("--model", default=layout.DEFAULT_MODEL, help="model file")
    p.add_argument("--resize", default=None, help="re-encode the clip at WxH first and measure that (e.g. 1280x720)")
    p.add_argument("--max_frames", type=int, default=48, help="frames to run (a multiple of the search interval)")
    p.add_argument("--json", default=None, help="write the numbers here")
    return p.parse_args(argv)


def profile_loop(clip, clf, frames, tmp):
    """The frame loop on `frames` frames of `clip`, profiled: {stage: (ms per frame, calls)}."""
    from maskdet import live
    from maskdet.announce import Announcer
    from maskdet.sinks import LogSink, VideoSink

    prof, outlet_prof, run = cProfile.Profile(), cProfile.Profile(), live.Outlet.run

    def profiled_run(outlet):  # the outlet's own thread, which the frame loop's profile does not see
        outlet_prof.enable()
        try:
            run(outlet)
        finally:
            outlet_prof.disable()

    live.Outlet.run = profiled_run
    prof.enable()
    try:
        live.process_source(str(clip), clf, lambda fps: [LogSink(tmp / "log.jsonl"), VideoSink(tmp / "annotated.mp4", fps)],
                            Announcer(), max_frames=frames)
    finally:
        prof.disable()
        live.Outlet.run = run
    stats = pstats.Stats(prof).add(outlet_prof).stats
    out = {}
    for stage, (module, name, *owner) in STAGES.items():
        rows = [(v[3], v[1]) for (path, line, fn), v in stats.items() if path.endswith(module) and fn == name
                and (not owner or _defined_in(path, line, owner[0]))]
        out[stage] = (round(sum(r[0] for r in rows) * 1000 / frames, 1), sum(r[1] for r in rows))
    return out


def _defined_in(path, line, cls):
    """Whether the function at `line` of `path` belongs to class `cls` (the nearest class above it)."""
    above = Path(path).read_text().splitlines()[:line]
    return next((x for x in reversed(above) if x.startswith("class ")), "").startswith(f"class {cls}")


def decode_encode(clip, frames, tmp):
    """Milliseconds per frame to decode (grab and convert, and grab alone) and to encode H.264 (x264
    ultrafast, one thread, as the video sink does), each alone."""
    from maskdet.video import H264Writer

    cap, kept, t = cv2.VideoCapture(str(clip)), [], time.perf_counter()
    while len(kept) < frames and cap.grab():
        kept.append(cap.retrieve()[1])
    decode = (time.perf_counter() - t) * 1000 / len(kept)
    cap, t, n = cv2.VideoCapture(str(clip)), time.perf_counter(), 0
    while n < frames and cap.grab():
        n += 1
    grab = (time.perf_counter() - t) * 1000 / n
    t = time.perf_counter()
    writer = H264Writer(tmp / "encode.mp4", 25.0, (kept[0].shape[1], kept[0].shape[0]))
    for f in kept:
        writer.write(f)
    writer.close()
    return {"decode (grab + convert)": round(decode, 1), "decode (grab only)": round(grab, 1),
            "encode": round((time.perf_counter() - t) * 1000 / len(kept), 1)}


def main(argv=None):
    opt = parse_args(argv)
    from maskdet.classifier import load_classifier
    from maskdet.video import parse_size, scaled_copy

    clf = load_classifier(opt.model)
    with tempfile.TemporaryDirectory() as tmp:
        tmp, clip = Path(tmp), opt.clip
        if opt.resize:
            clip = scaled_copy(opt.clip, parse_size(opt.resize), tmp / "scaled.mp4")
        loop = profile_loop(clip, clf, opt.max_frames, tmp)
        alone = decode_encode(clip, opt.max_frames, tmp)
    for stage, (ms, calls) in loop.items():
        print(f"{stage:>24}: {ms:7.1f} ms/frame ({calls} calls)")
    for stage, ms in alone.items():
        print(f"{stage:>24}: {ms:7.1f} ms/frame (alone, on its own thread in the live path)")
    if opt.json:
        Path(opt.json).parent.mkdir(parents=True, exist_ok=True)
        Path(opt.json).write_text(json.dumps({"clip": opt.clip, "resize": opt.resize, "frames": opt.max_frames,
                                              "loop_ms_per_frame": {k: v[0] for k, v in loop.items()},
                                              "loop_calls": {k: v[1] for k, v in loop.items()},
                                              "alone_ms_per_frame": alone}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
