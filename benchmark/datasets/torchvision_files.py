"""The image sources of the long-tail datasets, read through ``torchvision.datasets``.

MNIST and Fashion-MNIST are IDX files in ``<root>/<MNIST|FashionMNIST>/raw/``: uncompressed, as
torchvision leaves them after a download, or gzip-compressed, as they are distributed (the offline
Fashion-MNIST copy). torchvision reads only uncompressed files, so compressed ones are unpacked into
a temporary folder inside the split cache folder (the data root may be read-only and shared) and
torchvision is pointed there. Every IDX header is checked against the file size before torchvision
parses it, so a truncated or foreign file is named instead of failing deep inside torchvision.

CIFAR-10 and CIFAR-100 are torchvision's pickled batches in ``<root>/cifar-10-batches-py/`` and
``<root>/cifar-100-python/``. Files already present are read without torchvision's md5 check (the
structure is checked instead, so re-packed or test copies load); a download keeps torchvision's
checksum of the archive, and the files it downloaded are then checked against the SHA-256 pins of
:mod:`benchmark.datasets.download` (refused and removed on a mismatch).

torchvision is imported only when data is read: listing the registry stays fast. The layouts below
repeat torchvision's file names and URLs so that cards and error messages need no import; a test
checks them against torchvision.
"""

from __future__ import annotations

import gzip
import os
import pickle
import shutil
import struct
import tempfile
import zlib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

from benchmark.datasets.base import LoadRequest
from benchmark.datasets.download import check_pinned, require_download
from benchmark.errors import BenchmarkError, DataUnavailableError

# file name -> number of dimensions its IDX header must declare (images 3, labels 1)
MNIST_FILES = {
    "train-images-idx3-ubyte": 3,
    "train-labels-idx1-ubyte": 1,
    "t10k-images-idx3-ubyte": 3,
    "t10k-labels-idx1-ubyte": 1,
}
IDX_UBYTE = 0x08  # the IDX type code of unsigned bytes, the only one MNIST-style files use


@dataclass
class ImageSource:
    """A balanced training pool and the official test set, images (N, C, H, W) uint8."""

    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray


# -- IDX (MNIST family) ------------------------------------------------------------------------------
def check_idx(path: Path, ndim: int, shown: str | Path | None = None) -> tuple[int, ...]:
    """Check an uncompressed IDX file of unsigned bytes: magic number, dimensions and exact size.

    Returns the dimensions. ``shown`` is the name used in errors (the .gz it came from, say).
    """
    shown = shown or path
    fix = "replace it with the original file (or delete it so that the loader downloads it again)"
    size = path.stat().st_size
    with open(path, "rb") as fh:
        head = fh.read(4 + 4 * ndim)
    if len(head) < 4 + 4 * ndim:
        raise BenchmarkError(f"{shown} is {size} bytes long: too short for an IDX header", fix)
    if head[0] != 0 or head[1] != 0 or head[2] != IDX_UBYTE or head[3] != ndim:
        raise BenchmarkError(
            f"{shown} has the IDX magic number 0x{head[:4].hex()}; expected 0x000008{ndim:02x} "
            f"(unsigned bytes, {ndim} dimension{'s' if ndim > 1 else ''})", fix)
    dims = struct.unpack(f">{ndim}I", head[4:])
    expected = 4 + 4 * ndim + int(np.prod(dims, dtype=np.int64))
    if size != expected:
        raise BenchmarkError(
            f"{shown} holds {size} bytes but its IDX header (dimensions {list(dims)}) needs {expected}: "
            f"the file is {'truncated' if size < expected else 'padded'}", fix)
    return tuple(dims)


def gunzip(src: Path, dest: Path) -> None:
    """Decompress ``src`` to ``dest`` (through a temporary name); a damaged .gz names the file."""
    with tempfile.NamedTemporaryFile(dir=dest.parent, prefix=f".{dest.name}.", delete=False) as tmp:
        try:
            with gzip.open(src, "rb") as fh:
                shutil.copyfileobj(fh, tmp)
        except (EOFError, OSError, zlib.error) as exc:
            tmp.close()
            os.unlink(tmp.name)
            raise BenchmarkError(f"{src} is not a complete gzip file ({exc})",
                                 "replace it with the original .gz (or delete it so the loader downloads it again)"
                                 ) from exc
    os.replace(tmp.name, dest)


