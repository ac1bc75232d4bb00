"""Bundles (benchmark.publish): published from a store, read back as one with the same hashes, refused
once edited; predictions kept beside the scores, and every stored metric recomputed from them."""

from __future__ import annotations

import gzip
import json
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest

from benchmark.errors import BenchmarkError
from benchmark.metrics import compute_metrics
from benchmark.publish import bundle_paths, open_bundles, publish_bundle, verify_bundle
from benchmark.publish.files import ROWS, check_manifest, read_npz, write_manifest, write_npz
from benchmark.publish.reader import read_bundle
from benchmark.report.builder import report_hash
from benchmark.report.records import read_run, scores_hash
from benchmark.store.predictions import PredictionRow, as_stored, load_predictions, seed_scores

from ._fabricated import SUITE, fabricate, predictions


@pytest.fixture(scope="module")
def published(tmp_path_factory):
    root = tmp_path_factory.mktemp("bundle")
    store = fabricate(root / "store.db")
    done = publish_bundle(store, SUITE, root / "bundle", command="python -m benchmark run --suite smoke")
    return store, done


def test_stored_scores_are_the_scores_of_the_stored_predictions(published):
    store, _ = published
    stored = load_predictions(store, SUITE)
    rows = [r for r in read_run(store, SUITE).results]
    assert len(stored) == len(rows) == 24
    for r in rows:
        p = stored[(r.suite, r.dataset, r.method, r.split_seed, r.seed)]
        assert p.proba.dtype == np.float16
        metrics, per_class = p.scores()
        # bit for bit, every metric (JSON text: NaN, undefined on a split, equals NaN)
        assert json.dumps(metrics, sort_keys=True) == json.dumps(r.metrics, sort_keys=True)
        assert per_class == r.per_class


def test_scoring_rounds_as_stored_so_rescoring_is_exact():
    p = predictions("digits-lt", "smote", 0, 0)
    proba = np.random.default_rng(1).dirichlet(np.ones(10), size=120)
    direct, _ = seed_scores(p.y_true, proba, [7, 8, 9], None)
    assert direct == compute_metrics(p.y_true, as_stored(proba), [7, 8, 9])[0]
    assert as_stored(proba).dtype == np.float64 and not np.array_equal(as_stored(proba), proba)


def test_a_changed_prediction_row_is_refused(published, tmp_path):
    store = fabricate(tmp_path / "s.db", methods=("baseline",), seeds=1, split_seeds=1)
    with store.session() as s:
        row = s.query(PredictionRow).first()
        row.sha256 = "0" * 64
        s.commit()
    problems: list[str] = []
    assert len(load_predictions(store, SUITE, problems=problems)) == 1  # the other dataset's row is intact
    assert "changed after it was written" in problems[0]


def test_npz_files_are_byte_for_byte_repeatable_and_never_unpickled(tmp_path):
    arrays = {"b": np.arange(6, dtype=np.int32), "a": np.ones((2, 3), dtype=np.float16)}
    write_npz(tmp_path / "1.npz", arrays)
    write_npz(tmp_path / "2.npz", dict(reversed(arrays.items())))
    assert (tmp_path / "1.npz").read_bytes() == (tmp_path / "2.npz").read_bytes()
    assert np.array_equal(read_npz(tmp_path / "1.npz")["a"], arrays["a"])
    write_npz(tmp_path / "3.npz", arrays, compression=zipfile.ZIP_LZMA)  # LZMA members read alike
    assert np.array_equal(read_npz(tmp_path / "3.npz")["a"], arrays["a"])
    np.savez(tmp_path / "pickled.npz", x=np.array([{"a": 1}], dtype=object))
    with pytest.raises(BenchmarkError, match="not a readable .npz of plain arrays"):
        read_npz(tmp_path / "pickled.npz")


def test_a_bundle_holds_every_part_and_reads_back_as_the_same_store(published):
    store, done = published
    names = {p.relative_to(done.folder).as_posix() for p in done.folder.rglob("*") if p.is_file()}
    assert {"bundle.json", "suite.json", "environment.json", "data.json", "pairs.json.gz", "rows.json.gz",
            "trials.json.gz", "predictions.json.gz", "report/index.html", "CITATION.cff", "CITATION.bib",
            "MANIFEST.json", "predictions/keel-yeast3.npz", "constraints.txt"} <= names
    # the report links the bundle's rows instead of a second copy of them (most of a bundle's size)
    assert "report/results.json" not in names
    assert 'href="../rows.json.gz"' in (done.folder / "report" / "index.html").read_text()
    meta = json.loads((done.folder / "bundle.json").read_text())
    assert meta["command"] == "python -m benchmark run --suite smoke" and meta["counts"]["cells"] == 12
    lock = json.loads((done.folder / "environment.json").read_text())["lock"]["packages"]
    assert len(lock) > 20
    # the lock again as pip constraints, without this package itself (installed from the checkout)
    pins = [line for line in (done.folder / "constraints.txt").read_text().splitlines() if not line.startswith("#")]
    assert sorted(pins) == sorted(f"{k}=={v}" for k, v in lock.items() if k.lower() != "imbalance-benchmark")
    assert "optuna==" + lock["optuna"] in pins and not any(p.startswith("imbalance-benchmark==") for p in pins)
    again = open_bundles([done.folder])
    assert scores_hash(read_run(again, SUITE)) == done.scores_hash == scores_hash(read_run(store, SUITE))
    assert report_hash(again, SUITE) == report_hash(store, SUITE) == done.results_hash  # trials included
    assert {k: v.digest() for k, v in load_predictions(again, SUITE).items()} == \
           {k: v.digest() for k, v in load_predictions(store, SUITE).items()}
    assert "sha256:" + done.scores_hash in (done.folder / "CITATION.cff").read_text()
    assert verify_bundle(done.folder, cells=0).ok


