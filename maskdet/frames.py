"""test.py on a folder of deconstructed frames: annotated frames, log.jsonl and meta.json per video."""
import time
from pathlib import Path

from maskdet import InputError
from maskdet.announce import announcer_from, rule_from, speaker_from
from maskdet.footage import FrameProcessor, closing_line, process_folder, video_folders
from maskdet.pipeline import FacePipeline


def run_frames(opt, clf):
    """Annotate every video folder under opt.data_dir into opt.output_dir; exit code."""
    t0 = time.time()
    folders = video_folders(opt.data_dir)
    out_root = Path(opt.output_dir)
    frames = faces = announcements = skipped = failed = 0

    def make_processor(fps, out):
        pipe = FacePipeline(clf, detect_every=opt.detect_every or clf.config.detect_every)
        return FrameProcessor(pipe, announcer_from(opt), fps, speaker_from(opt, out))

    for src in folders:
        out = out_root if src == Path(opt.data_dir) else out_root / src.name
        try:
            records, bad = process_folder(src, out, make_processor, opt.overwrite, rule_from(opt))
        except InputError as e:
            print(f"skipped: {e}")
            records, bad, failed = None, 1, failed + 1
        skipped += bad
        if records is None:
            continue
        frames += len(records)
        faces += sum(len(r["faces"]) for r in records)
        announcements += sum(r["announce"] for r in records)
        print(f"{src.name}: {len(records):,} frames, {sum(r['announce'] for r in records)} announcements -> {out}")
    print(closing_line(frames, faces, announcements, skipped, time.time() - t0, out_root))
    return 1 if failed == len(folders) else 0
