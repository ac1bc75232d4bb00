"""Datasets read from the user's own files: a CSV or Parquet table, or a folder of images in class
subfolders. Named in a suite file (a ``[[datasets]]`` table with ``file = ...``) or on the command
line (``--datasets file:path/to/table.csv?target=label``, ``file:path/to/folder?size=28``).

A file dataset is a :class:`FileDataset`: the same entry type as the registered datasets, so it gets
their protocol (stratified test and validation hold-outs with the natural imbalance, duplicate rows or
images grouped into one part, minority classes, imbalance ratio, a card, the split cache), but it is
not registered: the suite or the run's plan carries it to every worker. Its name is the file's stem
(``credit.csv`` -> ``credit``) unless ``name`` is given; the card records the whole spec.

Tables: the ``target`` column holds the class; every other column (less ``drop``) is a feature.
Columns that are not numeric are nominal (integer codes of their sorted values), as are the columns
named in ``nominal``; empty cells become NaN, which the tabular featuriser imputes from training rows.
Images: PNG or JPEG files (read by Pillow) in one subfolder per class, resized to ``size`` (an edge
or ``[height, width]``) or to the first image's size, in ``colour`` "grey" or "rgb" (default: grey
when every image is). Classes are numbered from the most to the least frequent (ties by name), so a
binary dataset's minority class is 1, as the metrics expect. The split cache is keyed by the content
(size and SHA-256) of the table file or of every image.

Options are checked when the dataset is named (a bad option stops the run before any work); the file's
content is read only for the card then. A file that cannot be split (unreadable or empty, one class only,
a class with fewer than three distinct rows) fails its own pairs when a run loads it, as a retryable
``data-error`` naming the file and the class, as a damaged KEEL file does: the other datasets still run.
"""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmark.datasets._file_readers import (
    check_classes,
    class_folders,
    image_arrays,
    image_files,
    require_table_reader,
    table_arrays,
    table_counts,
)
from benchmark.datasets.base import Dataset, LoadRequest, Split, file_digest
from benchmark.datasets.card import CardStats, count_stats
from benchmark.datasets.split import holdout_split
from benchmark.errors import BenchmarkError
from benchmark.protocol import HOLDOUT_FRACTIONS, duplicate_groups

FILE_PREFIX = "file:"
TABLE_SUFFIXES = {".csv": ",", ".tsv": "\t", ".parquet": None, ".pq": None}
# Options of a file dataset: the keys of a suite file's dataset table and of a file: spec's query.
TABLE_OPTIONS = ("file", "name", "target", "nominal", "drop", "sep", "test_fraction", "val_fraction")
IMAGE_OPTIONS = ("file", "name", "size", "colour", "test_fraction", "val_fraction")
OPTIONS = tuple(dict.fromkeys(TABLE_OPTIONS + IMAGE_OPTIONS))
MODALITY = {"table": "tabular", "images": "image"}
MIN_ROWS_PER_CLASS = 3  # one each for the test, validation and training parts


@dataclass(frozen=True)
class FileDataset(Dataset):
    """A dataset read from a file or folder (not registered); ``spec`` is its definition as written."""

    spec: str = ""

    def source_paths(self) -> list[Path]:
        """The files the split is built from: the table, or every image of the folder."""
        path = Path(self.params["path"])
        return image_files(path) if path.is_dir() else [path]

    def source_record(self, data_root: Path | None) -> list[list[Any]]:
        """The content of the table or of every image (size and SHA-256), wherever the data root is."""
        return [[str(p), *file_digest(p)] for p in self.source_paths()]

    def card(self) -> dict[str, Any]:
        return {**super().card(), "spec": self.spec}

    def options_record(self) -> dict[str, Any]:
        """The options that shape its split (not where the file lies): stored with each pair, so that
        a resumed run with other options under the same name is refused."""
        return {k: v for k, v in self.params.items() if k != "path"}


def is_file_spec(name: str) -> bool:
    return name.startswith(FILE_PREFIX)


