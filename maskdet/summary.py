"""A stream's summary from its log: counts, the announcements test.py made, a compliance plot.
announce.py writes one per video, fleet.py one per stream; both through write_summary."""
from maskdet import InputError
from maskdet.files import write_json
from maskdet.footage import read_jsonl


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
    """The records of a test.py log; InputError naming the file and line when it is not one."""
    records = read_jsonl(path)
    if not records:
        raise InputError(f"{path}: empty, no frame logged; run test.py again")
    for n, r in enumerate(records, 1):
        wrong = log_line_problem(r)
        if wrong:
            raise InputError(f"{path}:{n}: {wrong}; run test.py again")
    return records


def log_line_problem(r):
    """What keeps `r` from being a test.py log line (the fields summarize and plot read), or None."""
    if not isinstance(r, dict) or not {"time", "total", "announce", "faces"} <= r.keys():
        return "not a test.py log line (time, faces, total, announce)"
    if not (_number(r["time"]) and _number(r["total"])):
        return "time or total is not a number"
    if not (_number(r.get("ratio")) or (r.get("ratio") is None and not r["total"])):
        return "ratio is not a number"
    if not isinstance(r["faces"], list) or not all(isinstance(f, dict) and isinstance(f.get("track", 0), (int, str))
                                                   for f in r["faces"]):
        return "faces is not a list of faces"
    if not isinstance(r.get("message", ""), str):
        return "message is not text"
    return None


def _number(v):
    return isinstance(v, (int, float))


def plot(summary, records, png):
    """Compliance over time with the announcements marked, as a PNG."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from maskdet.files import save_figure

    fig, ax = plt.subplots(figsize=(8, 3))
    pts = [(r["time"], r["ratio"]) for r in records if r.get("ratio") is not None]
    ax.plot([t for t, _ in pts], [v for _, v in pts], ".", ms=3, color="#0072B2", label="share correctly masked")
    threshold = (summary["rule"] or {}).get("threshold")
    if threshold is not None:
        ax.axhline(threshold, color="grey", ls="--", lw=1, label="threshold")
    for i, t in enumerate(summary["announcements"]):
        ax.axvline(t, color="#D55E00", lw=1.5, label="announcement" if i == 0 else None)
    ax.set(xlabel="time (s)", ylabel="ratio", ylim=(-0.05, 1.05), title=summary["video"])
    ax.legend(loc="lower right", fontsize=8)
    save_figure(fig, png)


def write_summary(log, json_path, png_path, name, rule=None, extra=None):
    """Read `log`, plot it to `png_path`, then write the summary (with `extra` fields) to `json_path`
    last; return the summary."""
    records = read_log(log)
    summary = summarize(name, records, rule)
    plot(summary, records, png_path)
    summary.update(extra or {})
    write_json(json_path, summary)
    return summary