def _stage(src: Path, dest: Path) -> None:
    """Make an uncompressed file of the data root visible in the staging folder without copying."""
    try:
        os.symlink(src.resolve(), dest)
    except OSError:  # file systems without symbolic links
        shutil.copyfile(src, dest)


def mnist_expected(folder: str) -> list[str]:
    return [f"{folder}/raw/{name} (or {name}.gz)" for name in MNIST_FILES]


def load_mnist_family(folder: str, request: LoadRequest, source: str, num_classes: int = 10) -> ImageSource:
    """Read an MNIST-format dataset (``torchvision.datasets.MNIST`` or ``FashionMNIST``, named by
    ``folder``) from the data root, downloading it with torchvision when it is absent and downloads
    can work."""
    import torchvision.datasets

    cls = getattr(torchvision.datasets, folder)
    raw = request.data_root / folder / "raw"
    expected = mnist_expected(folder)
    if not all((raw / n).is_file() or (raw / f"{n}.gz").is_file() for n in MNIST_FILES):
        require_download(request.name, request.data_root, expected, source)
        try:
            cls(str(request.data_root), train=True, download=True)
        except (RuntimeError, OSError) as exc:
            raise DataUnavailableError(request.name, expected, source,
                                       f"the download failed: {str(exc).strip().splitlines()[0]}") from exc
        try:  # torchvision checked its md5; the SHA-256 pins are checked here
            check_pinned(request.data_root, [f"{folder}/raw/{n}.gz" for n in MNIST_FILES], source)
        except BenchmarkError:
            for name in MNIST_FILES:  # torchvision unpacked them too: nothing of a refused download is read
                (raw / name).unlink(missing_ok=True)
            raise
    with tempfile.TemporaryDirectory(dir=request.scratch(), prefix=f".{folder}-") as tmp:
        staged = Path(tmp) / folder / "raw"
        staged.mkdir(parents=True)
        dims = {}
        for name, ndim in MNIST_FILES.items():
            plain, packed = raw / name, raw / f"{name}.gz"
            if plain.is_file():
                _stage(plain, staged / name)
                dims[name] = check_idx(staged / name, ndim, plain)
            else:
                gunzip(packed, staged / name)
                dims[name] = check_idx(staged / name, ndim, f"{packed} (decompressed)")
        for part in ("train", "t10k"):
            n_images, n_labels = dims[f"{part}-images-idx3-ubyte"][0], dims[f"{part}-labels-idx1-ubyte"][0]
            if n_images != n_labels:
                raise BenchmarkError(f"{raw}: {part}-images holds {n_images} images but {part}-labels holds "
                                     f"{n_labels} labels", "replace both files with the originals")
        train, test = cls(tmp, train=True, download=False), cls(tmp, train=False, download=False)
        source_data = ImageSource(train.data.numpy()[:, None].copy(), train.targets.numpy().astype(np.int64),
                                  test.data.numpy()[:, None].copy(), test.targets.numpy().astype(np.int64))
    check_labels(source_data, num_classes, raw)
    return source_data


# -- CIFAR -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CifarLayout:
    """Where torchvision keeps one CIFAR dataset under its root."""

    torchvision_class: str
    folder: str
    archive: str
    url: str
    train_files: tuple[str, ...]
    test_files: tuple[str, ...]
    meta_file: str
    meta_key: str

    @property
    def files(self) -> list[str]:
        """Paths under the data root that torchvision's loader reads."""
        return [f"{self.folder}/{n}" for n in (*self.train_files, *self.test_files, self.meta_file)]


CIFAR10_LAYOUT = CifarLayout("CIFAR10", "cifar-10-batches-py", "cifar-10-python.tar.gz",
                             "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
                             tuple(f"data_batch_{i}" for i in range(1, 6)), ("test_batch",), "batches.meta",
                             "label_names")
CIFAR100_LAYOUT = CifarLayout("CIFAR100", "cifar-100-python", "cifar-100-python.tar.gz",
                              "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz", ("train",), ("test",),
                              "meta", "fine_label_names")


