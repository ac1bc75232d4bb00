"""The cache of trained generators: train once per (split, generator settings, budget, seed), reuse after.

An entry is one file ``<cache>/generators/<split fingerprint[:16]>/<name>-<key hash[:20]>.pt``, beside the
split cache (``benchmark.datasets.base.resolve_cache_dir``, or the context's ``cache_dir``). Its key is a
JSON object: the generator's ``name`` and ``settings()``, the budget, the training seed, the split's
fingerprint and a SHA-256 of the very rows the generator was fitted on (so feature-space generators, whose
rows depend on the featuriser, can never pick up another featuriser's generator). The file is a header
line, the SHA-256 of the payload, and the payload (``torch.save`` of key, state and training seconds);
it is written to a temporary file and renamed, so a killed writer leaves no partial entry. A file whose
checksum, format or key does not match is deleted and the generator trained again: an entry is never
trusted on its name alone. Concurrent workers that miss the same entry both train; the last rename wins,
and both entries are equal for a seed on one device.

A cache folder may be shared (a data root on a group drive), so its files are input: the payload is read
with ``torch.load(weights_only=True)``, which builds tensors and plain containers and refuses any other
object, and nothing here unpickles. (The SHA-256 in the header only detects damage: whoever can write
the file can write a matching checksum.) A generator whose state only pickling can store
(``Generator.persistent`` False: ctgan's CTGAN and TVAE) is cached in this process's memory instead,
keyed the same way, and never written to or read from a folder.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from benchmark.methods.base import ResampleContext

MAGIC = b"benchmark-generator-cache/1\n"
_IN_MEMORY: dict[str, tuple[dict[str, Any], float]] = {}  # states of non-persistent generators, by key
MAX_IN_MEMORY = 8  # a study reuses one generator per trial seed group; a few suffice


@dataclass(frozen=True)
class Fitted:
    """How a generator was obtained: seconds spent training it now, or recorded in the reused entry."""

    fit_seconds: float
    cached_seconds: float
    path: Path | None
    reused: bool


def rows_digest(X: np.ndarray, y: np.ndarray) -> str:
    """SHA-256 of the training rows (dtype, shape and bytes of X and y)."""
    h = hashlib.sha256()
    for arr in (np.ascontiguousarray(X), np.ascontiguousarray(y)):
        h.update(f"{arr.dtype.str}:{arr.shape}".encode())
        h.update(memoryview(arr).cast("B") if arr.size else b"")
    return h.hexdigest()


def default_cache_dir() -> Path:
    """The split cache folder of ``$BENCHMARK_CACHE`` / ``$BENCHMARK_DATA`` (or the user cache).

    A generator needs only a writable folder, not the data: ``$BENCHMARK_CACHE`` is used as it is, and a
    ``$BENCHMARK_DATA`` that names no folder (the data may come from elsewhere, e.g. the package's own
    copies) falls back to the user cache instead of failing the trial."""
    from benchmark.datasets.base import resolve_cache_dir, resolve_data_root
    from benchmark.errors import BenchmarkError

    if os.environ.get("BENCHMARK_CACHE"):
        path = Path(os.environ["BENCHMARK_CACHE"]).expanduser()
        path.mkdir(parents=True, exist_ok=True)
        return path
    try:
        root = resolve_data_root()
    except BenchmarkError:
        root = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "imbalance-benchmark" / "data"
        root.mkdir(parents=True, exist_ok=True)
    return resolve_cache_dir(root)


class GeneratorCache:
    """Trained generators on disk (see the module docstring). ``folder``: the cache root."""

    def __init__(self, folder: str | os.PathLike, split_fingerprint: str = ""):
        self.root = Path(folder) / "generators" / (split_fingerprint[:16] or "unknown-split")

    @classmethod
    def for_context(cls, context: ResampleContext) -> GeneratorCache:
        folder = context.cache_dir if context.cache_dir is not None else default_cache_dir()
        return cls(folder, context.split_fingerprint)

    @staticmethod
    def key(generator: Any, X: np.ndarray, y: np.ndarray, context: ResampleContext, seed: int) -> dict[str, Any]:
        return json.loads(json.dumps({
            "generator": generator.name, "settings": generator.settings(), "budget": context.budget.record(),
            "seed": int(seed), "split": context.split_fingerprint, "rows": rows_digest(X, y)}, sort_keys=True))

    def path(self, key: dict[str, Any]) -> Path:
        digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:20]
        return self.root / f"{key['generator']}-{digest}.pt"

    def load(self, path: Path, key: dict[str, Any]) -> tuple[dict[str, Any], float] | None:
        """(state, training seconds) of a valid entry for ``key``; None (and the file removed) otherwise."""
        import torch

        if not path.exists():
            return None
        try:
            data = path.read_bytes()
            if not data.startswith(MAGIC):
                raise ValueError("not a generator cache file")
            digest, payload = data[len(MAGIC):len(MAGIC) + 64].decode(), data[len(MAGIC) + 65:]
            if hashlib.sha256(payload).hexdigest() != digest:
                raise ValueError("checksum mismatch (a partial or damaged file)")
            entry = torch.load(io.BytesIO(payload), map_location="cpu", weights_only=True)
            if entry.get("key") != key:
                raise ValueError("the entry belongs to another key")
            return entry["state"], float(entry["seconds"])
        except Exception:  # damaged, partial or foreign: rebuilt, never trusted
            path.unlink(missing_ok=True)
            return None

    def save(self, path: Path, key: dict[str, Any], state: dict[str, Any], seconds: float) -> None:
        import torch

        buffer = io.BytesIO()
        torch.save({"key": key, "state": state, "seconds": float(seconds)}, buffer)
        payload = buffer.getvalue()
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path.parent, prefix=path.name, suffix=".tmp", delete=False) as tmp:
            tmp.write(MAGIC + hashlib.sha256(payload).hexdigest().encode() + b"\n" + payload)
        os.chmod(tmp.name, 0o644)
        os.replace(tmp.name, path)

    def get_or_fit(self, generator: Any, X: np.ndarray, y: np.ndarray, context: ResampleContext,
                   seed: int) -> Fitted:
        """Load ``generator``'s state from a valid entry, or fit it on ``X``, ``y`` and store it."""
        key = self.key(generator, X, y, context, seed)
        if not getattr(generator, "persistent", True):
            return self._in_memory(generator, X, y, context, seed, key)
        path = self.path(key)
        found = self.load(path, key)
        if found is not None:
            state, seconds = found
            generator.load_state_dict(state, device=context.device)
            return Fitted(0.0, seconds, path, True)
        t0 = time.perf_counter()
        generator.fit(X, y, budget=context.budget, device=context.device, seed=int(seed))
        seconds = time.perf_counter() - t0
        try:
            self.save(path, key, generator.state_dict(), seconds)
        except OSError:  # a read-only or full cache folder costs reuse, not the trial
            path = None
        return Fitted(seconds, 0.0, path, False)

    @staticmethod
    def _in_memory(generator: Any, X: np.ndarray, y: np.ndarray, context: ResampleContext, seed: int,
                   key: dict[str, Any]) -> Fitted:
        """A non-persistent generator: reused within this process, never stored in a file."""
        name = json.dumps(key, sort_keys=True)
        if name in _IN_MEMORY:
            state, seconds = _IN_MEMORY[name]
            generator.load_state_dict(state, device=context.device)
            return Fitted(0.0, seconds, None, True)
        t0 = time.perf_counter()
        generator.fit(X, y, budget=context.budget, device=context.device, seed=int(seed))
        seconds = time.perf_counter() - t0
        _IN_MEMORY[name] = (generator.state_dict(), seconds)
        while len(_IN_MEMORY) > MAX_IN_MEMORY:  # the oldest first (dicts keep insertion order)
            _IN_MEMORY.pop(next(iter(_IN_MEMORY)))
        return Fitted(seconds, 0.0, None, False)
