"""cctv-mask-detector: find faces, classify how they wear a mask, warn when too few wear it right."""

CLASSES = ("correctly_masked", "incorrectly_masked", "not_masked")


class InputError(Exception):
    """An expected mistake in the user's input: printed as one line, never as a traceback."""
