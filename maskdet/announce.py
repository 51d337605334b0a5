"""The announcement rule (debounced, with a cooldown) and offline speech through espeak-ng."""
import shutil
import subprocess
import threading
from collections import deque
from pathlib import Path

from maskdet import InputError, cli

MESSAGE = "Don't forget to wear your mask correctly before going outside!"


def is_bad(correct, total, threshold=0.75):
    """A frame is bad when at least one face is in view and fewer than `threshold` are correctly masked."""
    return total > 0 and correct < threshold * total


def counts(label, sure_face, sure_class=True):
    """Whether the rule counts a face. A face the classifier cannot call (unsure) never counts. A face
    the detector is not sure of (score below count_score) counts only when it is called correctly
    masked: such a guess may keep the camera quiet, never make it speak. Three folds of the training
    scenes (188, each fold's verifier and classifier trained without it), false / missed alarms
    against leaving every such face out: still path 15 / 6 -> 8 / 7, stream 11 / 9 -> 9 / 10. The
    false alarms it removes were mostly 3-of-4 and 6-of-8 crowds, exactly at 75%, with a masked face the detector was
    not sure of: masks hide what face detectors look for, so a cut-off on detector score drops masked
    faces more often than bare ones. On the evaluation scenes, with the verifier's scoring of its day,
    it cost one missed alarm a path (0 / 6 -> 0 / 7): a crowd below 75% whose unmasked faces were
    missed."""
    return sure_class and (sure_face or label == "correctly_masked")


class Announcer:
    """Fires when at least `fraction` of the frames of the last `window` seconds were bad, and the
    last announcement is more than `cooldown` seconds ago. Times come from the video, never the clock.
    `message` is what is said when it fires."""

    def __init__(self, threshold=0.75, window=1.0, fraction=0.6, cooldown=10.0, message=MESSAGE):
        self.threshold, self.window, self.fraction, self.cooldown = threshold, window, fraction, cooldown
        self.message = message
        self.history = deque()   # (time, bad) of the frames inside the window: bounded by fps x window
        self.start = None
        self.last = None

    def update(self, t, correct, total):
        """Add one frame at time `t` (seconds); return True when the announcement fires now."""
        self.start = t if self.start is None else self.start
        self.history.append((t, is_bad(correct, total, self.threshold)))
        while self.history and self.history[0][0] <= t - self.window:
            self.history.popleft()
        if t - self.start < self.window * 0.999 - 1e-9:
            return False  # not a full window seen yet
        bad = sum(b for _, b in self.history) / len(self.history)
        if bad >= self.fraction and (self.last is None or t - self.last >= self.cooldown):
            self.last = t
            return True
        return False


RULE_FLAGS = ("threshold", "window", "fraction", "cooldown", "message", "voice")


def add_arguments(p):
    """The rule's and the speech's flags, the same wherever the rule runs (test.py, fleet.py)."""
    p.add_argument("--threshold", type=cli.positive_unit_float, default=0.75, help="announce when fewer than this share is correctly masked")
    p.add_argument("--window", type=cli.positive_float, default=1.0, help="seconds of frames the decision looks at")
    p.add_argument("--fraction", type=cli.positive_unit_float, default=0.6, help="share of the window's frames that must be bad")
    p.add_argument("--cooldown", type=cli.nonneg_float, default=10.0, help="seconds before the announcement may repeat")
    p.add_argument("--message", default=MESSAGE, help="what is said (and logged) when the announcement fires")
    p.add_argument("--voice", default="en", help="espeak-ng voice, e.g. en, de, es, ko (espeak-ng --voices lists them)")
    p.add_argument("--no_speech", action="store_true", help="log announcements without speaking")


def announcer_from(opt):
    """An Announcer from parsed flags."""
    return Announcer(opt.threshold, opt.window, opt.fraction, opt.cooldown, opt.message)


def rule_from(opt):
    """The rule's and the speech's settings as a dict, for meta.json and summaries."""
    return {k: getattr(opt, k) for k in RULE_FLAGS}


def speaker_from(opt, out_dir):
    """The Speaker writing announcement.wav into `out_dir`, or None with --no_speech."""
    return None if opt.no_speech else Speaker(Path(out_dir) / "announcement.wav", opt.message, opt.voice)


def check_voice(opt):
    """Before any work: InputError when speech is on and the installed engine does not know --voice."""
    if not opt.no_speech:
        speaker_from(opt, ".").check_voice()


class Speaker:
    """Speaks through espeak-ng into a WAV, then plays it where a sound device exists.
    A missing engine or device is reported once and never stops detection."""

    def __init__(self, wav_path, text=MESSAGE, voice="en"):
        self.wav, self.text, self.voice = Path(wav_path), text, voice
        self.engine = shutil.which("espeak-ng") or shutil.which("espeak")
        self.player = next((p for p in ("aplay", "paplay", "ffplay") if shutil.which(p)), None)
        self.warned, self.ready = False, False

    def check_voice(self):
        """InputError when the installed engine does not know the voice (nothing to check without one)."""
        if not self.engine:
            return
        try:
            r = subprocess.run([self.engine, "-q", "-v", self.voice, "x"], capture_output=True, timeout=30)
        except (OSError, subprocess.SubprocessError):
            return  # a broken engine is reported when it is used, and never stops detection
        if r.returncode != 0 and b"voice does not exist" in r.stderr + r.stdout:
            raise InputError(f"--voice {self.voice}: espeak-ng has no such voice (espeak-ng --voices lists them)")

    def synthesize(self):
        """Write this message's WAV (once per Speaker, so a changed message or voice is never stale);
        return its path, or None when no speech engine works."""
        if self.ready:
            return self.wav
        if not self.engine:
            self._warn("no speech engine (install espeak-ng): announcements are logged only")
            return None
        from maskdet.files import atomic_path
        try:
            with atomic_path(self.wav) as tmp:
                cmd = [self.engine, "-v", self.voice, "-w", str(tmp), self.text]
                r = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
                if r.returncode != 0:
                    raise OSError(r.stderr.strip()[:100])
        except (OSError, subprocess.SubprocessError) as e:
            self._warn(f"speech engine failed ({e}): announcements are logged only")
            return None
        self.ready = True
        return self.wav

    def say(self, background=True):
        """Speak the message; in the background by default so frames keep flowing."""
        wav = self.synthesize()
        if wav and self.player and Path("/dev/snd").exists():
            cmd = [self.player, str(wav)] if self.player != "ffplay" else ["ffplay", "-nodisp", "-autoexit", str(wav)]
            run = lambda: subprocess.run(cmd, capture_output=True, timeout=30)  # noqa: E731
            threading.Thread(target=run, daemon=True).start() if background else run()
        return wav

    def _warn(self, msg):
        if not self.warned:
            print(f"warning: {msg}")
            self.warned = True
