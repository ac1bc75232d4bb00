"""A plugin package, outside this repository, that adds one method through an entry point and runs
the conformance checks shipped in ``benchmark.testing`` from its own test suite (issue 17, check 6).

The package is written into a temporary folder (pyproject with an entry point in group
``benchmark.methods``, one module registering a loss method, a tests/ file calling
``parametrize_with_checks``), installed with pip, and its own ``python -m pytest`` must pass; the
same package with a loss that ignores its tuned parameter must fail; an entry point that fails to
import is a warning naming it, and the built-in methods still work.

pip installs into a folder of the test's own (``--target``) that only the subprocesses put on their
path, not into the shared virtual environment: other test runs of this environment never see the
plugin, and nothing is left to uninstall if the test is killed.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

LOSS_MODULE = '''
import numpy as np
import torch
import torch.nn.functional as F

from benchmark.methods import ALL_MODALITIES, MethodContext, Recipe, register_method

PAPER = "@inproceedings{lin2017focal, title={Focal Loss for Dense Object Detection}, year={2017}}"


class ClassWeightedFocalLoss:
    """-sum_c t_c w_c (1 - p_c)^gamma log p_c, averaged over the batch; w_c = inverse frequency."""

    graph_safe = True

    def __init__(self, gamma, class_counts):
        counts = np.maximum(np.asarray(class_counts, dtype=np.float64), 1.0)
        self.weights = torch.tensor(counts.sum() / (len(counts) * counts), dtype=torch.float32)
        self.gamma = gamma

    def __call__(self, logits, target, epoch):
        soft = F.one_hot(target, logits.shape[1]).float() if target.dim() == 1 else target.float()
        log_p = F.log_softmax(logits.float(), dim=1)
        if self.weights.device != logits.device:
            self.weights = self.weights.to(logits.device)
        per_class = -soft * self.weights * (1 - log_p.exp()).pow(self.gamma) * log_p
        return per_class.sum(dim=1).mean()


@register_method(
    "__NAME__", family="loss", modalities=ALL_MODALITIES, engines=("deep",),
    summary="Focal loss with inverse-frequency class weights.", paper=PAPER,
    search_space=lambda trial, ctx: {"gamma": trial.suggest_float("gamma", 0.5, 5.0)},
    neutral_params={"gamma": 0.0},
)
def build(params, ctx):
    """Class-weighted focal loss (Lin et al. 2017) with tuned gamma."""
    return Recipe(loss=ClassWeightedFocalLoss(__GAMMA__, ctx.class_counts))
'''

PLUGIN_TEST = '''
from benchmark.testing import parametrize_with_checks


@parametrize_with_checks(["__NAME__"])
def test_plugin_method(method, check):
    check(method)
'''


def write_plugin(root: Path, package: str, method: str, gamma_expr: str, extra_entry: str = "") -> Path:
    folder = root / package
    (folder / package).mkdir(parents=True)
    (folder / "tests").mkdir()
    (folder / "pyproject.toml").write_text(textwrap.dedent(f"""
        [build-system]
        requires = ["setuptools>=64"]
        build-backend = "setuptools.build_meta"

        [project]
        name = "{package.replace('_', '-')}"
        version = "0.1.0"

        [tool.setuptools]
        packages = ["{package}"]

        [project.entry-points."benchmark.methods"]
        {method} = "{package}"
        {extra_entry}
    """))
    (folder / package / "__init__.py").write_text(LOSS_MODULE.replace("__NAME__", method).replace("__GAMMA__", gamma_expr))
    (folder / "tests" / "test_plugin.py").write_text(PLUGIN_TEST.replace("__NAME__", method))
    return folder


def install(folder: Path, target: Path) -> None:
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-build-isolation", "--no-index",
                    "--quiet", "--target", str(target), str(folder)], check=True, capture_output=True, text=True,
                   timeout=300)


def run_in(folder: Path, target: Path, *args: str) -> subprocess.CompletedProcess:
    paths = [str(target), *filter(None, [os.environ.get("PYTHONPATH")])]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(paths),
           "HF_HUB_OFFLINE": "1", "BENCHMARK_OFFLINE": "1"}
    return subprocess.run([sys.executable, *args], cwd=folder, env=env, capture_output=True, text=True, timeout=600)


def test_a_plugin_package_passes_the_shipped_checks_from_its_own_tests(tmp_path):
    target = tmp_path / "site"
    install(write_plugin(tmp_path, "good_focal_plugin", "plugin-weighted-focal", 'params["gamma"]'), target)
    result = run_in(tmp_path / "good_focal_plugin", target, "-m", "pytest", "-q", "-p", "no:cacheprovider")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "passed" in result.stdout and "failed" not in result.stdout

    listed = run_in(tmp_path, target, "-c", "from benchmark.store.provenance import plugin_distributions as p; "
                                            "print(p())")
    assert "good-focal-plugin" in listed.stdout and "'0.1.0'" in listed.stdout, listed.stdout + listed.stderr


def test_a_broken_plugin_fails_the_checks_and_a_failing_entry_point_is_only_a_warning(tmp_path):
    target = tmp_path / "site"
    broken_entry = 'missing-plugin = "no_such_module_for_benchmark_tests"'
    folder = write_plugin(tmp_path, "broken_focal_plugin", "plugin-ignores-gamma", "2.0", extra_entry=broken_entry)
    install(folder, target)
    result = run_in(folder, target, "-m", "pytest", "-q", "-p", "no:cacheprovider")
    assert result.returncode != 0
    assert "tuning 'gamma'" in result.stdout, result.stdout[-3000:]

    listed = run_in(tmp_path, target, "-W", "always", "-c",
                    "from benchmark.methods import method_registry as r; print(len(r.names('baseline')), "
                    "'plugin-ignores-gamma' in r)")
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.split() == ["1", "True"]  # the built-ins and the working entry point still load
    assert "PluginWarning" in listed.stderr and "'missing-plugin'" in listed.stderr
    assert "no_such_module_for_benchmark_tests" in listed.stderr


@pytest.fixture(autouse=True)
def _needs_setuptools():
    pytest.importorskip("setuptools")
