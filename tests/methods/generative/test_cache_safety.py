"""A generator cache folder is input: a crafted entry never runs code, and the package never unpickles what
it reads from a data root or cache folder (issue 28, item 1)."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest
import torch

import benchmark
from benchmark.methods.base import GeneratorBudget, ResampleContext
from benchmark.methods.generative import _cache
from benchmark.methods.generative._base import Generator
from benchmark.methods.generative._cache import GeneratorCache
from benchmark.testing import make_image_split, make_tabular_split


class Payload:
    """Unpickling this creates ``marker``: the proof that a file ran code."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return open, (self.marker, "w")


class MeanGenerator(Generator):
    name = "mean-test"

    def fit(self, X, y, *, budget, device, seed):
        self.mean = torch.as_tensor(X.mean(0))

    def sample(self, counts, *, seed):
        n = sum(counts.values())
        return np.repeat(self.mean.numpy()[None].astype(np.uint8), n, axis=0)

    def state_dict(self):
        return {"mean": self.mean}

    def load_state_dict(self, state, *, device="cpu"):
        self.mean = state["mean"]


def _context(tmp_path, split, budget=GeneratorBudget(1, 8)):
    return ResampleContext(cache_dir=tmp_path, split_fingerprint=split.fingerprint(), budget=budget)


def test_a_crafted_torch_entry_does_not_run_code(tmp_path):
    split, marker = make_image_split(), tmp_path / "ran"
    X, y = split.train.X, split.train.y
    ctx, generator = _context(tmp_path, split), MeanGenerator()
    cache = GeneratorCache.for_context(ctx)
    key = cache.key(generator, X, y, ctx, 0)
    # a well-formed entry (magic, matching checksum, the right key) whose state is an object, not tensors
    cache.save(cache.path(key), key, {"mean": Payload(marker)}, 1.0)
    with pytest.raises(Exception):  # noqa: B017 - what torch raises is its business; that it refuses is ours
        torch.load(cache.path(key), weights_only=True)  # (the file itself has a header: it never loads whole)
    fitted = cache.get_or_fit(generator, X, y, ctx, 0)
    assert not marker.exists(), "reading a cache entry ran code"
    assert not fitted.reused and fitted.fit_seconds > 0  # refused, rebuilt
    assert cache.get_or_fit(MeanGenerator(), X, y, ctx, 0).reused  # and the rebuilt entry is used after


def test_ctgan_models_never_touch_a_cache_folder(tmp_path):
    """The former entry held ctgan's pickle, which loading unpickled: a crafted one ran code. Now CTGAN's state
    stays in memory; a file placed where an entry would be is never read, and none is written."""
    pytest.importorskip("ctgan")
    from benchmark.methods.generative.tabular import CtganGenerator

    split, marker = make_tabular_split(n_train=(40, 10)), tmp_path / "ran"
    X, y = split.train.X, split.train.y
    ctx, generator = _context(tmp_path, split, GeneratorBudget(1, 20)), CtganGenerator("ctgan", (4,))
    cache = GeneratorCache.for_context(ctx)
    key = cache.key(generator, X, y, ctx, 0)
    crafted = torch.frombuffer(bytearray(__import__("pickle").dumps(Payload(marker))), dtype=torch.uint8)
    cache.save(cache.path(key), key, {"pickle": crafted, "model": crafted}, 1.0)
    before = sorted(p.name for p in cache.root.iterdir())
    first = cache.get_or_fit(generator, X, y, ctx, 0)
    again = CtganGenerator("ctgan", (4,))
    second = cache.get_or_fit(again, X, y, ctx, 0)
    assert not marker.exists(), "a crafted file in the cache folder ran code"
    assert sorted(p.name for p in cache.root.iterdir()) == before  # nothing written beside it
    assert not first.reused and second.reused and second.path is None  # reused from memory, not from a file
    np.testing.assert_array_equal(generator.sample({1: 5}, seed=3), again.sample({1: 5}, seed=3))


def test_the_in_memory_cache_keeps_a_bounded_number_of_models(tmp_path, monkeypatch):
    class Unstorable(MeanGenerator):
        name, persistent = "unstorable-test", False

    monkeypatch.setattr(_cache, "_IN_MEMORY", {})
    split = make_image_split()
    for seed in range(_cache.MAX_IN_MEMORY + 3):
        GeneratorCache.for_context(_context(tmp_path, split)).get_or_fit(
            Unstorable(), split.train.X, split.train.y, _context(tmp_path, split), seed)
    assert len(_cache._IN_MEMORY) == _cache.MAX_IN_MEMORY
    assert not any(GeneratorCache(tmp_path, split.fingerprint()).root.glob("*"))


# Reading a file must never run code: calls that unpickle freely, torch.load without weights_only=True, numpy
# with allow_pickle=True, and pickle.Unpickler subclasses that do not restrict find_class. A new one anywhere
# in the package fails this test.
UNPICKLING_CALLS = {("pickle", "load"), ("pickle", "loads"), ("pickle", "Unpickler"), ("joblib", "load"),
                    ("dill", "load"), ("dill", "loads"), ("cloudpickle", "load"), ("cloudpickle", "loads"),
                    ("pd", "read_pickle"), ("pandas", "read_pickle")}


def _keyword_is_true(call: ast.Call, name: str) -> bool:
    return any(k.arg == name and isinstance(k.value, ast.Constant) and k.value.value is True for k in call.keywords)


def unsafe_reads(source: str) -> list[str]:
    """The calls and classes of ``source`` that could run code stored in a file they read."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and isinstance(node.func.value,
                                                                                             ast.Name):
            owner, attr = node.func.value.id, node.func.attr
            if (owner, attr) in UNPICKLING_CALLS:
                found.append(f"line {node.lineno}: {owner}.{attr}")
            elif (owner, attr) == ("torch", "load") and not _keyword_is_true(node, "weights_only"):
                found.append(f"line {node.lineno}: torch.load without weights_only=True")
            elif owner in ("np", "numpy") and _keyword_is_true(node, "allow_pickle"):
                found.append(f"line {node.lineno}: {owner}.{attr}(allow_pickle=True)")
        if isinstance(node, ast.ClassDef) and any(ast.unparse(b) == "pickle.Unpickler" for b in node.bases):
            if not any(isinstance(f, ast.FunctionDef) and f.name == "find_class" for f in node.body):
                found.append(f"line {node.lineno}: {node.name} unpickles without restricting find_class")
    return found


def test_the_package_never_unpickles_what_it_reads():
    root = Path(benchmark.__file__).parent
    found = {path.relative_to(root).as_posix(): unsafe_reads(path.read_text()) for path in sorted(root.rglob("*.py"))}
    assert not {k: v for k, v in found.items() if v}, f"calls that can run code from a file: {found}"


def test_the_scan_sees_each_unsafe_read():
    assert unsafe_reads("torch.load(io.BytesIO(b), map_location='cpu')")
    assert not unsafe_reads("torch.load(io.BytesIO(b), map_location='cpu', weights_only=True)")
    assert unsafe_reads("pickle.loads(blob)") and unsafe_reads("np.load(p, allow_pickle=True)")
    assert not unsafe_reads("np.load(p, allow_pickle=False)")
    assert unsafe_reads("class U(pickle.Unpickler):\n    pass")
    assert not unsafe_reads("class U(pickle.Unpickler):\n    def find_class(self, m, n):\n        raise KeyError")
