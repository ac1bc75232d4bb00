"""Calibration: a few measured training steps of each distinct (model, input shape, batch size) on this
device, on synthetic tensors of the right shape, so the cost of a run is known before it starts.

What is measured is the deep engine itself (:class:`~benchmark.training.deep.DeepEngine`, the loop
``python -m benchmark speed`` times against the plain ``DataLoader`` loop): the suite's training
settings (optimiser, precision, CUDA graphs, channels-last) on a baseline recipe, with a validation
part in the real split's proportion, so a measured epoch costs what a real epoch costs per training
sample. The first epoch pays the one-off costs of a fit (building the model, capturing CUDA graphs,
the first optimiser step) and is timed apart as the per-fit overhead; the later epochs give samples/s.
On CUDA the fit is as large as the real split (up to :data:`CUDA_STEPS` steps per epoch) and also
gives the trial's peak memory (``torch.cuda.max_memory_allocated`` and ``..._reserved``), what the
packing policy (:mod:`benchmark.run.packing`) divides the device by. On a CPU it is
:data:`CPU_STEPS` steps per epoch, calibrated once unmeasured and then repeated within a time bound, the
median kept (:func:`calibrate_stable`); a fit on one thread is timed by that thread's CPU time, which is what
a quiet core would take (other jobs on a shared machine stretch wall time, not CPU time: with them, a
wall-timed calibration once planned 96 device-hours for a 2.5-hour run). What a fit pays besides its steps
(Optuna, scores, the store) and what stacked fits train per second: :mod:`benchmark.run.pilot`.
:data:`GPU_REFERENCE` holds the performance note's H100 figures for a GPU suite planned elsewhere.

:func:`aggregate_rates` measures the other half of packing on CUDA: the summed samples/s of k trial
processes sharing one device, each running the same calibration at once.
"""

from __future__ import annotations

import math
import multiprocessing
import os
import queue
import time
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from benchmark.datasets.base import DataPart, Split
from benchmark.errors import BenchmarkError
from benchmark.training.base import TrainingConfig

CALIBRATION_EPOCHS = 3  # epoch 0 pays a fit's one-off costs; epochs 1.. are timed
CPU_STEPS = 8  # steps per epoch on a CPU: 2 left the estimate at the mercy of one slow step (issue 26)
# On a CPU a shape is calibrated once unmeasured (its warm-up), then again until REPEATS are done and they
# timed MIN_SECONDS, within SHAPE_SECONDS (ResNet-32: about 0.5 s a step); the median is kept.
CPU_REPEATS, CPU_MIN_SECONDS, CPU_SHAPE_SECONDS = 3, 1.0, 8.0
CUDA_STEPS = 100  # steps per epoch on CUDA at most: the real split's size for the vision sets
CONCURRENCY_TIMEOUT = 600.0  # seconds a concurrency measurement may take before it is abandoned


@dataclass(frozen=True)
class StepShape:
    """What one training step costs depends on: the backbone, one input's shape, the batch size and
    whether inputs are uint8 images or float feature rows (text and tables, after featurisation)."""

    model: str
    input_shape: tuple[int, ...]
    batch_size: int
    kind: str = "image"  # "image" (uint8 pixels), "features" (float32 rows) or "tfidf" (TF-IDF of texts)

    @property
    def label(self) -> str:
        return f"{self.model} {'x'.join(map(str, self.input_shape))} b{self.batch_size}"

    @property
    def row_bytes(self) -> int:
        """Device bytes of one resident training row (inputs and label)."""
        return math.prod(self.input_shape) * (1 if self.kind == "image" else 4) + 8


@dataclass(frozen=True)
class Workload:
    """One calibration: a step shape and the dataset sizes and settings it stands for."""

    shape: StepShape
    num_classes: int
    train_rows: int
    val_rows: int
    config: TrainingConfig


