"""Dataset page file names (issue 28, items 4 and 5): a page's name must not depend on the length or the
alphabet of the dataset's name, and two names never share a page."""

from __future__ import annotations

import re

import pytest

from benchmark.report import build_report
from benchmark.report.pages import SLUG_LENGTH, page_file
from benchmark.store import Store

SUITE = "names"
BUDGET = {"trials": 2, "seeds": 1, "timeout": None, "objective": "minority_f1", "tune": []}
LONG = "keel-" + "very-long-name-" * 20  # 305 characters: too long for a file name on every file system
UNICODE = ("データ✓", "ключ")  # both slugged to nothing: one page, one dataset lost, before


def write_run(url: str, datasets: dict[str, float]) -> Store:
    """One method on each dataset, one seed each, with minority F1 ``datasets[name]``."""
    store = Store(url)
    for dataset, value in datasets.items():
        store.update_pair(SUITE, dataset, "baseline", status="complete", budget=BUDGET, info={"split_seed": 0})
        store.claim_seed(SUITE, dataset, "baseline", 0)
        store.finish_seed(SUITE, dataset, "baseline", 0, status="ok",
                          metrics={"minority_recall": value, "minority_f1": value, "minority_pr_auc": value,
                                   "balanced_accuracy": value, "macro_f1": value},
                          per_class={"recall": [0.9, value]})
    return store


def test_plain_names_keep_their_page_and_others_get_a_bounded_unique_one():
    assert page_file("keel-yeast3") == "keel-yeast3.html"  # existing URLs unchanged
    assert page_file("CIFAR-10_LT.v2") == "CIFAR-10_LT.v2.html"
    names = [LONG, LONG + "x", *UNICODE, "file:/data/my table.csv", "a b", "a-b", "a/b", "", "..", "-x-"]
    files = [page_file(n) for n in names]
    assert len(set(files)) == len(files)  # no two names share a page
    for name, file in zip(names, files, strict=True):
        assert re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*\.html", file), (name, file)  # safe on any file system
        assert len(file) <= SLUG_LENGTH + len("-0123456789.html"), (name, file)
    assert page_file("a b").startswith("a-b-") and page_file(LONG).startswith("keel-very-long-name-")
    assert page_file("データ✓") == page_file("データ✓")  # stable: the same name gives the same page


@pytest.mark.parametrize("datasets", [{LONG: 0.6, "keel-yeast3": 0.7}, {UNICODE[0]: 0.6, UNICODE[1]: 0.8}],
                         ids=["300-characters", "non-ascii"])
def test_each_dataset_gets_its_own_page_and_the_index_links_to_it(tmp_path, datasets):
    store = write_run(f"sqlite:///{tmp_path / 'store.db'}", datasets)
    built = build_report(store, SUITE, tmp_path / "reports")
    index = (built.folder / "index.html").read_text(encoding="utf-8")
    links = re.findall(r'<a href="datasets/([^"]+)">([^<]+)</a>', index)
    assert sorted(name for _, name in links) == sorted(datasets)
    pages = sorted(p.name for p in (built.folder / "datasets").glob("*.html"))
    assert sorted(file for file, _ in links) == pages and len(pages) == len(datasets)
    for file, name in links:  # each link opens the page of its own dataset, with its own figure
        page = (built.folder / "datasets" / file).read_text(encoding="utf-8")
        assert f"<h1>{name}</h1>" in page
        assert f'data-sort="{datasets[name]:.6f}"' in page
