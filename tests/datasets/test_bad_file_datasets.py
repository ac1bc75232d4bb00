"""A bad table given as a dataset (empty, one class only, a class with one row) fails only its own pairs,
as a retryable data error naming the file and the class, like a damaged KEEL file: the run goes on."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from benchmark.datasets.files import file_dataset
from benchmark.errors import BenchmarkError
from benchmark.run import RunOptions, run_suite
from benchmark.store import Store
from tests.run.test_runner import tiny_suite


def write_bad(folder, kind: str):
    """``kind``: "empty" (no bytes), "no-rows" (a header only), "one-class", "single-row" (class 'rare': one row)."""
    path = folder / f"{kind}.csv"
    rng = np.random.default_rng(0)
    table = pd.DataFrame({"x": rng.normal(size=40).round(3), "z": rng.normal(size=40).round(3),
                          "label": ["common"] * 39 + ["rare"]})
    if kind == "empty":
        path.write_text("")
    elif kind == "no-rows":
        table.iloc[:0].to_csv(path, index=False)
    elif kind == "one-class":
        table.assign(label="common").to_csv(path, index=False)
    else:
        table.to_csv(path, index=False)
    return path


# what the error names besides the file: the class, where there is one
NAMED = {"empty": "cannot be read as a table", "no-rows": "holds no rows", "one-class": "one class only (common)",
         "single-row": "class 'rare' has 1 distinct row(s); each class needs at least 3"}


@pytest.mark.parametrize("kind", sorted(NAMED))
def test_a_bad_table_is_an_error_of_its_load_naming_file_and_class(tmp_path, kind):
    path = write_bad(tmp_path, kind)
    entry = file_dataset(path, target="label")  # the run's plan is made: nothing is refused yet
    with pytest.raises(BenchmarkError) as info:
        entry.load(tmp_path, 0, cache=False)
    message = str(info.value)
    assert f"dataset '{kind}'" in message and str(path) in message and NAMED[kind] in message
    assert info.value.fix


def test_bad_tables_fail_only_their_pairs_and_the_run_goes_on(tmp_path, data_root):
    specs = [f"file:{write_bad(tmp_path, kind)}?target=label" for kind in sorted(NAMED)]
    suite = tiny_suite("bad-files", ("baseline",), trials=1, seeds=1)
    options = RunOptions(suite=suite, datasets=[*specs, "keel-glass1"], storage=f"sqlite:///{tmp_path / 'r.db'}",
                         data_root=str(data_root), device="cpu")
    summary = run_suite(options)  # stopped before anything trained, on the first bad file
    assert summary.statuses == {"data-error": len(NAMED), "complete": 1}
    store = Store(options.storage)
    for kind in NAMED:
        pair = store.get_pair("bad-files", kind, "baseline")
        assert pair.status == "data-error" and f"{kind}.csv" in pair.reason and NAMED[kind] in pair.reason
    assert store.get_pair("bad-files", "keel-glass1", "baseline").status == "complete"