@dataclass
class Calibration:
    """What a calibration measured on one device."""

    shape: StepShape
    device: str
    samples_per_second: float  # training samples per second, validation in the real proportion included
    overhead_seconds: float  # a fit's one-off costs: the first epoch's time beyond a steady epoch's
    steps: int  # timed steps
    seconds: float  # timed seconds
    peak_allocated: int | None = None  # CUDA: bytes, the real split's resident data included
    peak_reserved: int | None = None  # CUDA: bytes the caching allocator held (what a neighbour cannot use)
    repeats: int = 1  # calibrations whose median this is (the warm-up one not counted)

    def fit_seconds(self, samples: int) -> float:
        """Device-seconds of one fit that trains ``samples`` training samples."""
        return self.overhead_seconds + samples / self.samples_per_second

    def record(self) -> dict[str, Any]:
        return {"shape": self.shape.label, "model": self.shape.model, "input_shape": list(self.shape.input_shape),
                "batch_size": self.shape.batch_size, "device": self.device,
                "samples_per_second": round(self.samples_per_second, 1),
                "overhead_seconds": round(self.overhead_seconds, 3), "timed_steps": self.steps,
                "timed_seconds": round(self.seconds, 3), "repeats": self.repeats,
                "peak_allocated": self.peak_allocated, "peak_reserved": self.peak_reserved}


def calibration_config(config: TrainingConfig) -> TrainingConfig:
    """The suite's settings for a calibration fit: its epochs, and a warm-up that fits in them (a
    warm-up is kept, so the engine makes the same choice about CUDA graphs as in the real run)."""
    return replace(config, epochs=CALIBRATION_EPOCHS, warmup_epochs=min(config.warmup_epochs, 1))


def synthetic_split(workload: Workload, device: str, seed: int = 0) -> Split:
    """Random inputs of the workload's shape, classes in turn: a step costs the same whatever the pixels.
    The validation part keeps the real split's proportion to the training part."""
    shape = workload.shape
    per_epoch = math.ceil(workload.train_rows / shape.batch_size)
    steps = CPU_STEPS if device == "cpu" else min(per_epoch, CUDA_STEPS)
    train = max(steps * shape.batch_size, workload.num_classes)
    if train % shape.batch_size == 1:  # a trailing batch of one is not drawn (training.epochs)
        train += 1
    val = max(workload.num_classes, round(train * workload.val_rows / max(workload.train_rows, 1)))
    rng = np.random.default_rng(seed)

    def part(n: int) -> DataPart:
        if shape.kind == "image":
            X = rng.integers(0, 256, size=(n, *shape.input_shape), dtype=np.uint8)
        elif shape.kind == "tfidf":
            X = synthetic_texts(rng, n, shape.input_shape[0])
        else:
            X = rng.standard_normal(size=(n, *shape.input_shape), dtype=np.float32)
        return DataPart(X, np.arange(n, dtype=np.int64) % workload.num_classes)

    modality = {"image": "image", "tfidf": "text"}.get(shape.kind, "tabular")
    classes = [f"class-{c}" for c in range(workload.num_classes)]
    return Split("calibration", modality, classes, part(train), part(val), part(workload.num_classes),
                 info={"synthetic": True})


def synthetic_texts(rng: np.random.Generator, n: int, terms: int, words: int = 12) -> np.ndarray:
    """``n`` texts of ``words`` words drawn from a Zipf-like vocabulary of ``terms`` words: their TF-IDF rows
    (unigrams and bigrams, ``terms`` kept) hold about 20 non-zeros, as SMS spam's 16.5 of 5,000."""
    ranks = np.arange(1, terms + 1, dtype=np.float64)
    p = 1 / ranks
    ids = rng.choice(terms, size=(n, words), p=p / p.sum())
    return np.array([" ".join(f"w{i}" for i in row) for row in ids], dtype=object)


def fit_clock(device: str, config: TrainingConfig):
    """The clock a timed fit reads: on a CPU with one thread, that thread's CPU time (what a quiet core takes;
    other jobs stretch wall time, not CPU time); elsewhere wall time."""
    return time.thread_time if str(device) == "cpu" and config.cpu_threads == 1 else time.perf_counter


