"""The command line: ``python -m benchmark run|list|show|report|results``.

Every command checks its input before any work; a bad name, path, URL or number ends with one
line naming the problem and the fix, and exit status 2. Ctrl-C ends a run with status 130; running
the same command again resumes it.
"""

from __future__ import annotations

import csv
import io
import json
import sys
from enum import Enum
from typing import Any

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from benchmark.errors import BenchmarkError

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Benchmark suite and leaderboard generator for class-imbalance and long-tail learning.")
console = Console(stderr=True)
out = Console(soft_wrap=True)


class Format(str, Enum):
    table = "table"
    json = "json"


class ResultFormat(str, Enum):
    csv = "csv"
    json = "json"


class Kind(str, Enum):
    methods = "methods"
    datasets = "datasets"
    suites = "suites"


class ShowKind(str, Enum):
    method = "method"
    dataset = "dataset"
    suite = "suite"


def format_seconds(seconds: float) -> str:
    """'1:02:03' / '4:05': hours only when needed."""
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def split_names(value: str | None) -> list[str] | None:
    if value is None:
        return None
    names = [v.strip() for v in value.split(",") if v.strip()]
    if not names:
        raise BenchmarkError(f"the name list {value!r} is empty", "give comma-separated names, e.g. smote,baseline")
    return names


