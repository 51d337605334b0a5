"""README step 8: summarise the announcements of each video, with a compliance plot.

    python announce.py                                    # every log under arlo_footage/output_frames
    python announce.py --log arlo_footage/output_frames/walkers/log.jsonl

The rule (when fewer than 75% of the faces in view are correctly masked, and at least one face is
in view, for most of a short window, say "Don't forget to wear your mask correctly before going
outside!", then stay quiet for a cooldown) is applied once, by test.py, as frames arrive: it speaks
then, and marks the frame `announce` in its log. This stage reads those decisions; it neither
decides again nor speaks again.
"""
import argparse
import sys
from pathlib import Path

from maskdet import InputError, cli, layout
from maskdet.files import clean_partials, missing
from maskdet.summary import write_summary
from maskdet.video import read_meta


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--data_dir", default=layout.OUTPUT_FRAMES, help="folder of <video>/log.jsonl from test.py")
    p.add_argument("--log", default=None, help="one JSON Lines log instead of --data_dir")
    p.add_argument("--output_dir", default=layout.SUMMARIES, help="summary JSON and plot per video")
    return p.parse_args(argv)


def find_logs(opt):
    """The logs to read, sorted; InputError when there are none."""
    if opt.log:
        if wrong := missing(opt.log, "log file"):
            raise InputError(wrong + (" (--data_dir reads a folder of logs)" if Path(opt.log).is_dir() else ""))
        return [Path(opt.log)]
    root = Path(opt.data_dir)
    if not root.is_dir():
        raise InputError(f"{root}: folder not found (run test.py first)")
    logs = [d / "log.jsonl" for d in layout.list_dirs(root) if (d / "log.jsonl").is_file()]
    logs += [root / "log.jsonl"] if (root / "log.jsonl").is_file() else []
    if not logs:
        raise InputError(f"{root}: no <video>/log.jsonl found (run test.py first)")
    return logs


def main(argv=None):
    opt = parse_args(argv)
    print(f"announce: {vars(opt)}")
    try:
        logs = find_logs(opt)
        out = Path(opt.output_dir)
        clean_partials(out)  # what a killed run left half-written
        total, skipped = 0, 0
        for log in logs:
            try:
                total += summarise(log, out)
            except InputError as e:  # a bad log is reported; the others are still summarised
                print(f"skipped: {e}")
                skipped += 1
        if skipped == len(logs):
            raise InputError(f"{opt.log or opt.data_dir}: no log could be summarised")
    except InputError as e:
        print(f"error: {e}")
        return 2
    print(f"{len(logs) - skipped} logs, {skipped} skipped, {total} announcements -> {opt.output_dir}")
    return 0


def summarise(log, out):
    """Write the summary JSON and plot of one log and print its announcements; return how many."""
    name = log.parent.name if log.name == "log.jsonl" else log.stem
    rule = (read_meta(log.parent) or {}).get("rule")
    s = write_summary(log, out / f"{name}.json", out / f"{name}.png", name, rule)
    for t in s["announcements"]:
        print(f"announce: {name} at {t:.2f} s: \"{' / '.join(s['messages'])}\"")
    print(f"{name}: {s['frames']:,} frames, {s['faces']:,} faces counted by the rule, {len(s['announcements'])} announcements "
          f"-> {out / name}.json, .png")
    return len(s["announcements"])


if __name__ == "__main__":
    sys.exit(cli.run(main))
