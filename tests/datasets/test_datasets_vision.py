"""Vision long-tail datasets: literature counts, the validation protocol, torchvision's on-disk
formats (real Fashion-MNIST; MNIST and CIFAR written by the tests), bad files and reproducibility."""

from __future__ import annotations

import gzip
import hashlib
import json
import pickle
import shutil
import struct
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from benchmark.datasets import dataset_registry, torchvision_files
from benchmark.datasets.base import LoadRequest
from benchmark.datasets.torchvision_files import CIFAR10_LAYOUT, CIFAR100_LAYOUT, MNIST_FILES, check_idx
from benchmark.datasets.vision import (
    CIFAR10_CLASSES,
    CIFAR100_CLASSES,
    FASHION_CLASSES,
    FASHION_URL,
    MNIST_CLASSES,
    MNIST_URL,
    VAL_FRACTION,
    long_tail_counts,
    long_tail_split,
    register_long_tail,
)
from benchmark.errors import BenchmarkError, DataUnavailableError

FASHION_LT = [6000, 3596, 2156, 1292, 774, 464, 278, 166, 100, 60]
CIFAR10_LT = [5000, 2997, 1796, 1077, 645, 387, 232, 139, 83, 50]


# -- writers of torchvision's on-disk formats ------------------------------------------------------
def write_idx(path: Path, array: np.ndarray, compress: bool = False) -> None:
    """IDX of unsigned bytes: 0x00 0x00 0x08 ndim, big-endian dimensions, then the bytes."""
    payload = struct.pack(">BBBB", 0, 0, 8, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    payload += np.ascontiguousarray(array, dtype=np.uint8).tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    if compress:
        path.with_name(path.name + ".gz").write_bytes(gzip.compress(payload))
    else:
        path.write_bytes(payload)


def labelled_images(counts, shape, offset: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Images whose first three bytes spell their index (offset + i), so subsamples can be compared."""
    y = np.repeat(np.arange(len(counts)), counts).astype(np.uint8)
    n = len(y)
    X = np.zeros((n, int(np.prod(shape))), dtype=np.uint8)
    ids = np.arange(n) + offset
    X[:, 0], X[:, 1], X[:, 2] = ids % 256, (ids // 256) % 256, ids // 65536
    return X.reshape(n, *shape), y


def image_ids(X: np.ndarray) -> set[int]:
    flat = X.reshape(len(X), -1).astype(np.int64)
    return set((flat[:, 0] + 256 * flat[:, 1] + 65536 * flat[:, 2]).tolist())


def write_mnist(root: Path, folder: str, train_counts, test_counts, compress=()) -> None:
    X, y = labelled_images(train_counts, (28, 28))
    Xt, yt = labelled_images(test_counts, (28, 28), offset=len(y))
    arrays = {"train-images-idx3-ubyte": X, "train-labels-idx1-ubyte": y,
              "t10k-images-idx3-ubyte": Xt, "t10k-labels-idx1-ubyte": yt}
    for name, array in arrays.items():
        write_idx(root / folder / "raw" / name, array, compress=name in compress)


def write_cifar(root: Path, layout, train_counts, test_counts, class_names) -> None:
    """torchvision's pickled batches: dicts with 'data' (N, 3072) uint8 and 'labels'/'fine_labels'."""
    folder = root / layout.folder
    folder.mkdir(parents=True)
    key = "labels" if layout is CIFAR10_LAYOUT else "fine_labels"
    X, y = labelled_images(train_counts, (3072,))
    order = np.random.default_rng(0).permutation(len(y))  # classes interleaved over the batches, as in CIFAR
    for name, idx in zip(layout.train_files, np.array_split(order, len(layout.train_files)), strict=True):
        with open(folder / name, "wb") as fh:
            pickle.dump({"data": X[idx], key: y[idx].tolist()}, fh)
    Xt, yt = labelled_images(test_counts, (3072,), offset=len(y))
    with open(folder / layout.test_files[0], "wb") as fh:
        pickle.dump({"data": Xt, key: yt.tolist()}, fh)
    with open(folder / layout.meta_file, "wb") as fh:
        pickle.dump({layout.meta_key: list(class_names)}, fh)


@pytest.fixture
def offline(monkeypatch):
    monkeypatch.setenv("BENCHMARK_OFFLINE", "1")


@pytest.fixture(scope="module")
def cifar10_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("cifar10")
    pool = long_tail_counts(5000, 10, 10)  # the rho=10 pool holds every rho >= 10
    write_cifar(root, CIFAR10_LAYOUT, [n + 7 for n in pool], [12] * 10, CIFAR10_CLASSES)
    return root


@pytest.fixture(scope="module")
def mnist_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("mnist")
    counts = long_tail_counts(5421, 10, 10)  # the r10 pool; r100 is nested in it
    write_mnist(root, "MNIST", [n + 5 for n in counts], [9, 8, 10, 7, 9, 9, 8, 9, 9, 9],
                compress={"t10k-labels-idx1-ubyte"})
    return root


# -- Fashion-MNIST-LT from the real offline copy ---------------------------------------------------
def test_fashion_mnist_lt_real_counts_and_protocol(data_root, tmp_path, monkeypatch):
    monkeypatch.setenv("BENCHMARK_CACHE", str(tmp_path))
    split = dataset_registry.get("fashion-mnist-lt").load(data_root, split_seed=0)
    assert split.info["long_tail_counts"] == FASHION_LT
    train, val, test = split.class_counts("train"), split.class_counts("val"), split.class_counts("test")
    assert [t + v for t, v in zip(train, val, strict=True)] == FASHION_LT
    assert val == [max(1, round(VAL_FRACTION * n)) for n in FASHION_LT]
    assert test == [1000] * 10
    assert split.train.X.shape == (sum(train), 1, 28, 28) and split.train.X.dtype == np.uint8
    assert split.class_names == list(FASHION_CLASSES)
    assert split.minority_classes == [6, 7, 8, 9]
    assert split.test.X.reshape(10000, -1).mean() > 50  # real images, not zeros
    # the .gz files were unpacked in a temporary folder of the cache, which is gone again
    assert [p.name for p in tmp_path.iterdir()] == [p.name for p in tmp_path.glob("*.npz")]


def test_show_dataset_reports_long_tail_validation_and_test(data_root, tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from benchmark.cli import app

    monkeypatch.setenv("BENCHMARK_CACHE", str(tmp_path))
    result = CliRunner().invoke(app, ["show", "dataset", "fashion-mnist-lt", "--data-root", str(data_root),
                                      "--format", "json"])
    assert result.exit_code == 0, result.output
    card = json.loads(result.stdout)
    assert card["long_tail_counts"] == FASHION_LT
    assert card["val_fraction"] == VAL_FRACTION and card["class_counts"]["val"][-1] == 12
    assert card["class_counts"]["test"] == [1000] * 10
    assert card["stats"]["long_tail_size"] == 14886 and card["license"].startswith("MIT")
    assert "@article{xiao2017fashion" in card["citation"] and "vflip" not in card["label_preserving_transforms"]


def test_show_dataset_without_data_prints_the_card(tmp_path, offline):
    from typer.testing import CliRunner

    from benchmark.cli import app

    result = CliRunner().invoke(app, ["show", "dataset", "cifar100-lt", "--data-root", str(tmp_path),
                                      "--format", "json"])
    assert result.exit_code == 0, result.output
    card = json.loads(result.stdout)
    assert card["split"].startswith("unavailable: data for 'cifar100-lt'") and CIFAR100_LAYOUT.url in card["split"]
    assert card["stats"]["long_tail_size"] == 10847 and card["class_names"][:2] == ["apple", "aquarium_fish"]


# -- literature counts from files in torchvision's formats --------------------------------------------
def test_cifar10_lt_from_torchvision_batches(cifar10_root):
    split = dataset_registry.get("cifar10-lt").load(cifar10_root, cache=False)
    assert split.info["long_tail_counts"] == CIFAR10_LT and split.info["long_tail_size"] == 12406
    lt = [t + v for t, v in zip(split.class_counts("train"), split.class_counts("val"), strict=True)]
    assert lt == CIFAR10_LT and sum(lt) == 12406
    assert split.class_counts("test") == [12] * 10
    assert split.train.X.shape[1:] == (3, 32, 32)
    assert split.class_names == list(CIFAR10_CLASSES)


def test_cifar100_lt_literature_total(tmp_path):
    counts = long_tail_counts(500, 100, 100)
    write_cifar(tmp_path, CIFAR100_LAYOUT, [n + 1 for n in counts], [2] * 100, CIFAR100_CLASSES)
    split = dataset_registry.get("cifar100-lt").load(tmp_path, cache=False)
    lt = np.add(split.class_counts("train"), split.class_counts("val"))
    assert lt.sum() == 10847 and lt[0] == 500 and lt[-1] == 5
    assert min(split.class_counts("val")) == 1 and min(split.class_counts("train")) == 4
    assert len(split.minority_classes) == 34  # the tail third of 100 classes


def test_mnist_lt_from_idx_files_with_balanced_test(mnist_root):
    split = dataset_registry.get("mnist-lt").load(mnist_root, cache=False)
    assert split.info["long_tail_counts"] == [5421, 3249, 1948, 1167, 700, 419, 251, 150, 90, 54]
    assert split.class_counts("test") == [7] * 10  # balanced to the smallest test class
    assert split.class_names == list(MNIST_CLASSES)


def test_step_profile_variant(cifar10_root, tmp_path):
    entry = dataset_registry.get("cifar10-lt-step")
    assert entry.stats["long_tail_counts"] == [5000] * 5 + [50] * 5
    request = LoadRequest(entry.name, cifar10_root, 0, {**entry.params, "n_max": 1000}, scratch_dir=tmp_path)
    split = entry.builder(request)  # the synthetic pool is smaller than 5 x 5000
    assert split.info["long_tail_counts"] == [1000] * 5 + [10] * 5
    assert split.class_counts("val") == [200] * 5 + [2] * 5


def test_layouts_and_names_match_torchvision():
    from torchvision import datasets

    for layout, cls in ((CIFAR10_LAYOUT, datasets.CIFAR10), (CIFAR100_LAYOUT, datasets.CIFAR100)):
        assert layout.folder == cls.base_folder and layout.url == cls.url and layout.archive == cls.filename
        assert list(layout.train_files) == [n for n, _ in cls.train_list]
        assert (layout.meta_file, layout.meta_key) == (cls.meta["filename"], cls.meta["key"])
    assert list(MNIST_CLASSES) == datasets.MNIST.classes and list(FASHION_CLASSES) == datasets.FashionMNIST.classes
    assert MNIST_URL in datasets.MNIST.mirrors and FASHION_URL in datasets.FashionMNIST.mirrors
    assert [name + ".gz" for name in MNIST_FILES] == [f for f, _ in datasets.MNIST.resources]
    assert len(set(CIFAR100_CLASSES)) == 100 and list(CIFAR100_CLASSES) == sorted(CIFAR100_CLASSES)


# -- reproducibility ---------------------------------------------------------------------------------
def test_same_split_seed_same_bytes_other_seed_other_subsample(cifar10_root):
    entry = dataset_registry.get("cifar10-lt")
    a, b = entry.load(cifar10_root, 0, cache=False), entry.load(cifar10_root, 0, cache=False)
    assert a.fingerprint() == b.fingerprint()
    assert hashlib.sha256(a.train.X.tobytes()).digest() == hashlib.sha256(b.train.X.tobytes()).digest()
    c = entry.load(cifar10_root, 1, cache=False)
    assert c.fingerprint() != a.fingerprint()
    ids_a, ids_c = image_ids(np.concatenate([a.train.X, a.val.X])), image_ids(np.concatenate([c.train.X, c.val.X]))
    assert ids_a != ids_c and len(ids_a) == len(ids_c) == 12406


def test_rho_variants_are_nested(cifar10_root):
    r100 = dataset_registry.get("cifar10-lt").load(cifar10_root, 3, cache=False)
    r10 = dataset_registry.get("cifar10-lt-r10").load(cifar10_root, 3, cache=False)
    pool = lambda s: image_ids(np.concatenate([s.train.X, s.val.X]))  # noqa: E731
    assert pool(r100) < pool(r10)


def test_cache_is_keyed_by_parameters_and_reused(cifar10_root, tmp_path, monkeypatch):
    monkeypatch.setenv("BENCHMARK_CACHE", str(tmp_path))
    entry = dataset_registry.get("cifar10-lt")
    first = entry.load(cifar10_root, 0)
    assert len(list(tmp_path.glob("cifar10-lt-s0-*.npz"))) == 1
    assert entry.load(cifar10_root, 0).fingerprint() == first.fingerprint()
    changed = replace(entry, params={**entry.params, "val_fraction": 0.3})
    assert changed.cache_key(0) != entry.cache_key(0)
    assert changed.load(cifar10_root, 0).class_counts("val")[0] == 1500


# -- missing data and downloads ----------------------------------------------------------------------
def test_missing_files_name_expected_files_and_source(tmp_path, offline):
    with pytest.raises(DataUnavailableError) as info:
        dataset_registry.get("cifar100-lt").load(tmp_path, cache=False)
    text = str(info.value)
    assert "cifar-100-python/train" in text and CIFAR100_LAYOUT.url in text and "BENCHMARK_OFFLINE" in text
    with pytest.raises(DataUnavailableError, match="MNIST/raw/train-images-idx3-ubyte.*ossci-datasets"):
        dataset_registry.get("mnist-lt-r50").load(tmp_path, cache=False)


def test_download_is_used_when_files_are_absent(tmp_path, monkeypatch):
    """torchvision's downloader (mocked: no network in tests) fills the data root, then the files load."""
    from torchvision.datasets import FashionMNIST

    monkeypatch.delenv("BENCHMARK_OFFLINE", raising=False)
    calls = []

    def fake_download(self):
        calls.append(self.raw_folder)
        write_mnist(Path(self.root), "FashionMNIST", [70] * 10, [3] * 10)

    monkeypatch.setattr(FashionMNIST, "download", fake_download)
    request = LoadRequest("fashion-mnist-lt", tmp_path, 0, {"n_max": 60, "rho": 10}, scratch_dir=tmp_path / "s")
    split = dataset_registry.get("fashion-mnist-lt").builder(request)
    assert calls == [str(tmp_path / "FashionMNIST" / "raw")]
    assert np.add(split.class_counts("train"), split.class_counts("val")).tolist() == long_tail_counts(60, 10, 10)


def test_archive_in_the_data_root_is_unpacked_even_offline(cifar10_root, tmp_path, monkeypatch, offline):
    """An archive already in the data root needs no network: torchvision checks and unpacks it
    (mocked here, since torchvision would reject the test files' md5)."""
    (tmp_path / CIFAR10_LAYOUT.archive).write_bytes(b"stands for the archive")
    unpacked = []

    def fake_unpack(layout, root):
        unpacked.append(root)
        shutil.copytree(cifar10_root / layout.folder, Path(root) / layout.folder)

    monkeypatch.setattr(torchvision_files, "download_archive", fake_unpack)
    split = dataset_registry.get("cifar10-lt").load(tmp_path, cache=False)
    assert unpacked == [tmp_path] and len(split.train) + len(split.val) == 12406


def test_failed_download_is_data_unavailable(tmp_path, monkeypatch):
    monkeypatch.delenv("BENCHMARK_OFFLINE", raising=False)

    def no_network(layout, root):
        raise RuntimeError("<urlopen error [Errno -2] Name or service not known>")

    monkeypatch.setattr(torchvision_files, "download_archive", no_network)
    with pytest.raises(DataUnavailableError, match="download failed: <urlopen error.*cifar-10-batches-py/test_batch"):
        dataset_registry.get("cifar10-lt").load(tmp_path, cache=False)


# -- bad input ---------------------------------------------------------------------------------------
def test_truncated_gz_is_named(data_root, tmp_path):
    raw = tmp_path / "FashionMNIST" / "raw"
    raw.mkdir(parents=True)
    for f in (data_root / "FashionMNIST" / "raw").glob("*.gz"):
        shutil.copyfile(f, raw / f.name)
    bad = raw / "train-labels-idx1-ubyte.gz"
    bad.write_bytes(bad.read_bytes()[: bad.stat().st_size // 2])
    with pytest.raises(BenchmarkError, match=r"train-labels-idx1-ubyte.gz is not a complete gzip file") as info:
        dataset_registry.get("fashion-mnist-lt").load(tmp_path, cache=False)
    assert "replace it with the original" in str(info.value)


def test_idx_with_wrong_header_is_named(mnist_root, tmp_path):
    shutil.copytree(mnist_root / "MNIST", tmp_path / "MNIST")
    images = tmp_path / "MNIST" / "raw" / "train-images-idx3-ubyte"
    data = bytearray(images.read_bytes())
    data[3] = 1  # claims one dimension
    images.write_bytes(bytes(data))
    with pytest.raises(BenchmarkError, match=r"train-images-idx3-ubyte has the IDX magic number 0x00000801"):
        dataset_registry.get("mnist-lt").load(tmp_path, cache=False)
    images.write_bytes(bytes(data[:3]) + b"\x03" + bytes(data[4:-100]))
    with pytest.raises(BenchmarkError, match=r"needs \d+: the file is truncated"):
        check_idx(images, 3)


def test_corrupt_cifar_batch_is_named_and_cache_kept(cifar10_root, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    monkeypatch.setenv("BENCHMARK_CACHE", str(cache))
    root = tmp_path / "root"
    shutil.copytree(cifar10_root, root)
    entry = dataset_registry.get("cifar10-lt")
    entry.load(root, 0)
    cached = {p.name: p.read_bytes() for p in cache.glob("*.npz")}
    batch = root / CIFAR10_LAYOUT.folder / "data_batch_3"
    batch.write_bytes(batch.read_bytes()[:1000])
    with pytest.raises(BenchmarkError, match=r"data_batch_3 cannot be unpickled"):  # truncated
        entry.load(root, 1)
    assert {p.name: p.read_bytes() for p in cache.glob("*.npz")} == cached  # nothing replaced, nothing added
    assert not list(cache.glob("*.tmp"))


class Payload:
    """Unpickling runs ``os.system`` with a command that leaves a marker file: proof that code ran."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        import os

        return os.system, (f"touch {self.marker}",)


@pytest.mark.parametrize("where", ["top", "inside"])
def test_a_batch_with_a_reduce_payload_is_refused_and_nothing_runs(cifar10_root, tmp_path, where):
    root = tmp_path / "root"
    shutil.copytree(cifar10_root, root)
    marker = tmp_path / "ran"
    batch = root / CIFAR10_LAYOUT.folder / "data_batch_2"
    with open(batch, "rb") as fh:
        entry = pickle.load(fh)  # the test's own file
    payload = Payload(marker) if where == "top" else {**entry, "labels": [Payload(marker), *entry["labels"][1:]]}
    batch.write_bytes(pickle.dumps(payload, protocol=2))
    with pytest.raises(BenchmarkError, match=r"data_batch_2 cannot be unpickled as a CIFAR batch.*"
                                             r"global '(posix|os)\.system' is not part of the CIFAR batch format"):
        dataset_registry.get("cifar10-lt").load(root, 0, cache=False)
    assert not marker.exists()


def test_batches_of_every_pickle_form_of_the_format_load_alike(cifar10_root, tmp_path):
    """Protocols 2 (bytes through ``_codecs.encode``), 4 and 5 (``_frombuffer``), and NumPy 1's module
    name (the official files'), all read by the restricted reader to the same arrays."""
    from benchmark.datasets._cifar_format import read_cifar_batch

    with open(cifar10_root / CIFAR10_LAYOUT.folder / "test_batch", "rb") as fh:
        entry = pickle.load(fh)
    numpy1 = pickle.dumps(entry, protocol=2).replace(b"numpy._core.multiarray", b"numpy.core.multiarray")
    for n, blob in enumerate([*(pickle.dumps(entry, protocol=k) for k in (2, 4, 5)), numpy1]):
        (tmp_path / f"b{n}").write_bytes(blob)
        got = read_cifar_batch(tmp_path / f"b{n}")
        assert got["labels"] == entry["labels"] and got["data"].dtype == np.uint8
        assert np.array_equal(got["data"], entry["data"]), n
    (tmp_path / "objects").write_bytes(pickle.dumps({"data": np.array([{"a": 1}], dtype=object)}, protocol=4))
    with pytest.raises(pickle.UnpicklingError, match="not numeric"):
        read_cifar_batch(tmp_path / "objects")


@pytest.mark.parametrize("rho", [0.5, 0, -3, float("nan")])
def test_rho_below_one_is_rejected(rho):
    with pytest.raises(BenchmarkError, match=r"rho=.*is invalid.*>= 1"):
        long_tail_counts(100, 10, rho)
    with pytest.raises(BenchmarkError, match="rho"):
        register_long_tail(f"cifar10-lt-bad-{rho}", "cifar10-lt", "exp", rho)
    assert f"cifar10-lt-bad-{rho}" not in dataset_registry


def test_split_too_small_for_a_validation_image_per_class(tmp_path):
    X, y = labelled_images([40] * 4, (1, 4, 4))
    X_test, y_test = labelled_images([5] * 4, (1, 4, 4), offset=1000)
    request = LoadRequest("tiny-lt", tmp_path, 0, {"rho": 30, "n_max": 40})
    with pytest.raises(BenchmarkError, match=r"rho=30 and n_max=40 leaves class 3 \(d\) 1 training image") as info:
        long_tail_split("tiny-lt", request, X, y, X_test, y_test, ["a", "b", "c", "d"])
    assert "lower rho or raise n_max" in str(info.value)
    ok = long_tail_split("tiny-lt", replace(request, params={"rho": 10, "n_max": 40}), X, y, X_test, y_test,
                         list("abcd"))
    assert ok.class_counts("val")[-1] == 1 and ok.class_counts("train")[-1] == 3
    assert ok.minority_classes == [2, 3]  # the tail third: ceil(4/3) classes


def test_minority_share_is_configurable(tmp_path):
    X, y = labelled_images([40] * 6, (1, 4, 4))
    X_test, y_test = labelled_images([5] * 6, (1, 4, 4), offset=1000)
    request = LoadRequest("tiny-lt", tmp_path, 0, {"rho": 10, "n_max": 40, "minority_fraction": 0.5})
    assert long_tail_split("tiny-lt", request, X, y, X_test, y_test, list("abcdef")).minority_classes == [3, 4, 5]