@app.command()
def run(
    suite: str = typer.Option(..., "--suite", help="Suite to run (see `list suites`)."),
    methods: str | None = typer.Option(None, help="Comma-separated methods; default: the suite's."),
    datasets: str | None = typer.Option(None, help="Comma-separated datasets; default: the suite's."),
    trials: int | None = typer.Option(None, help="Tuning trials per (dataset, method) pair; default: the suite's."),
    seeds: int | None = typer.Option(None, help="Seeds to re-run the best configuration with; default: the suite's."),
    timeout: float | None = typer.Option(None, help="Wall-clock seconds of tuning per pair (trials stop early)."),
    workers: int = typer.Option(1, help="Worker processes (local) or tuning tasks per pair (ray) sharing each study."),
    device: str = typer.Option("auto", help="auto, cpu or cuda."),
    storage: str | None = typer.Option(None, help="SQLAlchemy URL of the results store; default sqlite:///results/benchmark.db."),
    data_root: str | None = typer.Option(None, help="Folder holding the datasets; default $BENCHMARK_DATA or the user cache."),
    output: str = typer.Option("reports", help="Folder the HTML report is written to (<output>/<suite>/)."),
    objective: str | None = typer.Option(None, help="Validation metric tuning maximises; default the suite's (minority_f1)."),
    pruner: str | None = typer.Option(None, help="hyperband, successive-halving, median or none; default the suite's."),
    device_seconds: float | None = typer.Option(None, help="Cap on the summed seconds of a pair's trials (all workers)."),
    executor: str = typer.Option("local", help="local (worker processes here) or ray (tasks on a Ray cluster)."),
    ray_address: str | None = typer.Option(None, help="Ray cluster to join (e.g. ray://head:10001); default: a local Ray."),
    gpu_fraction: float | None = typer.Option(None, help="Share of one GPU per trial; default 1/(workers per GPU)."),
    stack_trials: int = typer.Option(1, help="Deep-engine trials trained at once as one stacked model (GPU)."),
) -> None:
    """Tune every (dataset, method) pair, re-run the best over seeds, store, and write the report.

    Any number of `run` processes on any machines given the same PostgreSQL --storage share the work;
    an interrupted run resumes where it stopped when started again with the same options."""
    from benchmark.run import Progress as RunProgress
    from benchmark.run import RunOptions, RunTracker, run_suite

    # Everything that can be checked is checked before the progress display starts: the plan resolves
    # the names, the device, the data root and the store once, and the run uses it as it is.
    plan = RunOptions(suite=suite, methods=split_names(methods), datasets=split_names(datasets), trials=trials,
                      seeds=seeds, timeout=timeout, device_seconds=device_seconds, workers=workers, device=device,
                      storage=storage, data_root=data_root, objective=objective, pruner=pruner, executor=executor,
                      ray_address=ray_address, gpu_fraction=gpu_fraction, stack_trials=stack_trials).resolve()
    store = plan.open_store()
    tracker = RunTracker(plan.budget)
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  TextColumn("{task.fields[eta]}"), console=console, transient=False) as bars:
        pairs_task = bars.add_task("pairs", total=None, eta="")
        trial_task = bars.add_task("trials", total=None, visible=False, eta="")

        def show_eta() -> None:
            eta = tracker.eta_seconds()
            bars.update(pairs_task, eta=f"eta {format_seconds(eta)}" if eta is not None else "eta -")

        def on_trial(d: str, m: str, spent: dict[str, Any], best: float | None) -> None:
            tracker.trial(d, m, spent)
            best_text = f"{best:.3f}" if best is not None else "-"
            bars.update(trial_task, visible=True, total=plan.budget.trials, completed=spent["trials"] - spent["running"],
                        description=f"  {d} x {m}: {spent['complete']} done, {spent['pruned']} pruned, "
                                    f"{spent['failed']} failed, best {best_text}")
            show_eta()

        def on_pair(d: str, m: str, status: str) -> None:
            tracker.pair(d, m, status)
            bars.update(pairs_task, completed=tracker.pairs_done)
            bars.update(trial_task, visible=False)
            if not status.startswith("skipped"):
                used = tracker.spent.get((d, m))
                budget = (f" ({used['trials']} trials: {used['complete']} complete, {used['pruned']} pruned, "
                          f"{used['failed']} failed; {used['epochs']} epochs, {used['seconds']:.1f} device-s)"
                          if used else "")
                console.print(f"  {d} x {m}: {status}{budget}")
            show_eta()

        def on_seed(d: str, m: str, seed: int, status: str) -> None:
            tracker.seed(d, m)
            bars.update(trial_task, description=f"  {d} x {m}: seed {seed} {status}")
            show_eta()

        def on_start(total: int) -> None:
            tracker.start(total)
            bars.update(pairs_task, total=total)

        summary = run_suite(plan, RunProgress(on_start=on_start, on_pair=on_pair, on_trial=on_trial,
                                              on_seed=on_seed))
    for death in summary.worker_deaths:
        console.print(f"[yellow]note:[/] {death}", highlight=False)
    done = ", ".join(f"{n} {s}" for s, n in sorted(summary.statuses.items())) or "nothing new"
    console.print(f"{summary.pairs} pairs: {summary.skipped} already complete; {done}; {summary.seconds:.1f} s")
    try:
        write_report(store, plan.suite.name, output, data_root)
    except Exception as exc:  # the run's results are stored: say so, and how to build the report again
        rebuild = f"python -m benchmark report --suite {plan.suite.name} --output {output}" + (
            f" --storage {store.safe_url}" if storage else "") + (f" --data-root {data_root}" if data_root else "")
        raise BenchmarkError(f"the results are stored, but the report could not be written "
                             f"({type(exc).__name__}: {exc})", f"fix the cause, then run: {rebuild}") from exc


@app.command("list")
def list_(
    kind: Kind = typer.Argument(..., help="methods, datasets or suites."),
    pattern: str | None = typer.Argument(None, help="Shell-style filter on names, e.g. 'keel-*'."),
    format: Format = typer.Option(Format.table, "--format", help="table or json."),
) -> None:
    """List what the registries hold."""
    records = list_records(kind.value, pattern)
    if format == Format.json:
        sys.stdout.write(json.dumps(records, indent=2) + "\n")
        return
    table = Table(box=None)
    columns = list(records[0]) if records else ["name"]
    for col in columns:
        table.add_column(col, no_wrap=col == "name", overflow="fold")
    for rec in records:
        table.add_row(*[", ".join(v) if isinstance(v, list) else str(v) for v in rec.values()])
    out.print(table)


