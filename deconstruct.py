"""README step 5: split every video of a folder into frames.

    python deconstruct.py --data_dir=arlo_footage/raw_videos

Writes arlo_footage/deconstructed_frames/<video>/frame_000001.jpg ... and meta.json (source, fps,
size, frame count). meta.json is written last: a folder with it is complete and is skipped when
re-run; one without it is finished.
"""
import argparse
import sys
import time
from pathlib import Path

from tqdm import tqdm

from maskdet import InputError, cli, layout
from maskdet.files import clean_partials, write_image, write_json
from maskdet.video import count_note, open_video, read_frames, read_meta, variable_rate


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--data_dir", default=layout.RAW_VIDEOS, help="folder of videos (or one video file)")
    p.add_argument("--output_dir", default=layout.FRAMES, help="one frames folder per video goes here")
    p.add_argument("--every", type=cli.positive_int, default=1, help="keep every N-th frame (fps is divided by N)")
    p.add_argument("--overwrite", action="store_true", help="redo videos already deconstructed")
    return p.parse_args(argv)


def list_videos(data_dir):
    """Videos to split: the file itself, or the folder's videos sorted; InputError if none."""
    data_dir = Path(data_dir)
    if data_dir.is_file():
        return [data_dir]
    if not data_dir.is_dir():
        raise InputError(f"{data_dir}: videos folder not found")
    videos = layout.list_files(data_dir, layout.VIDEO_EXTS)
    if not videos:
        raise InputError(f"{data_dir}: no videos found (supported: {' '.join(layout.VIDEO_EXTS)})")
    return videos


def deconstruct(video, out, every, overwrite):
    """Write the frames of one video and its meta.json; return the frame count (None if already done)."""
    done = read_meta(out)
    if done and done.get("every") == every and not overwrite:
        return None
    cap, meta = open_video(video)
    clean_partials(out)
    times = []
    try:
        bar = tqdm(total=meta["frames_reported"] // every or None, desc=video.name, leave=False, disable=not sys.stderr.isatty())
        for n, (_, frame, t) in enumerate(read_frames(cap, every), 1):
            path = out / layout.frame_name(n)
            if overwrite or not path.exists():
                write_image(path, frame)
            times.append(t)
            bar.update()
        bar.close()
    finally:
        cap.release()
    if not times:
        raise InputError(f"{video}: no frame could be decoded")
    write_json(out / "meta.json", {**meta, "fps": meta["fps"] / every, "source_fps": meta["fps"], "every": every,
                                   "frames": len(times), "size": [meta["width"], meta["height"]],
                                   **_timing_notes(video, meta, times, every)})
    return len(times)


def _timing_notes(video, meta, times, every):
    """One line each for a variable frame rate (frame times are then kept) and a frame count that
    disagrees with the container's index."""
    notes = {}
    if variable_rate(times, meta["fps"] / every):
        notes["times"] = [round(t - times[0], 3) for t in times]
        print(f"note: {video}: variable frame rate ({meta['fps']:.1f} frames/s on average); frame times kept in meta.json")
    decoded = (len(times) - 1) * every + 1
    if note := count_note(video, meta["frames_reported"], decoded, every):
        print(note)
    return notes


def main(argv=None):
    opt = parse_args(argv)
    print(f"deconstruct: {vars(opt)}")
    t0 = time.time()
    try:
        videos = list_videos(opt.data_dir)
        names = layout.video_names(videos)
    except InputError as e:
        print(f"error: {e}")
        return 2
    total, failed = 0, 0
    for video in tqdm(videos, desc="videos", disable=not sys.stderr.isatty() or len(videos) < 2):
        out = Path(opt.output_dir) / names[video]
        try:
            n = deconstruct(video, out, opt.every, opt.overwrite)
        except InputError as e:
            print(f"skipped: {e}")
            failed += 1
            continue
        print(f"{video.name}: " + ("already done, skipped" if n is None else f"{n:,} frames -> {out}"))
        total += n or 0
    print(f"{len(videos) - failed} of {len(videos)} videos, {total:,} frames written, {failed} unreadable, "
          f"{time.time() - t0:.1f} s -> {opt.output_dir}")
    return 1 if failed == len(videos) else 0


if __name__ == "__main__":
    sys.exit(cli.run(main))
