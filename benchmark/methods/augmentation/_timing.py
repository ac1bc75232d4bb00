"""Time the ``augment`` hook of every augmentation and mixing row on one batch: milliseconds per call.

    python -m benchmark.methods.augmentation._timing [--device cpu] [--batch 128] [--shape 3,32,32]

Each row is built from its registered method with its default parameters (``apply_to='all'``, p=0.5
for the transform rows, and the same rows with ``apply_to='minority'``), on a batch whose labels
follow the CIFAR-10-LT profile (rho = 100, tail = the three smallest classes). A row is called a few
times untimed, then ``--repeats`` times; the figures are the median and the fastest time of one call
(on CUDA, with a synchronisation after each; on a shared machine the fastest is the steadier one).
``graph-safe`` says whether the row's component allows CUDA-graph capture.
docs/performance.md ('Graph-safe augmentation and mixing') holds the figures and what they were
compared with.
"""

from __future__ import annotations

import argparse
import statistics
import time
from types import SimpleNamespace

import torch

from benchmark.methods import method_registry
from benchmark.methods.base import MethodContext
from benchmark.protocol import exponential_profile

FAMILIES = ("augmentation", "mixing", "embedding-mixing")
EMBEDDING_DIM = 64  # the width of the penultimate features the embedding-mixing rows mix on images


def long_tail_labels(batch: int, classes: int, seed: int) -> tuple[torch.Tensor, tuple[int, ...]]:
    counts = exponential_profile(5000, classes, 100.0)
    weights = torch.tensor(counts, dtype=torch.float64)
    gen = torch.Generator().manual_seed(seed)
    return torch.multinomial(weights, batch, replacement=True, generator=gen), tuple(int(c) for c in counts)


def components(ctx: MethodContext):
    """(label, augment component) for every row of :data:`FAMILIES` on images."""
    for name, method in method_registry.items():
        if method.family not in FAMILIES or "image" not in method.modalities or "deep" not in method.engines:
            continue
        settings = [("", {})] if method.family != "augmentation" else [("", {"apply_to": "all"}),
                                                                      (" (minority)", {"apply_to": "minority"})]
        for suffix, params in settings:
            recipe = method.build(params, ctx)
            augment = recipe.augment or next((s.augment for s in recipe.stages or [] if s.augment), None)
            if augment is not None:
                yield name + suffix, augment


def time_call(call, repeats: int, device: torch.device) -> tuple[float, float]:
    """(median, fastest) milliseconds of one ``call()``."""
    for _ in range(3):
        call()
    times = []
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        t0 = time.perf_counter()
        call()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1000, min(times) * 1000


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--shape", default="3,32,32", help="C,H,W of the images")
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--rows", default="", help="comma-separated row names (default: every row)")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    parser.add_argument("--masked", action="store_true",
                        help="transform rows on their GPU path on any device (the whole batch, torch.where)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    shape = tuple(int(v) for v in args.shape.split(","))
    y, counts = long_tail_labels(args.batch, args.classes, seed=0)
    minority = tuple(sorted(range(args.classes), key=lambda c: counts[c])[:3])
    ctx = MethodContext("image", "deep", args.classes, counts, minority, epochs=10, seed=0)
    gen = torch.Generator(device=device).manual_seed(0)
    y = y.to(device)
    # what the hooks read of the engine's TrainState (the training stage comes later: not imported here)
    state = SimpleNamespace(y=y, class_counts=torch.tensor(counts, device=device), num_classes=args.classes,
                            generator=gen, device=device, epoch=0, stage="main")
    images = torch.rand(args.batch, *shape, generator=torch.Generator().manual_seed(1)).to(device)
    features = torch.randn(args.batch, EMBEDDING_DIM, generator=torch.Generator().manual_seed(2)).to(device)
    wanted = {r for r in args.rows.split(",") if r}
    print(f"{'row':36s} {'median ms':>9s} {'min ms':>9s}  graph-safe   (batch {args.batch} x {shape}, {device}, "
          f"{torch.get_num_threads()} threads)")
    for label, augment in components(ctx):
        if wanted and label.split(" ")[0] not in wanted:
            continue
        if args.masked and hasattr(augment, "masked"):
            augment.masked = True
        x = features if "embedding" in label else images
        median, fastest = time_call(lambda a=augment, x=x: a.augment(x, y, state), args.repeats, device)
        print(f"{label:36s} {median:9.3f} {fastest:9.3f}  {bool(getattr(augment, 'graph_safe', False))}")


if __name__ == "__main__":
    main()
