"""Dataset entries, the split they produce, the data root and the split cache.

The split cache is keyed by the entry (name, parameters), the split seed, the split format and the
content of the source files the entry reads (size and SHA-256 of each, hashed once per file version
per process): a changed or repaired file is never served a split built from the old one.
"""

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

from benchmark.datasets.packaged import packaged_file
from benchmark.datasets.unlabeled import unlabeled_record
from benchmark.errors import BenchmarkError, DataUnavailableError
from benchmark.protocol import duplicate_summary
from benchmark.protocol import minority_classes as default_minority_classes
from benchmark.registry import Registry

MODALITIES = ("image", "text", "tabular")
# Bump when the way splits are built changes: old caches are then ignored. 2: duplicate rows grouped.
# 3: an unlabeled pool (``Split.unlabeled``) beside the three parts.
SPLIT_FORMAT_VERSION = 3


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


# -- source files ----------------------------------------------------------------------------------
_DIGESTS: dict[tuple[str, int, int, int], str] = {}  # (path, size, mtime_ns, inode) -> SHA-256, per process


def file_digest(path: Path) -> tuple[int, str]:
    """Size and SHA-256 of a file; hashed once per version of the file (path, size, modification time,
    inode) in this process, so a file changed or replaced while a process runs is hashed again."""
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns, st.st_ino)
    if key not in _DIGESTS:
        h = hashlib.sha256()
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
        _DIGESTS[key] = h.hexdigest()
    return st.st_size, _DIGESTS[key]


def source_candidates(files: tuple[str, ...] | list[str]) -> list[str]:
    """The paths (under the data root) an entry's ``files`` name; ``"a/b (or b.gz)"`` names both."""
    paths = []
    for entry in files:
        main, _, alternative = entry.partition(" (or ")
        paths.append(main.strip())
        alternative = alternative.rstrip(")").strip()
        if alternative and not alternative.startswith("the "):  # "(or the archive x.tar.gz)": not read
            paths.append(alternative if "/" in alternative else str(Path(main.strip()).parent / alternative))
    return paths


def source_fingerprint(data_root: Path, files: tuple[str, ...] | list[str]) -> list[list[Any]]:
    """[path, size, SHA-256] of each source file present under ``data_root``, or shipped in the package
    (:mod:`benchmark.datasets.packaged`) where the data root lacks it; a folder where a file should be is
    marked, so the key changes when it is repaired."""
    found: list[list[Any]] = []
    for rel in source_candidates(files):
        path = data_root / rel
        if not path.exists() and (packaged := packaged_file(rel)) is not None:
            path = packaged  # the copy shipped in the package: keyed like the same bytes under the data root
        if path.is_file():
            found.append([rel, *file_digest(path)])
        elif path.exists():
            found.append([rel, "not a file", ""])
    return found


# -- the split -------------------------------------------------------------------------------------
def standard_strides(shape: tuple[int, ...]) -> tuple[int, ...]:
    """Row-major strides (in elements) of ``shape``, size-1 axes included."""
    strides, step = [], 1
    for size in reversed(shape):
        strides.append(step)
        step *= max(size, 1)
    return tuple(reversed(strides))


