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

from maskdet import InputError, layout
from maskdet.files import clean_partials, write_json
from maskdet.footage import read_jsonl
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
        if not Path(opt.log).is_file():
            raise InputError(f"{opt.log}: log file not found")
        return [Path(opt.log)]
    root = Path(opt.data_dir)
    if not root.is_dir():
        raise InputError(f"{root}: folder not found (run test.py first)")
    logs = [d / "log.jsonl" for d in layout.list_dirs(root) if (d / "log.jsonl").is_file()]
    logs += [root / "log.jsonl"] if (root / "log.jsonl").is_file() else []
    if not logs:
        raise InputError(f"{root}: no <video>/log.jsonl found (run test.py first)")
    return logs


def summarize(name, records, rule=None):
    """The summary dict of a log: counts, and the announcements test.py made (times and messages).
    `rule` is what the decisions were made with (from meta.json), when known."""
    fired = [r for r in records if r["announce"]]
    with_faces = [r for r in records if r["total"]]
    people = {f["track"] for r in records for f in r["faces"] if "track" in f}
    return {"video": name, "frames": len(records), "frames_with_faces": len(with_faces),
            "faces": sum(r["total"] for r in records), "people_tracked": len(people),
            "mean_ratio": round(sum(r["ratio"] for r in with_faces) / len(with_faces), 3) if with_faces else None,
            "announcements": [r["time"] for r in fired], "messages": sorted({r.get("message", "") for r in fired}),
            "rule": rule}


def read_log(path):
    """The records of a test.py log; InputError when it is not one (no announce decisions in it)."""
    records = read_jsonl(path)
    for n, r in enumerate(records, 1):
        if not isinstance(r, dict) or not {"time", "total", "announce", "faces"} <= r.keys():
            raise InputError(f"{path}:{n}: not a test.py log line (time, faces, total, announce); run test.py again")
    return records


def plot(summary, records, png):
    """Compliance over time with the announcements marked, as a PNG."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from maskdet.files import save_figure

    fig, ax = plt.subplots(figsize=(8, 3))
    pts = [(r["time"], r["ratio"]) for r in records if r["ratio"] is not None]
    ax.plot([t for t, _ in pts], [v for _, v in pts], ".", ms=3, color="#0072B2", label="share correctly masked")
    threshold = (summary["rule"] or {}).get("threshold")
    if threshold is not None:
        ax.axhline(threshold, color="grey", ls="--", lw=1, label="threshold")
    for i, t in enumerate(summary["announcements"]):
        ax.axvline(t, color="#D55E00", lw=1.5, label="announcement" if i == 0 else None)
    ax.set(xlabel="time (s)", ylabel="ratio", ylim=(-0.05, 1.05), title=summary["video"])
    ax.legend(loc="lower right", fontsize=8)
    save_figure(fig, png)


def main(argv=None):
    opt = parse_args(argv)
    print(f"announce: {vars(opt)}")
    try:
        logs = find_logs(opt)
        out = Path(opt.output_dir)
        clean_partials(out)  # what a killed run left half-written
        total = 0
        for log in logs:
            name = log.parent.name if log.name == "log.jsonl" else log.stem
            records = read_log(log)
            s = summarize(name, records, (read_meta(log.parent) or {}).get("rule"))
            write_json(out / f"{name}.json", s)
            plot(s, records, out / f"{name}.png")
            for r in records:
                if r["announce"]:
                    print(f"announce: {name} at {r['time']:.2f} s: \"{r.get('message', '')}\"")
            print(f"{name}: {s['frames']:,} frames, {s['faces']:,} faces, {len(s['announcements'])} announcements -> {out / name}.json, .png")
            total += len(s["announcements"])
    except InputError as e:
        print(f"error: {e}")
        return 2
    print(f"{len(logs)} logs, {total} announcements -> {opt.output_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