def parse_file_spec(text: str, base: Path | None = None) -> FileDataset:
    """``file:PATH?key=value&...`` as a :class:`FileDataset`; a list option repeats its key
    (``nominal=a&nominal=b``); a relative PATH is read from ``base`` (default: the current folder)."""
    path, _, query = text[len(FILE_PREFIX):].partition("?")
    options: dict[str, Any] = {}
    for key, value in urllib.parse.parse_qsl(query, keep_blank_values=True):
        if key in ("nominal", "drop"):
            options.setdefault(key, []).append(value)
        elif key in options:
            raise BenchmarkError(f"{text!r} gives {key} twice", f"give {key} once")
        else:
            options[key] = _number(value) if key in ("size", "test_fraction", "val_fraction") else value
    if "size" in options and isinstance(options["size"], str) and "x" in options["size"]:
        options["size"] = [_number(v) for v in options["size"].split("x", 1)]
    return file_dataset(path, base=base, where=text, spec=text, **options)


def _number(value: str) -> Any:
    for kind in (int, float):
        try:
            return kind(value)
        except ValueError:
            pass
    return value


def file_dataset(file: str | Path, *, base: Path | None = None, where: str = "", spec: str | None = None,
                 **options: Any) -> FileDataset:
    """The dataset of a table file or an image folder, its options checked (``where`` names the place
    they were given, for messages). Reads the target column (or lists the images) for the class counts."""
    where = where or str(file)
    given = dict(options)
    unknown = sorted(set(options) - set(OPTIONS))
    if unknown:
        raise BenchmarkError(f"dataset {where}: unknown option(s) {', '.join(unknown)}",
                             f"use some of: {', '.join(OPTIONS)}")
    if not str(file).strip():
        raise BenchmarkError(f"dataset {where} names no file", "give the path of a CSV or Parquet table or of a "
                                                               "folder of class subfolders")
    path = Path(file).expanduser()
    path = (path if path.is_absolute() else (base or Path.cwd()) / path).resolve()
    if not path.exists():
        relative = "the suite file's folder" if base is not None else "the current folder"
        raise BenchmarkError(f"dataset file {path} does not exist ({where})",
                             f"check the path; a relative path is read from {relative}")
    kind = "images" if path.is_dir() else "table"
    if kind == "table" and path.suffix.lower() not in TABLE_SUFFIXES:
        raise BenchmarkError(f"dataset file {path} is neither a table ({', '.join(TABLE_SUFFIXES)}) nor a folder",
                             "give a CSV or Parquet file, or a folder holding one subfolder of images per class")
    allowed = TABLE_OPTIONS if kind == "table" else IMAGE_OPTIONS
    misplaced = sorted(set(options) - set(allowed))
    if misplaced:
        other = "an image folder" if kind == "table" else "a table"
        raise BenchmarkError(f"dataset {where}: option(s) {', '.join(misplaced)} apply only to {other}",
                             f"a {'table' if kind == 'table' else 'folder of images'} takes: {', '.join(allowed)}")
    name = str(options.pop("name", None) or _default_name(path))
    if not name.strip() or "," in name or is_file_spec(name):
        raise BenchmarkError(f"dataset {where}: name {name!r} is invalid", "give a name without commas, e.g. name = "
                                                                           "\"my-data\"")
    test_default, val_default = HOLDOUT_FRACTIONS[MODALITY[kind]]
    params: dict[str, Any] = {"path": str(path), "kind": kind,
                              "test_fraction": _fraction(options.pop("test_fraction", test_default), "test", where),
                              "val_fraction": _fraction(options.pop("val_fraction", val_default), "val", where)}
    params.update(_table_params(path, options, where) if kind == "table" else _image_params(options, where))
    # The file's content is read for the card only: a problem with it (empty, one class, unreadable) fails
    # this dataset's pairs when a run loads it (a data error, as a damaged KEEL file), not the whole run.
    try:
        counts, class_names = class_counts(path, params)
        stats, unread = count_stats(counts) if counts else CardStats(), ""
    except BenchmarkError as exc:
        counts, class_names, stats, unread = [], [], CardStats(), f" (not readable now: {exc.message})"
    what = (f"the table {path.name}: {sum(counts)} rows, target column '{params['target']}'" if kind == "table"
            else f"the images of {path.name}/ in {len(counts)} class folders: {sum(counts)} images")
    return FileDataset(
        name=name, builder=load_file_dataset, modality=MODALITY[kind], num_classes=len(counts), source=str(path),
        description=(f"{what}; stratified {params['test_fraction']:.0%} test, {params['val_fraction']:.0%} of the "
                     f"rest for validation{unread}"),
        license="the file owner's", params=params, files=(str(path),),
        default_model={"deep": "mlp", "classical": "logreg"} if kind == "table" else {"deep": "small-cnn"},
        class_names=tuple(class_names), stats=stats, tags=("file",), spec=spec or _spec_text(file, given),
    )


