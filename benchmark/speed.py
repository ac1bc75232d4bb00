"""``python -m benchmark speed``: the project's deep engine against a plain PyTorch loop.

Both loops train the same backbone on the same long-tailed training split for the same number of
epochs with the same optimiser settings (Adam, the same learning rate), and both are scored on the
same test split. The plain loop of an image dataset is that of PyTorch's MNIST example
(pytorch/examples, ``mnist/main.py``), with Adam: a ``Dataset`` that turns each uint8 image into a
normalised float tensor with torchvision's ``ToTensor`` and ``Normalize``, a ``DataLoader`` (batch 64,
shuffled) and a host-to-device copy per batch, in float32. The plain loop of a tabular or text dataset
is what one writes for data that fits in memory: the engine's features (standardised columns,
TF-IDF) as one float tensor, a ``torch.randperm`` per epoch sliced into batches of 64, Adam and
cross-entropy in float32. The engine is :class:`~benchmark.training.deep.DeepEngine` (data resident
on the device, index batches, bf16 autocast and CUDA graphs on a GPU), or with ``--trials N`` the N
trials stacked into one model by :mod:`benchmark.training.stacked`.

samples/s counts training samples processed (epochs x training-set size) per second of the training
phase. The engine's time includes its per-epoch validation pass and CUDA-graph capture; the plain
loop's includes neither validation nor anything else, so the ratio errs against the engine.
Before either is timed, one untimed step on the device pays the one-off costs (CUDA context,
library handles) that neither loop should be charged. ``--repeats R`` trains both loops R times,
alternating, and counts all their samples over all their seconds: on a shared machine both then
see the same load, and the ratio is taken in one run. On the CPU the command also gives the ratio by
CPU time (each loop's process CPU seconds over the same phase), which other jobs on a shared machine
disturb far less than the wall clock. Both loops run on ``--threads`` torch threads
(default: 1 for tables and texts, as the CPU suites' trials; torch's own default for images).

``--tuning`` (tables and texts) times the engine inside a real tuning study instead (:func:`tuning_loop`):
samples/s then counts every trial's samples over the whole study's time, what the tuner pays included.

``--dataset synthetic-cifar-lt`` needs no files: 32x32 RGB images of 10 classes, each a class
template under noise, with the CIFAR-10-LT profile (n_max=5,000, rho=100: 12,406 training images)
and a balanced test set of 1,000 per class; it measures ResNet-32 at CIFAR shapes where CIFAR
itself is absent. Measured figures, and the commands behind them: docs/performance.md.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import torch

from benchmark.datasets.base import DataPart, Split
from benchmark.errors import BenchmarkError
from benchmark.methods.base import Recipe
from benchmark.protocol import exponential_profile
from benchmark.training.base import TrainingConfig, model_input, resolve_device, seed_everything

SYNTHETIC_CIFAR = "synthetic-cifar-lt"
LOADER_BATCH_SIZE = 64  # PyTorch's MNIST example's batch size
# Epochs when --epochs is not given: the image default of the command, the tabular-cpu and text suites' epochs.
DEFAULT_EPOCHS = {"image": 10, "tabular": 30, "text": 20}


@dataclass
class SpeedOptions:
    """The options of ``python -m benchmark speed``."""

    dataset: str = "fashion-mnist-lt"
    model: str | None = None  # None: the dataset's default backbone
    epochs: int | None = None  # None: DEFAULT_EPOCHS of the dataset's modality
    batch_size: int = 64  # the engine's
    loader_batch_size: int = LOADER_BATCH_SIZE
    trials: int = 1  # trials trained at once by the engine (stacked)
    device: str = "auto"
    precision: str = "auto"
    lr: float = 1e-3
    seed: int = 0
    data_root: str | None = None
    loader: bool = True  # also run the plain loop
    loader_workers: int = 0
    cuda_graphs: bool = True
    repeats: int = 1  # rounds of (plain loop, engine), alternating
    threads: int | None = None  # torch threads of both loops; None: 1 for tables and texts, torch's default for images
    tuning: bool = False  # the engine inside a real tuning study (tuning_loop) instead of alone

    def check(self) -> None:
        for name in ("epochs", "batch_size", "loader_batch_size", "trials", "repeats", "threads"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise BenchmarkError(f"--{name.replace('_', '-')} {value} is invalid", "use 1 or more")
        if self.loader_workers < 0:
            raise BenchmarkError(f"--loader-workers {self.loader_workers} is invalid", "use 0 or more")
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise BenchmarkError(f"--lr {self.lr} is invalid", "use a positive learning rate such as 1e-3")
        if self.seed < 0:
            raise BenchmarkError(f"--seed {self.seed} is invalid", "use 0 or more")
        if self.tuning and self.trials != 1:
            raise BenchmarkError(f"--tuning with --trials {self.trials}: a tuning study stacks its trials as a run does",
                                 "leave --trials out with --tuning")
        TrainingConfig(precision=self.precision)  # validates the precision name


@dataclass
class LoopResult:
    name: str
    batch_size: int
    trials: int
    seconds: float
    samples: int  # training samples processed, all trials together
    balanced_accuracy: list[float] = field(default_factory=list)  # one per trial
    rounds: int = 1
    cpu_seconds: float | None = None  # the process's CPU time over the same phase (None: not measured)

    @property
    def samples_per_second(self) -> float:
        return self.samples / self.seconds if self.seconds > 0 else float("nan")

    @property
    def samples_per_cpu_second(self) -> float | None:
        return self.samples / self.cpu_seconds if self.cpu_seconds else None

    def record(self) -> dict[str, Any]:
        per_cpu = self.samples_per_cpu_second
        return {"loop": self.name, "batch_size": self.batch_size, "trials": self.trials, "rounds": self.rounds,
                "seconds": round(self.seconds, 4), "samples": self.samples,
                "samples_per_second": round(self.samples_per_second, 1),
                "cpu_seconds": None if self.cpu_seconds is None else round(self.cpu_seconds, 4),
                "samples_per_cpu_second": None if per_cpu is None else round(per_cpu, 1),
                "balanced_accuracy": [round(b, 4) for b in self.balanced_accuracy],
                "balanced_accuracy_mean": round(float(np.mean(self.balanced_accuracy)), 4) if self.balanced_accuracy
                else None}


def merged(rounds: list[LoopResult]) -> LoopResult:
    """The rounds of one loop as one figure: all their samples over all their seconds (a seeded loop
    scores alike in every round; the last round's accuracies are kept)."""
    last = rounds[-1]
    cpu = None if any(r.cpu_seconds is None for r in rounds) else sum(r.cpu_seconds for r in rounds)
    return replace(last, seconds=sum(r.seconds for r in rounds), samples=sum(r.samples for r in rounds),
                   rounds=len(rounds), cpu_seconds=cpu)


@dataclass
class SpeedReport:
    dataset: str
    model: str
    epochs: int
    train_size: int
    device: str
    device_name: str
    precision: str
    loops: list[LoopResult]
    modality: str = "image"

    @property
    def ratio(self) -> float | None:
        if len(self.loops) < 2:
            return None
        return self.loops[1].samples_per_second / self.loops[0].samples_per_second

    @property
    def cpu_ratio(self) -> float | None:
        """The ratio by CPU time, on the CPU: what other jobs on a shared machine disturb least."""
        per_cpu = [loop.samples_per_cpu_second for loop in self.loops]
        if len(per_cpu) < 2 or self.device != "cpu" or None in per_cpu:
            return None
        return per_cpu[1] / per_cpu[0]

    def record(self) -> dict[str, Any]:
        return {"dataset": self.dataset, "modality": self.modality, "model": self.model, "epochs": self.epochs,
                "train_size": self.train_size, "device": self.device, "device_name": self.device_name,
                "precision": self.precision,
                "torch": torch.__version__, "loops": [loop.record() for loop in self.loops],
                "ratio": None if self.ratio is None else round(self.ratio, 3),
                "cpu_ratio": None if self.cpu_ratio is None else round(self.cpu_ratio, 3)}


# -- data ------------------------------------------------------------------------------------------
def synthetic_cifar_lt(seed: int = 0, n_max: int = 5000, rho: float = 100, test_per_class: int = 1000,
                       val_per_class: int = 20) -> Split:
    """CIFAR-shaped long-tailed data without CIFAR files: 10 classes of 3x32x32 uint8 images, each a
    smooth class template (4x4 colour noise, upsampled) plus per-image shift and pixel noise."""
    rng = np.random.default_rng(seed)
    num_classes = 10
    templates = rng.normal(size=(num_classes, 3, 4, 4)).repeat(8, axis=2).repeat(8, axis=3)

    def draw(counts: list[int]) -> DataPart:
        y = np.repeat(np.arange(num_classes), counts)
        x = 128 + 35 * templates[y] + 12 * rng.normal(size=(len(y), 3, 1, 1)) + 45 * rng.normal(size=(len(y), 3, 32, 32))
        return DataPart(np.clip(np.rint(x), 0, 255).astype(np.uint8), y.astype(np.int64))

    train = draw(exponential_profile(n_max, num_classes, rho))
    return Split(SYNTHETIC_CIFAR, "image", [f"class-{c}" for c in range(num_classes)], train,
                 draw([val_per_class] * num_classes), draw([test_per_class] * num_classes),
                 info={"synthetic": True, "rho": rho, "n_max": n_max})


def load_split(options: SpeedOptions) -> tuple[Split, str]:
    """The split to time on, and the backbone (the option, else the dataset's default)."""
    if options.dataset == SYNTHETIC_CIFAR:
        return synthetic_cifar_lt(options.seed), options.model or "resnet32"
    from benchmark.datasets import dataset_registry
    from benchmark.training.deep import DEFAULT_MODELS

    entry = dataset_registry.get(options.dataset)
    model = options.model or entry.default_model.get("deep", DEFAULT_MODELS.get(entry.modality, "mlp"))
    return entry.load(options.data_root), model


def resolved(options: SpeedOptions, modality: str) -> SpeedOptions:
    """The options with the dataset's defaults filled in (epochs, threads)."""
    epochs = options.epochs or DEFAULT_EPOCHS[modality]
    threads = options.threads or (torch.get_num_threads() if modality == "image" else 1)
    return replace(options, epochs=epochs, threads=threads)


def balanced_accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    from sklearn.metrics import balanced_accuracy_score

    return float(balanced_accuracy_score(y_true, y_pred))


# -- the plain loop --------------------------------------------------------------------------------
class ImageArrayDataset(torch.utils.data.Dataset):
    """Per-sample access to uint8 (N, C, H, W) images through a torchvision transform, as a
    ``torchvision.datasets`` dataset would give them."""

    def __init__(self, X: np.ndarray, y: np.ndarray, transform: Any):
        self.X, self.y, self.transform = X, y, transform

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i: int):
        return self.transform(self.X[i].transpose(1, 2, 0)), int(self.y[i])


