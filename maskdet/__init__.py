"""cctv-mask-detector: find faces, classify how they wear a mask, warn when too few wear it right."""
import os

# torch's OpenMP threads sleep as soon as a parallel section ends instead of spinning for the next one
# (read when torch loads, so set before it is imported). Following faces runs many small networks between
# other work: spinning threads took the cores that decoding, encoding and the next network needed
# (walkers clip through test.py --source's path, 2 cores: 1080p 67-77 -> 62-68 ms a frame, 720p 50 -> 42).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

CLASSES = ("correctly_masked", "incorrectly_masked", "not_masked")


class InputError(Exception):
    """An expected mistake in the user's input: printed as one line, never as a traceback."""
