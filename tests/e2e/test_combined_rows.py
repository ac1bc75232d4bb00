"""Issue 20's acceptance checks 1 and 3: combined rows through the real command line.

``run --suite smoke`` on keel-yeast3 with the baseline, two combined rows and the parts of one of them
runs, resumes, and reports each combined row with its parts and their papers; the dataset page compares
each combined row with its best part, with the interval (about 25 s on 2 cores)."""

from __future__ import annotations

import json
import re

import pytest

from tests.test_cli import cli

METHODS = "baseline,smote+focal-loss,random-oversampling+class-weighted-ce,smote,focal-loss"


def text_of(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


@pytest.mark.slow
def test_combined_rows_run_resume_and_report_their_parts(tmp_path, data_root):
    storage = f"sqlite:///{tmp_path / 'bench.db'}"
    args = ["run", "--suite", "smoke", "--datasets", "keel-yeast3", "--methods", METHODS,
            "--data-root", str(data_root), "--storage", storage, "--output", str(tmp_path / "reports")]
    first = cli(*args, cwd=tmp_path)
    assert first.returncode == 0, first.stderr[-3000:]

    rows = json.loads(cli("results", "--suite", "smoke", "--storage", storage, "--format", "json").stdout)
    combined = [r for r in rows if "+" in r["method"]]
    assert {r["method"] for r in combined} == {"smote+focal-loss", "random-oversampling+class-weighted-ce"}
    assert all(r["status"] == "ok" for r in rows) and len(rows) == 5 * 2  # 5 rows x 2 splits x 1 seed
    for r in combined:  # each part's parameters, prefixed by the part
        parts = r["method"].split("+")
        assert r["params"] and all(k.split(".")[0] in parts for k in r["params"] if not k.startswith("train.")), r

    # the other order names the same rows: resuming finds every pair complete
    again = cli(*[a if a != METHODS else "focal-loss+smote,baseline,class-weighted-ce+random-oversampling,smote,"
                  "focal-loss" for a in args], cwd=tmp_path)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "10 already complete" in " ".join(again.stderr.split())

    index = (tmp_path / "reports" / "smoke" / "index.html").read_text()
    assert 'data-family="combination"' in index
    plain = text_of(index)
    assert "= smote [chawla2002smote] + focal-loss [lin2017focal]" in plain
    assert "= random-oversampling [" in plain and "+ class-weighted-ce [" in plain
    assert "Method: focal-loss, smote+focal-loss" in plain and "Method: smote, smote+focal-loss" in plain

    page = (tmp_path / "reports" / "smoke" / "datasets" / "keel-yeast3.html").read_text()
    section = text_of(page[page.index('id="vs-parts"'):page.index('id="per-class"')])
    assert "Does the combination beat its best part?" in section
    best = re.search(r"smote\+focal-loss = smote \[chawla2002smote\] \+ focal-loss \[lin2017focal\] "
                     r"(smote|focal-loss) ([-+]\d\.\d{3})( ± \d\.\d{3}| \[[-+]\d\.\d{3}, [-+]\d\.\d{3}\])", section)
    assert best, section[:1500]
    assert "random-oversampling+class-weighted-ce: no part has a result" in section
