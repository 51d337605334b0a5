"""What every script shares on the command line: `type=` functions for numeric flags, and run(), which
ends a script cleanly on Ctrl-C. Each type returns the value, or raises
argparse.ArgumentTypeError, which argparse prints as a one-line error naming the flag, e.g.
`error: argument --window: must be a number above 0, got '0'` (exit status 2).
Not-a-number and infinity are never accepted."""
import argparse
import math
import sys


def _check(text, convert, ok, rule):
    """`text` converted by `convert` (int or float) when the value is finite and `ok(value)` holds;
    else an ArgumentTypeError "must be <rule>, got '<text>'"."""
    try:
        value = convert(text)
    except ValueError:
        value = None
    if value is None or (isinstance(value, float) and not math.isfinite(value)) or not ok(value):
        raise argparse.ArgumentTypeError(f"must be {rule}, got {text!r}")
    return value


def positive_int(text):
    """A whole number above 0: a count or size that cannot be zero."""
    return _check(text, int, lambda v: v > 0, "a whole number above 0")


def nonneg_int(text):
    """A whole number, 0 or above (0 often means "none" or "no limit")."""
    return _check(text, int, lambda v: v >= 0, "a whole number, 0 or above")


def int_from(low):
    """A type for a whole number of at least `low`, e.g. int_from(4)."""
    def parse(text):
        return _check(text, int, lambda v: v >= low, f"a whole number of at least {low}")
    return parse


def percent(text):
    """A whole number from 0 to 100."""
    return _check(text, int, lambda v: 0 <= v <= 100, "a whole number from 0 to 100")


def positive_float(text):
    """A finite number above 0."""
    return _check(text, float, lambda v: v > 0, "a number above 0")


def nonneg_float(text):
    """A finite number, 0 or above."""
    return _check(text, float, lambda v: v >= 0, "a number, 0 or above")


def unit_float(text):
    """A number from 0 to 1: a share, score or probability."""
    return _check(text, float, lambda v: 0 <= v <= 1, "a number from 0 to 1")


def positive_unit_float(text):
    """A number above 0 and at most 1: a share where 0 would make no sense."""
    return _check(text, float, lambda v: 0 < v <= 1, "a number above 0 and at most 1")


def float_between(low, high):
    """A type for a finite number from `low` to `high`, both included, e.g. float_between(0.01, 1000)."""
    def parse(text):
        return _check(text, float, lambda v: low <= v <= high, f"a number from {low:g} to {high:g}")
    return parse


def run(main):
    """A script's main() as its exit status; Ctrl-C ends it with one line instead of a traceback (every
    output is written under a temporary name and renamed when whole, so nothing half-written is left:
    a re-run resumes)."""
    try:
        return main()
    except KeyboardInterrupt:
        print("interrupted: finished outputs are kept; run again to resume", file=sys.stderr)
        return 130
