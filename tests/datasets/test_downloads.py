"""Pinned SHA-256 checks on downloads, and the data shipped in the package (no network: fake downloaders)."""

from __future__ import annotations

import gzip
import hashlib
import io
import zipfile
from pathlib import Path

import pytest

from benchmark.datasets import dataset_registry
from benchmark.datasets import download as download_module
from benchmark.datasets.base import LoadRequest
from benchmark.datasets.download import PINNED_SHA256, SMS_ZIP_URL, download_file, verify_pinned
from benchmark.datasets.packaged import PACKAGED_ROOT, packaged_file
from benchmark.datasets.text import SMS_FILE, SMS_MINI_FILE, sparse_sms_subset
from benchmark.datasets.torchvision_files import MNIST_FILES
from benchmark.errors import BenchmarkError
from tests.datasets.test_datasets_vision import write_mnist

SMS_PIN = PINNED_SHA256[SMS_FILE]


@pytest.fixture
def online(monkeypatch):
    monkeypatch.delenv("BENCHMARK_OFFLINE", raising=False)


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def zipped(member: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("SMSSpamCollection", member)
        zf.writestr("readme", b"UCI")
    return buffer.getvalue()


def serve_archive(monkeypatch, archive: bytes, *, pin_archive: bool = True) -> list[str]:
    """A fake downloader answering the UCI URL with ``archive``; the archive's pin is set to its own
    hash (a test zip cannot have the official archive's bytes), the member keeps the official pin."""
    asked = []

    def fake_download(url: str, dest: Path) -> Path:
        asked.append(url)
        dest.write_bytes(archive)
        return dest

    monkeypatch.setattr(download_module, "download_file", fake_download)
    if pin_archive:
        monkeypatch.setitem(PINNED_SHA256, SMS_ZIP_URL, sha(archive))
    return asked


def test_pins_match_the_offline_copies_of_official_files(data_root):
    assert sha((data_root / SMS_FILE).read_bytes()) == SMS_PIN
    assert all(len(v) == 64 and int(v, 16) >= 0 for v in PINNED_SHA256.values())


def test_good_download_passes_the_pins_and_is_installed(data_root, tmp_path, monkeypatch, online):
    official = (data_root / SMS_FILE).read_bytes()
    asked = serve_archive(monkeypatch, zipped(official))
    split = dataset_registry.get("sms-spam").load(tmp_path, cache=False)
    assert asked == [SMS_ZIP_URL]
    assert (tmp_path / SMS_FILE).read_bytes() == official
    assert len(split.train) + len(split.val) + len(split.test) == 5574
    assert [p.name for p in (tmp_path / "sms_spam").iterdir()] == ["SMSSpamCollection"]


def test_corrupted_file_is_refused_named_and_not_kept(data_root, tmp_path, monkeypatch, online):
    official = (data_root / SMS_FILE).read_bytes()
    corrupted = official.replace(b"Free entry", b"Free entrY", 1)
    assert corrupted != official
    serve_archive(monkeypatch, zipped(corrupted))
    with pytest.raises(BenchmarkError) as info:
        dataset_registry.get("sms-spam").load(tmp_path, cache=False)
    text = str(info.value)
    assert "SMSSpamCollection" in text and SMS_ZIP_URL in text
    assert SMS_PIN in text and sha(corrupted) in text and "refused and not kept" in text
    assert "put the file under the data root" in info.value.fix
    assert not (tmp_path / SMS_FILE).exists()
    assert list((tmp_path / "sms_spam").iterdir()) == []  # no partial or temporary file left


def test_archive_with_another_hash_is_refused(data_root, tmp_path, monkeypatch, online):
    serve_archive(monkeypatch, zipped((data_root / SMS_FILE).read_bytes()), pin_archive=False)
    with pytest.raises(BenchmarkError, match=r"sms\+spam\+collection.zip .*has SHA-256 [0-9a-f]{64}, but the pinned "
                                             r"SHA-256 of the official file is 1587ea43"):
        dataset_registry.get("sms-spam").load(tmp_path, cache=False)
    assert not (tmp_path / SMS_FILE).exists()


def test_torchvision_download_with_a_wrong_hash_is_removed(tmp_path, monkeypatch, online):
    """torchvision (mocked) leaves .gz files that are not the official bytes: refused, and the files it
    unpacked from them are removed, so the next run downloads again instead of reading them."""
    from torchvision.datasets import FashionMNIST

    def fake_download(self):
        write_mnist(Path(self.root), "FashionMNIST", [70] * 10, [3] * 10)  # what torchvision unpacks
        for name in MNIST_FILES:
            (Path(self.raw_folder) / f"{name}.gz").write_bytes(gzip.compress(b"not the official bytes"))

    monkeypatch.setattr(FashionMNIST, "download", fake_download)
    request = LoadRequest("fashion-mnist-lt", tmp_path, 0, {"n_max": 60, "rho": 10}, scratch_dir=tmp_path / "s")
    with pytest.raises(BenchmarkError, match=r"train-images-idx3-ubyte.gz from http.*pinned SHA-256 of the official "
                                             r"file is 3aede38d"):
        dataset_registry.get("fashion-mnist-lt").builder(request)
    raw = tmp_path / "FashionMNIST" / "raw"
    assert not (raw / "train-images-idx3-ubyte.gz").exists() and not (raw / "train-images-idx3-ubyte").exists()


def test_unpinned_source_is_installed_and_its_hash_logged(tmp_path, caplog):
    path = tmp_path / "x.dat"
    path.write_bytes(b"some file")
    with caplog.at_level("INFO", logger="benchmark.datasets.download"):
        assert verify_pinned(path, "keel/x.dat", "https://example.org/x.zip") == sha(b"some file")
    assert sha(b"some file") in caplog.text and path.exists()


def test_download_file_retries_through_pooch(tmp_path, monkeypatch):
    """pooch retries a failed transfer; the file appears only when complete, nothing else is left."""
    import pooch
    import requests

    calls = []

    class FlakyDownloader:
        def __init__(self, **kwargs):
            self.kwargs = kwargs

        def __call__(self, url, output_file, pooch_obj, check_only=False):
            calls.append(url)
            if len(calls) == 1:
                raise requests.exceptions.ConnectionError("connection reset")
            Path(output_file).write_bytes(b"payload")

    monkeypatch.setattr(pooch, "HTTPDownloader", FlakyDownloader)
    monkeypatch.setattr("time.sleep", lambda s: None)  # pooch waits between tries
    dest = tmp_path / "files" / "archive.zip"
    assert download_file("https://example.org/archive.zip", dest) == dest
    assert dest.read_bytes() == b"payload" and len(calls) == 2
    assert [p.name for p in dest.parent.iterdir()] == ["archive.zip"]


# -- the data shipped in the package -----------------------------------------------------------------
def test_packaged_files_are_what_their_readme_says(data_root):
    assert packaged_file("keel/yeast3.dat").read_bytes() == (data_root / "keel" / "yeast3.dat").read_bytes()
    assert sparse_sms_subset(data_root / SMS_FILE, 1200) == (PACKAGED_ROOT / SMS_MINI_FILE).read_bytes()
    readme = (PACKAGED_ROOT / "README.md").read_text()
    assert "CC BY 4.0" in readme and f"{(PACKAGED_ROOT / SMS_MINI_FILE).stat().st_size:,} bytes" in readme
    assert sha(packaged_file("keel/yeast3.dat").read_bytes()) in readme


@pytest.mark.parametrize("name", ["keel-yeast3", "sms-spam-mini"])
def test_packaged_copy_gives_the_data_roots_splits(name, data_root, tmp_path, monkeypatch):
    """No data root file, no network: the packaged copy gives the same split fingerprints as the data
    root's files (and, for the identical KEEL file, the same cache key)."""
    monkeypatch.setenv("BENCHMARK_OFFLINE", "1")
    monkeypatch.setenv("BENCHMARK_CACHE", str(tmp_path / "cache"))
    empty = tmp_path / "empty"
    empty.mkdir()
    entry = dataset_registry.get(name)
    for seed in (0, 1):
        assert entry.load(empty, seed, cache=False).fingerprint() == entry.load(data_root, seed, cache=False).fingerprint()
    if name == "keel-yeast3":
        assert entry.cache_key(0, empty) == entry.cache_key(0, data_root)
    assert list(empty.iterdir()) == []  # nothing was downloaded or written into the data root


def test_sms_mini_beyond_the_packaged_split_seeds_needs_the_full_file(tmp_path, monkeypatch):
    monkeypatch.setenv("BENCHMARK_OFFLINE", "1")
    with pytest.raises(BenchmarkError, match="sms_spam/SMSSpamCollection"):
        dataset_registry.get("sms-spam-mini").load(tmp_path, 2, cache=False)
