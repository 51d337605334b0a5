"""README steps 4 and 6: run the detector and classifier.

    python test.py --data_dir=mask_dataset                       # sanity check on the test split
    python test.py --data_dir=arlo_footage/deconstructed_frames  # annotate footage frames
    python test.py --data_dir=../shared/data/scenes_dev --report reports/scenes.json  # VOC scenes
    python test.py --source 0 --log live.jsonl                   # live: camera, file, rtsp:// or http://

One front door, four inputs: the script decides which, the package does the work.
"""
import argparse
import sys
import time
from pathlib import Path

from maskdet import InputError, cli, layout
from maskdet.alerts import add_arguments as add_alert_arguments
from maskdet.alerts import redacted_options
from maskdet.announce import add_arguments as add_announce_arguments, check_voice
from maskdet.files import check_writable
from maskdet.live import add_arguments as add_stream_arguments


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--data_dir", default=layout.FRAMES, help="class folder, frames folder or VOC scenes folder")
    p.add_argument("--output_dir", default=layout.OUTPUT_FRAMES, help="annotated frames (frames input only)")
    p.add_argument("--source", default=None, help="live input: video file, camera index, rtsp:// or http:// URL")
    p.add_argument("--model", default=layout.DEFAULT_MODEL, help="model file")
    p.add_argument("--report", default=None, help="write a JSON report here (face photos: and a confusion-matrix PNG beside it)")
    p.add_argument("--log", default=None, help="live only: JSON Lines log of every frame")
    p.add_argument("--save_video", default=None, help="live only: write the annotated video here (H.264 MP4)")
    p.add_argument("--class_map", default="", help="VOC only: extra name=class pairs")
    p.add_argument("--split", default="all", choices=("all", "train", "test"), help="VOC only: which images (split by image)")
    p.add_argument("--test_percent", type=cli.percent, default=40, help="VOC only: share of images in the test split")
    p.add_argument("--seed", type=cli.nonneg_int, default=0, help="VOC only: split seed")
    p.add_argument("--overwrite", action="store_true", help="redo videos already annotated")
    p.add_argument("--events", default=None, help="live only: one JSON line per announcement here, snapshots beside it")
    add_stream_arguments(p)
    add_announce_arguments(p)
    add_alert_arguments(p)
    return p.parse_args(argv)


def main(argv=None):
    opt = parse_args(argv)
    print(f"test: {redacted_options(opt)}")
    t0 = time.time()
    try:
        check_voice(opt)
        if opt.report:
            check_writable(opt.report)
        from maskdet.classifier import load_classifier
        clf = load_classifier(opt.model, opt.min_face_size)
        data = Path(opt.data_dir)
        if opt.source is not None:
            from maskdet.live import run_live
            return run_live(opt, clf)
        if layout.is_voc_layout(data):
            from maskdet.scenes import run_scenes
            return run_scenes(opt, clf)
        if layout.is_class_layout(data):
            return run_class_folder(opt, clf, t0)
        from maskdet.frames import run_frames
        return run_frames(opt, clf)
    except InputError as e:
        print(f"error: {e}")
        return 2


def run_class_folder(opt, clf, t0):
    """The seed's sanity check: detector + classifier over every <class>/test/ image."""
    from maskdet.evaluate import class_report, plot_confusion, predict_folder, print_class_report, save_report

    results, unreadable = predict_folder(opt.data_dir, clf)
    report = class_report(results, unreadable)
    print_class_report(report)
    if opt.report:
        save_report(report, opt.report, plot_confusion)
    n = max(len(results), 1)
    print(f"{len(results):,} images in {time.time() - t0:.0f} s ({(time.time() - t0) / n * 1000:.0f} ms/image)"
          + (f" -> {opt.report}" if opt.report else ""))
    return 0 if results else 1


if __name__ == "__main__":
    sys.exit(cli.run(main))
