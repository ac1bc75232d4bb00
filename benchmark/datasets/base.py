"""Dataset entries, the split they produce, the data root and the split cache."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from benchmark.errors import BenchmarkError, DataUnavailableError
from benchmark.protocol import minority_classes as default_minority_classes
from benchmark.registry import Registry

MODALITIES = ("image", "text", "tabular")
SPLIT_FORMAT_VERSION = 1  # bump when the way splits are built changes: old caches are then ignored


# -- data root -------------------------------------------------------------------------------------
def resolve_data_root(data_root: str | os.PathLike | None = None) -> Path:
    """``--data-root``, else ``$BENCHMARK_DATA``, else the user cache folder (created)."""
    if data_root is not None or os.environ.get("BENCHMARK_DATA"):
        root = Path(data_root if data_root is not None else os.environ["BENCHMARK_DATA"]).expanduser()
        if not root.is_dir():
            raise BenchmarkError(
                f"data root {str(root)!r} does not exist or is not a folder",
                "pass an existing folder with --data-root (or BENCHMARK_DATA), or leave it unset for the user cache",
            )
        return root
    root = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "imbalance-benchmark" / "data"
    root.mkdir(parents=True, exist_ok=True)
    return root


def resolve_cache_dir(data_root: Path) -> Path:
    """Where built splits are cached: ``$BENCHMARK_CACHE``, else ``<data root>/.benchmark-cache``
    when the data root is writable, else the user cache folder."""
    if os.environ.get("BENCHMARK_CACHE"):
        path = Path(os.environ["BENCHMARK_CACHE"]).expanduser()
    else:
        path = data_root / ".benchmark-cache"
        if not (path.is_dir() and os.access(path, os.W_OK)) and not os.access(data_root, os.W_OK):
            path = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "imbalance-benchmark" / "splits"
    path.mkdir(parents=True, exist_ok=True)
    return path


# -- the split -------------------------------------------------------------------------------------
@dataclass
class DataPart:
    """One part of a split. ``X``: images (N, C, H, W) uint8, tabular (N, D) float32, text (N,) str."""

    X: np.ndarray
    y: np.ndarray

    def __len__(self) -> int:
        return int(self.y.shape[0])

    def counts(self, num_classes: int) -> list[int]:
        return np.bincount(self.y, minlength=num_classes).tolist()


@dataclass
class Split:
    """Train / validation / test parts of one dataset, with what metrics and reports need."""

    dataset: str
    modality: str
    class_names: list[str]
    train: DataPart
    val: DataPart
    test: DataPart
    minority_classes: list[int] = field(default_factory=list)
    feature_kinds: list[str] | None = None  # tabular: "numeric" or "nominal" per column
    info: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.minority_classes:
            self.minority_classes = default_minority_classes(self.class_counts("train"))

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def part(self, name: str) -> DataPart:
        return {"train": self.train, "val": self.val, "test": self.test}[name]

    def class_counts(self, part: str = "train") -> list[int]:
        return self.part(part).counts(self.num_classes)

    @property
    def imbalance_ratio(self) -> float:
        counts = [c for c in self.class_counts("train") if c > 0]
        return max(counts) / min(counts)

    def fingerprint(self) -> str:
        """SHA-256 over every array of the split: equal splits have equal fingerprints."""
        h = hashlib.sha256()
        for name in ("train", "val", "test"):
            part = self.part(name)
            for arr in (part.X, part.y):
                arr = np.ascontiguousarray(arr)
                h.update(f"{name}:{arr.dtype.str}:{arr.shape}".encode())
                h.update(arr.tobytes())
        return h.hexdigest()

    def summary(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset,
            "modality": self.modality,
            "num_classes": self.num_classes,
            "class_names": self.class_names,
            "class_counts": {p: self.class_counts(p) for p in ("train", "val", "test")},
            "imbalance_ratio": round(self.imbalance_ratio, 3),
            "minority_classes": self.minority_classes,
            "feature_kinds": self.feature_kinds,
            "fingerprint": self.fingerprint(),
            **self.info,
        }

    # -- cache format: one .npz (no pickles) beside a JSON of the metadata --
    def save(self, path: Path) -> None:
        arrays = {f"{p}_{a}": getattr(self.part(p), a) for p in ("train", "val", "test") for a in ("X", "y")}
        meta = {
            "dataset": self.dataset,
            "modality": self.modality,
            "class_names": self.class_names,
            "minority_classes": self.minority_classes,
            "feature_kinds": self.feature_kinds,
            "info": self.info,
        }
        path.parent.mkdir(parents=True, exist_ok=True)
        # Write to a temporary file and rename, so a crash never leaves a half-written cache entry.
        with tempfile.NamedTemporaryFile(dir=path.parent, suffix=".tmp", delete=False) as tmp:
            try:
                np.savez(tmp, meta=np.array(json.dumps(meta)), **arrays)
            except BaseException:
                tmp.close()
                os.unlink(tmp.name)
                raise
        os.chmod(tmp.name, 0o644)  # temporary files are private; a split cache may be shared
        os.replace(tmp.name, path)

    @classmethod
    def load(cls, path: Path) -> Split:
        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(str(data["meta"]))
            parts = {p: DataPart(data[f"{p}_X"], data[f"{p}_y"]) for p in ("train", "val", "test")}
        return cls(
            dataset=meta["dataset"],
            modality=meta["modality"],
            class_names=meta["class_names"],
            minority_classes=meta["minority_classes"],
            feature_kinds=meta["feature_kinds"],
            info=meta["info"],
            **parts,
        )


# -- dataset entries -------------------------------------------------------------------------------
@dataclass(frozen=True)
class LoadRequest:
    """What a dataset builder gets: where the data is, the split seed and the entry's parameters."""

    name: str
    data_root: Path
    split_seed: int
    params: dict[str, Any]
    family: str = ""  # entries of one family (rho and profile variants) share their random streams
    scratch_dir: Path | None = None  # where a builder may unpack files (never the data root)

    def rng(self, purpose: str) -> np.random.Generator:
        """A generator per purpose, so adding a step never shifts the random draws of another.

        Keyed by the family, not the entry name: ``cifar10-lt-r10`` and ``cifar10-lt`` draw each
        class in the same random order, so the rho=100 subsample is nested in the rho=10 one.
        """
        digest = hashlib.sha256(f"{self.family or self.name}|{purpose}|{self.split_seed}".encode()).digest()
        return np.random.default_rng(int.from_bytes(digest[:8], "little"))

    def scratch(self) -> Path:
        """A folder for unpacked files (the split cache folder); the data root may be read-only."""
        path = self.scratch_dir or resolve_cache_dir(self.data_root)
        path.mkdir(parents=True, exist_ok=True)
        return path


