"""Reader of the CIFAR "python version" batch files (``data_batch_1``, ``test_batch``, ``batches.meta``,
``train``, ``meta``, ...) without unpickling them freely.

The files are pickles: a dict of strings, lists of ints or strings, and NumPy uint8 arrays. Unpickling a
file runs whatever its global references name, so a doctored batch could run code when read. Here an
:class:`pickle.Unpickler` resolves only the few globals that the format uses (NumPy's array and dtype
reconstructors, and ``_codecs.encode`` that Python 3 pickles use for bytes) and maps each to a stand-in of
ours that builds a plain numeric array from bytes (never an object array); any other global, a persistent
id or a structure outside the format is refused before anything of it runs.
"""

from __future__ import annotations

import codecs
import pickle
from pathlib import Path
from typing import Any

import numpy as np

NUMERIC_KINDS = "biuf"  # bool, signed and unsigned integers, floats: dtypes whose arrays hold no objects


class _ArrayStub:
    """Stands for ``numpy.ndarray`` while unpickling: its state (shape, dtype, raw bytes) becomes ``array``."""

    array: np.ndarray | None = None

    def __setstate__(self, state: tuple) -> None:
        if not isinstance(state, tuple) or len(state) not in (4, 5):
            raise pickle.UnpicklingError("an array's state is not (version, shape, dtype, fortran, bytes)")
        shape, dtype, fortran, raw = state[-4:]
        if not isinstance(dtype, _DtypeStub):
            raise pickle.UnpicklingError("an array's dtype is not a plain numeric dtype")
        if isinstance(raw, str):  # Python 2's str, read as latin-1 text: the bytes, one character each
            raw = raw.encode("latin1")
        if not isinstance(raw, bytes | bytearray):
            raise pickle.UnpicklingError("an array's data is not raw bytes (an object array?)")
        self.array = _from_bytes(raw, dtype.dtype, shape, "F" if fortran else "C")


class _DtypeStub:
    """Stands for ``numpy.dtype`` while unpickling; only plain numeric dtypes are accepted."""

    def __init__(self, spec: Any, align: Any = False, copy: Any = True):
        if not isinstance(spec, str):
            raise pickle.UnpicklingError(f"dtype {spec!r} is not a type code")
        try:
            self.dtype = np.dtype(spec)
        except TypeError as exc:
            raise pickle.UnpicklingError(f"dtype {spec!r} is not a NumPy type code") from exc
        if self.dtype.kind not in NUMERIC_KINDS:
            raise pickle.UnpicklingError(f"dtype {spec!r} is not numeric")

    def __setstate__(self, state: tuple) -> None:
        if not isinstance(state, tuple) or len(state) < 2 or any(v is not None for v in state[2:5]):
            raise pickle.UnpicklingError("a dtype's state describes a structured or sub-array dtype")
        if state[1] in ("<", ">"):
            self.dtype = self.dtype.newbyteorder(state[1])


def _from_bytes(raw: bytes | bytearray, dtype: np.dtype, shape: Any, order: str) -> np.ndarray:
    if not isinstance(shape, tuple) or not all(isinstance(n, int) and n >= 0 for n in shape):
        raise pickle.UnpicklingError(f"array shape {shape!r} is invalid")
    if len(raw) != dtype.itemsize * int(np.prod(shape, dtype=np.int64)):
        raise pickle.UnpicklingError(f"{len(raw)} bytes do not fill an array of shape {shape} and dtype {dtype}")
    return np.frombuffer(bytes(raw), dtype=dtype).reshape(shape, order=order).copy()


def _reconstruct(cls: Any, shape: Any, typecode: Any) -> _ArrayStub:
    if cls is not _ArrayStub:
        raise pickle.UnpicklingError("an array is reconstructed as something other than numpy.ndarray")
    return _ArrayStub()


def _frombuffer(buffer: Any, dtype: Any, shape: Any, order: str = "C") -> np.ndarray:
    """Pickle protocol 5's form of an array (``numpy._core.numeric._frombuffer``)."""
    if not isinstance(dtype, _DtypeStub) or order not in ("C", "F") or not isinstance(buffer, bytes | bytearray):
        raise pickle.UnpicklingError("an array given by buffer is not plain numeric bytes")
    return _from_bytes(buffer, dtype.dtype, shape, order)


def _encode(text: Any, encoding: str = "utf-8") -> bytes:
    """``_codecs.encode``, which Python 3 pickles of bytes use at protocols below 3: only text to latin-1."""
    if not isinstance(text, str) or encoding != "latin1":
        raise pickle.UnpicklingError("only latin-1 text may be encoded to bytes")
    return codecs.encode(text, "latin1")


ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"): _reconstruct,  # NumPy 1 (the official CIFAR files)
    ("numpy._core.multiarray", "_reconstruct"): _reconstruct,  # NumPy 2
    ("numpy.core.numeric", "_frombuffer"): _frombuffer,
    ("numpy._core.numeric", "_frombuffer"): _frombuffer,
    ("numpy", "ndarray"): _ArrayStub,
    ("numpy", "dtype"): _DtypeStub,
    ("_codecs", "encode"): _encode,
}


class BatchUnpickler(pickle.Unpickler):
    """An unpickler that resolves only the globals of the CIFAR batch format (:data:`ALLOWED`), each to a
    stand-in of ours; any other global is refused before it is called."""

    def find_class(self, module: str, name: str) -> Any:
        try:
            return ALLOWED[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(f"global '{module}.{name}' is not part of the CIFAR batch format "
                                         "(refused: unpickling it could run code)") from None


def _plain(value: Any) -> Any:
    """The unpickled structure with array stand-ins replaced by their arrays; dicts, lists, tuples,
    strings, bytes, numbers and arrays only."""
    if isinstance(value, _ArrayStub):
        if value.array is None:
            raise pickle.UnpicklingError("an array was given no state")
        return value.array
    if isinstance(value, dict):
        return {_plain(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_plain(v) for v in value)
    if value is None or isinstance(value, str | bytes | int | float | np.ndarray):
        return value
    raise pickle.UnpicklingError(f"a {type(value).__name__} is not part of the CIFAR batch format")


def read_cifar_batch(path: Path) -> Any:
    """The content of one CIFAR batch file (a dict; Python 2 strings read as latin-1 text, as torchvision
    reads them), read by :class:`BatchUnpickler`; any failure raises (a damaged, foreign or doctored file)."""
    with open(path, "rb") as fh:
        return _plain(BatchUnpickler(fh, encoding="latin1").load())
