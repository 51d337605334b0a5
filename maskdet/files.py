"""Atomic writes (every output appears whole under its final name or not at all, and a file written over
is kept), and the one check that an input file is there."""
import itertools
import json
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path

from maskdet import InputError

_UMASK = os.umask(0)
os.umask(_UMASK)


def missing(path, what):
    """Why `path` is not an existing `what` file ("no such ...", or a folder given for it), or None."""
    path = Path(path)
    if path.is_dir():
        return f"{path}: a folder, not a {what}"
    return None if path.is_file() else f"{path}: no such {what}"


def make_parent(path):
    """Create the folder that `path` goes in; InputError naming it when that is not possible (a file
    in the way, no permission)."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise InputError(f"{path.parent}: cannot create this folder ({e.strerror})") from None
    return path


@contextmanager
def atomic_path(path):
    """Yield a temporary path beside `path`; rename it into place only if the block succeeds."""
    path = make_parent(path)
    tmp = _temporary(path)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; outputs get the usual permissions
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def check_writable(path):
    """InputError naming `path` unless a file can be written there (checked before a long run, not after
    it): its folder can be created and written in, and `path` is not a folder."""
    path = make_parent(path)
    os.unlink(_temporary(path))
    return path


def _temporary(path):
    """A new empty hidden temporary file beside `path` (what clean_partials removes); InputError when the
    folder cannot be written or `path` is a folder."""
    if path.is_dir():
        raise InputError(f"{path}: is a folder; give a file name")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=f".part{path.suffix}", dir=path.parent)
    except OSError as e:
        raise InputError(f"{path}: cannot write here ({e.strerror})") from None
    os.close(fd)
    return tmp


def keep_previous(path):
    """Before `path` is written anew: copy a file already there to <name>.prev<suffix>, or .prev2, .prev3 ...
    when that one holds an earlier file, so that none is lost (a re-run over a log, video, report or model)."""
    path = Path(path) if path else None
    if path is None or not path.is_file():
        return
    names = (path.with_name(f"{path.stem}.prev{k if k > 1 else ''}{path.suffix}") for k in itertools.count(1))
    prev = next(p for p in names if not p.exists())
    copy_file(path, prev)
    print(f"note: replacing {path}; the previous file is kept as {prev}")


def copy_file(src, path):
    """Copy `src` to `path` atomically."""
    with atomic_path(path) as tmp:
        shutil.copyfile(src, tmp)


def write_text(path, text):
    """Write `text` to `path` atomically."""
    with atomic_path(path) as tmp:
        Path(tmp).write_text(text, encoding="utf-8")


def write_json(path, obj):
    """Write `obj` as indented JSON to `path` atomically."""
    write_text(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")


def write_image(path, bgr, quality=95):
    """Write a BGR image as JPEG/PNG atomically; raise OSError when encoding fails."""
    import cv2

    path = Path(path)
    ok, buf = cv2.imencode(path.suffix or ".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise OSError(f"{path}: could not encode image")
    with atomic_path(path) as tmp:
        Path(tmp).write_bytes(buf.tobytes())


def clean_partials(folder, only=None):
    """Remove temporary files a killed run left behind in `folder` (never anything else); with `only`,
    just those of that one output file."""
    folder = Path(folder)
    pattern = f".{Path(only).stem}.*.part{Path(only).suffix}" if only else ".*.part*"
    if folder.is_dir():
        for p in folder.rglob(pattern) if not only else folder.glob(pattern):
            p.unlink()


def save_figure(fig, png):
    """Write a matplotlib figure as PNG atomically and free it."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    with atomic_path(png) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)
