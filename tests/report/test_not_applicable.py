"""Methods that do not apply: one line per reason on the pages, one mention per reason in a hover text."""

from __future__ import annotations

from benchmark.report.aggregation import DatasetEntry, missing_groups, suite_cell
from benchmark.report.pages import not_applicable_lines
from benchmark.store.status import reason_rule

SMOTEN = "SMOTEN needs all features nominal; {d} has 8 numeric feature(s) (use SMOTENC or SMOTE)"


def _entry(method: str, status: str, reason: str | None) -> DatasetEntry:
    return DatasetEntry(method=method, status=status, reason=reason, cells={})


def test_reason_rule_drops_the_details_that_vary_by_dataset():
    assert reason_rule(SMOTEN.format(d="keel-a"), "smote-n", "keel-a") == "SMOTEN needs all features nominal"
    assert reason_rule("affine supports image data, not tabular", "affine") == "<method> supports image data, not tabular"
    assert reason_rule("keel-a: file missing", "m", "keel-a") == "<dataset>"


def test_not_applicable_methods_share_a_line_per_reason():
    reasons = {"mixup": "mixup supports image data, not tabular", "affine": "affine supports image data, not tabular",
               "eda": "eda supports text data, not tabular", "smote-n": SMOTEN.format(d="keel-a")}
    # A dataset page: the whole reason, the method's own name dropped from its head.
    assert not_applicable_lines(reasons, "keel-a") == [
        {"reason": "supports image data, not tabular", "methods": ["affine", "mixup"]},
        {"reason": SMOTEN.format(d="keel-a"), "methods": ["smote-n"]},
        {"reason": "supports text data, not tabular", "methods": ["eda"]}]
    # A suite page (several datasets): the rule, since the details differ by dataset.
    assert not_applicable_lines(reasons, "keel-a", rule=True)[1] == {
        "reason": "SMOTEN needs all features nominal", "methods": ["smote-n"]}
    assert not_applicable_lines({"m": None}) == [{"reason": "no reason recorded", "methods": ["m"]}]


def test_a_reason_shared_by_datasets_is_named_once():
    missing = [(d, _entry("affine", "not-applicable", "affine supports image data, not tabular")) for d in "abc"]
    assert missing_groups(missing, 3) == [("all 3 datasets", "not-applicable", "affine supports image data, not tabular")]
    mixed = [("a", _entry("m", "failed", "NaN loss")), ("b", _entry("m", "not-applicable", "r")),
             ("c", _entry("m", "failed", "NaN loss"))]
    assert missing_groups(mixed, 5) == [("a, c", "failed", "NaN loss"), ("b", "not-applicable", "r")]
    cell = suite_cell(missing, "minority_f1", 3)
    assert cell.reason == "all 3 datasets: not applicable (affine supports image data, not tabular)"
