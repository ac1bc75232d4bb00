"""Text and tabular datasets: SMS spam, the KEEL collection, imbalanced-learn's collection and the
synthetic generator; their downloads (mocked: tests have no network) and their bad inputs."""

from __future__ import annotations

import io
import json
import urllib.error
import zipfile
from pathlib import Path

import numpy as np
import pytest

from benchmark.datasets import dataset_registry
from benchmark.datasets import download as download_module
from benchmark.datasets._keel_format import catalog_entry, keel_urls, read_keel
from benchmark.datasets.imblearn_collection import COLLECTION, ZENODO_URL, collection_file
from benchmark.datasets.keel import KEEL_CATALOG
from benchmark.datasets.text import SMS_COUNTS, SMS_URL
from benchmark.errors import BenchmarkError, DataUnavailableError

KEEL_HEADER = """@relation tiny
@attribute a real [0.0, 1.0]
@attribute colour {red, blue}
@attribute Class {positive, negative}
@inputs a, colour
@outputs Class
@data
"""


@pytest.fixture
def online(monkeypatch):
    monkeypatch.delenv("BENCHMARK_OFFLINE", raising=False)


def zip_bytes(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buffer.getvalue()


def serve(monkeypatch, responses: dict[str, bytes]) -> list[str]:
    """Replace the downloader: URLs in ``responses`` answer with their bytes, others fail like a 404."""
    asked = []

    def fake_download(url: str, dest: Path) -> Path:
        asked.append(url)
        if url not in responses:
            raise urllib.error.HTTPError(url, 404, "Not Found", None, None)
        dest.write_bytes(responses[url])
        return dest

    monkeypatch.setattr(download_module, "download_file", fake_download)
    monkeypatch.setattr(download_module, "PINNED_SHA256", {})  # test files: pins are tested in test_downloads.py
    return asked


# -- SMS spam ----------------------------------------------------------------------------------------
def test_sms_spam_real_split(data_root):
    split = dataset_registry.get("sms-spam").load(data_root, cache=False)
    counts = np.add(np.add(split.class_counts("train"), split.class_counts("val")), split.class_counts("test"))
    assert counts.tolist() == SMS_COUNTS == dataset_registry.get("sms-spam").stats["class_counts"]
    assert split.class_counts("test") == [965, 149]  # stratified 20%: the natural 13.4% spam
    assert split.train.X.dtype.kind == "U" and any("free" in t.lower() for t in split.train.X[split.train.y == 1])
    assert split.class_names == ["ham", "spam"] and split.minority_classes == [1]
    mini = dataset_registry.get("sms-spam-mini")
    assert sum(mini.stats["class_counts"]) == 1200
    mini_split = mini.load(data_root, cache=False)
    total = np.add(np.add(mini_split.class_counts("train"), mini_split.class_counts("val")),
                   mini_split.class_counts("test"))
    assert total.tolist() == mini.stats["class_counts"]


def test_sms_spam_download_extracts_checks_and_installs(data_root, tmp_path, monkeypatch, online):
    lines = (data_root / "sms_spam" / "SMSSpamCollection").read_bytes().splitlines(keepends=True)[:400]
    asked = serve(monkeypatch, {SMS_URL: zip_bytes({"SMSSpamCollection": b"".join(lines), "readme": b"UCI"})})
    split = dataset_registry.get("sms-spam").load(tmp_path, cache=False)
    assert asked == [SMS_URL]
    assert (tmp_path / "sms_spam" / "SMSSpamCollection").read_bytes() == b"".join(lines)
    assert len(split.train) + len(split.val) + len(split.test) == 400
    assert [p.name for p in (tmp_path / "sms_spam").iterdir()] == ["SMSSpamCollection"]  # no partial files


def test_sms_spam_bad_download_leaves_nothing(tmp_path, monkeypatch, online):
    serve(monkeypatch, {SMS_URL: zip_bytes({"SMSSpamCollection": b"ham\tok\nthis line has no label\n"})})
    with pytest.raises(BenchmarkError, match=r"downloaded SMSSpamCollection from http.*line 2: expected 'ham'"):
        dataset_registry.get("sms-spam").load(tmp_path, cache=False)
    assert not (tmp_path / "sms_spam" / "SMSSpamCollection").exists()
    assert list((tmp_path / "sms_spam").iterdir()) == []
    serve(monkeypatch, {})
    with pytest.raises(DataUnavailableError, match=r"download failed.*404.*sms_spam/SMSSpamCollection"):
        dataset_registry.get("sms-spam").load(tmp_path, cache=False)


def test_sms_spam_offline_names_file_and_source(tmp_path, monkeypatch):
    monkeypatch.setenv("BENCHMARK_OFFLINE", "1")
    with pytest.raises(DataUnavailableError) as info:
        dataset_registry.get("sms-spam").load(tmp_path, cache=False)
    assert "sms_spam/SMSSpamCollection" in str(info.value) and SMS_URL in str(info.value)


# -- KEEL --------------------------------------------------------------------------------------------
def test_keel_catalog_matches_every_file(data_root):
    files = sorted(p.name for p in (data_root / "keel").glob("*.dat"))
    assert files == sorted(e["file"] for e in KEEL_CATALOG) and len(files) == 100
    for entry in KEEL_CATALOG:
        assert catalog_entry(data_root / "keel" / entry["file"]) == entry


def test_every_keel_entry_loads_with_its_imbalance_ratio(data_root):
    names = dataset_registry.names("keel-*")
    assert len(names) == 100
    for name in names:
        entry = dataset_registry.get(name)
        split = entry.load(data_root, cache=False)
        total = np.add(np.add(split.class_counts("train"), split.class_counts("val")), split.class_counts("test"))
        assert total.tolist() == entry.stats["class_counts"], name
        assert total[0] / total[1] == pytest.approx(entry.stats["imbalance_ratio"], abs=0.006), name
        assert split.class_counts("test")[1] >= 1 and split.class_counts("val")[1] >= 1, name
        assert split.train.X.shape[1] == entry.stats["features"] and len(split.feature_kinds) == split.train.X.shape[1]


def test_keel_reader_reads_nominal_and_missing_values(tmp_path):
    path = tmp_path / "tiny.dat"
    path.write_text(KEEL_HEADER + "0.5, blue, positive\n<null>, red, negative\n0.25, ?, negative\n")
    table = read_keel(path)
    assert table.feature_kinds == ["numeric", "nominal"] and table.categories == {1: ["red", "blue"]}
    np.testing.assert_array_equal(table.X[0], [0.5, 1.0])
    assert np.isnan(table.X[1, 0]) and np.isnan(table.X[2, 1])
    assert table.y.tolist() == [1, 0, 0]


@pytest.mark.parametrize("row, problem", [
    ("0.5, blue\n", "2 values where the header declares 3"),
    ("abc, blue, positive\n", "value 'abc' of a is not a number"),
    ("0.5, green, positive\n", "value 'green' of colour is not among"),
    ("0.5, blue, maybe\n", "class 'maybe' is neither"),
])
def test_malformed_keel_row_names_file_and_line(tmp_path, row, problem):
    path = tmp_path / "broken.dat"
    path.write_text(KEEL_HEADER + "0.1, red, negative\n" + row)
    with pytest.raises(BenchmarkError, match=rf"broken.dat, line 9: {problem}") as info:
        read_keel(path)
    assert "KEEL repository" in str(info.value)


def test_keel_download_tries_the_folders_in_turn(data_root, tmp_path, monkeypatch, online):
    content = (data_root / "keel" / "new_thyroid1.dat").read_bytes()
    urls = keel_urls("new_thyroid1")
    assert all(u.endswith("/new-thyroid1.zip") and u.startswith("https://sci2s.ugr.es/keel/") for u in urls)
    asked = serve(monkeypatch, {urls[0]: zip_bytes({"new-thyroid1.dat": content})})
    split = dataset_registry.get("keel-new_thyroid1").load(tmp_path, cache=False)
    assert asked == urls[:1] and (tmp_path / "keel" / "new_thyroid1.dat").read_bytes() == content
    assert len(split.train) + len(split.val) + len(split.test) == 215
    content = (data_root / "keel" / "yeast5.dat").read_bytes()
    asked = serve(monkeypatch, {keel_urls("yeast5")[2]: zip_bytes({"yeast5/yeast5.dat": content})})
    dataset_registry.get("keel-yeast5").load(tmp_path, cache=False)
    assert asked == keel_urls("yeast5")[:3]


def test_keel_download_of_malformed_file_installs_nothing(tmp_path, monkeypatch, online):
    bad = (KEEL_HEADER + "0.5, blue, positive\n0.5, blue\n").encode()
    serve(monkeypatch, {keel_urls("glass2")[0]: zip_bytes({"glass2.dat": bad})})
    with pytest.raises(BenchmarkError, match=r"downloaded glass2.dat from https://sci2s.*, line 9: 2 values"):
        dataset_registry.get("keel-glass2").load(tmp_path, cache=False)
    assert not (tmp_path / "keel" / "glass2.dat").exists()


# -- imbalanced-learn's collection -------------------------------------------------------------------
def write_zenodo(root: Path, name: str, n_major: int, n_minor: int) -> Path:
    rng = np.random.default_rng(0)
    path = root / collection_file(name)
    path.parent.mkdir(parents=True, exist_ok=True)
    label = np.r_[-np.ones(n_major), np.ones(n_minor)].astype(int)
    np.savez(path, data=rng.normal(size=(len(label), 7)), label=label)
    return path


def test_imblearn_names_and_real_fetch_from_the_data_root(tmp_path):
    names = dataset_registry.names("imblearn-*")
    assert len(names) == 27 == len(COLLECTION) and "imblearn-protein_homo" in names
    write_zenodo(tmp_path, "ecoli", 301, 35)  # imbalanced-learn's file layout; its own reader loads it
    split = dataset_registry.get("imblearn-ecoli").load(tmp_path, cache=False)
    total = np.add(np.add(split.class_counts("train"), split.class_counts("val")), split.class_counts("test"))
    assert total.tolist() == [301, 35] and split.minority_classes == [1]
    assert split.class_counts("test") == [90, 10]


def test_imblearn_download_through_fetch_datasets(tmp_path, monkeypatch, online):
    import imblearn.datasets
    from sklearn.utils import Bunch

    calls = []

    def fake_fetch(*, data_home, filter_data, download_if_missing):
        calls.append((data_home, filter_data, download_if_missing))
        y = np.r_[-np.ones(90), np.ones(10)].astype(int)
        return {filter_data[0]: Bunch(data=np.arange(300.0).reshape(100, 3), target=y)}

    monkeypatch.setattr(imblearn.datasets, "fetch_datasets", fake_fetch)
    split = dataset_registry.get("imblearn-oil").load(tmp_path, cache=False)
    assert calls == [(str(tmp_path / "imbalanced-learn"), ("oil",), True)]
    assert split.train.X.dtype == np.float32 and split.num_classes == 2


def test_imblearn_offline_and_damaged_files(tmp_path, monkeypatch):
    monkeypatch.setenv("BENCHMARK_OFFLINE", "1")
    with pytest.raises(DataUnavailableError) as info:
        dataset_registry.get("imblearn-mammography").load(tmp_path, cache=False)
    assert "imbalanced-learn/zenodo/x25data.npz" in str(info.value) and ZENODO_URL in str(info.value)
    path = write_zenodo(tmp_path, "mammography", 90, 10)
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(BenchmarkError, match=r"x25data.npz cannot be read as imbalanced-learn's data"):
        dataset_registry.get("imblearn-mammography").load(tmp_path, cache=False)


# -- synthetic ---------------------------------------------------------------------------------------
def test_synthetic_binary_counts_and_reproducibility(tmp_path):
    entry = dataset_registry.get("synthetic-binary")
    a, b = entry.load(tmp_path, 0, cache=False), entry.load(tmp_path, 0, cache=False)
    total = np.add(np.add(a.class_counts("train"), a.class_counts("val")), a.class_counts("test"))
    assert total.tolist() == entry.stats["class_counts"] == [4750, 250]
    assert a.train.X.shape[1] == 20 and a.fingerprint() == b.fingerprint()
    assert entry.load(tmp_path, 1, cache=False).fingerprint() != a.fingerprint()
    for name in dataset_registry.names("synthetic-binary-*"):
        stats = dataset_registry.get(name).stats
        assert stats["samples"] >= 10_000 and stats["imbalance_ratio"] >= 19


@pytest.mark.parametrize("kwargs, problem", [
    ({"minority_share": 0.0}, "minority_share=0.0 is invalid"),
    ({"minority_share": 0.7}, "minority_share=0.7 is invalid"),
    ({"samples": 50}, "gives 3 minority rows"),
    ({"features": 1}, "features=1 is invalid"),
])
def test_synthetic_bad_parameters(kwargs, problem):
    from benchmark.datasets.synthetic import register_synthetic

    params = {"samples": 1000, "features": 5, "minority_share": 0.05, **kwargs}
    with pytest.raises(BenchmarkError, match=problem):
        register_synthetic("synthetic-bad", **params)
    assert "synthetic-bad" not in dataset_registry


# -- the registry as the command line lists it -------------------------------------------------------
def test_list_datasets_json_holds_every_modality():
    from typer.testing import CliRunner

    from benchmark.cli import app

    result = CliRunner().invoke(app, ["list", "datasets", "--format", "json"])
    assert result.exit_code == 0, result.output
    records = {r["name"]: r for r in json.loads(result.stdout)}
    assert {"mnist-lt", "fashion-mnist-lt", "cifar10-lt", "cifar100-lt", "sms-spam", "synthetic-binary"} <= set(records)
    assert sum(name.startswith("keel-") for name in records) >= 100
    assert records["cifar100-lt-r10"]["modality"] == "image" and records["sms-spam"]["modality"] == "text"
