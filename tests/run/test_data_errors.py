"""A dataset whose files are damaged fails only its own pairs, with the file named, as a retryable
``data-error``: later datasets still run, and the next run uses the repaired file in the same store."""

from __future__ import annotations

import shutil

from benchmark.run import RunOptions, run_suite
from benchmark.store import Store
from tests.run.test_runner import tiny_suite


def test_a_damaged_dataset_fails_only_its_pairs_and_recovers_after_repair(tmp_path, data_root):
    root = tmp_path / "data"
    (root / "keel").mkdir(parents=True)
    shutil.copy(data_root / "keel" / "glass2.dat", root / "keel" / "glass2.dat")
    (root / "keel" / "glass1.dat").mkdir()  # a folder where the file should be
    suite = tiny_suite("data-error", ("baseline",), trials=1, seeds=1, datasets=("keel-glass1", "keel-glass2"))
    options = RunOptions(suite=suite, storage=f"sqlite:///{tmp_path / 'results.db'}", data_root=str(root),
                         device="cpu")
    summary = run_suite(options)
    assert summary.statuses == {"data-error": 1, "complete": 1}
    store = Store(options.storage)
    broken = store.get_pair("data-error", "keel-glass1", "baseline")
    assert broken.status == "data-error" and "IsADirectoryError" in broken.reason and "keel/glass1.dat" in broken.reason

    (root / "keel" / "glass1.dat").rmdir()
    shutil.copy(data_root / "keel" / "glass1.dat", root / "keel" / "glass1.dat")
    again = run_suite(options)  # the same store: the data error is retried, the finished pair skipped
    assert again.statuses == {"complete": 1} and again.skipped == 1
    assert [r.status for r in store.results("data-error")] == ["ok", "ok"]


def test_every_split_seed_is_tuned_on_its_own_and_stored_apart(tmp_path, data_root):
    suite = tiny_suite("splits", ("baseline",), trials=2, seeds=2)
    options = RunOptions(suite=suite, storage=f"sqlite:///{tmp_path / 'results.db'}", data_root=str(data_root),
                         device="cpu", split_seeds=2)
    summary = run_suite(options)
    assert summary.pairs == 2 and summary.statuses == {"complete": 2}
    store = Store(options.storage)
    pairs = store.pairs("splits")
    assert [(p.split_seed, p.study_name) for p in pairs] == [(0, "splits::keel-glass1::baseline"),
                                                             (1, "splits::keel-glass1::baseline::split-1")]
    assert pairs[0].info["split_fingerprint"] != pairs[1].info["split_fingerprint"]
    assert all(p.spent["trials"] == 2 for p in pairs)  # each split spends the whole budget on its own
    rows = store.results("splits")
    assert sorted((r.split_seed, r.seed) for r in rows) == [(0, 0), (0, 1), (1, 0), (1, 1)]
    for r in rows:  # each row re-runs its own split's best configuration, on that split
        pair = pairs[r.split_seed]
        assert r.params == pair.best_params and r.provenance["split_seed"] == r.split_seed
        assert r.provenance["split_fingerprint"] == pair.info["split_fingerprint"]
    assert run_suite(options).skipped == 2
