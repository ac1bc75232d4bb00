"""Dataset entries, the data root and the split cache.

The split cache is keyed by the entry (name, parameters), the split seed, the split format and the
content of the source files the entry reads (size and SHA-256 of each, hashed once per file version
per process): a changed or repaired file is never served a split built from the old one. A cache file's
name is a bounded slug of the dataset's name, the split seed and a hash of that key (any name, of any
length or alphabet, gives a valid file name); the file records the key and a checksum of its content
(:mod:`benchmark.datasets.split`), and one that does not match either is discarded, with a logged note,
and rebuilt: never served.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from benchmark.datasets.card import CardStats, SplitSizes, card_input_shape, card_split, card_split_sizes
from benchmark.datasets.packaged import packaged_file

# DataPart and standard_strides are re-exported: the rest of the package imports the split's types from here too
from benchmark.datasets.split import CacheEntryMismatch, Split, standard_layout
from benchmark.datasets.split import DataPart as DataPart
from benchmark.datasets.split import standard_strides as standard_strides
from benchmark.errors import BenchmarkError, DataUnavailableError
from benchmark.protocol import holdout_fractions
from benchmark.registry import Registry

log = logging.getLogger(__name__)

MODALITIES = ("image", "text", "tabular")
# Bump when the way splits are built changes: old caches are then ignored. 2: duplicate rows grouped.
# 3: an unlabeled pool (``Split.unlabeled``) beside the three parts. 4: the file records its key and checksum.
SPLIT_FORMAT_VERSION = 4
SLUG_LENGTH = 40  # characters of the dataset's name kept in a cache file's name


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


def cache_file_stem(name: str, split_seed: int, key: dict[str, Any]) -> str:
    """``<slug>-s<seed>-<hash>``: at most :data:`SLUG_LENGTH` characters of the name (letters, digits,
    ``.``, ``_`` and ``-``; anything else becomes ``-``) and 16 hex digits of the key's SHA-256, so the file
    name is valid whatever the dataset's name (its length or alphabet); the file itself records the key."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", name)[:SLUG_LENGTH].strip(".-") or "dataset"
    digest = hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:16]
    return f"{slug}-s{split_seed}-{digest}"