def calibrate(workload: Workload, device: str) -> Calibration:
    """Train the workload's shape for :data:`CALIBRATION_EPOCHS` epochs on synthetic data and time it."""
    import torch

    from benchmark.methods.base import Recipe
    from benchmark.training.deep import DeepEngine

    split = synthetic_split(workload, device)
    config = replace(calibration_config(workload.config), model=workload.shape.model)
    dev = torch.device(device)
    cuda = dev.type == "cuda"
    if cuda:
        torch.cuda.synchronize(dev)
        torch.cuda.reset_peak_memory_stats(dev)
    marks: list[float] = []
    clock = fit_clock(device, config)
    start = clock()
    # on_epoch gets the validation probabilities on the host: every mark follows a device sync
    model = DeepEngine().fit(split, Recipe(), config, seed=0, device=device,
                             on_epoch=lambda epoch, proba: marks.append(clock()))
    if len(marks) != CALIBRATION_EPOCHS:
        raise BenchmarkError(f"calibrating {workload.shape.label} trained {len(marks)} epochs, not "
                             f"{CALIBRATION_EPOCHS}", "check the suite's training settings")
    samples_per_epoch = int(model.timings["epoch_samples"])
    timed = marks[-1] - marks[0]
    steady = timed / (CALIBRATION_EPOCHS - 1)
    steps = int(model.timings["train_steps"]) * (CALIBRATION_EPOCHS - 1) // CALIBRATION_EPOCHS
    calibration = Calibration(workload.shape, device, samples_per_epoch * (CALIBRATION_EPOCHS - 1) / timed,
                              max(0.0, (marks[0] - start) - steady), steps, timed)
    if cuda:
        # the real split's resident data, where the calibration's was smaller
        missing = max(0, workload.train_rows + workload.val_rows - len(split.train) - len(split.val))
        extra = missing * workload.shape.row_bytes
        calibration.peak_allocated = int(torch.cuda.max_memory_allocated(dev)) + extra
        calibration.peak_reserved = int(torch.cuda.max_memory_reserved(dev)) + extra
    del model
    return calibration


def calibrate_stable(workload: Workload, device: str) -> Calibration:
    """On CUDA one calibration (100 steps an epoch); on a CPU the median of repeated ones after an unmeasured
    warm-up, time-bounded (:data:`CPU_REPEATS`): 4 steps once gave estimates that followed the load of the
    moment (issue 26)."""
    if device != "cpu":
        return calibrate(workload, device)
    started = time.perf_counter()
    calibrate(workload, device)  # warm-up: this shape's first allocations and kernel choices, discarded
    runs: list[Calibration] = []
    while (len(runs) < CPU_REPEATS or sum(c.seconds for c in runs) < CPU_MIN_SECONDS) and (
            not runs or time.perf_counter() - started < CPU_SHAPE_SECONDS) and len(runs) < 2 * CPU_REPEATS + 1:
        runs.append(calibrate(workload, device))
    middle = sorted(runs, key=lambda c: c.samples_per_second)[len(runs) // 2]
    return replace(middle, overhead_seconds=float(np.median([c.overhead_seconds for c in runs])), repeats=len(runs),
                   steps=sum(c.steps for c in runs), seconds=sum(c.seconds for c in runs))


# -- GPU figures for suites meant for a GPU, planned elsewhere ----------------------------------------
# Steady-state training samples/s of one trial on one H100 (docs/performance.md, 'CUDA graphs', H100-b):
# the engine with bf16 and CUDA graphs, validation not included. A plan on a CPU of a GPU suite gives its
# estimate from these beside the CPU's; on a GPU the calibration measures instead.
GPU_REFERENCE = {"small-cnn": (176_000, "H100-b, small CNN at batch 64"),
                 "resnet32": (34_700, "H100-b, ResNet-32 at batch 128")}


def warm_up(device: str) -> None:
    """Pay a process's one-off costs (CUDA context, library handles, torch's first optimiser import) before
    any calibration is timed, as ``python -m benchmark speed`` does before either loop."""
    import torch

    dev = torch.device(device)
    model = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.Flatten(), torch.nn.Linear(4 * 6 * 6, 2)).to(dev)
    optimizer = torch.optim.AdamW(model.parameters())
    model(torch.zeros(2, 1, 8, 8, device=dev)).sum().backward()
    optimizer.step()
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)


def calibrate_all(workloads: Iterable[Workload], device: str) -> dict[StepShape, Calibration]:
    """One calibration per distinct step shape (the first workload of each shape stands for the rest)."""
    chosen: dict[StepShape, Workload] = {}
    for w in workloads:
        chosen.setdefault(w.shape, w)
    if not chosen:
        return {}
    warm_up(device)
    measured = {shape: calibrate_stable(w, device) for shape, w in chosen.items()}
    if device.startswith("cuda"):
        import torch

        torch.cuda.empty_cache()  # the run's own worker starts on this device next: give the memory back
    return measured


