"""``python -m benchmark speed`` on the CPU with tiny settings: both loops, their figures and the ratio, for
image, tabular and text datasets."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
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
    assert loop["samples"] == 2 * record["train_size"]  # two trials, one epoch each
    assert loop["samples_per_second"] == pytest.approx(loop["samples"] / loop["seconds"], rel=0.01)


@pytest.mark.parametrize("dataset, unit_rows", [("keel-yeast3", 780), ("sms-spam-mini", None)])
def test_speed_on_tabular_and_text_runs_the_randperm_loop_and_the_engine(dataset, unit_rows, data_root):
    result = runner.invoke(app, ["speed", "--device", "cpu", "--dataset", dataset, "--epochs", "2",
                                 "--repeats", "2", "--data-root", str(data_root)])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith(f"speed: {dataset}, mlp, 2 epochs over") and "CPU (1 threads)" in lines[0]
    assert "2 alternating rounds" in lines[0]
    if unit_rows is not None:
        assert f"over {unit_rows:,} training samples" in lines[0]
    plain = next(line for line in lines if line.startswith("plain loop (randperm, Adam, batch 64, fp32)"))
    engine = next(line for line in lines if line.startswith("engine (batch 64, fp32)"))
    ratio = next(line for line in lines if line.startswith("ratio (engine samples/s / plain loop samples/s)"))
    sps = [float(line.split()[-2].replace(",", "")) for line in (plain, engine)]
    assert all(0 <= float(line.split()[-1]) <= 1 for line in (plain, engine))  # balanced accuracy on the test split
    assert float(ratio.split()[-1].rstrip("x")) == pytest.approx(sps[1] / sps[0], rel=0.02)
    assert any(line.startswith("ratio by CPU time (less disturbed by other jobs): ") for line in lines)


def test_speed_record_counts_every_round_of_both_loops(data_root):
    torch.set_num_threads(2)
    report = run_speed(SpeedOptions(dataset="keel-yeast3", device="cpu", epochs=1, repeats=3, data_root=str(data_root)))
    record = report.record()
    assert record["modality"] == "tabular" and record["epochs"] == 1
    plain, engine = record["loops"]
    assert plain["rounds"] == engine["rounds"] == 3
    assert plain["samples"] == engine["samples"] == 3 * record["train_size"]
    assert record["ratio"] == pytest.approx(engine["samples_per_second"] / plain["samples_per_second"], rel=0.01)
    assert 0 < plain["cpu_seconds"] and 0 < engine["cpu_seconds"]  # the training phases' CPU time, every round
    assert record["cpu_ratio"] == pytest.approx(engine["samples_per_cpu_second"] / plain["samples_per_cpu_second"],
                                                rel=0.01)
    assert torch.get_num_threads() == 2  # the tabular default of 1 thread was undone afterwards


def test_synthetic_cifar_lt_has_the_long_tail_profile_and_a_balanced_test_set():
    split = synthetic_cifar_lt(seed=1, n_max=50, test_per_class=4, val_per_class=2)
    assert split.train.X.shape[1:] == (3, 32, 32) and split.train.X.dtype == np.uint8
    assert split.class_counts("train") == exponential_profile(50, 10, 100)
    assert split.class_counts("test") == [4] * 10 and split.class_counts("val") == [2] * 10
    assert sum(exponential_profile(5000, 10, 100)) == 12_406  # the default size: CIFAR-10-LT's


def test_bad_speed_options_are_errors_before_any_work(data_root):
    with pytest.raises(BenchmarkError, match="--epochs 0"):
        run_speed(SpeedOptions(epochs=0, device="cpu"))
    with pytest.raises(BenchmarkError, match="precision"):
        run_speed(SpeedOptions(precision="fp8", device="cpu"))
    for options, message in [(SpeedOptions(lr=float("nan")), "--lr nan"), (SpeedOptions(lr=-1.0), "--lr -1.0"),
                              (SpeedOptions(repeats=0), "--repeats 0"), (SpeedOptions(threads=0), "--threads 0"),
                              (SpeedOptions(seed=-2), "--seed -2")]:
        with pytest.raises(BenchmarkError, match=message):
            run_speed(options)


@pytest.mark.slow  # starts processes (the CLI or workers): seconds, kept out of -m 'not slow'
def test_speed_tuning_times_whole_trials_of_a_real_study(data_root):
    """``--tuning``: the engine inside tabular-cpu's study (its 8 trials, stacked), every trial's samples
    over the whole study's time; no test score (tuning never reads the test split)."""
    result = runner.invoke(app, ["speed", "--dataset", "keel-yeast3", "--device", "cpu", "--epochs", "2", "--tuning",
                                 "--format", "json", "--data-root", str(data_root)])
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    plain, tuning = record["loops"]
    assert tuning["loop"] == "tuning: 8 trials (tabular-cpu, 4 stacked)" and tuning["trials"] == 8
    # every trial trains 1 or 2 epochs (Hyperband may stop one after its first)
    assert 8 * record["train_size"] <= tuning["samples"] <= 16 * record["train_size"]
    assert tuning["balanced_accuracy"] == [] and tuning["balanced_accuracy_mean"] is None
    assert record["cpu_ratio"] == pytest.approx(tuning["samples_per_cpu_second"] / plain["samples_per_cpu_second"],
                                                rel=0.01)
    with pytest.raises(BenchmarkError, match="--tuning with --trials 2"):
        run_speed(SpeedOptions(dataset="keel-yeast3", device="cpu", trials=2, tuning=True))
    with pytest.raises(BenchmarkError, match="--tuning times tables and texts"):
        run_speed(SpeedOptions(dataset="synthetic-cifar-lt", device="cpu", epochs=1, tuning=True, loader=False))