def class_counts(path: Path, params: dict[str, Any]) -> tuple[list[int], list[str]]:
    """Rows per class and class names of a table or an image folder, from the most frequent class."""
    if params["kind"] == "table":
        return table_counts(path, params)
    folders = class_folders(path)
    order = sorted(folders, key=lambda f: (-len(folders[f]), f))
    return [len(folders[f]) for f in order], order


def _default_name(path: Path) -> str:
    stem = path.name if path.is_dir() else path.stem
    return "-".join(stem.split()) or "data"


def _spec_text(file: str | Path, options: dict[str, Any]) -> str:
    """The options as given, as a ``file:`` string (what the card shows); the path as written."""
    def text(key: str, value: Any) -> list[str]:
        if key == "size" and isinstance(value, list | tuple):
            return ["x".join(map(str, value))]
        return [str(v) for v in value] if isinstance(value, list | tuple) else [str(value)]

    query = urllib.parse.urlencode([(k, x) for k, v in options.items() for x in text(k, v)], safe="/,")
    return f"{FILE_PREFIX}{file}" + (f"?{query}" if query else "")


def _fraction(value: Any, what: str, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < 1:
        raise BenchmarkError(f"dataset {where}: {what}_fraction={value!r} is invalid", "use a number between 0 and 1")
    return float(value)


def _names(value: Any, key: str, where: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise BenchmarkError(f"dataset {where}: {key} = {value!r} is invalid", f"give {key} as a list of column names")
    return list(value)


def _table_params(path: Path, options: dict[str, Any], where: str) -> dict[str, Any]:
    require_table_reader(path)
    target = options.get("target")
    if not isinstance(target, str) or not target:
        raise BenchmarkError(f"dataset {where}: the table {path.name} needs its target column named",
                             "add target = \"COLUMN\" (in a URL: ?target=COLUMN)")
    sep = options.get("sep", TABLE_SUFFIXES[path.suffix.lower()])
    if path.suffix.lower() in (".csv", ".tsv") and (not isinstance(sep, str) or len(sep) != 1):
        raise BenchmarkError(f"dataset {where}: sep={sep!r} is invalid", "give one character, e.g. sep = \";\"")
    return {"target": target, "nominal": _names(options.get("nominal"), "nominal", where),
            "drop": _names(options.get("drop"), "drop", where), "sep": sep}


def _image_params(options: dict[str, Any], where: str) -> dict[str, Any]:
    size = options.get("size")
    if size is not None:
        edges = [size] if isinstance(size, int) else size
        if (not isinstance(edges, list | tuple) or len(edges) not in (1, 2)
                or not all(isinstance(e, int) and not isinstance(e, bool) and 1 <= e <= 4096 for e in edges)):
            raise BenchmarkError(f"dataset {where}: size={size!r} is invalid",
                                 "give an edge in pixels (size = 28) or [height, width] (in a URL: size=28 or 32x48)")
        size = [edges[0], edges[-1]]
    colour = options.get("colour")
    if colour not in (None, "grey", "rgb"):
        raise BenchmarkError(f"dataset {where}: colour={colour!r} is invalid", "use \"grey\" or \"rgb\"")
    return {"size": size, "colour": colour}


# -- the split -------------------------------------------------------------------------------------
def load_file_dataset(request: LoadRequest) -> Split:
    """Read the file (or folder) and split it as every registered dataset is split: a stratified test
    hold-out with the natural imbalance, then a stratified validation share of the rest, duplicate rows
    (or identical images) grouped so that a group lies in one part."""
    params = request.params
    path = Path(params["path"])
    if not path.exists():
        raise BenchmarkError(f"dataset file {path} does not exist", "check the path in the suite file or --datasets")
    if params["kind"] == "table":
        X, y, class_names, kinds, info = table_arrays(path, params)
        modality, compared = "tabular", "rows equal in every value"
    else:
        X, y, class_names, info = image_arrays(path, params)
        kinds, modality, compared = None, "image", "images with identical pixels"
    groups = duplicate_groups(X)
    check_classes(path, y, class_names, groups, MIN_ROWS_PER_CLASS, "row" if modality == "tabular" else "image")
    return holdout_split(request.name, modality, request, X, y, class_names, info={**info, "file": str(path)},
                         feature_kinds=kinds, compared=compared, groups=groups)
