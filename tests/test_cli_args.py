"""Numeric flags: nonsense (0 where 0 means nothing, negatives, nan, inf, out of range) is refused by
argparse with a one-line error naming the flag (exit 2), before any work; the defaults still parse."""
import argparse
import functools
import re
from pathlib import Path

import pytest

from conftest import load_script
from maskdet import cli


@functools.lru_cache(maxsize=None)
def script(name):
    return load_script(name)


# (script, arguments it needs, flag, bad value)
BAD = [
    ("test.py", [], "--window", "0"),
    ("test.py", [], "--threshold", "nan"),
    ("test.py", [], "--threshold", "-1"),
    ("test.py", [], "--fraction", "2"),
    ("test.py", [], "--fraction", "nan"),
    ("test.py", [], "--cooldown", "-5"),
    ("test.py", [], "--stall_timeout", "0"),
    ("test.py", [], "--stall_timeout", "-1"),
    ("test.py", [], "--stall_timeout", "nan"),
    ("test.py", [], "--max_frames", "-1"),
    ("test.py", [], "--detect_every", "-3"),
    ("test.py", [], "--test_percent", "101"),
    ("fleet.py", [], "--window", "0"),
    ("fleet.py", [], "--stall_timeout", "inf"),
    ("fleet.py", [], "--workers", "0"),
    ("reconstruct.py", [], "--fps", "nan"),
    ("reconstruct.py", [], "--fps", "inf"),
    ("reconstruct.py", [], "--fps", "0"),
    ("deconstruct.py", [], "--every", "0"),
    ("deconstruct.py", [], "--every", "-2"),
    ("train_mask_detection_model.py", [], "--batch_size", "0"),
    ("train_mask_detection_model.py", [], "--lr", "nan"),
    ("train_mask_detection_model.py", ["--arch", "cnn"], "--input_size", "0"),
    ("train_mask_detection_model.py", [], "--epochs", "-1"),
    ("train_mask_detection_model.py", [], "--detect_every", "-3"),
    ("train_mask_detection_model.py", [], "--min_score", "1.5"),
    ("finetune_detector.py", [], "--lr", "nan"),
    ("finetune_detector.py", [], "--upscale", "0"),
    ("make_sample.py", [], "--seconds", "0"),
    ("make_sample.py", [], "--seconds", "nan"),
    ("annotate.py", ["export"], "--n", "-1"),
    ("prepare_dataset.py", [], "--limit", "-1"),
    ("prepare_dataset.py", [], "--test_percent", "150"),
    ("extract_faces.py", [], "--test_percent", "-1"),
    ("drift_report.py", [], "--seed", "-1"),
]


@pytest.mark.parametrize("name, needed, flag, value", BAD, ids=[f"{b[0]} {b[2]} {b[3]}" for b in BAD])
def test_bad_values_are_one_argparse_error_naming_the_flag(name, needed, flag, value, capsys):
    with pytest.raises(SystemExit) as e:
        script(name).parse_args(needed + [flag, value])
    err = capsys.readouterr().err
    assert e.value.code == 2
    assert f"argument {flag}: must be " in err and repr(value) in err and "Traceback" not in err


# (script, its minimal arguments)
DEFAULTS = [("test.py", []), ("fleet.py", []), ("reconstruct.py", []), ("deconstruct.py", []),
            ("train_mask_detection_model.py", []), ("finetune_detector.py", []), ("make_sample.py", []),
            ("annotate.py", ["export"]), ("prepare_dataset.py", []), ("extract_faces.py", []),
            ("drift_report.py", []), ("announce.py", [])]


@pytest.mark.parametrize("name, needed", DEFAULTS, ids=[d[0] for d in DEFAULTS])
def test_defaults_still_parse(name, needed, monkeypatch):
    """Every flag's default passes its own type (argparse never applies `type` to a default that is not
    a string, so each default is given to it as text)."""
    parsers, parse = [], argparse.ArgumentParser.parse_args

    def capture(self, *args, **kwargs):
        parsers.append(self)
        return parse(self, *args, **kwargs)

    monkeypatch.setattr(argparse.ArgumentParser, "parse_args", capture)
    assert script(name).parse_args(needed) is not None
    checked = 0
    for action in (a for p in parsers for a in p._actions):
        if callable(action.type) and action.default is not None and action.type not in (str, Path):
            for value in action.default if isinstance(action.default, (list, tuple)) else [action.default]:
                assert action.type(str(value)) == value, (action.dest, value)
                checked += 1
    assert checked > 0 or name in ("announce.py",)


def test_documented_zeros_and_ordinary_values_parse():
    opt = script("test.py").parse_args(["--max_frames", "0", "--reconnects", "0", "--cooldown", "0", "--threshold", "1",
                                        "--window", "0.5", "--stall_timeout", "2.5", "--test_percent", "0"])
    assert (opt.max_frames, opt.reconnects, opt.cooldown, opt.threshold, opt.window, opt.stall_timeout) == (0, 0, 0, 1, 0.5, 2.5)
    opt = script("train_mask_detection_model.py").parse_args(
        ["--epochs", "0", "--max_side", "0", "--mask_ssd", "0", "--mask_ssd_side", "0", "--thresholds", "0.6", "0.7", "1"])
    assert opt.epochs == 0 and opt.max_side == 0 and opt.thresholds == [0.6, 0.7, 1.0]
    opt = script("prepare_dataset.py").parse_args(["--limit", "0", "--synth_masks", "0", "--test_percent", "100"])
    assert (opt.limit, opt.synth_masks, opt.test_percent) == (0, 0, 100)
    assert script("reconstruct.py").parse_args(["--fps", "12.5"]).fps == 12.5
    assert script("make_sample.py").parse_args(["--seconds", "0.04"]).seconds == 0.04


@pytest.mark.parametrize("kind, good, bad", [
    (cli.positive_int, {"1": 1, "64": 64}, ["0", "-1", "2.5", "nan", "inf", "x", ""]),
    (cli.nonneg_int, {"0": 0, "7": 7}, ["-1", "1.5", "nan"]),
    (cli.int_from(4), {"4": 4, "32": 32}, ["3", "0", "nan"]),
    (cli.percent, {"0": 0, "40": 40, "100": 100}, ["-1", "101", "150", "50.5", "nan"]),
    (cli.positive_float, {"1e-3": 1e-3, "2": 2.0}, ["0", "-0.5", "nan", "inf", "-inf", "x"]),
    (cli.nonneg_float, {"0": 0.0, "10": 10.0}, ["-5", "nan", "inf"]),
    (cli.unit_float, {"0": 0.0, "0.75": 0.75, "1": 1.0}, ["-0.1", "1.01", "nan", "inf"]),
    (cli.positive_unit_float, {"0.6": 0.6, "1": 1.0}, ["0", "-1", "2", "nan"]),
    (cli.float_between(0.01, 1000), {"0.01": 0.01, "25": 25.0, "1000": 1000.0}, ["0", "0.001", "1001", "nan", "inf"]),
])
def test_types_accept_good_values_and_reject_the_rest(kind, good, bad):
    for text, value in good.items():
        assert kind(text) == value and type(kind(text)) is type(value)
    for text in bad:
        with pytest.raises(argparse.ArgumentTypeError, match=f"^must be .*, got {re.escape(repr(text))}$"):
            kind(text)


def test_ctrl_c_ends_a_script_with_one_line_and_status_130(capsys):
    from maskdet import cli

    def interrupted():
        raise KeyboardInterrupt

    assert cli.run(interrupted) == 130
    assert cli.run(lambda: 0) == 0
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("interrupted") and "Traceback" not in err
