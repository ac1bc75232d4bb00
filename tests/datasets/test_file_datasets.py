"""Datasets from the user's files: a CSV table (target named, nominal columns detected or named) and a
folder of images in class subfolders, split by the protocol of the registered datasets, cached by the
files' content; every bad input is a BenchmarkError naming the file and the fix."""

from __future__ import annotations

import json
import sys

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from benchmark.datasets.files import FileDataset, file_dataset, parse_file_spec
from benchmark.errors import BenchmarkError
from benchmark.protocol import rows_in


def write_table(path, n_major=60, n_minor=15, seed=0):
    """A small imbalanced table: two numeric columns, a text column (nominal), an integer code column."""
    rng = np.random.default_rng(seed)
    n = n_major + n_minor
    df = pd.DataFrame({
        "x1": rng.normal(size=n).round(3),
        "x2": rng.normal(size=n).round(3),
        "colour": rng.choice(["red", "green", "blue"], size=n),
        "code": rng.integers(0, 4, size=n),
        "label": ["common"] * n_major + ["rare"] * n_minor,
    })
    df.to_csv(path, index=False)
    return df


def test_a_csv_table_is_split_like_a_registered_dataset(tmp_path):
    df = write_table(tmp_path / "credit.csv")
    entry = parse_file_spec(f"file:{tmp_path / 'credit.csv'}?target=label&nominal=code")
    assert isinstance(entry, FileDataset) and entry.name == "credit" and entry.modality == "tabular"
    assert entry.class_names == ("common", "rare")  # majority first: a binary set's minority is class 1
    assert entry.stats["class_counts"] == [60, 15] and entry.stats["imbalance_ratio"] == 4.0
    split = entry.load(tmp_path, 0)
    assert split.dataset == "credit" and split.minority_classes == [1]
    assert split.feature_kinds == ["numeric", "numeric", "nominal", "nominal"]  # colour detected, code named
    assert split.info["categories"]["2"] == ["blue", "green", "red"]
    parts = [split.train, split.val, split.test]
    assert sum(len(p) for p in parts) == len(df)
    # stratified: the test part keeps the natural imbalance (30% of each class), validation 25% of the rest
    assert split.class_counts("test") == [18, 4] and split.class_counts("val") == [10, 3]
    assert split.class_counts("train") == [32, 8]
    assert split.imbalance_ratio == 4.0
    # the features are the file's values, with nominal codes in sorted order of the values
    x1 = np.sort(np.concatenate([p.X[:, 0] for p in parts]))
    assert np.allclose(x1, np.sort(df["x1"].to_numpy(np.float32)))
    card = entry.card()
    assert card["spec"].endswith("credit.csv?target=label&nominal=code") and card["params"]["target"] == "label"


def test_duplicate_rows_lie_in_one_part(tmp_path):
    df = write_table(tmp_path / "dup.csv")
    pd.concat([df, df.iloc[:20], df.iloc[60:66]]).to_csv(tmp_path / "dup.csv", index=False)  # 26 repeated rows
    split = file_dataset(tmp_path / "dup.csv", target="label").load(tmp_path, 1, cache=False)
    assert split.info["duplicates"]["duplicate_rows"] == 26
    assert not rows_in(split.test.X, split.train.X).any() and not rows_in(split.val.X, split.train.X).any()


def test_missing_cells_are_nan_and_the_named_columns_are_dropped(tmp_path):
    (tmp_path / "gaps.csv").write_text("id,a,b,y\n" + "".join(
        f"{i},{'' if i % 7 == 0 else i / 10},{'x' if i % 2 else ''},{int(i % 5 == 0)}\n" for i in range(40)))
    split = file_dataset(tmp_path / "gaps.csv", target="y", drop=["id"]).load(tmp_path, 0, cache=False)
    X = np.concatenate([split.train.X, split.val.X, split.test.X])
    assert X.shape == (40, 2) and split.info["feature_names"] == ["a", "b"]
    assert np.isnan(X[:, 0]).sum() == 6 and np.isnan(X[:, 1]).sum() == 20  # empty cells, numeric and nominal
    assert split.class_names == ["0", "1"] and split.class_counts("train")[1] < split.class_counts("train")[0]


