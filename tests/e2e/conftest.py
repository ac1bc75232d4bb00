"""Everything under ``tests/e2e/`` runs whole suites (processes, kills, databases, a browser): marked
``slow``, so ``python -m pytest -m "not slow"`` is the edit-test loop and the README's command runs all."""

from __future__ import annotations

from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in Path(str(item.fspath)).resolve().parents:
            item.add_marker(pytest.mark.slow)
