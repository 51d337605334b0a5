"""README step 7: put annotated frames back together into H.264 videos.

    python reconstruct.py --data_dir=arlo_footage/output_frames

Writes arlo_footage/reconstructed_videos/<video>.mp4 with the frame count and fps of the source
(from meta.json), encoded as H.264 (yuv420p) so that it plays in a browser.
"""
import argparse
import sys
import time
from pathlib import Path

from tqdm import tqdm

from maskdet import InputError, cli, layout
from maskdet.files import clean_partials
from maskdet.footage import video_folders
from maskdet.images import read_frame
from maskdet.layout import list_images
from maskdet.video import H264Writer, read_meta


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--data_dir", default=layout.OUTPUT_FRAMES, help="one folder of frames per video")
    p.add_argument("--output_dir", default=layout.VIDEOS_OUT, help="videos are written here")
    p.add_argument("--fps", type=cli.float_between(0.01, 1000), default=25.0, help="frame rate when a folder has no meta.json (0.01 to 1000)")
    p.add_argument("--overwrite", action="store_true", help="rewrite videos that already exist")
    return p.parse_args(argv)


def _frame(path):
    """A frame, or None when it is not readable (read_frame)."""
    try:
        return read_frame(path)
    except InputError:
        return None


def reconstruct(folder, path, fps):
    """Encode the frames of `folder` into `path`; return (frames written, unreadable frames)."""
    frames = list_images(folder)
    first = next((f for f in (_frame(p) for p in frames[:10]) if f is not None), None)
    if first is None:
        raise InputError(f"{folder}: no readable frames")
    bad = 0
    with H264Writer(path, fps, (first.shape[1], first.shape[0])) as writer:
        for p in tqdm(frames, desc=folder.name, leave=False, disable=not sys.stderr.isatty()):
            try:
                img = read_frame(p)
            except InputError as e:
                print(f"skipped: {e}")
                bad += 1
                continue
            writer.write(img)
    return writer.count, bad


def main(argv=None):
    opt = parse_args(argv)
    print(f"reconstruct: {vars(opt)}")
    t0 = time.time()
    try:
        folders = video_folders(opt.data_dir)
    except InputError as e:
        print(f"error: {e}")
        return 2
    clean_partials(opt.output_dir)  # what a killed run left half-written
    written, failed = 0, 0
    for folder in folders:
        path = Path(opt.output_dir) / f"{folder.name}.mp4"
        if path.exists() and not opt.overwrite:
            print(f"{path}: exists, skipped (--overwrite rewrites it)")
            continue
        try:
            fps = float((read_meta(folder) or {}).get("fps") or opt.fps)
            n, bad = reconstruct(folder, path, fps)
        except InputError as e:
            print(f"skipped: {e}")
            failed += 1
            continue
        written += 1
        print(f"{folder.name}: {n:,} frames at {fps:g} fps ({bad} unreadable) -> {path}")
    print(f"{written} videos written, {failed} failed, {time.time() - t0:.1f} s -> {opt.output_dir}")
    return 1 if failed and not written else 0


if __name__ == "__main__":
    sys.exit(cli.run(main))
