"""The announcement rule: threshold, debounce window and cooldown on edge cases; speech; announce.py."""
import json
import shutil

import pytest

from conftest import run
from maskdet.announce import Announcer, Speaker, counts, is_bad


def fire_times(frames, fps=10.0, **kw):
    """Times at which the rule fires for a sequence of (correct, total) frames."""
    a = Announcer(**kw)
    return [round(i / fps, 2) for i, (c, n) in enumerate(frames) if a.update(i / fps, c, n)]


def test_threshold_edges():
    assert not is_bad(0, 0)            # nobody in view
    assert not is_bad(3, 4)            # exactly 75% is enough
    assert is_bad(2, 3)                # 66%
    assert is_bad(0, 1)


def rule(faces):
    """Whether a frame of (label, detector sure) faces is bad, counting faces as announce.counts says."""
    labels = [lab for lab, sure in faces if counts(lab, sure)]
    return is_bad(labels.count("correctly_masked"), len(labels))


def test_a_face_the_detector_is_not_sure_of_can_keep_the_camera_quiet_never_make_it_speak():
    masked, unmasked = "correctly_masked", "not_masked"
    # 3 of 4 masked, one of them found unsurely: compliant (dropping it would make 2 of 3 and speak)
    assert not rule([(masked, True), (masked, True), (masked, False), (unmasked, True)])
    assert not rule([(masked, True), (masked, True), (masked, True), (unmasked, False)])  # 3 of 3 counted
    assert rule([(unmasked, True), (masked, False), (masked, False)])    # 2 of 3: an unsure face still counts as masked
    assert rule([(unmasked, True), (unmasked, False)])                   # 0 of 1
    assert not rule([("incorrectly_masked", False)])                      # nobody counted: silent
    assert not counts(masked, True, sure_class=False)                     # a class the classifier cannot call never counts


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