def dataloader_loop(split: Split, model_name: str, options: SpeedOptions, dev: torch.device) -> LoopResult:
    """PyTorch's MNIST-example loop: DataLoader, per-batch host-to-device copy, float32; here with Adam."""
    from torchvision import transforms

    from benchmark.models.base import build_model
    from benchmark.training.features import ImageFeatures

    seed_everything(options.seed)
    X, y = split.train.X, split.train.y
    mean = (X.mean(axis=(0, 2, 3)) / 255).tolist()
    std = (X.std(axis=(0, 2, 3)) / 255).tolist()
    transform = transforms.Compose([transforms.ToTensor(), transforms.Normalize(mean, std)])
    loader = torch.utils.data.DataLoader(ImageArrayDataset(X, y, transform), batch_size=options.loader_batch_size,
                                         shuffle=True, num_workers=options.loader_workers)
    model = build_model(model_name, ImageFeatures().fit(X).spec, split.num_classes).to(dev)
    optimizer = torch.optim.Adam(model.parameters(), lr=options.lr)
    loss_fn = torch.nn.CrossEntropyLoss()
    _sync(dev)
    t0, cpu0 = time.perf_counter(), time.process_time()
    model.train()
    for _ in range(options.epochs):
        for xb, yb in loader:
            xb, yb = xb.to(dev), yb.to(dev)
            optimizer.zero_grad()
            loss = loss_fn(model(xb), yb)
            loss.backward()
            optimizer.step()
    _sync(dev)
    seconds, cpu_seconds = time.perf_counter() - t0, time.process_time() - cpu0
    model.eval()
    test = ImageArrayDataset(split.test.X, split.test.y, transform)
    preds = []
    with torch.no_grad():
        for xb, _ in torch.utils.data.DataLoader(test, batch_size=1024):
            preds.append(model(xb.to(dev)).argmax(1).cpu().numpy())
    bacc = balanced_accuracy(split.test.y, np.concatenate(preds))
    return LoopResult(f"DataLoader loop (batch {options.loader_batch_size}, fp32)", options.loader_batch_size, 1,
                      seconds, options.epochs * len(y), [bacc], cpu_seconds=cpu_seconds)


