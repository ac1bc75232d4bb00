"""``run``: check everything, then tune, re-run, store and report, saying what happens as it happens.

What is printed depends on --quiet/--verbose and on where stderr goes: a terminal gets live progress
bars; a file or pipe gets plain lines only, never cut or wrapped (a log keeps one line per event).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Column

from benchmark.cli.base import (
    Format,
    Verbosity,
    app,
    check_writable_folder,
    console,
    format_seconds,
    out,
    split_names,
    verbosity,
)
from benchmark.cli.entry import Interrupted, signal_of
from benchmark.errors import BenchmarkError
from benchmark.store.status import DATA_ERROR, DATA_UNAVAILABLE, FAILED, RESOURCE_UNAVAILABLE

# A run whose pairs ended in one of these did not produce every row it was asked for: exit status 1.
UNFINISHED = (str(FAILED), str(DATA_UNAVAILABLE), str(DATA_ERROR), str(RESOURCE_UNAVAILABLE))
PAIRS_FAILED = 1

if TYPE_CHECKING:  # for annotations only: the command line imports Optuna and torch when a run starts
    from benchmark.tuning.budget import Spent


@app.command()
def run(
    suite: str = typer.Option(..., "--suite", help="Suite to run: a registered name (see `list suites`) or a suite "
                                                   "file, my-suite.toml (README: Suite files)."),
    methods: str | None = typer.Option(None, help="Comma-separated methods; default: the suite's."),
    datasets: str | None = typer.Option(None, help="Comma-separated datasets; default: the suite's. A table or image "
                                                   "folder: file:data.csv?target=label, file:images/?size=28."),
    trials: int | None = typer.Option(None, help="Tuning trials per (dataset, method) pair; default: the suite's."),
    seeds: int | None = typer.Option(None, help="Seeds to re-run the best configuration with; default: the suite's."),
    timeout: float | None = typer.Option(None, help="Wall-clock seconds of tuning per pair (trials stop early)."),
    workers: str | None = typer.Option(None, help="Worker processes (local) or tuning tasks per pair (ray) sharing "
                                                 "each study, or auto: on CUDA (the default there) as many per GPU as "
                                                 "the packing policy chooses from a calibration, else 1. Local workers "
                                                 "are capped at one per CPU core and GiB of free memory."),
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
    stack_trials: int | None = typer.Option(None, help="Deep-engine trials and seed re-runs trained at once as one "
                                                       "stacked model; default: on a CPU 8 where each is exactly its "
                                                       "own fit (MLPs), else 1."),
    plan_only: bool = typer.Option(False, "--plan", help="Train nothing: print the pairs, fits, training samples "
                                                          "and an estimate of device-hours from a short calibration "
                                                          "on this device, less what the store holds."),
    skip_missing_data: bool = typer.Option(False, "--skip-missing-data",
                                           help="With downloads off (BENCHMARK_OFFLINE=1): run the datasets whose "
                                                "files are here and record the others data-unavailable, instead of "
                                                "stopping before any work."),
    format: Format | None = typer.Option(None, "--format", help="With --plan: table (default) or json."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Print only errors and the final summary."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Also print a line per trial and per seed."),
) -> None:
    """Tune every (dataset, method) pair, re-run the best over seeds, store, and write the report.

    Any number of `run` processes on any machines given the same PostgreSQL --storage share the work;
    an interrupted run resumes where it stopped when started again with the same options. Exit status 1
    when a pair of this run failed (the report is still written)."""
    level = verbosity(quiet, verbose)
    if format is not None and not plan_only:
        raise BenchmarkError(f"--format {format.value} was given without --plan", "add --plan, or drop --format")
    check_writable_folder(output, "--output")  # before the store is opened: a bad --output changes nothing
    from benchmark.run import RunOptions  # after the cheap checks: importing torch takes seconds

    try:
        # Everything that can be checked is checked before any work: the plan resolves the names, the
        # device, the data root and the store (readable and writable) once, and the run uses it as it is.
        plan = RunOptions(suite=suite, methods=split_names(methods), datasets=split_names(datasets, "--datasets"),
                          trials=trials, seeds=seeds, timeout=timeout, device_seconds=device_seconds,
                          device=device, storage=storage, data_root=data_root,
                          objective=objective, pruner=pruner, executor=executor, ray_address=ray_address,
                          gpu_fraction=gpu_fraction, stack_trials=stack_trials, workers=parse_workers(workers),
                          plan_only=plan_only, skip_missing_data=skip_missing_data).resolve()
        if plan_only:
            print_plan(plan, format or Format.table)
            return
        from benchmark.run.cost import fill_device

        plan = fill_device(plan)  # --workers auto on CUDA: calibrate, and say how many trials share a GPU
        if level >= Verbosity.normal:
            for note in getattr(plan, "notes", ()):
                console.print(f"[yellow]note:[/] {note}", markup=True)
        summary = run_with_display(plan, level)
    except KeyboardInterrupt as exc:  # typer would turn it into a bare 130; say how to resume instead
        raise Interrupted(signal_of(exc)) from None
    finish_run(plan, summary, level, output, data_root, storage)


def finish_run(plan: Any, summary: Any, level: Verbosity, output: str, data_root: str | None,
               storage: str | None) -> None:
    """After the run: its notes and one summary line, the report written, and exit status 1 when a pair
    of this run did not finish (a report that cannot be written says how to build it again)."""
    from benchmark.cli.stored import write_report

    store = plan.open_store()
    if level >= Verbosity.normal:
        for death in summary.worker_deaths:
            console.print(f"[yellow]note:[/] {death}", markup=True)
    done = ", ".join(f"{n} {s}" for s, n in sorted(summary.statuses.items())) or "nothing new"
    console.print(f"{summary.pairs} pairs: {summary.skipped} already complete; {done}; {summary.seconds:.1f} s")
    try:
        write_report(store, plan.suite.name, output, data_root, notes=level >= Verbosity.normal)
    except KeyboardInterrupt as exc:
        raise Interrupted(signal_of(exc)) from None
    except Exception as exc:  # the run's results are stored: say so, and how to build the report again
        rebuild = f"python -m benchmark report --suite {plan.suite.name} --output {output}" + (
            f" --storage {store.safe_url}" if storage else "") + (f" --data-root {data_root}" if data_root else "")
        raise BenchmarkError(f"the results are stored, but the report could not be written "
                             f"({type(exc).__name__}: {exc})", f"fix the cause, then run: {rebuild}") from exc
    failed = sum(n for s, n in summary.statuses.items() if s in UNFINISHED)
    if failed:
        console.print(f"{failed} pair(s) of this run did not finish (exit status {PAIRS_FAILED}); the report and "
                      f"`python -m benchmark results --suite {plan.suite.name}` give each one's reason")
        raise typer.Exit(PAIRS_FAILED)


def parse_workers(value: str | None) -> int | str | None:
    """--workers N, or auto; not given is None (auto on CUDA, 1 elsewhere)."""
    if value is None:
        return None
    text = value.strip().lower()
    if text == "auto":
        return "auto"
    if text.isdigit():
        return int(text)
    raise BenchmarkError(f"--workers {value} is invalid", "use 1 or more workers, or auto")


def print_plan(plan: Any, format: Format) -> None:
    """--plan: the run's pairs, fits, samples and device-hours on stdout (a table, or JSON)."""
    import json

    from benchmark.cli.plan_table import format_plan
    from benchmark.run.cost import plan_cost

    cost = plan_cost(plan)
    if format == Format.json:
        out.print(json.dumps(cost.record(), indent=2), markup=False, emoji=False)
    else:
        out.print(format_plan(cost), markup=False, emoji=False)


