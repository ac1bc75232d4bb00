"""``python -m benchmark speed``: the project's deep engine against a plain ``DataLoader`` loop.

Both loops train the same backbone on the same long-tailed training split for the same number of
epochs with the same optimiser settings (Adam, the same learning rate), and both are scored on the
same test split. The plain loop is that of PyTorch's MNIST example (pytorch/examples,
``mnist/main.py``), with Adam: a ``Dataset`` that turns each uint8 image into a normalised float
tensor with torchvision's ``ToTensor`` and ``Normalize``, a ``DataLoader`` (batch 64, shuffled) and
a host-to-device copy per batch, in float32. The engine is
:class:`~benchmark.training.deep.DeepEngine` (data resident on the device, index batches, bf16
autocast and CUDA graphs on a GPU), or with ``--trials N`` the N trials stacked into one model by
:mod:`benchmark.training.stacked`.

images/s counts training images processed (epochs x training-set size) per second of the training
phase. The engine's time includes its per-epoch validation pass and CUDA-graph capture; the plain
loop's includes neither validation nor anything else, so the ratio errs against the engine.
Before either is timed, one untimed step on the device pays the one-off costs (CUDA context,
library handles) that neither loop should be charged.

``--dataset synthetic-cifar-lt`` needs no files: 32x32 RGB images of 10 classes, each a class
template under noise, with the CIFAR-10-LT profile (n_max=5,000, rho=100: 12,406 training images)
and a balanced test set of 1,000 per class; it measures ResNet-32 at CIFAR shapes where CIFAR
itself is absent. Measured figures, and the commands behind them: docs/performance.md.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from benchmark.datasets.base import DataPart, Split
from benchmark.errors import BenchmarkError
from benchmark.methods.base import Recipe
from benchmark.protocol import exponential_profile
from benchmark.training.base import TrainingConfig, resolve_device, seed_everything

SYNTHETIC_CIFAR = "synthetic-cifar-lt"
LOADER_BATCH_SIZE = 64  # PyTorch's MNIST example's batch size


@dataclass
class SpeedOptions:
    """The options of ``python -m benchmark speed``."""

    dataset: str = "fashion-mnist-lt"
    model: str | None = None  # None: the dataset's default backbone
    epochs: int = 10
    batch_size: int = 64  # the engine's
    loader_batch_size: int = LOADER_BATCH_SIZE
    trials: int = 1  # trials trained at once by the engine (stacked)
    device: str = "auto"
    precision: str = "auto"
    lr: float = 1e-3
    seed: int = 0
    data_root: str | None = None
    loader: bool = True  # also run the plain DataLoader loop
    loader_workers: int = 0
    cuda_graphs: bool = True

    def check(self) -> None:
        for name in ("epochs", "batch_size", "loader_batch_size", "trials"):
            if getattr(self, name) < 1:
                raise BenchmarkError(f"--{name.replace('_', '-')} {getattr(self, name)} is invalid", "use 1 or more")
        if self.loader_workers < 0:
            raise BenchmarkError(f"--loader-workers {self.loader_workers} is invalid", "use 0 or more")
        TrainingConfig(precision=self.precision)  # validates the precision name


@dataclass
class LoopResult:
    name: str
    batch_size: int
    trials: int
    seconds: float
    images: int  # training images processed, all trials together
    balanced_accuracy: list[float] = field(default_factory=list)  # one per trial

    @property
    def images_per_second(self) -> float:
        return self.images / self.seconds if self.seconds > 0 else float("nan")

    def record(self) -> dict[str, Any]:
        return {"loop": self.name, "batch_size": self.batch_size, "trials": self.trials,
                "seconds": round(self.seconds, 4), "images": self.images,
                "images_per_second": round(self.images_per_second, 1),
                "balanced_accuracy": [round(b, 4) for b in self.balanced_accuracy],
                "balanced_accuracy_mean": round(float(np.mean(self.balanced_accuracy)), 4)}


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

    @property
    def ratio(self) -> float | None:
        if len(self.loops) < 2:
            return None
        return self.loops[1].images_per_second / self.loops[0].images_per_second

    def record(self) -> dict[str, Any]:
        return {"dataset": self.dataset, "model": self.model, "epochs": self.epochs, "train_size": self.train_size,
                "device": self.device, "device_name": self.device_name, "precision": self.precision,
                "torch": torch.__version__, "loops": [loop.record() for loop in self.loops],
                "ratio": None if self.ratio is None else round(self.ratio, 3)}


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

    entry = dataset_registry.get(options.dataset)
    if entry.modality != "image":
        raise BenchmarkError(f"dataset '{options.dataset}' holds {entry.modality} data",
                             f"the speed command compares image loops: use an image dataset or {SYNTHETIC_CIFAR}")
    return entry.load(options.data_root), options.model or entry.default_model.get("deep", "small-cnn")


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
    t0 = time.perf_counter()
    model.train()
    for _ in range(options.epochs):
        for xb, yb in loader:
            xb, yb = xb.to(dev), yb.to(dev)
            optimizer.zero_grad()
            loss = loss_fn(model(xb), yb)
            loss.backward()
            optimizer.step()
    _sync(dev)
    seconds = time.perf_counter() - t0
    model.eval()
    test = ImageArrayDataset(split.test.X, split.test.y, transform)
    preds = []
    with torch.no_grad():
        for xb, _ in torch.utils.data.DataLoader(test, batch_size=1024):
            preds.append(model(xb.to(dev)).argmax(1).cpu().numpy())
    bacc = balanced_accuracy(split.test.y, np.concatenate(preds))
    return LoopResult(f"DataLoader loop (batch {options.loader_batch_size}, fp32)", options.loader_batch_size, 1,
                      seconds, options.epochs * len(y), [bacc])


# -- the engine ------------------------------------------------------------------------------------
def engine_loop(split: Split, model_name: str, options: SpeedOptions, dev: torch.device) -> LoopResult:
    """The project's deep engine (one trial) or ``--trials`` stacked trials."""
    from benchmark.training.deep import DeepEngine
    from benchmark.training.stacked import fit_stacked

    # cpu_threads: the threads the DataLoader loop had (a suite's trials run on the suite's fixed count)
    config = TrainingConfig(epochs=options.epochs, batch_size=options.batch_size, lr=options.lr, model=model_name,
                            precision=options.precision, cuda_graphs=options.cuda_graphs,
                            cpu_threads=torch.get_num_threads())
    if options.trials == 1:
        models = [DeepEngine().fit(split, Recipe(), config, seed=options.seed, device=str(dev))]
    else:
        seeds = [options.seed + m for m in range(options.trials)]
        models = fit_stacked(split, [Recipe() for _ in seeds], [config] * len(seeds), seeds, device=str(dev))
        failed = [m for m in models if isinstance(m, BaseException)]
        if failed:
            raise BenchmarkError(f"{len(failed)} of {len(models)} stacked trials failed: {failed[0]}",
                                 "lower --lr or --trials")
    seconds = models[0].timings["train_seconds"]
    baccs = [balanced_accuracy(split.test.y, m.predict_proba(split.test.X).argmax(1)) for m in models]
    kind = "engine" if options.trials == 1 else f"engine, {options.trials} stacked trials"
    precision = "bf16" if options.precision == "bf16" or (options.precision == "auto" and dev.type == "cuda") \
        else "fp32"
    graphs = ", CUDA graphs" if options.cuda_graphs and dev.type == "cuda" else ""
    return LoopResult(f"{kind} (batch {options.batch_size}, {precision}{graphs})", options.batch_size,
                      options.trials, seconds, options.trials * int(models[0].timings["train_samples"]),
                      baccs)


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
    """Train with both loops (the DataLoader loop first, unless ``options.loader`` is off) and report."""
    options.check()
    dev = torch.device(resolve_device(options.device))
    split, model_name = load_split(options)
    warm_up(dev)
    loops = []
    if options.loader:
        loops.append(dataloader_loop(split, model_name, options, dev))
    loops.append(engine_loop(split, model_name, options, dev))
    name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else f"CPU ({torch.get_num_threads()} threads)"
    return SpeedReport(split.dataset, model_name, options.epochs, len(split.train), str(dev), name,
                       options.precision, loops)


def format_report(report: SpeedReport) -> str:
    """The plain-text table the command prints."""
    lines = [f"speed: {report.dataset}, {report.model}, {report.epochs} epochs over {report.train_size:,} training "
             f"images, {report.device_name}, torch {torch.__version__}",
             f"{'loop':<52} {'seconds':>8} {'images/s':>11} {'balanced acc (test)':>20}"]
    for loop in report.loops:
        accs = loop.balanced_accuracy
        acc = f"{np.mean(accs):.4f}" + (f" (sd {np.std(accs):.4f})" if len(accs) > 1 else "")
        lines.append(f"{loop.name:<52} {loop.seconds:>8.2f} {loop.images_per_second:>11,.0f} {acc:>20}")
    if report.ratio is not None:
        lines.append(f"ratio (engine images/s / DataLoader images/s): {report.ratio:.2f}x")
    return "\n".join(lines)


__all__ = ["SpeedOptions", "SpeedReport", "format_report", "run_speed", "synthetic_cifar_lt"]