def cached_split(path: Path, key: dict[str, Any]) -> Split | None:
    """The split cached at ``path`` for ``key``; None when there is none. An entry that is damaged, edited
    (its content no longer matches its checksum) or built for another key is removed, with a logged note,
    so that it is rebuilt: it is never served."""
    if not path.exists():
        return None
    try:
        return Split.load(path, key)
    except CacheEntryMismatch as exc:
        why = str(exc)
    except Exception as exc:  # noqa: BLE001 - unreadable as an npz (truncated, foreign): rebuilt, never trusted
        why = f"it cannot be read ({type(exc).__name__}: {exc})"
    log.warning("split cache entry %s discarded and rebuilt: %s", path, why)
    path.unlink(missing_ok=True)
    return None


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
    stats: CardStats = field(default_factory=CardStats)  # size, class counts, input shape: known without data
    family: str | None = None  # variants of one source (rho, profile) share random streams; see LoadRequest.rng

    def __post_init__(self) -> None:
        if self.modality not in MODALITIES:
            raise BenchmarkError(f"dataset '{self.name}' has modality {self.modality!r}", f"use one of {MODALITIES}")
        if not isinstance(self.stats, CardStats):  # a plugin's plain dict: read into the typed record
            object.__setattr__(self, "stats", CardStats.from_mapping(self.stats))

    # -- what the card says of the split --
    def split_sizes(self) -> SplitSizes | None:
        """Rows per class of each part of the split, predicted from the card (the hold-out rule of
        :mod:`benchmark.datasets.card`); None when the card gives no class counts."""
        return card_split_sizes(self.stats, *holdout_fractions(self.modality, self.params))

    def input_shape(self) -> tuple[int, ...] | None:
        """One row's shape as the card states it (an image's (C, H, W), a table's columns)."""
        return card_input_shape(self.stats, self.modality)

    def card_split(self) -> Split | None:
        """A split with the card's predicted class counts and inputs that are broadcast zeros (never
        materialised), for counting a dataset whose files are absent; None without class counts."""
        sizes = self.split_sizes()
        if sizes is None:
            return None
        names = list(self.class_names) or [str(c) for c in range(self.num_classes)]
        return card_split(self.name, self.modality, names, self.stats, sizes)

    # -- the split cache --
    def source_record(self, data_root: Path | None) -> list[list[Any]]:
        """[path, size, SHA-256] of each source file the split is built from (part of the cache key)."""
        return source_fingerprint(Path(data_root), self.files) if data_root is not None else []

    def cache_record(self, split_seed: int, data_root: Path | None = None) -> dict[str, Any]:
        """The split cache's key: the entry, the split seed, the split format and, given the data root,
        the content of the source files found there. A cache file records it and is served only for it."""
        return json.loads(json.dumps({"name": self.name, "params": self.params, "seed": split_seed,
                                      "v": SPLIT_FORMAT_VERSION, "sources": self.source_record(data_root)},
                                     sort_keys=True, default=str))

    def cache_key(self, split_seed: int, data_root: Path | None = None) -> str:
        """The cache file's name (without ``.npz``) for :meth:`cache_record`."""
        return cache_file_stem(self.name, split_seed, self.cache_record(split_seed, data_root))

    def load(self, data_root: str | os.PathLike | None = None, split_seed: int = 0, *, cache: bool = True) -> Split:
        """Build (or read from the cache) the split of this dataset for ``split_seed``.

        Any failure while reading or building (a corrupt file, invalid UTF-8, a folder where a file
        should be, a truncated archive) is a :class:`BenchmarkError` naming the dataset and its files,
        so that a run fails only this dataset's pairs."""
        root = resolve_data_root(data_root)
        cache_dir = resolve_cache_dir(root)
        try:
            key = self.cache_record(split_seed, root)
        except OSError as exc:  # a source file that cannot be read for its hash
            raise self._data_error(root, exc) from exc
        except BenchmarkError as exc:  # a file dataset's folder that no longer lists its images
            raise self._named(exc) from exc
        path = cache_dir / f"{cache_file_stem(self.name, split_seed, key)}.npz"
        if cache and (cached := cached_split(path, key)) is not None:
            return cached
        request = LoadRequest(self.name, root, split_seed, dict(self.params), self.family or "", cache_dir)
        try:
            split = self.builder(request)
        except DataUnavailableError:
            raise
        except BenchmarkError as exc:  # name the dataset, whatever step of its build failed
            raise self._named(exc) from exc
        except Exception as exc:  # a reader's own exception (UnicodeDecodeError, IsADirectoryError, EOFError, ...)
            raise self._data_error(root, exc) from exc
        split.info.setdefault("split_seed", split_seed)
        for part in (split.train, split.val, split.test):  # laid out as the cache will give them back
            part.X = standard_layout(part.X)
        if split.unlabeled is not None:
            split.unlabeled = standard_layout(split.unlabeled)
        if cache:  # only a split that was built completely reaches the cache, and atomically
            key = self.cache_record(split_seed, root)  # keyed again: a download may have just put the files in place
            split.save(cache_dir / f"{cache_file_stem(self.name, split_seed, key)}.npz", key)
        return split

    def _named(self, exc: BenchmarkError) -> BenchmarkError:
        if f"'{self.name}'" in exc.message:
            return exc
        return BenchmarkError(f"dataset '{self.name}': {exc.message}", exc.fix)

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
            "stats": self.stats.record(),
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


def _make_dataset(builder: Callable[[LoadRequest], Split], *, name: str, **card: Any) -> Dataset:
    return Dataset(name=name, builder=builder, **card)


dataset_registry: Registry[Dataset] = Registry(
    "dataset", make_entry=_make_dataset, package="benchmark.datasets", entry_point_group="benchmark.datasets",
    composer="benchmark.datasets.scenarios:scenario_dataset",  # "keel-yeast3@label-noise-0.2": a stress variant
)
register_dataset = dataset_registry.register