def standard_layout(array: Any) -> Any:
    """``array`` with row-major strides on every axis. NumPy gives a size-1 axis any stride (``images[:, None]``
    indexed by rows: channel stride 1), and torch reads such (N, 1, H, W) images as channels-last and runs
    another convolution kernel on them (last-digit differences), so a freshly built split and the same
    split read back from the cache (standard strides) would score differently (the deep engine also
    lays its inputs out this way: ``benchmark.training.base.model_input``)."""
    if not isinstance(array, np.ndarray) or array.ndim < 2 or array.strides == tuple(
            array.itemsize * s for s in standard_strides(array.shape)):
        return array
    return np.array(array, order="C")  # a fresh copy: standard strides


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
    """Train / validation / test parts of one dataset, with what metrics and reports need.

    ``unlabeled`` is the dataset's unlabeled pool, when it exposes one: features only, in the format
    of ``train.X`` (images (M, C, H, W) uint8), rows that are in no part of the split and whose labels
    the split does not hold (``info["unlabeled"]`` describes it: :func:`unlabeled_record`). It is not
    part of :meth:`fingerprint`, which stored results are keyed by."""

    dataset: str
    modality: str
    class_names: list[str]
    train: DataPart
    val: DataPart
    test: DataPart
    minority_classes: list[int] = field(default_factory=list)
    feature_kinds: list[str] | None = None  # tabular: "numeric" or "nominal" per column
    info: dict[str, Any] = field(default_factory=dict)
    unlabeled: np.ndarray | None = None

    def __post_init__(self) -> None:
        if not self.minority_classes:
            self.minority_classes = default_minority_classes(self.class_counts("train"))
        if self.unlabeled is not None:
            self._check_unlabeled()

    def _check_unlabeled(self) -> None:
        pool, train = self.unlabeled, self.train.X
        if not isinstance(pool, np.ndarray) or pool.shape[1:] != train.shape[1:] or pool.dtype.kind != train.dtype.kind:
            shape = getattr(pool, "shape", type(pool).__name__)
            raise BenchmarkError(
                f"the unlabeled pool of '{self.dataset}' has shape {shape} and dtype "
                f"{getattr(pool, 'dtype', '?')}, but its training rows have shape {train.shape} and dtype {train.dtype}",
                "give the pool's features in the format of split.train.X (features only, no labels)")
        if "unlabeled" not in self.info:  # a pool given without its record (tests, plugins): describe what is known
            self.info["unlabeled"] = unlabeled_record(pool, class_mix="unknown", source="given with the split")

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
        """What a card shows of the split: counts per part, imbalance, fingerprint and the split's info
        (with the unlabeled pool's record, never its rows)."""
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
        if self.unlabeled is not None:
            arrays["unlabeled_X"] = self.unlabeled
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
            unlabeled = data["unlabeled_X"] if "unlabeled_X" in data.files else None
        return cls(
            dataset=meta["dataset"],
            modality=meta["modality"],
            class_names=meta["class_names"],
            minority_classes=meta["minority_classes"],
            feature_kinds=meta["feature_kinds"],
            info=meta["info"],
            unlabeled=unlabeled,
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

    def cache_key(self, split_seed: int, data_root: Path | None = None) -> str:
        """The split cache's key: the entry, the split seed, the split format and, given the data root,
        the content of the source files found there."""
        sources = source_fingerprint(Path(data_root), self.files) if data_root is not None else []
        blob = json.dumps({"name": self.name, "params": self.params, "seed": split_seed, "v": SPLIT_FORMAT_VERSION,
                           "sources": sources}, sort_keys=True, default=str)
        return f"{self.name}-s{split_seed}-{hashlib.sha256(blob.encode()).hexdigest()[:12]}"

    def load(self, data_root: str | os.PathLike | None = None, split_seed: int = 0, *, cache: bool = True) -> Split:
        """Build (or read from the cache) the split of this dataset for ``split_seed``.

        Any failure while reading or building (a corrupt file, invalid UTF-8, a folder where a file
        should be, a truncated archive) is a :class:`BenchmarkError` naming the dataset and its files,
        so that a run fails only this dataset's pairs."""
        root = resolve_data_root(data_root)
        cache_dir = resolve_cache_dir(root)
        try:
            path = cache_dir / f"{self.cache_key(split_seed, root)}.npz"
        except OSError as exc:  # a source file that cannot be read for its hash
            raise self._data_error(root, exc) from exc
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
        except Exception as exc:  # a reader's own exception (UnicodeDecodeError, IsADirectoryError, EOFError, ...)
            raise self._data_error(root, exc) from exc
        split.info.setdefault("split_seed", split_seed)
        for part in (split.train, split.val, split.test):  # laid out as the cache will give them back
            part.X = standard_layout(part.X)
        if split.unlabeled is not None:
            split.unlabeled = standard_layout(split.unlabeled)
        if cache:  # only a split that was built completely reaches the cache, and atomically
            # keyed again: a download may have just put the source files in place
            split.save(cache_dir / f"{self.cache_key(split_seed, root)}.npz")
        return split

    def _data_error(self, root: Path, exc: BaseException) -> BenchmarkError:
        files = ", ".join(self.files) if self.files else "its source"
        return BenchmarkError(
            f"dataset '{self.name}': reading its data failed ({type(exc).__name__}: "
            f"{str(exc).strip().splitlines()[0] if str(exc).strip() else 'no message'}); it reads {files} under {root}",
            "replace the damaged file(s) with the originals (the next run retries this dataset's pairs)",
        )

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


def duplicates_record(groups: np.ndarray, y: np.ndarray, *, compared: str = "rows equal in every value",
                      removed_from_training: int | None = None) -> dict[str, Any]:
    """The ``duplicates`` entry of a split's info (shown on the dataset card and in ``Split.summary()``):
    how many duplicates were found among the rows split (see :func:`benchmark.protocol.duplicate_summary`),
    what was compared, and how many training rows equal to a test row were removed (official test sets)."""
    record: dict[str, Any] = {**duplicate_summary(groups, y), "compared": compared,
                              "policy": "grouped: each group of duplicates lies in one part of the split"}
    if removed_from_training is not None:
        record["removed_from_training"] = int(removed_from_training)
    return record


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
