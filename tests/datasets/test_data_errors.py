"""Damaged data files: every loader failure is a BenchmarkError naming the dataset and its file, non-finite
values name the file and column, and the split cache is keyed by the files' content (never stale)."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from benchmark.datasets import base as dataset_base
from benchmark.datasets import dataset_registry
from benchmark.errors import BenchmarkError

KEEL = "keel-glass1"


@pytest.fixture
def tmp_root(tmp_path, data_root):
    """A data root holding copies of one KEEL file and the SMS collection, free to damage."""
    (tmp_path / "keel").mkdir()
    shutil.copy(data_root / "keel" / "glass1.dat", tmp_path / "keel" / "glass1.dat")
    (tmp_path / "sms_spam").mkdir()
    shutil.copy(data_root / "sms_spam" / "SMSSpamCollection", tmp_path / "sms_spam" / "SMSSpamCollection")
    return tmp_path


def test_invalid_utf8_in_the_sms_file_names_the_file_and_line(tmp_root):
    path = tmp_root / "sms_spam" / "SMSSpamCollection"
    lines = path.read_bytes().split(b"\n")
    lines[9] = b"ham\tbad \xff\xfe bytes"
    path.write_bytes(b"\n".join(lines))
    with pytest.raises(BenchmarkError, match=r"dataset 'sms-spam-mini'.*SMSSpamCollection, line 10: not valid UTF-8"):
        dataset_registry.get("sms-spam-mini").load(tmp_root, 0, cache=False)


def test_a_folder_where_a_keel_file_should_be_is_a_named_data_error(tmp_root):
    path = tmp_root / "keel" / "glass1.dat"
    path.unlink()
    path.mkdir()
    with pytest.raises(BenchmarkError) as info:
        dataset_registry.get(KEEL).load(tmp_root, 0)
    assert f"dataset '{KEEL}': reading its data failed (IsADirectoryError" in info.value.message
    assert "keel/glass1.dat" in info.value.message and "replace the damaged file" in info.value.fix


@pytest.mark.parametrize("cut", [0.5, 0.02])
def test_a_truncated_keel_file_names_the_file(tmp_root, cut):
    path = tmp_root / "keel" / "glass1.dat"
    text = path.read_text()
    path.write_text(text[:int(len(text) * cut)].rstrip("\n").rstrip("0123456789."))  # cut inside a row or the header
    with pytest.raises(BenchmarkError, match=rf"dataset '{KEEL}'.*glass1.dat"):
        dataset_registry.get(KEEL).load(tmp_root, 0, cache=False)


@pytest.mark.parametrize("value", ["inf", "-inf", "nan", "1e39"])
def test_non_finite_keel_values_name_the_file_line_and_column(tmp_root, value):
    path = tmp_root / "keel" / "glass1.dat"
    lines = path.read_text().splitlines()
    first = next(i for i, line in enumerate(lines) if line.lower().startswith("@data")) + 1
    values = lines[first].split(",")
    values[2] = value  # the third attribute of glass1 is Mg
    lines[first] = ",".join(values)
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(BenchmarkError, match=rf"glass1.dat, line {first + 1}: value '{value}' of column Mg is not a "
                                             "finite number"):
        dataset_registry.get(KEEL).load(tmp_root, 0, cache=False)


def test_a_changed_file_is_never_served_its_old_cached_split(tmp_root, tmp_path, monkeypatch):
    monkeypatch.setenv("BENCHMARK_CACHE", str(tmp_path / "cache"))
    entry = dataset_registry.get(KEEL)
    first = entry.load(tmp_root, 0)
    assert len(list((tmp_path / "cache").glob("*.npz"))) == 1
    path = tmp_root / "keel" / "glass1.dat"
    good = path.read_bytes()
    path.write_bytes(b"garbage" * 100)  # same cache entry name before this change: now a data error
    with pytest.raises(BenchmarkError, match=rf"dataset '{KEEL}'"):
        entry.load(tmp_root, 0)
    lines = good.decode().splitlines()
    data = next(i for i, line in enumerate(lines) if line.lower().startswith("@data")) + 1
    path.write_text("\n".join(lines[:data] + lines[data + 1:]) + "\n")  # one row fewer: a valid, other file
    changed = entry.load(tmp_root, 0)
    assert sum(changed.class_counts(p)[0] + changed.class_counts(p)[1] for p in ("train", "val", "test")) == \
        sum(first.class_counts(p)[0] + first.class_counts(p)[1] for p in ("train", "val", "test")) - 1
    path.write_bytes(good)  # repaired: the original split again (from its cache entry)
    assert entry.load(tmp_root, 0).fingerprint() == first.fingerprint()


def test_each_file_is_hashed_once_per_version_per_process(tmp_root, monkeypatch):
    calls = []
    real = dataset_base.hashlib.sha256

    def counting(*args):
        calls.append(args)
        return real(*args)

    monkeypatch.setattr(dataset_base, "_DIGESTS", {})
    path = tmp_root / "keel" / "glass1.dat"
    monkeypatch.setattr(dataset_base.hashlib, "sha256", counting)
    size, digest = dataset_base.file_digest(path)
    assert dataset_base.file_digest(path) == (size, digest) and len(calls) == 1
    path.write_bytes(path.read_bytes() + b"\n")
    assert dataset_base.file_digest(path)[0] == size + 1 and len(calls) == 2


def test_non_finite_values_in_an_imblearn_file_name_the_file_and_column(tmp_path):
    folder = tmp_path / "imbalanced-learn" / "zenodo"
    folder.mkdir(parents=True)
    data = np.ones((20, 3))
    data[4, 1] = np.inf
    np.savez(folder / "x1data.npz", data=data, label=np.array([1] * 5 + [-1] * 15))
    with pytest.raises(BenchmarkError, match=r"x1data.npz holds non-finite values \(inf or NaN\) in column 1"):
        dataset_registry.get("imblearn-ecoli").load(tmp_path, 0, cache=False)
