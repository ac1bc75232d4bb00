"""``speed``: the engine against a plain PyTorch loop on the same model, data and epochs."""

from __future__ import annotations

import json
import sys

import typer

from benchmark.cli.base import Format, app, out


@app.command()
def speed(
    dataset: str = typer.Option("fashion-mnist-lt", help="Any registered dataset (image, tabular or text), or "
                                "synthetic-cifar-lt (CIFAR-shaped, no files)."),
    model: str | None = typer.Option(None, help="Backbone; default: the dataset's (resnet32 for synthetic-cifar-lt)."),
    epochs: int | None = typer.Option(None, help="Epochs, the same for both loops; default 10 for images, 30 for "
                                      "tables (tabular-cpu), 20 for texts (text)."),
    batch_size: int = typer.Option(64, help="The engine's batch size (the plain loop keeps --loader-batch-size)."),
    loader_batch_size: int = typer.Option(64, help="The plain loop's batch size (PyTorch's MNIST example uses 64)."),
    trials: int = typer.Option(1, help="Trials the engine trains at once on the device (stacked with torch.func)."),
    device: str = typer.Option("auto", help="auto, cpu or cuda."),
    precision: str = typer.Option("auto", help="The engine's: auto (bf16 on CUDA), bf16 or fp32."),
    lr: float = typer.Option(1e-3, help="Adam learning rate of both loops."),
    seed: int = typer.Option(0, help="Seed of both loops (and of the first stacked trial)."),
    data_root: str | None = typer.Option(None, help="Folder holding the datasets; default $BENCHMARK_DATA or the user cache."),
    loader: bool = typer.Option(True, "--loader/--no-loader", help="Also run the plain loop (a DataLoader loop for "
                                "images, a randperm loop over one tensor for tables and texts)."),
    loader_workers: int = typer.Option(0, help="DataLoader worker processes."),
    cuda_graphs: bool = typer.Option(True, "--cuda-graphs/--no-cuda-graphs", help="The engine replays CUDA graphs on a GPU."),
    repeats: int = typer.Option(1, help="Rounds of (plain loop, engine), alternating; each figure counts all rounds."),
    threads: int | None = typer.Option(None, help="torch threads of both loops; default 1 for tables and texts (as "
                                       "the CPU suites' trials), torch's default for images."),
    tuning: bool = typer.Option(False, "--tuning", help="Time the engine inside a real tuning study (tables and "
                                "texts: the baseline's trials with the budget and tuning of tabular-cpu or text, the "
                                "run's stacking, pruner, trial loop and SQLite store) instead of alone."),
    format: Format = typer.Option(Format.table, "--format", help="table or json."),
) -> None:
    """Train one model on one imbalanced split with a plain PyTorch loop and with the engine; print
    samples/s of each, their ratio, and each one's balanced accuracy on the test split."""
    from benchmark.speed import SpeedOptions, format_report, run_speed

    report = run_speed(SpeedOptions(dataset=dataset, model=model, epochs=epochs, batch_size=batch_size,
                                    loader_batch_size=loader_batch_size, trials=trials, device=device,
                                    precision=precision, lr=lr, seed=seed, data_root=data_root, loader=loader,
                                    loader_workers=loader_workers, cuda_graphs=cuda_graphs, repeats=repeats,
                                    threads=threads, tuning=tuning))
    if format == Format.json:
        sys.stdout.write(json.dumps(report.record(), indent=2) + "\n")
    else:
        out.print(format_report(report), highlight=False)
