"""Issue 18's acceptance check 2, through the command line: every self- and semi-supervised row (listed from
the registry, so rows added later are covered), a combined SSP row and the baseline run on
fashion-mnist-lt-mini, the tabular pretext rows on a small KEEL set, through tuning, the seed re-runs and the
store. Every pair completes within its budget at the baseline's compute; rows that learn from the pool store
how many pool rows they were offered and the report marks them; SSP rows store their pretext stage."""

from __future__ import annotations

import re
import textwrap

import pytest

from benchmark.methods import method_registry
from benchmark.store import Store
from tests.test_cli import cli

IMAGE_DATA, TABULAR_DATA = "fashion-mnist-lt-mini", "keel-new_thyroid1"
NEW_ROWS = sorted(name for name, m in method_registry.items() if m.family in ("self-supervised", "semi-supervised"))
COMBINED = "ssp-rotation+class-balanced-sampling"
METHODS = ("baseline", *NEW_ROWS, COMBINED)
SUITE = """
    name = "unlabeled-rows"
    description = "issue 18: self- and semi-supervised rows through tuning and the store"
    datasets = ["{image}", "{tabular}"]
    methods = {methods}
    split_seeds = 1
    pruner = "none"

    [budget]
    trials = 2
    seeds = 1

    [training.image]
    epochs = 2
    batch_size = 64
    lr = 3e-3
    model = "small-cnn"

    [training.tabular]
    epochs = 2
    batch_size = 32
    lr = 3e-3
"""


def test_the_issue_rows_are_registered():
    assert {"ssp-rotation", "ssp-simclr", "pseudo-labelling", "fixmatch-da"} <= set(NEW_ROWS)


@pytest.mark.slow
def test_every_unlabeled_and_pretext_row_runs_through_tuning_store_and_report(tmp_path, data_root):
    suite = tmp_path / "unlabeled-rows.toml"
    suite.write_text(textwrap.dedent(SUITE.format(image=IMAGE_DATA, tabular=TABULAR_DATA,
                                                  methods="[" + ", ".join(f'"{m}"' for m in METHODS) + "]")))
    storage = f"sqlite:///{tmp_path / 'results.db'}"
    run = cli("run", "--suite", str(suite), "--storage", storage, "--data-root", str(data_root), "--output",
              str(tmp_path / "reports"), "--device", "cpu", cwd=tmp_path)
    assert run.returncode == 0, run.stderr[-3000:] + run.stdout[-2000:]

    store = Store(storage)
    pairs = {(p.dataset, p.method): p for p in store.pairs("unlabeled-rows")}
    expected = {(d, m) for m in METHODS for d, modality in ((IMAGE_DATA, "image"), (TABULAR_DATA, "tabular"))
                if modality in method_registry.get(m).modalities}
    assert {k for k, p in pairs.items() if p.status == "complete"} == expected, {
        k: (p.status, p.reason) for k, p in pairs.items() if p.status != "not-applicable"}
    for key, pair in pairs.items():
        if key not in expected:
            assert pair.status == "not-applicable", (key, pair.status, pair.reason)
    rows = {(r.dataset, r.method): r for r in store.results("unlabeled-rows")}
    for key in expected:
        dataset, method = key
        spent, baseline = pairs[key].spent, pairs[(dataset, "baseline")].spent
        assert (spent["trials"], spent["complete"], spent["stopped_by"]) == (2, 2, "trials"), (key, spent)
        assert spent["samples"] == baseline["samples"], (key, spent, baseline)  # equal compute in tuning, too
        row, base = rows[key], rows[(dataset, "baseline")]
        assert row.status == "ok", (key, row.reason)
        assert (row.timings["train_samples"], row.timings["train_steps"]) == (
            base.timings["train_samples"], base.timings["train_steps"]), key
        uses_pool = "unlabeled-data" in method_registry.get(method).tags
        assert (row.timings.get("unlabeled_rows", 0) > 0) == uses_pool, (key, row.timings)
        if method_registry.get(method).family == "self-supervised" or method == COMBINED:
            assert 0 < row.timings["pretrain_samples"] < row.timings["train_samples"], (key, row.timings)
    assert rows[(IMAGE_DATA, "pseudo-labelling")].timings["pseudo_labelled_rows"] >= 0

    # the leaderboard marks the rows that learned from the pool, and only those, with how many rows
    index = (tmp_path / "reports" / "unlabeled-rows" / "index.html").read_text()
    marked = set(re.findall(r'data-unlabeled="([^"]+)"', index))
    assert marked == {m for m in METHODS if "unlabeled-data" in method_registry.get(m).tags}, marked
    plain = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", index))
    for method in marked:
        n = rows[(IMAGE_DATA, method)].timings["unlabeled_rows"]
        assert f"{method}: used {n:,} unlabeled rows" in plain, method
