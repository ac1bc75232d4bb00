"""``python -m benchmark speed`` on the CPU with tiny settings: both loops, their figures and the ratio."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from benchmark.cli import app
from benchmark.errors import BenchmarkError
from benchmark.protocol import exponential_profile
from benchmark.speed import SpeedOptions, run_speed, synthetic_cifar_lt

runner = CliRunner()


def test_speed_on_cpu_prints_both_loops_and_their_ratio(data_root):
    result = runner.invoke(app, ["speed", "--device", "cpu", "--dataset", "digits-lt", "--epochs", "1",
                                 "--data-root", str(data_root)])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith("speed: digits-lt, small-cnn, 1 epochs over")
    loader = next(line for line in lines if line.startswith("DataLoader loop (batch 64, fp32)"))
    engine = next(line for line in lines if line.startswith("engine (batch 64, fp32)"))
    ratio = next(line for line in lines if line.startswith("ratio (engine images/s / DataLoader images/s)"))
    ips = [float(line.split()[-2].replace(",", "")) for line in (loader, engine)]
    assert all(0 <= float(line.split()[-1]) <= 1 for line in (loader, engine))  # balanced accuracy
    assert float(ratio.split()[-1].rstrip("x")) == pytest.approx(ips[1] / ips[0], rel=0.02)


def test_speed_json_record_and_stacked_trials(data_root):
    result = runner.invoke(app, ["speed", "--device", "cpu", "--dataset", "digits-lt", "--epochs", "1",
                                 "--trials", "2", "--no-loader", "--format", "json", "--data-root", str(data_root)])
    assert result.exit_code == 0, result.output
    record = json.loads(result.output)
    (loop,) = record["loops"]
    assert record["ratio"] is None and loop["trials"] == 2 and len(loop["balanced_accuracy"]) == 2
    assert loop["images"] == 2 * record["train_size"]  # two trials, one epoch each
    assert loop["images_per_second"] == pytest.approx(loop["images"] / loop["seconds"], rel=0.01)


def test_synthetic_cifar_lt_has_the_long_tail_profile_and_a_balanced_test_set():
    split = synthetic_cifar_lt(seed=1, n_max=50, test_per_class=4, val_per_class=2)
    assert split.train.X.shape[1:] == (3, 32, 32) and split.train.X.dtype == np.uint8
    assert split.class_counts("train") == exponential_profile(50, 10, 100)
    assert split.class_counts("test") == [4] * 10 and split.class_counts("val") == [2] * 10
    assert sum(exponential_profile(5000, 10, 100)) == 12_406  # the default size: CIFAR-10-LT's


def test_bad_speed_options_are_errors_before_any_work(data_root):
    with pytest.raises(BenchmarkError, match="--epochs 0"):
        run_speed(SpeedOptions(epochs=0, device="cpu"))
    with pytest.raises(BenchmarkError, match="image"):
        run_speed(SpeedOptions(dataset="sms-spam-mini", device="cpu", data_root=str(data_root)))
    with pytest.raises(BenchmarkError, match="precision"):
        run_speed(SpeedOptions(precision="fp8", device="cpu"))