def test_other_package_versions_are_named_with_the_install_that_makes_verify_exact(published, tmp_path):
    from benchmark.publish.verify import environment_differences

    _, done = published
    folder = tmp_path / "bundle"
    shutil.copytree(done.folder, folder)
    content = read_bundle(folder)
    assert not [d for d in environment_differences(folder, content, "cpu", None) if "package" in d]
    recorded = json.loads((folder / "environment.json").read_text())
    recorded["lock"]["packages"]["optuna"] = "0.0.1"
    (folder / "environment.json").write_text(json.dumps(recorded))
    (line,) = [d for d in environment_differences(folder, content, "cpu", None) if "package" in d]
    assert line.startswith("1 package version(s) differ from the bundle's lock: optuna")
    assert f"pip install -c {folder / 'constraints.txt'} -e \".[all]\"" in line


def _edit_first_score(folder: Path, value: float = 0.123456) -> None:
    rows = json.loads(gzip.decompress((folder / ROWS).read_bytes()))
    rows[0]["metrics"]["minority_f1"] = value
    (folder / ROWS).write_bytes(gzip.compress(json.dumps(rows).encode(), mtime=0))


def test_an_edited_bundle_fails_the_manifest_and_then_the_scores(published, tmp_path):
    import shutil

    _, done = published
    copy = tmp_path / "copy"
    shutil.copytree(done.folder, copy)
    _edit_first_score(copy)
    (copy / "extra.txt").write_text("x")
    problems = check_manifest(copy)
    assert any("rows.json.gz was changed" in p for p in problems) and any("extra.txt was added" in p for p in problems)
    with pytest.raises(BenchmarkError, match="does not match its manifest"):
        open_bundles([copy])
    assert not verify_bundle(copy, cells=0).ok
    (copy / "extra.txt").unlink()
    write_manifest(copy)  # a careful forger: the manifest no longer gives it away, the scores still do
    found = verify_bundle(copy, cells=0)
    assert not found.ok and any("hash to" in p for p in found.integrity)
    assert any("differ from those of its stored predictions" in p for p in found.integrity)


def test_malformed_rows_are_named(published, tmp_path):
    import shutil

    _, done = published
    copy = tmp_path / "bad"
    shutil.copytree(done.folder, copy)
    rows = json.loads(gzip.decompress((copy / ROWS).read_bytes()))
    rows[3]["seed"] = "zero"
    (copy / ROWS).write_bytes(gzip.compress(json.dumps(rows).encode()))
    with pytest.raises(BenchmarkError, match=r"rows.json.gz: entry 3 has seed = 'zero', expected a int"):
        read_bundle(copy)


def test_bundles_side_by_side_keep_a_row_of_each(published, tmp_path):
    _, done = published
    other = fabricate(tmp_path / "other.db", methods=("baseline", "cutmix"), seeds=1, split_seeds=1)
    second = publish_bundle(other, SUITE, tmp_path / "contributed")
    assert bundle_paths(f"{done.folder},{second.folder}") == [done.folder, second.folder]
    assert bundle_paths("sqlite:///x.db") is None and bundle_paths(str(tmp_path / "nothing")) is None
    with pytest.raises(BenchmarkError, match="not a bundle folder"):
        bundle_paths(f"bundle:{tmp_path / 'nothing'}")
    both = open_bundles([done.folder, second.folder])
    methods = {r.method for r in read_run(both, SUITE).results}
    assert methods == {"baseline@bundle", "baseline@contributed", "smote", "focal-loss", "cutmix"}


def test_publishing_never_overwrites_a_folder_that_is_not_a_bundle(published, tmp_path):
    store, _ = published
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "thesis.tex").write_text("x")
    with pytest.raises(BenchmarkError, match="exists and is not a bundle"):
        publish_bundle(store, SUITE, tmp_path / "mine")
    assert (tmp_path / "mine" / "thesis.tex").read_text() == "x"