def randperm_loop(split: Split, model_name: str, options: SpeedOptions, dev: torch.device) -> LoopResult:
    """The plain loop for tables and texts: the engine's features as one tensor on the device, a
    ``torch.randperm`` per epoch sliced into batches, Adam, cross-entropy, float32."""
    from benchmark.models.base import build_model
    from benchmark.training.features import make_featurizer

    seed_everything(options.seed)
    featurizer = make_featurizer(split.modality, engine_config(options, model_name), split.feature_kinds)
    featurizer.fit(split.train.X)
    X = model_input(featurizer.transform(split.train.X), dev)
    y = torch.as_tensor(split.train.y, dtype=torch.long).to(dev)
    model = build_model(model_name, featurizer.spec, split.num_classes).to(dev)
    optimizer = torch.optim.Adam(model.parameters(), lr=options.lr)
    n, bs = len(y), options.loader_batch_size
    _sync(dev)
    t0, cpu0 = time.perf_counter(), time.process_time()
    model.train()
    for _ in range(options.epochs):
        order = torch.randperm(n, device=dev)
        for start in range(0, n, bs):
            idx = order[start : start + bs]
            optimizer.zero_grad()
            loss = torch.nn.functional.cross_entropy(model(X[idx]), y[idx])
            loss.backward()
            optimizer.step()
    _sync(dev)
    seconds, cpu_seconds = time.perf_counter() - t0, time.process_time() - cpu0
    model.eval()
    with torch.no_grad():
        logits = model(model_input(featurizer.transform(split.test.X), dev))
    bacc = balanced_accuracy(split.test.y, logits.argmax(1).cpu().numpy())
    return LoopResult(f"plain loop (randperm, Adam, batch {bs}, fp32)", bs, 1, seconds, options.epochs * n, [bacc],
                      cpu_seconds=cpu_seconds)