def list_records(kind: str, pattern: str | None) -> list[dict[str, Any]]:
    if kind == "methods":
        from benchmark.methods import method_registry

        return [{"name": n, "family": m.family, "modalities": list(m.modalities), "engines": list(m.engines),
                 "summary": m.summary, "paper": m.paper_key or ""} for n, m in method_registry.items(pattern)]
    if kind == "datasets":
        from benchmark.datasets import dataset_registry

        return [{"name": n, "modality": d.modality, "num_classes": d.num_classes, "source": d.source}
                for n, d in dataset_registry.items(pattern)]
    from benchmark.suites import suite_registry

    return [{"name": n, "datasets": len(s.datasets), "methods": len(s.methods) if s.methods else "all",
             "trials": s.budget.trials, "seeds": s.budget.seeds, "description": s.description}
            for n, s in suite_registry.items(pattern)]


@app.command()
def show(
    kind: ShowKind = typer.Argument(..., help="method, dataset or suite."),
    name: str = typer.Argument(..., help="Its registered name."),
    format: Format = typer.Option(Format.table, "--format", help="table or json."),
    data_root: str | None = typer.Option(None, help="Datasets: folder holding the data (to count classes)."),
    split_seed: int = typer.Option(0, help="Datasets: the split seed."),
) -> None:
    """Show one entry's card; for a dataset, with the class counts of its train, val and test splits."""
    if kind == ShowKind.method:
        from benchmark.methods import method_registry

        card = method_registry.get(name).card()
    elif kind == ShowKind.suite:
        from benchmark.suites import suite_registry

        card = suite_registry.get(name).card()
    else:
        from benchmark.datasets import dataset_registry
        from benchmark.errors import DataUnavailableError

        entry = dataset_registry.get(name)
        card = entry.card()
        try:
            split = entry.load(data_root, split_seed)
        except DataUnavailableError as exc:  # the card still says where the data comes from
            card["split"] = f"unavailable: {exc}"
            console.print(f"[yellow]note:[/] {exc}", highlight=False, soft_wrap=True)
        else:
            card.update(split.summary())
    if format == Format.json:
        sys.stdout.write(json.dumps(card, indent=2, default=str) + "\n")
        return
    table = Table(box=None, show_header=False)
    table.add_column(style="bold")
    table.add_column()
    for key, value in card.items():
        table.add_row(key, value if isinstance(value, str) else json.dumps(value, default=str))
    out.print(table)


@app.command()
def report(
    suite: str | None = typer.Option(None, help="Suite to report; default every suite in the store."),
    storage: str | None = typer.Option(None, help="SQLAlchemy URL of the results store."),
    output: str = typer.Option("reports", help="Folder to write <suite>/index.html into."),
    data_root: str | None = typer.Option(None, help="Folder holding the datasets: dataset cards then show class "
                                                    "counts the store lacks (the split's fingerprint is checked)."),
) -> None:
    """Rebuild HTML reports from stored results, without re-running anything.

    A damaged or incomplete store still gives a report that says what is missing; the exit status is
    non-zero only when the store holds nothing for the suite."""
    from benchmark.store import Store

    store = Store(storage)
    suites = [suite] if suite else store.suites()
    if not suites:
        raise BenchmarkError(f"the store {store.safe_url} holds no results", "run a suite first, or pass --storage")
    for name in suites:
        write_report(store, name, output, data_root)


def write_report(store, suite: str, output: str, data_root: str | None) -> None:
    """Build one suite's report and say where it is, what it could not show, and its results hash."""
    from benchmark.report import build_report

    built = build_report(store, suite, output, data_root=data_root)
    for problem in built.problems:
        console.print(f"[yellow]note:[/] {problem}", highlight=False, soft_wrap=True)
    console.print(f"report: {built.index} (results hash sha256:{built.results_hash[:12]})")