def test_the_split_cache_is_keyed_by_the_files_content(tmp_path):
    write_table(tmp_path / "t.csv", seed=0)
    entry = file_dataset(tmp_path / "t.csv", target="label")
    key, first = entry.cache_key(0), entry.load(tmp_path, 0)
    assert entry.cache_key(0) == key and entry.load(tmp_path, 0).fingerprint() == first.fingerprint()
    write_table(tmp_path / "t.csv", seed=1)  # same name, size class counts; other values
    assert entry.cache_key(0) != key
    assert entry.load(tmp_path, 0).fingerprint() != first.fingerprint()  # rebuilt, never served the old split


def test_an_image_folder_becomes_an_image_dataset(tmp_path):
    rng = np.random.default_rng(0)
    counts = {"cat": 12, "ant": 30, "bee": 6}
    for name, n in counts.items():
        (tmp_path / "pics" / name).mkdir(parents=True)
        for i in range(n):
            pixels = rng.integers(0, 256, size=(10, 12), dtype=np.uint8)
            suffix = ".jpg" if i % 3 == 0 else ".png"
            Image.fromarray(pixels, mode="L").save(tmp_path / "pics" / name / f"{i}{suffix}")
    (tmp_path / "pics" / "ant" / "notes.txt").write_text("not an image: skipped")
    entry = parse_file_spec("file:pics?size=8", base=tmp_path)
    assert entry.name == "pics" and entry.modality == "image"
    assert entry.class_names == ("ant", "cat", "bee") and entry.stats["class_counts"] == [30, 12, 6]
    split = entry.load(tmp_path, 0)
    assert split.train.X.dtype == np.uint8 and split.train.X.shape[1:] == (1, 8, 8)  # grey, resized
    assert sum(len(split.part(p)) for p in ("train", "val", "test")) == 48
    assert split.class_counts("test") == [6, 2, 1] and split.minority_classes == [2]  # the tail third
    assert split.info["colour"] == "grey" and split.info["size"] == [8, 8]
    # without a size, every image takes the first image's size; rgb on request
    rgb = file_dataset(tmp_path / "pics", colour="rgb").load(tmp_path, 0, cache=False)
    assert rgb.train.X.shape[1:] == (3, 10, 12)
    assert np.array_equal(rgb.train.X[:, 0], rgb.train.X[:, 2])  # grey images converted to rgb


def test_colour_images_are_detected(tmp_path):
    rng = np.random.default_rng(1)
    for name, n in (("a", 8), ("b", 4)):
        (tmp_path / "c" / name).mkdir(parents=True)
        for i in range(n):
            Image.fromarray(rng.integers(0, 256, size=(6, 6, 3), dtype=np.uint8), mode="RGB").save(
                tmp_path / "c" / name / f"{i}.png")
    split = file_dataset(tmp_path / "c").load(tmp_path, 0, cache=False)
    assert split.info["colour"] == "rgb" and split.train.X.shape[1:] == (3, 6, 6)