# -- the engine ------------------------------------------------------------------------------------
def engine_loop(split: Split, model_name: str, options: SpeedOptions, dev: torch.device) -> LoopResult:
    """The project's deep engine (one trial) or ``--trials`` stacked trials."""
    from benchmark.training.deep import DeepEngine
    from benchmark.training.stacked import fit_stacked

    config = engine_config(options, model_name)
    if options.trials == 1:
        models = [DeepEngine().fit(split, Recipe(), config, seed=options.seed, device=str(dev))]
    else:
        seeds = [options.seed + m for m in range(options.trials)]
        models = fit_stacked(split, [Recipe() for _ in seeds], [config] * len(seeds), seeds, device=str(dev))
        failed = [m for m in models if isinstance(m, BaseException)]
        if failed:
            raise BenchmarkError(f"{len(failed)} of {len(models)} stacked trials failed: {failed[0]}",
                                 "lower --lr or --trials")
    seconds, cpu_seconds = models[0].timings["train_seconds"], models[0].timings.get("train_cpu_seconds")
    baccs = [balanced_accuracy(split.test.y, m.predict_proba(split.test.X).argmax(1)) for m in models]
    kind = "engine" if options.trials == 1 else f"engine, {options.trials} stacked trials"
    precision = "bf16" if options.precision == "bf16" or (options.precision == "auto" and dev.type == "cuda") \
        else "fp32"
    graphs = ", CUDA graphs" if options.cuda_graphs and dev.type == "cuda" else ""
    return LoopResult(f"{kind} (batch {options.batch_size}, {precision}{graphs})", options.batch_size,
                      options.trials, seconds, options.trials * int(models[0].timings["train_samples"]),
                      baccs, cpu_seconds=cpu_seconds)