def device_memory(device: str) -> tuple[int, int] | None:
    """(free, total) bytes of a CUDA device now; None for a CPU."""
    if not device.startswith("cuda"):
        return None
    import torch

    free, total = torch.cuda.mem_get_info(torch.device(device))
    return int(free), int(total)


def device_name(device: str) -> str:
    import torch

    if device.startswith("cuda"):
        return torch.cuda.get_device_name(torch.device(device))
    threads = torch.get_num_threads()
    return f"CPU ({threads} thread{'s' if threads != 1 else ''})"


# -- k trials at once --------------------------------------------------------------------------------
def aggregate_rates(workload: Workload, device: str, ks: list[int],
                    timeout: float = CONCURRENCY_TIMEOUT) -> dict[int, float]:
    """Summed samples/s of k processes calibrating ``workload`` at once on ``device``, for each k of ``ks``.

    ``max(ks)`` processes start once (spawned, as the worker pool's); in round k the first k of them
    start together at a barrier and each measures the workload as :func:`calibrate` does. A round in
    which a process fails (out of memory, for one) ends the measurement: the rounds before it are
    returned. Each process gets its share of the CPU cores for torch's threads outside
    the fits (a fit runs on its suite's ``cpu_threads``, as in a worker)."""
    ks = sorted(set(ks))
    if not ks or ks[0] < 1:
        raise BenchmarkError(f"concurrency levels {ks} are invalid", "measure 1 or more processes at once")
    size = ks[-1]
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(size)
    results = ctx.Queue()
    threads = max(1, (os.cpu_count() or 1) // size)
    procs = [ctx.Process(target=_concurrent_main, args=(i, workload, device, ks, barrier, results, threads, timeout),
                         name=f"benchmark-calibration-{i}", daemon=True) for i in range(size)]
    for p in procs:
        p.start()
    rates: dict[int, list[float]] = {k: [] for k in ks}
    failed: dict[int, str] = {}
    deadline = time.monotonic() + timeout
    expected = sum(ks)
    received = 0
    try:
        while received < expected and time.monotonic() < deadline:
            try:
                k, rate, error = results.get(timeout=1.0)
            except queue.Empty:
                if not any(p.is_alive() for p in procs):
                    break
                continue
            received += 1
            if error is not None:
                failed.setdefault(k, error)
            else:
                rates[k].append(rate)
    finally:
        for p in procs:
            p.join(timeout=5)
            if p.is_alive():
                p.kill()
                p.join(timeout=5)
    out: dict[int, float] = {}
    for k in ks:
        if k in failed or len(rates[k]) != k:
            break
        out[k] = float(sum(rates[k]))
    return out


def _concurrent_main(index: int, workload: Workload, device: str, ks: list[int], barrier: Any, results: Any,
                     threads: int, timeout: float) -> None:
    """One process of :func:`aggregate_rates`: warm up, then take part in every round it belongs to."""
    import threading

    import torch

    torch.set_num_threads(threads)
    broken = False
    try:
        warm_up(device)
    except Exception:  # noqa: BLE001 - reported in the first round this process belongs to
        broken = True
    for k in ks:
        try:
            barrier.wait(timeout=timeout)  # every process starts round k together
        except threading.BrokenBarrierError:
            return
        if index >= k:
            continue
        try:
            if broken:
                raise BenchmarkError("the process could not start on the device", "see the calibration's device")
            rate, error = calibrate(workload, device).samples_per_second, None
        except Exception as exc:  # noqa: BLE001 - a failed round ends the measurement, with its reason
            rate, error = 0.0, f"{type(exc).__name__}: {str(exc)[:200]}"
        results.put((k, rate, error))
        if device.startswith("cuda"):
            torch.cuda.empty_cache()  # the next round's processes find the memory free


__all__ = ["GPU_REFERENCE", "Calibration", "StepShape", "Workload", "aggregate_rates", "calibrate",
           "calibrate_all", "calibrate_stable", "device_memory", "device_name",
           "fit_clock", "synthetic_split"]
