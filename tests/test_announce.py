"""The announcement rule: threshold, debounce window and cooldown on edge cases; speech; announce.py."""
import json
import shutil

import pytest

from conftest import run
from maskdet.announce import Announcer, Speaker, is_bad


def fire_times(frames, fps=10.0, **kw):
    """Times at which the rule fires for a sequence of (correct, total) frames."""
    a = Announcer(**kw)
    return [round(i / fps, 2) for i, (c, n) in enumerate(frames) if a.update(i / fps, c, n)]


def test_threshold_edges():
    assert not is_bad(0, 0)            # nobody in view
    assert not is_bad(3, 4)            # exactly 75% is enough
    assert is_bad(2, 3)                # 66%
    assert is_bad(0, 1)


def test_no_faces_never_fires():
    assert fire_times([(0, 0)] * 100) == []


def test_exactly_75_percent_never_fires():
    assert fire_times([(3, 4)] * 100) == []


def test_one_bad_frame_does_not_fire():
    frames = [(1, 1)] * 20 + [(0, 2)] + [(1, 1)] * 20
    assert fire_times(frames) == []


def test_alternating_frames_do_not_fire_at_default_fraction():
    assert fire_times([(0, 1), (1, 1)] * 50) == []


def test_long_bad_run_fires_once_per_cooldown():
    times = fire_times([(0, 3)] * 250, fps=10.0, window=1.0, cooldown=10.0)   # 25 s of bad frames
    assert times == [1.0, 11.0, 21.0]


def test_waits_for_a_full_window():
    assert fire_times([(0, 1)] * 5, fps=10.0, window=1.0) == []              # only 0.4 s seen


def test_speaker_writes_wav_or_degrades(tmp_path, capsys):
    wav = Speaker(tmp_path / "a.wav").say(background=False)
    if shutil.which("espeak-ng"):
        assert wav.read_bytes()[:4] == b"RIFF" and wav.stat().st_size > 10_000
    else:
        assert wav is None and "warning" in capsys.readouterr().out


def test_missing_speech_engine_never_raises(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PATH", str(tmp_path))
    assert Speaker(tmp_path / "a.wav").say() is None
    assert "no speech engine" in capsys.readouterr().out


@pytest.mark.parametrize("engine", ["#!/bin/sh\necho 'audio device busy' >&2\nexit 1\n",   # fails
                                    "#!/bin/sh\nkill -9 $$\n"])                          # crashes
def test_failing_speech_engine_never_stops_detection(tmp_path, monkeypatch, capsys, engine):
    """A speech engine that fails or crashes: one warning, the announcement is still logged."""
    fake = tmp_path / "bin" / "espeak-ng"
    fake.parent.mkdir()
    fake.write_text(engine)
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake.parent}:/usr/bin:/bin")
    assert Speaker(tmp_path / "s.wav").say() is None
    assert "speech engine failed" in capsys.readouterr().out and not (tmp_path / "s.wav").exists()
    logs = tmp_path / "out"
    _log(logs / "clip" / "log.jsonl", [(0, 2)] * 30)
    assert run("announce.py", "--data_dir", logs, "--output_dir", tmp_path / "summaries") == 0
    out = capsys.readouterr().out
    assert "speech engine failed" in out and "1 announcements" in out and "Traceback" not in out


def _log(path, frames, fps=10.0):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as f:
        for i, (c, n) in enumerate(frames):
            f.write(json.dumps({"frame": f"frame_{i + 1:06d}.jpg", "time": i / fps, "faces": [], "correctly_masked": c,
                                "total": n, "ratio": c / n if n else None, "announce": False}) + "\n")


def test_announce_script_on_logs(tmp_path, capsys):
    _log(tmp_path / "frames" / "bad" / "log.jsonl", [(0, 2)] * 30)
    _log(tmp_path / "frames" / "good" / "log.jsonl", [(2, 2)] * 30)
    out = tmp_path / "summaries"
    assert run("announce.py", "--data_dir", tmp_path / "frames", "--output_dir", out, "--no_speech") == 0
    bad, good = (json.loads((out / f"{n}.json").read_text()) for n in ("bad", "good"))
    assert bad["announcements"] == [1.0] and good["announcements"] == []
    assert (out / "bad.png").read_bytes()[:4] == b"\x89PNG"


def test_announce_script_bad_log(tmp_path, capsys):
    (tmp_path / "x.jsonl").write_text('{"time": 0}\nnot json\n')
    assert run("announce.py", "--log", tmp_path / "x.jsonl", "--output_dir", tmp_path) == 2
    out = capsys.readouterr().out
    assert "x.jsonl:2" in out and "Traceback" not in out
    assert run("announce.py", "--data_dir", tmp_path / "empty") == 2
