"""Shared fixtures: the data root, an isolated split cache, tiny splits of each modality.

Real data comes from the data-root setting (``BENCHMARK_DATA``, which ``.ci/run`` points at the
offline copies in ``../shared/datasets``); tests that need it skip with a message when it is unset.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from benchmark.datasets.base import Split
from benchmark.testing import make_image_split, make_tabular_split, make_text_split, tiny_config
from benchmark.training.base import TrainingConfig


@pytest.fixture(autouse=True, scope="session")
def isolated_cache(tmp_path_factory: pytest.TempPathFactory):
    """Never write split caches into the shared data folder or the user's cache during tests."""
    path = tmp_path_factory.mktemp("split-cache")
    old = os.environ.get("BENCHMARK_CACHE")
    os.environ["BENCHMARK_CACHE"] = str(path)
    yield path
    if old is None:
        os.environ.pop("BENCHMARK_CACHE", None)
    else:
        os.environ["BENCHMARK_CACHE"] = old


@pytest.fixture(scope="session")
def data_root() -> Path:
    """The folder of real datasets (``$BENCHMARK_DATA``)."""
    value = os.environ.get("BENCHMARK_DATA")
    if not value:
        pytest.skip("BENCHMARK_DATA is not set: point it at a folder holding FashionMNIST/raw, sms_spam and keel "
                    "(README, 'Data for the tests')")
    if not Path(value).is_dir():
        pytest.skip(f"BENCHMARK_DATA={value} is not a folder (from {os.getcwd()}): point it at a folder holding "
                    "FashionMNIST/raw, sms_spam and keel (README, 'Data for the tests')")
    return Path(value).resolve()


def cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked ``gpu`` skip, with the reason, on machines without CUDA."""
    if cuda_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA device")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def image_split() -> Split:
    return make_image_split()


@pytest.fixture
def text_split() -> Split:
    return make_text_split()


@pytest.fixture
def tabular_split() -> Split:
    return make_tabular_split()


@pytest.fixture(name="tiny_config")
def tiny_config_fixture() -> TrainingConfig:
    """Two quick epochs: enough to exercise every hook, small enough for 2 CI cores."""
    return tiny_config()
