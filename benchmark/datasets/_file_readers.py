"""Readers behind :mod:`benchmark.datasets.files`: a table (CSV or Parquet, through pandas) as features
and labels, and a folder of images in class subfolders (through Pillow) as a uint8 array. Classes are
numbered from the most to the least frequent (ties by name), so a binary dataset's minority class is 1.
Every problem is a :class:`BenchmarkError` naming the file (and the column or image) and the fix."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from benchmark.errors import BenchmarkError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
GREY_MODES = ("1", "L", "LA", "I", "I;16", "F", "P")  # "P": palette, grey only when its palette is


# -- tables ----------------------------------------------------------------------------------------
def require_table_reader(path: Path) -> None:
    """A Parquet table needs pyarrow: its absence is the environment's problem, named before any read."""
    if path.suffix.lower() in (".parquet", ".pq"):
        try:
            import pyarrow  # noqa: F401 - pandas reads Parquet through it
        except ImportError:
            raise BenchmarkError(f"reading the Parquet file {path} needs the pyarrow package, which is not "
                                 "installed", "pip install pyarrow (or save the table as CSV)") from None


def read_table(path: Path, params: dict[str, Any], columns: list[str] | None = None) -> Any:
    """The table as a pandas DataFrame (``columns``: only those); errors name the file and the fix."""
    import pandas as pd

    require_table_reader(path)
    try:
        if path.suffix.lower() in (".parquet", ".pq"):
            return pd.read_parquet(path, columns=columns)
        return pd.read_csv(path, sep=params.get("sep") or ",", usecols=columns)
    except BenchmarkError:
        raise
    except ValueError as exc:  # usecols naming a column the file lacks, a malformed row
        if columns:
            header = list(read_table(path, params).columns) if path.suffix.lower() in (".csv", ".tsv") else []
            missing = [c for c in columns if header and c not in header]
            if missing:
                raise _missing_columns(path, missing, header) from None
        raise BenchmarkError(f"{path} cannot be read as a table: {str(exc).splitlines()[0]}",
                             "check the file (and sep for a CSV that is not comma-separated)") from None
    except Exception as exc:  # noqa: BLE001 - a reader's own error (pyarrow, parser, decoding) names the file
        raise BenchmarkError(f"{path} cannot be read as a table ({type(exc).__name__}: "
                             f"{str(exc).strip().splitlines()[0] if str(exc).strip() else 'no message'})",
                             "check the file (and sep for a CSV that is not comma-separated)") from None


def _missing_columns(path: Path, missing: list[str], header: list[str]) -> BenchmarkError:
    shown = ", ".join(map(str, header[:20])) + (f", ... ({len(header)} in all)" if len(header) > 20 else "")
    return BenchmarkError(f"{path} has no column {', '.join(repr(m) for m in missing)}; its columns are: {shown}",
                          "name one of its columns (the target column's name is case-sensitive)")


def _class_order(labels: Any) -> tuple[list[Any], list[str]]:
    """Class values from the most to the least frequent (ties by their text), and their names."""
    counts = Counter(labels.tolist())
    order = sorted(counts, key=lambda v: (-counts[v], str(v)))
    return order, [str(v) for v in order]


def table_counts(path: Path, params: dict[str, Any]) -> tuple[list[int], list[str]]:
    target = read_table(path, params, columns=[params["target"]])
    if params["target"] not in target.columns:
        raise _missing_columns(path, [params["target"]], list(target.columns))
    labels = target[params["target"]].dropna()
    order, names = _class_order(labels)
    counts = Counter(labels.tolist())
    return [counts[v] for v in order], names