@pytest.mark.parametrize("make, options, needle", [
    (None, {"target": "label"}, "does not exist"),
    ("table", {"target": "Label"}, "has no column 'Label'; its columns are: x1, x2, colour, code, label"),
    ("table", {}, "needs its target column named"),
    ("table", {"target": "label", "size": 28}, "option(s) size apply only to an image folder"),
    ("table", {"target": "label", "bogus": 1}, "unknown option(s) bogus"),
    ("table", {"target": "label", "test_fraction": 1.5}, "test_fraction=1.5 is invalid"),
    ("one-class", {"target": "label"}, "holds one class only"),
    ("inf", {"target": "label"}, "column 'x1' holds the non-finite value"),
    ("no-label", {"target": "label"}, "row(s) have no value in the target column 'label'"),
    ("ids", {"target": "label"}, "column 'name' is not numeric and has 75 distinct values"),
    ("txt", {"target": "label"}, "is neither a table"),
])
def test_bad_files_are_errors_naming_the_file_and_the_fix(tmp_path, make, options, needle):
    path = tmp_path / ("data.txt" if make == "txt" else "data.csv")
    if make is not None:
        df = write_table(path)
        if make == "one-class":
            df.assign(label="common").to_csv(path, index=False)
        elif make == "inf":
            df.assign(x1=df["x1"].where(df.index != 3, np.inf)).to_csv(path, index=False)
        elif make == "no-label":
            df.assign(label=df["label"].where(df.index != 5, None)).to_csv(path, index=False)
        elif make == "ids":
            df.assign(name=[f"row-{i}" for i in range(len(df))]).to_csv(path, index=False)
    with pytest.raises(BenchmarkError) as info:
        file_dataset(path, **options).load(tmp_path, 0, cache=False)
    assert needle in str(info.value)
    assert info.value.fix  # and says what to do
    if make is not None and make != "txt":
        assert "data.csv" in str(info.value)


def test_parquet_without_pyarrow_names_the_package(tmp_path, monkeypatch):
    (tmp_path / "t.parquet").write_bytes(b"PAR1 not really")
    monkeypatch.setitem(sys.modules, "pyarrow", None)  # as if it were not installed
    with pytest.raises(BenchmarkError, match="needs the pyarrow package") as info:
        file_dataset(tmp_path / "t.parquet", target="label")
    assert "pip install pyarrow" in info.value.fix


def test_bad_image_folders(tmp_path):
    (tmp_path / "flat").mkdir()
    Image.new("L", (4, 4)).save(tmp_path / "flat" / "x.png")
    with pytest.raises(BenchmarkError, match="has no class subfolders"):  # when loaded: a data error of its pairs
        file_dataset(tmp_path / "flat").load(tmp_path, 0, cache=False)
    (tmp_path / "flat" / "a").mkdir()
    with pytest.raises(BenchmarkError, match="class folder .*a holds no PNG or JPEG image"):
        file_dataset(tmp_path / "flat").load(tmp_path, 0, cache=False)
    for name in ("a", "b"):
        (tmp_path / "broken" / name).mkdir(parents=True)
        Image.new("L", (4, 4)).save(tmp_path / "broken" / name / "ok.png")
    (tmp_path / "broken" / "b" / "bad.png").write_bytes(b"not a png")
    with pytest.raises(BenchmarkError, match=r"image .*bad\.png cannot be read"):
        file_dataset(tmp_path / "broken").load(tmp_path, 0, cache=False)
    with pytest.raises(BenchmarkError, match="size='big' is invalid"):
        parse_file_spec(f"file:{tmp_path / 'broken'}?size=big")


def test_spec_parsing(tmp_path):
    write_table(tmp_path / "my data.csv")
    entry = parse_file_spec("file:my data.csv?target=label&nominal=code&nominal=x2&name=mine&test_fraction=0.2",
                            base=tmp_path)
    assert entry.name == "mine" and entry.params["nominal"] == ["code", "x2"]
    assert entry.params["test_fraction"] == 0.2 and entry.params["path"] == str(tmp_path / "my data.csv")
    assert file_dataset(tmp_path / "my data.csv", target="label").name == "my-data"
    with pytest.raises(BenchmarkError, match="gives target twice"):
        parse_file_spec("file:my data.csv?target=a&target=b", base=tmp_path)


def test_show_dataset_file_prints_the_card_and_the_split(tmp_path, monkeypatch, capsys):
    from benchmark.cli import main

    write_table(tmp_path / "credit.csv")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as done:
        main(["show", "dataset", "file:credit.csv?target=label", "--format", "json", "--data-root", str(tmp_path)])
    assert done.value.code == 0
    card = json.loads(capsys.readouterr().out)
    assert card["name"] == "credit" and card["spec"] == "file:credit.csv?target=label"
    assert card["class_counts"]["test"] == [18, 4] and card["minority_classes"] == [1]
