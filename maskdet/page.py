"""OUT/index.html: one static page (no server) with, per camera or video, the compliance plot, the
announcement times, the snapshots that fired them and a link to the annotated video."""
import html
import json
from pathlib import Path
from urllib.parse import quote

from maskdet.files import write_text

STYLE = """body{font-family:system-ui,sans-serif;margin:2em auto;max-width:60em;color:#222}
section{border-top:1px solid #ccc;padding:.5em 0 1em}h2{margin:.3em 0}.bad{color:#D55E00}
img.plot{max-width:100%}img.snap{height:120px;margin:2px;border:1px solid #999}td,th{padding:2px 8px;text-align:left}"""


def write_index(out_root, title="Mask compliance"):
    """Write OUT/index.html for every stream folder that has a summary.json; return its path."""
    out_root = Path(out_root)
    streams = [d for d in sorted(out_root.iterdir()) if (d / "summary.json").is_file()]
    sections = [_section(d, json.loads((d / "summary.json").read_text())) for d in streams]
    rows = "".join(f"<tr><td><a href=\"#{_e(d.name)}\">{_e(d.name)}</a></td><td>{s['frames']:,}</td>"
                   f"<td>{len(s['announcements'])}</td></tr>"
                   for d, s in ((d, json.loads((d / "summary.json").read_text())) for d in streams))
    body = (f"<h1>{_e(title)}</h1><p>{len(streams)} streams; all announcements: "
            f"<a href=\"events.jsonl\">events.jsonl</a></p>"
            f"<table><tr><th>stream</th><th>frames</th><th>announcements</th></tr>{rows}</table>" + "".join(sections))
    page = (f"<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{_e(title)}</title>"
            f"<style>{STYLE}</style></head><body>{body}</body></html>\n")
    write_text(out_root / "index.html", page)
    return out_root / "index.html"


def _section(folder, s):
    """One stream: counts, announcement times, snapshots, plot, video links."""
    name = folder.name
    times = ", ".join(f"{t:.2f} s" for t in s["announcements"]) or "none"
    ratio = "n/a" if s.get("mean_ratio") is None else f"{s['mean_ratio']:.0%}"
    videos = " ".join(f"<a href=\"{_url(name, v)}\">{_e(v)}</a>" for v in s.get("videos", []))
    snaps = "".join(f"<a href=\"{_url(e['snapshot'])}\"><img class=\"snap\" loading=\"lazy\" src=\"{_url(e['snapshot'])}\" "
                    f"alt=\"announcement at {e['time']:.2f} s\" title=\"{e['time']:.2f} s\"></a>"
                    for e in _events(folder) if e.get("snapshot"))
    return (f"<section id=\"{_e(name)}\"><h2>{_e(name)}</h2>"
            f"<p>{s['frames']:,} frames, {s['faces']:,} faces counted, mean share correctly masked {ratio}</p>"
            f"<p class=\"{'bad' if s['announcements'] else ''}\">announcements at: {times}</p>{snaps}"
            f"<p><img class=\"plot\" src=\"{_url(name, 'compliance.png')}\" alt=\"compliance of {_e(name)} over time\"></p>"
            f"<p>annotated video: {videos}</p></section>")


def _events(folder):
    path = folder / "events.jsonl"
    return [json.loads(x) for x in path.read_text().splitlines() if x.strip()] if path.is_file() else []


def _url(*parts):
    """A relative link, each part percent-quoted."""
    return "/".join(quote(p) for part in parts for p in str(part).split("/"))


def _e(text):
    return html.escape(str(text), quote=True)
