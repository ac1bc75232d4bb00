"""The documentation site's generated pages (issue 29): every registered method and dataset has its page
with the fields it promises, the command-line reference has every command, and the suite-file reference
every key. (CI builds the whole site with warnings as errors: .ci/run.)"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def load(name: str):
    spec = importlib.util.spec_from_file_location(f"docs_ext_{name}", ROOT / "docs" / "_ext" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def catalogue(tmp_path_factory):
    out = tmp_path_factory.mktemp("generated")
    written = load("catalogue").write_catalogue(out)
    return out, written


def test_every_registered_method_has_its_page_with_its_fields(catalogue):
    from benchmark.methods import method_registry

    out, _ = catalogue
    index = (out / "methods.md").read_text()
    references = {json.loads(p.read_text())["row"]: p.name for p in (ROOT / "tests" / "reference" / "data").glob("*.json")}
    for name, method in method_registry.items(None):
        page = (out / "methods" / f"{name}.md").read_text()
        assert f"[{name}](methods/{name}.md)" in index
        assert page.startswith(f"(method-{name})=\n# {name}\n") and f"| Family | `{method.family}` |" in page
        assert f"| Modalities | {', '.join(method.modalities)} |" in page
        for section in ("## Search space", "## Known differences from the authors' code", "## Reference test",
                        "## Paper"):
            assert section in page, (name, section)
        if method.paper.strip():
            assert method.paper.strip() in page  # the BibTeX from methods/_papers.py, verbatim
        if name in references:
            assert f"tests/reference/data/{references[name]}" in page
        else:
            assert "None yet: no test compares this row" in page
    smote = (out / "methods" / "smote.md").read_text()
    assert re.search(r"^k_neighbors +int in \[\d+, \d+\]", smote, re.M), smote  # as `show method` records it


def test_every_registered_dataset_has_its_page_with_its_card(catalogue):
    from benchmark.datasets import dataset_registry

    out, written = catalogue
    index = (out / "datasets.md").read_text()
    for name, entry in dataset_registry.items(None):
        page = (out / "datasets" / f"{name}.md").read_text()
        assert f"[{name}](datasets/{name}.md)" in index
        assert f"| Modality | {entry.modality} |" in page and f"| Classes | {entry.num_classes}: " in page
        for field in ("| Classes |", "| Rows |", "| Imbalance ratio |", "| Duplicates |",
                      "| Licence |", "| Source |", "## SHA-256 of the files", "## Citation"):
            assert field in page, (name, field)
    yeast = (out / "datasets" / "keel-yeast3.md").read_text()  # its file ships in the package: counted, hashed
    assert "| train (split seed 0, from the card) | 780 rows: 694 / 86 |" in yeast
    assert re.search(r"\| Duplicates \| \d+ duplicate rows in \d+ groups", yeast), yeast
    assert re.search(r"`keel/yeast3\.dat`: `[0-9a-f]{64}`", yeast)
    cifar = (out / "datasets" / "cifar10-lt.md").read_text()  # a pinned download
    assert "pinned (a download must match): `cifar-10-python.tar.gz`: `6d958be0" in cifar
    from benchmark.methods import method_registry

    assert len(written) == len(dataset_registry.names()) + len(method_registry.names()) + 2  # and the two indexes


def test_a_page_of_an_entry_no_longer_registered_is_removed(catalogue):
    out, _ = catalogue
    stale = out / "methods" / "removed-method.md"
    stale.write_text("# removed-method\n")
    load("catalogue").write_catalogue(out)
    assert not stale.exists()


def test_cli_reference_has_every_command_as_its_help_prints_it():
    from benchmark.cli import app

    reference = load("reference")
    page = reference.cli_page()
    for command in app.registered_commands:
        name = command.name or command.callback.__name__
        assert f"(cli-{name})=\n## {name}\n" in page
    assert "--skip-missing-data" in page and "--suite <str>" in page
    assert "<bool>" not in page and "…" not in page  # plain flags have no value type; no text cut


def test_suite_file_reference_has_every_key_and_training_setting():
    from benchmark.suites.files import BUDGET_KEYS, FILE_DATASET_KEYS, SUITE_KEYS, TRAINING_KEYS

    tables = load("reference").suite_file_tables()
    for key in (*SUITE_KEYS, *BUDGET_KEYS, *FILE_DATASET_KEYS, *TRAINING_KEYS):
        assert f"| `{key}` |" in tables, key
    assert "| `model` | `str \\| None` | the dataset's default |" in tables  # a pipe cannot break the table


@pytest.mark.slow
def test_the_plugin_template_passes_its_own_tests(tmp_path):
    """examples/plugin-template: its method passes the shipped checks and its dataset matches its card (in a
    subprocess: its registrations must not join this process's registries)."""
    template = ROOT / "examples" / "plugin-template"
    env = {**os.environ, "PYTHONPATH": str(template / "src"), "BENCHMARK_CACHE": str(tmp_path)}
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"], cwd=template,
                          env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert re.search(r"\d+ passed", done.stdout)
