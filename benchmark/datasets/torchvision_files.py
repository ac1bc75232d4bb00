"""The image sources of the long-tail datasets, read through ``torchvision.datasets``.

MNIST and Fashion-MNIST are IDX files in ``<root>/<MNIST|FashionMNIST>/raw/``: uncompressed, as
torchvision leaves them after a download, or gzip-compressed, as they are distributed (the offline
Fashion-MNIST copy). torchvision reads only uncompressed files, so compressed ones are unpacked into
a temporary folder inside the split cache folder (the data root may be read-only and shared) and
torchvision is pointed there. Every IDX header is checked against the file size before torchvision
parses it, so a truncated or foreign file is named instead of failing deep inside torchvision.

CIFAR-10 and CIFAR-100 are pickled batches in ``<root>/cifar-10-batches-py/`` and
``<root>/cifar-100-python/``, in torchvision's layout. They are read by the restricted reader of
:mod:`benchmark.datasets._cifar_format` (only the format's dicts, lists, strings and numeric arrays: a
doctored file cannot run code), never by ``pickle.load``, and their structure is checked, so re-packed or
test copies load. A download uses torchvision's download of the archive (its md5 checked), then checks
the archive against the SHA-256 pins of :mod:`benchmark.datasets.download` (refused and removed on a
mismatch) before any file of it is read.

torchvision is imported only when data is read: listing the registry stays fast. The layouts below
repeat torchvision's file names and URLs so that cards and error messages need no import; a test
checks them against torchvision.
"""

from __future__ import annotations

import gzip
import os
import shutil
import struct
import tempfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from benchmark.datasets._cifar_format import read_cifar_batch
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


def download_archive(layout: CifarLayout, root: Path) -> None:
    """torchvision's download of the archive into ``root`` (its md5 checked; an archive already there is
    only checked) and its unpacking; no file of it is read here."""
    import torchvision.datasets
    from torchvision.datasets.utils import download_and_extract_archive

    base = getattr(torchvision.datasets, layout.torchvision_class)
    download_and_extract_archive(base.url, str(root), filename=base.filename, md5=base.tgz_md5)


def read_batch(path: Path, meta_key: str | None, fix: str) -> tuple[np.ndarray, list[int]] | None:
    """One batch file's images (N, 3, 32, 32) uint8 and labels, or None for the meta file (checked to hold
    ``meta_key``); a file that is damaged, foreign or not of the format names itself."""
    try:
        entry = read_cifar_batch(path)
    except Exception as exc:  # noqa: BLE001 - any failure means a damaged, foreign or doctored file
        raise BenchmarkError(f"{path} cannot be unpickled as a CIFAR batch ({type(exc).__name__}: {exc})",
                             fix) from None
    if not isinstance(entry, dict):
        raise BenchmarkError(f"{path} holds a {type(entry).__name__}, not a dict", fix)
    if meta_key is not None:
        if meta_key not in entry:
            raise BenchmarkError(f"{path} has no {meta_key!r} entry", fix)
        return None
    labels, data = entry.get("labels", entry.get("fine_labels")), entry.get("data")
    if not isinstance(data, np.ndarray) or not isinstance(labels, list | np.ndarray):
        raise BenchmarkError(f"{path} has no 'data' array and 'labels' (or 'fine_labels') list", fix)
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * 32 * 32 or data.shape[0] != len(labels):
        raise BenchmarkError(f"{path} holds data of shape {data.shape} ({data.dtype}) for {len(labels)} labels; "
                             f"expected ({len(labels)}, 3072) uint8", fix)
    return data.reshape(-1, 3, 32, 32), [int(v) for v in labels]


def read_part(root: Path, layout: CifarLayout, names: tuple[str, ...], fix: str) -> tuple[np.ndarray, np.ndarray]:
    """The images and labels of the batch files ``names``, in order."""
    images, labels = [], []
    for name in names:
        X, y = read_batch(root / layout.folder / name, None, fix)
        images.append(X)
        labels += y
    return np.ascontiguousarray(np.concatenate(images)), np.asarray(labels, dtype=np.int64)


def load_cifar(layout: CifarLayout, request: LoadRequest, num_classes: int) -> ImageSource:
    """Read CIFAR-10 or CIFAR-100 from the data root, downloading the archive when the files are absent
    and downloads can work."""
    root, source = request.data_root, layout.url
    files = layout.files
    expected = [*files, f"(or the archive {layout.archive})"]
    if not all((root / f).is_file() for f in files):
        if not (root / layout.archive).is_file():
            require_download(request.name, root, expected, source)
        elif not os.access(root, os.W_OK):  # the archive is unpacked beside itself
            raise DataUnavailableError(request.name, expected, source,
                                       f"{root / layout.archive} is there but {root} is read-only: unpack it there")
        downloading = not (root / layout.archive).is_file()
        try:  # downloads the archive, or only checks and unpacks one already present
            download_archive(layout, root)
        except (RuntimeError, OSError) as exc:
            raise DataUnavailableError(request.name, expected, source,
                                       f"the download failed: {str(exc).strip().splitlines()[0]}") from exc
        if downloading:  # torchvision checked its md5; the SHA-256 pin is checked here, before any read
            try:
                check_pinned(root, [layout.archive], source)
            except BenchmarkError:
                shutil.rmtree(root / layout.folder, ignore_errors=True)  # unpacked from the refused archive
                raise
    fix = f"replace {root / layout.folder} with the original from {source}"
    read_batch(root / layout.folder / layout.meta_file, layout.meta_key, fix)
    X_train, y_train = read_part(root, layout, layout.train_files, fix)
    X_test, y_test = read_part(root, layout, layout.test_files, fix)
    source_data = ImageSource(X_train, y_train, X_test, y_test)
    check_labels(source_data, num_classes, root / layout.folder)
    return source_data


def check_labels(data: ImageSource, num_classes: int, where: Path) -> None:
    for part, y in (("training", data.y_train), ("test", data.y_test)):
        if y.size and (y.min() < 0 or y.max() >= num_classes):
            raise BenchmarkError(f"{where}: {part} labels range over {int(y.min())}..{int(y.max())}; "
                                 f"the dataset has {num_classes} classes", "replace the files with the originals")