@dataclass(frozen=True)
class Dataset:
    """A registered dataset: its card and the builder that turns files into a :class:`Split`."""

    name: str
    builder: Callable[[LoadRequest], Split]
    modality: str
    num_classes: int
    source: str
    description: str
    license: str = "unknown"
    citation: str = ""
    params: dict[str, Any] = field(default_factory=dict)
    files: tuple[str, ...] = ()  # paths under the data root the loader reads (named when missing)
    default_model: dict[str, str] = field(default_factory=dict)  # engine -> backbone name
    tags: tuple[str, ...] = ()
    label_preserving_transforms: tuple[str, ...] | None = None
    class_names: tuple[str, ...] = ()
    stats: dict[str, Any] = field(default_factory=dict)  # size, class counts, imbalance ratio: known without data
    family: str | None = None  # variants of one source (rho, profile) share random streams; see LoadRequest.rng

    def __post_init__(self) -> None:
        if self.modality not in MODALITIES:
            raise BenchmarkError(f"dataset '{self.name}' has modality {self.modality!r}", f"use one of {MODALITIES}")

    def cache_key(self, split_seed: int) -> str:
        blob = json.dumps(
            {"name": self.name, "params": self.params, "seed": split_seed, "v": SPLIT_FORMAT_VERSION}, sort_keys=True
        )
        return f"{self.name}-s{split_seed}-{hashlib.sha256(blob.encode()).hexdigest()[:12]}"

    def load(self, data_root: str | os.PathLike | None = None, split_seed: int = 0, *, cache: bool = True) -> Split:
        """Build (or read from the cache) the split of this dataset for ``split_seed``."""
        root = resolve_data_root(data_root)
        cache_dir = resolve_cache_dir(root)
        path = cache_dir / f"{self.cache_key(split_seed)}.npz"
        if cache and path.exists():
            try:
                return Split.load(path)
            except Exception:  # a damaged cache entry is rebuilt, never trusted
                path.unlink(missing_ok=True)
        request = LoadRequest(self.name, root, split_seed, dict(self.params), self.family or "", cache_dir)
        try:
            split = self.builder(request)
        except DataUnavailableError:
            raise
        except BenchmarkError as exc:  # name the dataset, whatever step of its build failed
            if f"'{self.name}'" in exc.message:
                raise
            raise BenchmarkError(f"dataset '{self.name}': {exc.message}", exc.fix) from exc
        split.info.setdefault("split_seed", split_seed)
        if cache:  # only a split that was built completely reaches the cache, and atomically
            split.save(path)
        return split

    def card(self) -> dict[str, Any]:
        """What the dataset is, where it comes from and how to cite it; ``stats`` holds its size,
        class counts and imbalance ratio as known without loading the data."""
        return {
            "name": self.name,
            "description": self.description,
            "modality": self.modality,
            "num_classes": self.num_classes,
            "class_names": list(self.class_names),
            "stats": self.stats,
            "source": self.source,
            "license": self.license,
            "citation": self.citation,
            "params": self.params,
            "files": list(self.files),
            "default_model": self.default_model,
            "tags": list(self.tags),
            "label_preserving_transforms": (
                list(self.label_preserving_transforms) if self.label_preserving_transforms is not None else None
            ),
        }


def count_stats(counts: list[int], **more: Any) -> dict[str, Any]:
    """Card statistics of a dataset whose class counts are known: size, counts, imbalance ratio."""
    return {"samples": int(sum(counts)), "class_counts": [int(c) for c in counts],
            "imbalance_ratio": round(max(counts) / min(counts), 2), **more}


def _make_dataset(builder: Callable[[LoadRequest], Split], *, name: str, **card: Any) -> Dataset:
    return Dataset(name=name, builder=builder, **card)


dataset_registry: Registry[Dataset] = Registry(
    "dataset", make_entry=_make_dataset, package="benchmark.datasets", entry_point_group="benchmark.datasets"
)
register_dataset = dataset_registry.register
