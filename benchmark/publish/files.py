"""The files of a bundle: the manifest of SHA-256 digests, JSON written one way, and ``.npz`` arrays
written byte for byte the same every time (no time stamps) and read without pickle.

A bundle is plain data: JSON (the large tables gzip-compressed, ``.json.gz``), ``.npz`` (NumPy's zip of ``.npy`` arrays, read with
``allow_pickle=False``), HTML, CFF and BibTeX text. ``MANIFEST.json`` lists every other file with its
size and SHA-256; a file added, removed or changed after publishing fails :func:`check_manifest`.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from benchmark.errors import BenchmarkError

BUNDLE_FORMAT = 1
MANIFEST = "MANIFEST.json"
CONSTRAINTS = "constraints.txt"  # the lock as pip constraints
ROWS, PAIRS, TRIALS, PREDICTIONS = "rows.json.gz", "pairs.json.gz", "trials.json.gz", "predictions.json.gz"
FROM_PREDICTIONS = "from predictions"  # an artifact a bundle leaves out: its reader computes it from the predictions
ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)  # every member's time stamp: equal arrays give equal files


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def json_text(value: Any) -> str:
    """The bundle's JSON: keys sorted, one indentation, NaN and infinities as Python writes them (the
    stored figures round-trip exactly)."""
    return json.dumps(value, indent=1, sort_keys=True, default=str) + "\n"


def write_json(folder: Path, name: str, value: Any) -> None:
    """A bundle file's JSON; a name ending in ``.gz`` is gzip-compressed (time stamp 0: equal content,
    equal bytes). The tables of rows, pairs and trials are: repeated keys compress tenfold."""
    data = json_text(value).encode("utf-8")
    (folder / name).write_bytes(gzip.compress(data, compresslevel=9, mtime=0) if name.endswith(".gz") else data)


def read_json(folder: Path, name: str, kind: type = dict) -> Any:
    """A bundle file's JSON (gunzipped where the name ends in ``.gz``), checked to be a ``kind``; anything
    else is an error naming the file."""
    path = folder / name
    try:
        raw = path.read_bytes()
        value = json.loads((gzip.decompress(raw) if name.endswith(".gz") else raw).decode("utf-8"))
    except FileNotFoundError:
        raise BenchmarkError(f"the bundle {folder} has no {name}", "publish it again with `python -m benchmark "
                                                                   "publish`, or give the bundle's folder") from None
    except (OSError, EOFError, UnicodeDecodeError, ValueError) as exc:  # gzip's BadGzipFile is an OSError
        raise BenchmarkError(f"{path} is not readable JSON ({exc})", "restore the bundle's original files") from None
    if not isinstance(value, kind):
        raise BenchmarkError(f"{path} holds a JSON {type(value).__name__}, expected a {kind.__name__}",
                             "restore the bundle's original files")
    return value


def write_npz(path: Path, arrays: dict[str, np.ndarray], compression: int = zipfile.ZIP_DEFLATED) -> None:
    """``arrays`` as an ``.npz`` whose bytes depend only on the arrays (fixed member times, sorted names);
    ``compression`` a zip method (``np.load`` reads deflate and LZMA members alike)."""
    with zipfile.ZipFile(path, "w", compression=compression) as archive:
        for name in sorted(arrays):
            buffer = io.BytesIO()
            np.lib.format.write_array(buffer, np.ascontiguousarray(arrays[name]), allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=ZIP_EPOCH)
            info.compress_type = compression
            archive.writestr(info, buffer.getvalue())


def read_npz(path: Path) -> dict[str, np.ndarray]:
    """The arrays of an ``.npz`` (never unpickled: an object array is refused)."""
    try:
        with np.load(path, allow_pickle=False) as archive:
            return {name: archive[name] for name in archive.files}
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise BenchmarkError(f"{path} is not a readable .npz of plain arrays ({exc})",
                             "restore the bundle's original files") from None


def bundle_files(folder: Path) -> list[Path]:
    """Every file under ``folder`` but the manifest, sorted; a link is refused (a bundle is plain files)."""
    found = []
    for path in sorted(folder.rglob("*")):
        if path.is_symlink():
            raise BenchmarkError(f"{path} is a symbolic link; a bundle holds plain files only",
                                 "replace it by the file itself, or remove it")
        if path.is_file() and path.relative_to(folder).as_posix() != MANIFEST:
            found.append(path)
    return found


def write_manifest(folder: Path) -> dict[str, Any]:
    """Write ``MANIFEST.json``: the size and SHA-256 of every other file of the bundle."""
    files = {p.relative_to(folder).as_posix(): {"bytes": p.stat().st_size, "sha256": sha256_file(p)}
             for p in bundle_files(folder)}
    manifest = {"format": BUNDLE_FORMAT, "files": files}
    (folder / MANIFEST).write_text(json_text(manifest), encoding="utf-8")
    return manifest


def check_manifest(folder: Path) -> list[str]:
    """What differs between the bundle's files and its manifest (empty when nothing does): files changed,
    missing or added since it was published."""
    manifest = read_json(folder, MANIFEST)
    listed = manifest.get("files")
    if manifest.get("format") != BUNDLE_FORMAT or not isinstance(listed, dict):
        return [f"{MANIFEST} has format {manifest.get('format')!r}; this version reads format {BUNDLE_FORMAT}"]
    problems = []
    present = {p.relative_to(folder).as_posix(): p for p in bundle_files(folder)}
    for name, entry in sorted(listed.items()):
        if name not in present:
            problems.append(f"{name} is listed in the manifest but missing")
        elif not isinstance(entry, dict) or sha256_file(present[name]) != entry.get("sha256"):
            problems.append(f"{name} was changed after publishing (its SHA-256 differs from the manifest's)")
    problems += [f"{name} was added after publishing (not in the manifest)" for name in sorted(set(present) - set(listed))]
    return problems


def is_bundle(path: str | Path) -> bool:
    """Whether ``path`` is a folder holding a bundle's manifest."""
    folder = Path(path)
    return folder.is_dir() and (folder / MANIFEST).is_file()