def table_arrays(path: Path, params: dict[str, Any]) -> tuple[np.ndarray, np.ndarray, list[str], list[str], dict]:
    """Features (float32, nominal columns as codes, missing as NaN), labels, class names, feature kinds
    and the info the card keeps (feature names, each nominal column's categories)."""
    import pandas as pd
    from pandas.api.types import is_bool_dtype, is_numeric_dtype

    df = read_table(path, params)
    header = list(df.columns)
    named = [params["target"], *params["nominal"], *params["drop"]]
    missing = [c for c in named if c not in header]
    if missing:
        raise _missing_columns(path, missing, header)
    target = df[params["target"]]
    if target.isna().any():
        first = int(np.flatnonzero(target.isna().to_numpy())[0])
        raise BenchmarkError(f"{path}: {int(target.isna().sum())} row(s) have no value in the target column "
                             f"'{params['target']}' (the first is data row {first + 1})",
                             "fill in or remove those rows")
    order, class_names = _class_order(target)
    code = {v: i for i, v in enumerate(order)}
    y = np.array([code[v] for v in target.tolist()], dtype=np.int64)
    features = [c for c in header if c != params["target"] and c not in params["drop"]]
    if not features:
        raise BenchmarkError(f"{path} has no feature column besides the target", "check the table and drop")
    X = np.empty((len(df), len(features)), dtype=np.float32)
    kinds, categories = [], {}
    for j, column in enumerate(features):
        values = df[column]
        numeric = is_numeric_dtype(values) or is_bool_dtype(values)
        if column in params["nominal"] or not numeric:
            cats = sorted({str(v) for v in values.dropna().tolist()})
            if column not in params["nominal"] and len(cats) > max(20, len(df) // 2):
                raise BenchmarkError(f"{path}: column '{column}' is not numeric and has {len(cats)} distinct values "
                                     f"in {len(df)} rows (an identifier or free text?)",
                                     f"leave it out with drop = [\"{column}\"], or name it in nominal to keep it")
            index = {c: float(i) for i, c in enumerate(cats)}
            X[:, j] = [np.nan if pd.isna(v) else index[str(v)] for v in values.tolist()]
            kinds.append("nominal")
            categories[str(j)] = cats
            continue
        col = values.to_numpy(dtype=np.float64, na_value=np.nan)
        bad = np.flatnonzero(np.isinf(col) | (np.abs(np.nan_to_num(col)) > np.finfo(np.float32).max))
        if bad.size:
            raise BenchmarkError(f"{path}: column '{column}' holds the non-finite value {values.iloc[bad[0]]!r} "
                                 f"(data row {bad[0] + 1}; {bad.size} such value(s))",
                                 "replace it with a finite number, or leave the cell empty (imputed)")
        X[:, j] = col
        kinds.append("numeric")
    info = {"feature_names": [str(f) for f in features], "categories": categories, "target": params["target"]}
    return X, y, class_names, kinds, info


# -- image folders ---------------------------------------------------------------------------------
def image_files(folder: Path) -> list[Path]:
    """Every PNG or JPEG image in the class subfolders of ``folder``, sorted."""
    return [p for files in class_folders(folder).values() for p in files]


def class_folders(folder: Path) -> dict[str, list[Path]]:
    """Class name (subfolder) -> its images, sorted; hidden entries are skipped."""
    found: dict[str, list[Path]] = {}
    for sub in sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")):
        images = sorted(p for p in sub.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
        if not images:
            raise BenchmarkError(f"class folder {sub} holds no PNG or JPEG image",
                                 "put the images of each class in its folder, or remove the empty folder")
        found[sub.name] = images
    if not found:
        raise BenchmarkError(f"{folder} has no class subfolders",
                             "put the images of each class in a subfolder named after the class")
    return found


def image_arrays(folder: Path, params: dict[str, Any]) -> tuple[np.ndarray, np.ndarray, list[str], dict]:
    """Images (N, C, H, W) uint8, resized and converted alike, labels, class names and card info."""
    from PIL import Image, UnidentifiedImageError

    folders = class_folders(folder)
    order = sorted(folders, key=lambda f: (-len(folders[f]), f))
    images, labels = [], []
    for label, name in enumerate(order):
        for path in folders[name]:
            try:
                with Image.open(path) as image:
                    image.load()
                    images.append(image.copy())
            except (UnidentifiedImageError, OSError) as exc:
                raise BenchmarkError(f"image {path} cannot be read ({type(exc).__name__}: {exc})",
                                     "replace or remove the file") from None
            labels.append(label)
    colour = params.get("colour") or ("grey" if all(_is_grey(im) for im in images) else "rgb")
    height, width = params.get("size") or (images[0].height, images[0].width)
    mode, channels = ("L", 1) if colour == "grey" else ("RGB", 3)
    X = np.empty((len(images), channels, height, width), dtype=np.uint8)
    for i, image in enumerate(images):
        image = image.convert(mode)
        if image.size != (width, height):
            image = image.resize((width, height), Image.Resampling.BILINEAR)
        pixels = np.asarray(image, dtype=np.uint8)
        X[i] = pixels[None] if channels == 1 else pixels.transpose(2, 0, 1)
    info = {"colour": colour, "size": [height, width]}
    return X, np.array(labels, dtype=np.int64), order, info


def _is_grey(image: Any) -> bool:
    if image.mode == "P":  # a palette image is grey when every palette entry is
        palette = np.asarray(image.getpalette() or [], dtype=np.int64).reshape(-1, 3)
        return bool((palette[:, 0] == palette[:, 1]).all() and (palette[:, 1] == palette[:, 2]).all())
    return image.mode in GREY_MODES


# -- classes ---------------------------------------------------------------------------------------
def check_classes(path: Path, y: np.ndarray, class_names: list[str], groups: np.ndarray, least: int,
                  rows: str = "row") -> None:
    """Refuse a file whose classes cannot be split, naming the file and the class: fewer than two classes,
    or a class with fewer than ``least`` distinct ``rows`` (duplicates count once: a group lies in one part)."""
    if len(class_names) < 2:
        held = f"one class only ({class_names[0]})" if class_names else f"no {rows}s"
        raise BenchmarkError(f"{path} holds {held}",
                             "a dataset needs at least two classes: check the target column or the class folders")
    for c, name in enumerate(class_names):
        distinct = int(np.unique(groups[y == c]).size)
        if distinct < least:
            raise BenchmarkError(
                f"{path}: class '{name}' has {distinct} distinct {rows}(s); each class needs at least {least} "
                "(one each for the test, validation and training parts)",
                f"add {rows}s of class '{name}' to the file, or remove its {rows}s")
