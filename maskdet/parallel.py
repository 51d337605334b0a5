"""Small networks on small batches, spread over the cores by hand.

Following faces runs O-Nets (and the classifier) on a few dozen 48 px crops at a time. torch's own
intra-op threads barely help there: each layer is too short for a second thread to pay off (O-Net and
verifier on 12 crops: 15 ms on 1 thread or 2). Whole forward passes on halves of the batch, each on a
thread of its own with one intra-op thread, do (9 ms on 2 cores: the same outputs, as each crop's
result does not depend on the others in its batch).
"""
import functools
from concurrent.futures import ThreadPoolExecutor

import torch

MIN_CHUNK = 2  # crops per forward pass at least: a smaller part of a batch is not worth a thread


@functools.cache
def _pool(workers):
    """Threads that each run torch on one intra-op thread (torch.set_num_threads is per thread here)."""
    return ThreadPoolExecutor(max_workers=workers, thread_name_prefix="forward",
                              initializer=torch.set_num_threads, initargs=(1,))


def forward(nets, x):
    """[net(x) for net in nets], each batch split into parts run at once on as many threads as torch
    has (torch.get_num_threads(), read at each call: a fleet worker given one core stays on one);
    outputs (a tensor or a tuple of tensors) put back together in batch order."""
    workers = torch.get_num_threads()
    parts = max(1, min(workers, len(x) // MIN_CHUNK))
    if workers == 1 or (parts == 1 and len(nets) == 1):
        with torch.no_grad():
            return [net(x) for net in nets]
    chunks = x.tensor_split(parts)
    jobs = [[_pool(workers).submit(_run, net, c) for c in chunks] for net in nets]
    return [_join([j.result() for j in per_net]) for per_net in jobs]


def _run(net, x):
    with torch.no_grad():  # grad mode is per thread
        return net(x)


def _join(outs):
    """Outputs of the parts of one batch, concatenated along the batch."""
    if isinstance(outs[0], torch.Tensor):
        return torch.cat(outs)
    return tuple(torch.cat(o) for o in zip(*outs))
