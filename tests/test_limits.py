"""Every numeric setting has a range (benchmark.limits), checked in one place for the command line, suite
files and the configs they build: values that would hang a plan or a loop, overflow a size or poison
every step are refused with one line before any work (issue 28, items 6 and 7)."""

from __future__ import annotations

import math
import subprocess
import sys
import textwrap
import time

import pytest

from benchmark.errors import BenchmarkError
from benchmark.limits import LIMITS, MAX_NAME_LENGTH, check_setting
from benchmark.protocol import Budget
from benchmark.suites import load_suite_file
from benchmark.training.base import CONFIG_LIMITS, TrainingConfig

HUGE = 2**63 - 1
SUITE = """
    name = "NAME"
    datasets = ["keel-yeast3"]
    methods = ["baseline"]
    SPLIT
    [budget]
    trials = TRIALS
    seeds = SEEDS
    TIMEOUT
    [training.tabular]
    epochs = EPOCHS
    batch_size = BATCH
    lr = LR
    weight_decay = WD
"""
GOOD = {"NAME": "hostile", "SPLIT": "", "TRIALS": "2", "SEEDS": "1", "TIMEOUT": "", "EPOCHS": "2", "BATCH": "64",
        "LR": "0.01", "WD": "0.0"}


def suite_file(tmp_path, **changes: str):
    text = textwrap.dedent(SUITE)
    for key, value in {**GOOD, **changes}.items():
        text = text.replace(key, value)
    path = tmp_path / "hostile.toml"
    path.write_text(text)
    return path


def test_a_sane_file_passes(tmp_path):
    suite = load_suite_file(suite_file(tmp_path))
    assert suite.budget.trials == 2


@pytest.mark.parametrize(("changes", "named"), [
    ({"TRIALS": str(HUGE)}, "budget.trials"),
    ({"SEEDS": str(HUGE)}, "budget.seeds"),
    ({"SPLIT": f"split_seeds = {HUGE}"}, "split_seeds"),
    ({"EPOCHS": str(HUGE)}, "epochs="),
    ({"BATCH": str(HUGE)}, "batch_size="),
    ({"TIMEOUT": "timeout = 1e308"}, "budget.timeout"),
    ({"TIMEOUT": "device_seconds = inf"}, "budget.device_seconds"),
    ({"LR": "inf"}, "lr=inf"),
    ({"WD": "nan"}, "weight_decay=nan"),
    ({"NAME": "x" * 5000}, "5000 characters"),
])
def test_hostile_numbers_and_names_are_refused_in_one_line(tmp_path, changes, named):
    with pytest.raises(BenchmarkError) as info:
        load_suite_file(suite_file(tmp_path, **changes))
    assert named in info.value.message
    assert "\n" not in str(info.value)


def test_a_deeply_nested_file_is_one_line_not_a_recursion_error(tmp_path):
    path = tmp_path / "deep.toml"
    path.write_text('name = "deep"\nx = ' + "[" * 5000 + "]" * 5000 + "\n")
    with pytest.raises(BenchmarkError, match="nests arrays or tables too deeply"):
        load_suite_file(path)


def test_an_oversized_file_is_refused_before_parsing(tmp_path):
    path = tmp_path / "big.toml"
    path.write_text("# " + "x" * (2 << 20) + "\n")
    with pytest.raises(BenchmarkError, match="bytes"):
        load_suite_file(path)


@pytest.mark.slow  # starts processes (the CLI or workers): seconds, kept out of -m 'not slow'
def test_the_command_line_refuses_the_same_values_fast(tmp_path):
    """`run --plan` on a hostile file ends at once with exit 2 (it ran for minutes before)."""
    path = suite_file(tmp_path, TRIALS=str(HUGE), EPOCHS=str(HUGE))
    start = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "benchmark", "run", "--suite", str(path), "--plan",
                           "--storage", f"sqlite:///{tmp_path / 'r.db'}"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and "is invalid" in done.stderr
    assert time.monotonic() - start < 60
    assert not (tmp_path / "r.db").exists() or (tmp_path / "r.db").stat().st_size < 1 << 20


@pytest.mark.parametrize("name", sorted(LIMITS))
def test_every_limit_refuses_non_finite_and_out_of_range_values(name):
    limit = LIMITS[name]
    for value in (math.nan, math.inf, -math.inf, limit.high * 2 + 1, limit.low - 1, True):
        with pytest.raises(BenchmarkError, match="is invalid"):
            check_setting(name, value)
    check_setting(name, limit.high)
    inside = limit.low + (1 if limit.integer else (limit.high - limit.low) / 2)
    check_setting(name, int(inside) if limit.integer else inside)


def test_configs_read_their_ranges_from_the_one_table():
    assert {"epochs", "batch_size", "lr", "weight_decay", "generator_epochs"} <= set(CONFIG_LIMITS)
    with pytest.raises(BenchmarkError, match="lr=nan is invalid"):
        TrainingConfig(lr=math.nan)
    with pytest.raises(BenchmarkError, match="lr_steps=1.5 is invalid"):
        TrainingConfig(lr_steps=(0.5, 1.5))
    with pytest.raises(BenchmarkError, match="--timeout inf is invalid"):
        Budget(trials=1, seeds=1, timeout=math.inf)
    assert MAX_NAME_LENGTH >= 64
