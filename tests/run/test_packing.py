"""Filling the device: the packing policy on made-up measurements, the calibration that feeds it (its
GPU memory part marked ``gpu``), and the staggered start of packed workers."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest

from benchmark.errors import BenchmarkError
from benchmark.run import RunOptions
from benchmark.run.calibration import (
    CALIBRATION_EPOCHS,
    CPU_STEPS,
    StepShape,
    Workload,
    aggregate_rates,
    calibrate,
    synthetic_split,
)
from benchmark.run.packing import (
    CUDA_CONTEXT,
    GIB,
    HEADROOM,
    MEMORY_SHARE,
    PackingInputs,
    choose_packing,
    measured_levels,
    memory_cap,
)
from benchmark.run.pool import staggered
from benchmark.training.base import TrainingConfig


def test_memory_and_cores_cap_the_processes_without_throughput_measurements():
    # a ResNet-32 trial of about 1 GiB on an H200's 139 GiB: memory allows 62, 16 cores allow 16
    packing = choose_packing(PackingInputs(trial_memory=GIB, free_memory=139 * GIB, cores=16))
    assert packing.memory_cap == math.floor(139 * MEMORY_SHARE / (HEADROOM + CUDA_CONTEXT / GIB)) == 62
    assert packing.per_device == 16 and packing.core_cap == 16
    assert "cores allow 16" in packing.reason and "throughput not measured" in packing.reason
    # a large trial: memory decides
    big = choose_packing(PackingInputs(trial_memory=30 * GIB, free_memory=80 * GIB, cores=16))
    assert big.per_device == 1 and big.memory_cap == 1
    # eight GPUs share the machine's cores; unknown memory leaves the cores to decide
    assert choose_packing(PackingInputs(GIB, 139 * GIB, cores=16, devices=8)).per_device == 2
    assert choose_packing(PackingInputs(None, None, cores=4)).per_device == 4


def test_throughput_stops_the_count_where_more_processes_stop_paying():
    aggregate = {1: 30_000.0, 2: 55_000.0, 4: 90_000.0, 8: 95_000.0, 16: 97_000.0}
    packing = choose_packing(PackingInputs(GIB, 139 * GIB, cores=16, aggregate=aggregate))
    assert packing.per_device == 4  # 8 at once gained 6%, under the 10% a level must bring
    assert "90,000 samples/s" in packing.reason and "3.00x one trial's 30,000" in packing.reason
    # every level pays: the largest measured within the caps
    linear = {1: 1.0, 2: 2.0, 4: 4.0, 8: 8.0, 16: 16.0}
    assert choose_packing(PackingInputs(GIB, 139 * GIB, cores=16, aggregate=linear)).per_device == 16
    # a level over the memory cap is never chosen, however fast it was
    tight = choose_packing(PackingInputs(20 * GIB, 139 * GIB, cores=16, aggregate=linear))
    assert tight.memory_cap == 4 and tight.per_device == 4
    # one process is the most a saturated device is given
    assert choose_packing(PackingInputs(GIB, 139 * GIB, cores=16, aggregate={1: 9.0, 2: 9.5})).per_device == 1


def test_bad_measurements_are_refused():
    with pytest.raises(BenchmarkError, match="core"):
        PackingInputs(GIB, GIB, cores=0)
    with pytest.raises(BenchmarkError, match="aggregate"):
        PackingInputs(GIB, GIB, cores=2, aggregate={0: 5.0})
    assert memory_cap(None, GIB) is None and memory_cap(GIB, None) is None
    assert memory_cap(100 * GIB, GIB) == 1  # one process always runs (and fails on its own if it must)


def test_measured_levels_double_up_to_the_cap():
    assert measured_levels(1) == [1]
    assert measured_levels(2) == [1, 2]
    assert measured_levels(12) == [1, 2, 4, 8, 12]
    assert measured_levels(64) == [1, 2, 4, 8, 16]  # MAX_MEASURED


def small_workload(batch: int = 16, rows: int = 200) -> Workload:
    return Workload(StepShape("small-cnn", (1, 8, 8), batch), 3, rows, rows // 4,
                    TrainingConfig(epochs=30, batch_size=batch, lr=1e-3, warmup_epochs=5))


def test_calibration_measures_the_engine_on_synthetic_tensors():
    workload = small_workload()
    split = synthetic_split(workload, "cpu")
    rows = CPU_STEPS * 16  # CPU_STEPS steps of 16 an epoch
    assert split.train.X.shape == (rows, 1, 8, 8) and split.train.X.dtype.name == "uint8"
    assert len(split.val) == rows // 4  # the real split's proportion (50 of 200)
    result = calibrate(workload, "cpu")
    assert result.samples_per_second > 0 and result.seconds > 0
    assert result.steps == CPU_STEPS * (CALIBRATION_EPOCHS - 1)  # the epochs after the first are timed
    assert result.overhead_seconds >= 0 and result.peak_allocated is None  # no device memory on a CPU
    assert result.fit_seconds(1000) == pytest.approx(result.overhead_seconds + 1000 / result.samples_per_second)
    features = Workload(StepShape("mlp", (12,), 32, "features"), 2, 500, 100, TrainingConfig(batch_size=32))
    assert calibrate(features, "cpu").samples_per_second > 0


@pytest.mark.slow  # two spawned processes import torch: about 10 s on 2 cores
def test_aggregate_rates_runs_k_processes_at_once():
    rates = aggregate_rates(small_workload(batch=8, rows=64), "cpu", [1, 2], timeout=120)
    assert set(rates) == {1, 2} and all(r > 0 for r in rates.values())


@pytest.mark.gpu
def test_calibration_reports_the_trials_peak_device_memory():
    import torch

    small, large = small_workload(batch=64, rows=4096), small_workload(batch=1024, rows=4096)
    first, second = calibrate(small, "cuda"), calibrate(large, "cuda")
    data = 4096 * small.shape.row_bytes
    assert first.peak_allocated is not None and first.peak_allocated >= data * 0.5
    assert first.peak_reserved >= first.peak_allocated
    assert second.peak_allocated > first.peak_allocated  # a larger batch holds more activations
    assert second.peak_reserved <= torch.cuda.get_device_properties(0).total_memory


@pytest.mark.gpu
def test_plan_on_cuda_packs_from_measurements(tmp_path):
    from benchmark.run.cost import plan_cost

    plan = RunOptions(suite="smoke", datasets=["digits-lt"], methods=["baseline"], device="cuda", workers="auto",
                      storage=f"sqlite:///{tmp_path / 's.db'}", plan_only=True).resolve()
    assert plan.options.workers == "auto"
    cost = plan_cost(plan)
    assert cost.packing is not None and cost.packing.per_device >= 1
    assert all(c.peak_reserved for c in cost.calibrations.values())
    assert 1 in cost.aggregate or cost.packing.core_cap == 1


def test_packed_workers_start_at_different_pairs(tmp_path):
    plan = RunOptions(suite="smoke", storage=f"sqlite:///{tmp_path / 's.db'}").resolve()
    orders = [staggered(plan, i, 3).methods for i in range(3)]
    assert orders[0] == plan.methods  # the run's own worker keeps the order
    assert len({order[0] for order in orders}) == 3  # each starts elsewhere
    assert all(sorted(order) == sorted(plan.methods) for order in orders)  # and visits every pair
    assert staggered(plan, 1, 1) is plan and staggered(replace(plan, methods=["baseline"]), 1, 2).methods == ["baseline"]
