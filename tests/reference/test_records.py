"""Every reference record names its source and says how its figure was produced."""

from __future__ import annotations

import pytest

from benchmark.methods.base import method_registry
from tests.reference._figures import DATA, load

pytestmark = pytest.mark.reference
OWN = sorted(p.stem for p in DATA.glob("*.json") if not p.stem.startswith("deepsmote"))  # DeepSMOTE's: H7's tests


@pytest.mark.parametrize("name", OWN)
def test_record_names_its_source_and_a_registered_row(name):
    record = load(name)
    assert record["row"] in method_registry.names(), f"{name}.json is for {record['row']!r}, not a registered row"
    source = record["source"]
    if not source.get("no_code_published"):
        assert source["repository"].startswith("https://github.com/")
        commit = source["commit"]
        assert len(commit) == 40 and all(c in "0123456789abcdef" for c in commit) or commit.startswith("v"), commit
