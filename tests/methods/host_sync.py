"""A guard that fails on what a captured CUDA graph cannot hold, detectable on the CPU.

Inside :func:`forbid_host_work` any of these raises :class:`HostWork`:

- reading a tensor's value on the host: ``.item()``, ``.tolist()``, ``.numpy()``, ``.cpu()``,
  ``bool()/int()/float()`` of a tensor (a Python ``if`` on one), and every op that does it inside
  (``aten._local_scalar_dense``);
- ops whose output shape depends on the data (``nonzero``, boolean-mask indexing, ``masked_select``,
  ``unique``, tensor ``repeat_interleave``) or that check their input on the host (``multinomial``,
  ``equal``, ``is_nonzero``): on CUDA each waits for the device;
- host data turned into a tensor (``torch.tensor(list)``, ``torch.as_tensor(array)``) and copies
  between devices: on CUDA a host-to-device copy, refused in a capture or frozen into it (run the
  step on the ``meta`` device, which holds no data, to see a CPU constant copied in at every call);
- NumPy's and Python's random number generators (their draws would be frozen into a graph).

Torch's own random ops with a generator are allowed: they are what a graph replays with fresh draws.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import pytest
import torch
from torch.overrides import TorchFunctionMode
from torch.utils._python_dispatch import TorchDispatchMode

_HOST_READS = {torch.Tensor.item, torch.Tensor.tolist, torch.Tensor.numpy, torch.Tensor.cpu,
               torch.Tensor.__bool__, torch.Tensor.__int__, torch.Tensor.__float__, torch.Tensor.__index__}
_aten = torch.ops.aten
_SYNCING_OPS = {_aten._local_scalar_dense, _aten.nonzero, _aten.masked_select, _aten._unique2, _aten.unique_dim,
                _aten.unique_consecutive, _aten.equal, _aten.is_nonzero, _aten.multinomial, _aten.lift_fresh,
                _aten.lift_fresh_copy}
_PYTHON_RANDOM = ("random", "uniform", "randint", "randrange", "choice", "choices", "shuffle", "sample", "gauss",
                  "normalvariate", "betavariate", "gammavariate", "expovariate", "getrandbits", "triangular",
                  "Random")


class HostWork(AssertionError):
    """Something a CUDA graph could not capture (or would freeze) happened inside the guard."""


class _NoHostReads(TorchFunctionMode):
    def __torch_function__(self, func, types, args=(), kwargs=None):
        if func in _HOST_READS:
            raise HostWork(f"{getattr(func, '__name__', func)} reads a tensor on the host")
        return func(*args, **(kwargs or {}))


class _NoSyncingOps(TorchDispatchMode):
    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        packet = func.overloadpacket
        if packet in _SYNCING_OPS or (packet == _aten.repeat_interleave and func is _aten.repeat_interleave.Tensor):
            raise HostWork(f"{func} waits for the device or copies host data")
        if packet == _aten._to_copy and "device" in (kwargs or {}) and kwargs["device"] != args[0].device:
            raise HostWork(f"{func} copies a tensor from {args[0].device} to {kwargs['device']}")
        if packet == _aten.copy_ and args[0].device != args[1].device:
            raise HostWork(f"{func} copies a tensor from {args[1].device} to {args[0].device}")
        if packet in (_aten.index, _aten.index_put, _aten.index_put_) and any(
                torch.is_tensor(i) and i.dtype == torch.bool for i in (args[1] or ())):
            raise HostWork(f"{func} with a boolean mask has a data-dependent shape")
        return func(*args, **(kwargs or {}))


def block_host_randomness(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make every NumPy and Python random number generator raise for the rest of the test."""

    def refuse(*args, **kwargs):
        raise HostWork("a host-side random number generator was used")

    for name in dir(np.random):
        if not name.startswith("_") and callable(getattr(np.random, name)):
            monkeypatch.setattr(np.random, name, refuse)
    for name in _PYTHON_RANDOM:
        monkeypatch.setattr(random, name, refuse)


@contextmanager
def forbid_host_work() -> Iterator[None]:
    """No host reads, syncing ops or host data while the block runs (see the module docstring)."""
    with _NoHostReads(), _NoSyncingOps():
        yield