TUNING_SUITES = {"tabular": "tabular-cpu", "text": "text"}  # the suite whose budget, tuning and width --tuning takes


def tuning_loop(split: Split, model_name: str, options: SpeedOptions, dev: torch.device) -> LoopResult:
    """The engine inside a real tuning study, as a run tunes a pair: the baseline method with the
    training settings of the plain loop, the budget, tuned parameters and tuning width of the modality's
    CPU suite (``TUNING_SUITES``), the run's stacking, pruner and trial loop, on a fresh SQLite store with
    the run's heartbeats. Its time is the whole study's (asking, sampling, per-epoch reports and pruning,
    storing each trial), its samples those every trial trained (pruned ones stop early). No model is kept,
    and tuning never reads the test split: no balanced accuracy."""
    import tempfile

    from benchmark.methods import method_registry
    from benchmark.protocol import Budget
    from benchmark.run.plan import RunOptions, resolve_stacking
    from benchmark.store.studies import optuna_storage
    from benchmark.suites import suite_registry
    from benchmark.training.stacked_mlp import sparse_rows
    from benchmark.tuning.job import PairJob
    from benchmark.tuning.trials import run_trials

    if split.modality not in TUNING_SUITES:
        raise BenchmarkError(f"--tuning times tables and texts; {split.dataset} is {split.modality} data",
                             f"use a dataset of {' or '.join(TUNING_SUITES)} data with --tuning")
    suite = suite_registry.get(TUNING_SUITES[split.modality])
    stack, exact_only = resolve_stacking(None, dev.type)
    job = PairJob(suite="speed", dataset=split.dataset, method=method_registry.get("baseline"), split=split,
                  engine="deep", config=engine_config(options, model_name), budget=Budget(suite.budget.trials, 1),
                  tune=suite.tune, device=str(dev), sampler_seed=options.seed, stack=stack,
                  stack_exact_only=exact_only, width=suite.tuning_width)
    with tempfile.TemporaryDirectory() as folder:
        storage = optuna_storage(f"sqlite:///{folder}/speed.db", RunOptions.heartbeat)
        t0, cpu0 = time.perf_counter(), time.process_time()
        trials = run_trials(job, storage).get_trials(deepcopy=False)
        seconds, cpu_seconds = time.perf_counter() - t0, time.process_time() - cpu0
        storage.engine.dispose()
    samples = sum(int(t.user_attrs.get("samples") or 0) for t in trials)
    group = min(stack, suite.tuning_width)
    if exact_only and sparse_rows(split, [Recipe()], [job.config], dev):
        group = 1  # trials on sparse TF-IDF rows train one by one under the run's stacking (fit_many)
    return LoopResult(f"tuning: {len(trials)} trials ({suite.name}, {group} stacked)",
                      options.batch_size, len(trials), seconds, samples, [], cpu_seconds=cpu_seconds)