@cache
def md5_free(torchvision_class: str) -> type:
    """torchvision's ``CIFAR10``/``CIFAR100`` that trusts the structure of files already present
    instead of their md5 (the structure is checked here; a download still checks the archive's md5)."""
    import torchvision.datasets

    base = getattr(torchvision.datasets, torchvision_class)
    return type(f"{torchvision_class}Files", (base,), {
        "__doc__": md5_free.__doc__,
        "train_list": [[name, None] for name, _ in base.train_list],
        "test_list": [[name, None] for name, _ in base.test_list],
        "meta": {**base.meta, "md5": None},
    })


def _describe_bad_batch(path: Path, meta_key: str | None) -> str | None:
    """Why ``path`` is not a CIFAR pickle of the expected structure, or None when it is one."""
    try:
        with open(path, "rb") as fh:
            entry = pickle.load(fh, encoding="latin1")
    except Exception as exc:  # any unpickling failure means a damaged or foreign file
        return f"cannot be unpickled ({type(exc).__name__}: {exc})"
    if not isinstance(entry, dict):
        return f"holds a {type(entry).__name__}, not a dict"
    if meta_key is not None:
        return None if meta_key in entry else f"has no {meta_key!r} entry"
    labels = entry.get("labels", entry.get("fine_labels"))
    data = entry.get("data")
    if data is None or labels is None:
        return "has no 'data' and 'labels' (or 'fine_labels') entries"
    data = np.asarray(data)
    if data.ndim != 2 or data.shape[1] != 3 * 32 * 32 or data.shape[0] != len(labels):
        return f"holds data of shape {data.shape} for {len(labels)} labels; expected ({len(labels)}, 3072)"
    return None


def load_cifar(layout: CifarLayout, request: LoadRequest, num_classes: int) -> ImageSource:
    """Read CIFAR-10 or CIFAR-100 from the data root through torchvision, downloading the archive
    when the files are absent and downloads can work."""
    cls = md5_free(layout.torchvision_class)
    root, source = request.data_root, layout.url
    files = layout.files
    expected = [*files, f"(or the archive {layout.archive})"]
    if not all((root / f).is_file() for f in files):
        if not (root / layout.archive).is_file():
            require_download(request.name, root, expected, source)
        elif not os.access(root, os.W_OK):  # torchvision unpacks the archive beside itself
            raise DataUnavailableError(request.name, expected, source,
                                       f"{root / layout.archive} is there but {root} is read-only: unpack it there")
        downloading = not (root / layout.archive).is_file()
        try:  # downloads the archive, or only checks and unpacks one already present
            cls(str(root), train=True, download=True)
        except (RuntimeError, OSError) as exc:
            raise DataUnavailableError(request.name, expected, source,
                                       f"the download failed: {str(exc).strip().splitlines()[0]}") from exc
        if downloading:  # torchvision checked its md5; the SHA-256 pin is checked here
            try:
                check_pinned(root, [layout.archive], source)
            except BenchmarkError:
                shutil.rmtree(root / layout.folder, ignore_errors=True)  # unpacked from the refused archive
                raise
    try:
        train, test = cls(str(root), train=True), cls(str(root), train=False)
    except Exception as exc:  # find which file is damaged, to name it
        for rel in files:
            meta_key = layout.meta_key if rel.endswith("/" + layout.meta_file) else None
            why = _describe_bad_batch(root / rel, meta_key)
            if why:
                raise BenchmarkError(f"{root / rel} {why}",
                                     f"replace {root / layout.folder} with the original from {source}") from exc
        raise BenchmarkError(f"{root / layout.folder} cannot be read by torchvision ({type(exc).__name__}: {exc})",
                             f"replace it with the original from {source}") from exc
    source_data = ImageSource(np.ascontiguousarray(train.data.transpose(0, 3, 1, 2)),
                              np.asarray(train.targets, dtype=np.int64),
                              np.ascontiguousarray(test.data.transpose(0, 3, 1, 2)),
                              np.asarray(test.targets, dtype=np.int64))
    check_labels(source_data, num_classes, root / layout.folder)
    return source_data


def check_labels(data: ImageSource, num_classes: int, where: Path) -> None:
    for part, y in (("training", data.y_train), ("test", data.y_test)):
        if y.size and (y.min() < 0 or y.max() >= num_classes):
            raise BenchmarkError(f"{where}: {part} labels range over {int(y.min())}..{int(y.max())}; "
                                 f"the dataset has {num_classes} classes", "replace the files with the originals")