@app.command()
def results(
    suite: str | None = typer.Option(None, help="Only this suite."),
    storage: str | None = typer.Option(None, help="SQLAlchemy URL of the results store."),
    format: ResultFormat = typer.Option(ResultFormat.json, "--format", help="csv or json."),
) -> None:
    """Print stored results: one row per (suite, dataset, method, seed); pairs without seed rows
    (not applicable, data unavailable, failed tuning) as one row with seed null."""
    from benchmark.report.records import records_json, result_records
    from benchmark.store import Store

    rows = result_records(Store(storage), suite)
    if format == ResultFormat.json:
        sys.stdout.write(records_json(rows))
        return
    metric_names = sorted({k for r in rows for k in r["metrics"]})
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["suite", "dataset", "method", "seed", "status", "reason", *metric_names, "params"])
    for r in rows:
        writer.writerow([r["suite"], r["dataset"], r["method"], r["seed"], r["status"], r["reason"] or "",
                         *[r["metrics"].get(k, "") for k in metric_names], json.dumps(r["params"])])
    sys.stdout.write(buffer.getvalue())


@app.command()
def speed(
    dataset: str = typer.Option("fashion-mnist-lt", help="Image dataset, or synthetic-cifar-lt (CIFAR-shaped, no files)."),
    model: str | None = typer.Option(None, help="Backbone; default: the dataset's (resnet32 for synthetic-cifar-lt)."),
    epochs: int = typer.Option(10, help="Epochs, the same for both loops."),
    batch_size: int = typer.Option(64, help="The engine's batch size (the DataLoader loop keeps --loader-batch-size)."),
    loader_batch_size: int = typer.Option(64, help="The DataLoader loop's batch size (PyTorch's MNIST example uses 64)."),
    trials: int = typer.Option(1, help="Trials the engine trains at once on the device (stacked with torch.func)."),
    device: str = typer.Option("auto", help="auto, cpu or cuda."),
    precision: str = typer.Option("auto", help="The engine's: auto (bf16 on CUDA), bf16 or fp32."),
    lr: float = typer.Option(1e-3, help="Adam learning rate of both loops."),
    seed: int = typer.Option(0, help="Seed of both loops (and of the first stacked trial)."),
    data_root: str | None = typer.Option(None, help="Folder holding the datasets; default $BENCHMARK_DATA or the user cache."),
    loader: bool = typer.Option(True, "--loader/--no-loader", help="Also run the plain DataLoader loop."),
    loader_workers: int = typer.Option(0, help="DataLoader worker processes."),
    cuda_graphs: bool = typer.Option(True, "--cuda-graphs/--no-cuda-graphs", help="The engine replays CUDA graphs on a GPU."),
    format: Format = typer.Option(Format.table, "--format", help="table or json."),
) -> None:
    """Train one model on one long-tailed split with a plain DataLoader loop and with the engine; print
    images/s of each, their ratio, and each one's balanced accuracy on the test split."""
    from benchmark.speed import SpeedOptions, format_report, run_speed

    report = run_speed(SpeedOptions(dataset=dataset, model=model, epochs=epochs, batch_size=batch_size,
                                    loader_batch_size=loader_batch_size, trials=trials, device=device,
                                    precision=precision, lr=lr, seed=seed, data_root=data_root, loader=loader,
                                    loader_workers=loader_workers, cuda_graphs=cuda_graphs))
    if format == Format.json:
        sys.stdout.write(json.dumps(report.record(), indent=2) + "\n")
    else:
        out.print(format_report(report), highlight=False)


def main() -> None:
    try:
        app(standalone_mode=False)
    except BenchmarkError as exc:
        console.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
        sys.exit(2)
    except KeyboardInterrupt:
        console.print("interrupted: every finished result is stored; run the same command again to resume")
        sys.exit(130)
    except Exception as exc:  # typer/click usage errors
        import click

        if isinstance(exc, click.exceptions.Exit):
            sys.exit(exc.exit_code)
        if isinstance(exc, click.ClickException):
            exc.show()
            sys.exit(exc.exit_code)
        if isinstance(exc, click.exceptions.Abort):
            console.print("interrupted: every finished result is stored; run the same command again to resume")
            sys.exit(130)
        raise