def engine_config(options: SpeedOptions, model_name: str) -> TrainingConfig:
    """The engine's settings: the options' epochs, batch, rate and precision; TF-IDF of 5,000 terms as the
    text suite's; cpu_threads the threads the plain loop has (``--threads``)."""
    assert options.epochs is not None and options.threads is not None, "resolved() fills them"
    return TrainingConfig(epochs=options.epochs, batch_size=options.batch_size, lr=options.lr, model=model_name,
                          precision=options.precision, cuda_graphs=options.cuda_graphs, cpu_threads=options.threads)


def _sync(dev: torch.device) -> None:
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)


def warm_up(dev: torch.device) -> None:
    """One untimed conv/linear step: CUDA context, cuBLAS and cuDNN handles are paid here, not by a loop."""
    model = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.Flatten(), torch.nn.Linear(4 * 6 * 6, 2)).to(dev)
    torch.optim.Adam(model.parameters())  # the first optimiser of a process imports torch._dynamo (seconds)
    model(torch.zeros(2, 1, 8, 8, device=dev)).sum().backward()
    _sync(dev)


def run_speed(options: SpeedOptions) -> SpeedReport:
    """Train with both loops, ``options.repeats`` times alternating (the plain loop first, unless
    ``options.loader`` is off), and report each loop's samples over its seconds."""
    options.check()
    dev = torch.device(resolve_device(options.device))
    split, model_name = load_split(options)
    options = resolved(options, split.modality)
    plain = dataloader_loop if split.modality == "image" else randperm_loop
    threads = torch.get_num_threads()
    torch.set_num_threads(options.threads)
    try:
        warm_up(dev)
        rounds: list[list[LoopResult]] = [[], []]
        for _ in range(options.repeats):
            if options.loader:
                rounds[0].append(plain(split, model_name, options, dev))
            rounds[1].append((tuning_loop if options.tuning else engine_loop)(split, model_name, options, dev))
        name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else f"CPU ({torch.get_num_threads()} threads)"
    finally:
        torch.set_num_threads(threads)
    return SpeedReport(split.dataset, model_name, options.epochs, len(split.train), str(dev), name,
                       options.precision, [merged(r) for r in rounds if r], split.modality)


def format_report(report: SpeedReport) -> str:
    """The plain-text table the command prints."""
    unit = "images" if report.modality == "image" else "samples"
    rounds = report.loops[-1].rounds
    lines = [f"speed: {report.dataset}, {report.model}, {report.epochs} epochs over {report.train_size:,} training "
             f"{unit}, {report.device_name}, torch {torch.__version__}"
             + (f", {rounds} alternating rounds" if rounds > 1 else ""),
             f"{'loop':<52} {'seconds':>8} {unit + '/s':>11} {'balanced acc (test)':>20}"]
    for loop in report.loops:
        accs = loop.balanced_accuracy
        acc = "-" if not accs else f"{np.mean(accs):.4f}" + (f" (sd {np.std(accs):.4f})" if len(accs) > 1 else "")
        lines.append(f"{loop.name:<52} {loop.seconds:>8.2f} {loop.samples_per_second:>11,.0f} {acc:>20}")
    if report.ratio is not None:
        plain = "DataLoader" if report.modality == "image" else "plain loop"
        lines.append(f"ratio (engine {unit}/s / {plain} {unit}/s): {report.ratio:.2f}x")
    if report.cpu_ratio is not None:
        lines.append(f"ratio by CPU time (less disturbed by other jobs): {report.cpu_ratio:.2f}x")
    return "\n".join(lines)


__all__ = ["SpeedOptions", "SpeedReport", "format_report", "run_speed", "synthetic_cifar_lt"]