def progress_bars(live: bool, target: Any = None) -> Progress:
    """The run's bars: pairs, and the current pair's trials. Only the description column gives way (cut
    with an ellipsis) when the terminal is narrow: a long pair name never pushes out a bar's count,
    elapsed time or ETA (at 80 columns rich cut those first)."""
    fixed = {"table_column": Column(no_wrap=True)}
    return Progress(TextColumn("{task.description}", table_column=Column(ratio=1, no_wrap=True, overflow="ellipsis")),
                    BarColumn(bar_width=16), MofNCompleteColumn(**fixed), TimeElapsedColumn(**fixed),
                    TextColumn("{task.fields[eta]}", **fixed), console=target or console, transient=False,
                    disable=not live, expand=True)


def run_with_display(plan: Any, level: Verbosity) -> Any:
    """Run the plan with progress bars on a terminal, plain lines elsewhere, and lines per --verbose."""
    from benchmark.run import Progress as RunProgress
    from benchmark.run import RunTracker, run_suite

    tracker = RunTracker(plan.budget)
    live = console.is_terminal and level >= Verbosity.normal
    bars = progress_bars(live)
    with bars:
        pairs_task = bars.add_task("pairs", total=None, eta="")
        trial_task = bars.add_task("trials", total=None, visible=False, eta="")

        def show_eta() -> None:
            eta = tracker.eta_seconds()
            bars.update(pairs_task, eta=f"eta {format_seconds(eta)}" if eta is not None else "eta -")

        def on_trial(d: str, m: str, spent: Spent, best: float | None) -> None:
            tracker.trial(d, m, spent)
            best_text = f"{best:.3f}" if best is not None else "-"
            counts = f"{spent.complete} done, {spent.pruned} pruned, {spent.failed} failed, best {best_text}"
            bars.update(trial_task, visible=True, total=plan.budget.trials, completed=spent.finished,
                        description=f"  {d} x {m}: {counts}")
            if level >= Verbosity.verbose:
                console.print(f"  {d} x {m}: trial {spent.finished}/{plan.budget.trials}: {counts}")
            show_eta()

        def on_pair(d: str, m: str, status: str) -> None:
            tracker.pair(d, m, status)
            bars.update(pairs_task, completed=tracker.pairs_done)
            bars.update(trial_task, visible=False)
            if level >= Verbosity.normal and not status.startswith("skipped"):
                used = tracker.spent.get((d, m))
                budget = (f" ({used.trials} trials: {used.complete} complete, {used.pruned} pruned, "
                          f"{used.failed} failed; {used.epochs} epochs, {used.seconds:.1f} device-s)"
                          if used else "")
                console.print(f"  {d} x {m}: {status}{budget}")
            show_eta()

        def on_seed(d: str, m: str, seed: int, status: str) -> None:
            tracker.seed(d, m)
            bars.update(trial_task, description=f"  {d} x {m}: seed {seed} {status}")
            if level >= Verbosity.verbose:
                console.print(f"  {d} x {m}: seed {seed} {status}")
            show_eta()

        def on_start(total: int) -> None:
            tracker.start(total)
            bars.update(pairs_task, total=total)

        def on_wait(d: str, m: str, message: str) -> None:  # other workers' trials hold this one up
            if level >= Verbosity.normal:
                console.print(f"  {d} x {m}: {message}")

        return run_suite(plan, RunProgress(on_start=on_start, on_pair=on_pair, on_trial=on_trial, on_seed=on_seed,
                                           on_wait=on_wait))