def speech_seconds(wav):
    """Seconds of a mono 16-bit WAV whose level is above near-silence (read with the standard library)."""
    import wave

    import numpy as np
    with wave.open(str(wav)) as w:
        rate, pcm = w.getframerate(), np.frombuffer(w.readframes(w.getnframes()), np.int16)
    blocks = pcm[: len(pcm) // 160 * 160].reshape(-1, 160).astype(float)
    return float((np.sqrt((blocks ** 2).mean(1)) > 300).sum() * 160 / rate)


@pytest.mark.skipif(not shutil.which("espeak-ng"), reason="espeak-ng is not installed (setup.sh installs it)")
def test_espeak_speaks_the_message(tmp_path):
    wav = Speaker(tmp_path / "a.wav").say(background=False)
    assert wav.read_bytes()[:4] == b"RIFF" and speech_seconds(wav) > 1.5         # a sentence, not silence
    short = Speaker(tmp_path / "b.wav", "Mask.").say(background=False)
    assert 0 < speech_seconds(short) < speech_seconds(wav) / 3


@pytest.mark.skipif(not shutil.which("espeak-ng"), reason="espeak-ng is not installed (setup.sh installs it)")
def test_message_and_voice_reach_the_speech_and_a_new_message_is_never_stale(tmp_path):
    import subprocess
    text = "Bitte tragen Sie Ihre Maske richtig."
    reference = tmp_path / "ref.wav"                         # espeak-ng itself, called directly
    subprocess.run(["espeak-ng", "-v", "de", "-w", str(reference), text], check=True)
    wav = tmp_path / "announcement.wav"
    assert Speaker(wav).say(background=False) == wav        # the default message, cached on disk ...
    assert Speaker(wav, text, "de").say(background=False).read_bytes() == reference.read_bytes()  # ... replaced


def test_missing_speech_engine_never_raises(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PATH", str(tmp_path))
    assert Speaker(tmp_path / "a.wav").say() is None
    assert "no speech engine" in capsys.readouterr().out


@pytest.mark.parametrize("engine", ["#!/bin/sh\necho 'audio device busy' >&2\nexit 1\n",   # fails
                                    "#!/bin/sh\nkill -9 $$\n"])                          # crashes
def test_failing_speech_engine_never_stops_detection(tmp_path, monkeypatch, capsys, engine, unmasked_clip):
    """A speech engine that fails or crashes: one warning, the announcement is still logged."""
    fake = tmp_path / "bin" / "espeak-ng"
    fake.parent.mkdir()
    fake.write_text(engine)
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake.parent}:/usr/bin:/bin")
    assert Speaker(tmp_path / "s.wav").say() is None
    assert "speech engine failed" in capsys.readouterr().out and not (tmp_path / "s.wav").exists()
    log = tmp_path / "live" / "log.jsonl"
    assert run("test.py", "--source", unmasked_clip, "--log", log) == 0
    out = capsys.readouterr().out
    records = [json.loads(x) for x in log.read_text().splitlines()]
    assert len(records) == 20 and sum(r["announce"] for r in records) == 1      # decided and logged all the same
    assert out.count("speech engine failed") == 1 and "Traceback" not in out


def _log(path, frames, fired=(), fps=10.0):
    """A log as test.py writes it; the frames numbered in `fired` carry the announcement."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as f:
        for i, (c, n) in enumerate(frames):
            said = {"message": "Masken auf!"} if i in fired else {}
            f.write(json.dumps({"frame": f"frame_{i + 1:06d}.jpg", "time": i / fps, "faces": [], "correctly_masked": c,
                                "total": n, "ratio": c / n if n else None, "announce": i in fired, **said}) + "\n")


def test_announce_script_reads_the_decisions_in_the_log(tmp_path, capsys):
    """announce.py reports what test.py decided (frame 12 here; replaying the rule would say frame 10)
    and never speaks a second time."""
    _log(tmp_path / "frames" / "bad" / "log.jsonl", [(0, 2)] * 30, fired={12})
    _log(tmp_path / "frames" / "good" / "log.jsonl", [(2, 2)] * 30)
    out = tmp_path / "summaries"
    assert run("announce.py", "--data_dir", tmp_path / "frames", "--output_dir", out) == 0
    bad, good = (json.loads((out / f"{n}.json").read_text()) for n in ("bad", "good"))
    assert bad["announcements"] == [1.2] and bad["messages"] == ["Masken auf!"] and good["announcements"] == []
    assert (out / "bad.png").read_bytes()[:4] == b"\x89PNG"
    assert 'bad at 1.20 s: "Masken auf!"' in capsys.readouterr().out and not list(out.glob("*.wav"))


def test_one_decision_from_frames_to_summary_with_the_chosen_words(tmp_path, unmasked_clip, capsys):
    """test.py decides and speaks once per firing, in the chosen words; announce.py reads the same times."""
    assert run("deconstruct.py", "--data_dir", unmasked_clip.parent, "--output_dir", tmp_path / "frames") == 0
    words = ["--message", "Bitte Maske richtig tragen", "--voice", "de"]
    assert run("test.py", "--data_dir", tmp_path / "frames", "--output_dir", tmp_path / "out", *words) == 0
    log = [json.loads(x) for x in (tmp_path / "out" / "clip" / "log.jsonl").read_text().splitlines()]
    fired = [r for r in log if r["announce"]]
    assert len(fired) == 1 and fired[0]["message"] == "Bitte Maske richtig tragen"
    meta = json.loads((tmp_path / "out" / "clip" / "meta.json").read_text())
    assert meta["rule"]["voice"] == "de" and meta["rule"]["threshold"] == 0.75
    assert run("announce.py", "--data_dir", tmp_path / "out", "--output_dir", tmp_path / "summaries") == 0
    summary = json.loads((tmp_path / "summaries" / "clip.json").read_text())
    assert summary["announcements"] == [fired[0]["time"]] and summary["messages"] == ["Bitte Maske richtig tragen"]
    assert summary["rule"] == meta["rule"]
    if shutil.which("espeak-ng"):                              # the German words, as espeak-ng says them itself
        import subprocess
        ref = tmp_path / "ref.wav"
        subprocess.run(["espeak-ng", "-v", "de", "-w", str(ref), "Bitte Maske richtig tragen"], check=True)
        assert (tmp_path / "out" / "clip" / "announcement.wav").read_bytes() == ref.read_bytes()


@pytest.mark.skipif(not shutil.which("espeak-ng"), reason="espeak-ng is not installed")
def test_unknown_voice_is_one_line_before_any_work(tmp_path, unmasked_clip, capsys):
    log = tmp_path / "log.jsonl"
    assert run("test.py", "--source", unmasked_clip, "--log", log, "--voice", "xx-nonexistent") == 2
    out = capsys.readouterr().out
    assert "error: --voice xx-nonexistent: espeak-ng has no such voice" in out and "Traceback" not in out
    assert not log.exists()


def test_announce_script_bad_log(tmp_path, capsys):
    (tmp_path / "x.jsonl").write_text('{"time": 0}\nnot json\n')
    assert run("announce.py", "--log", tmp_path / "x.jsonl", "--output_dir", tmp_path) == 2
    out = capsys.readouterr().out
    assert "x.jsonl:2" in out and "Traceback" not in out
    (tmp_path / "y.jsonl").write_text('{"time": 0, "total": 1}\n')          # JSON, but no decisions in it
    assert run("announce.py", "--log", tmp_path / "y.jsonl", "--output_dir", tmp_path) == 2
    assert "y.jsonl:1: not a test.py log line" in capsys.readouterr().out
    assert run("announce.py", "--data_dir", tmp_path / "empty") == 2
