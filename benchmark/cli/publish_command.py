"""``publish`` and ``verify``: a finished suite as a citable bundle, and the check that re-runs part of one.

``report`` and ``results`` read a bundle like a store: ``--storage DIR`` (or ``bundle:DIR``; several
bundles side by side: ``--storage A,B``), through :func:`benchmark.cli.stored.open_existing_store`.
"""

from __future__ import annotations

from pathlib import Path

import typer

from benchmark.cli.base import app, check_writable_folder, console, out
from benchmark.errors import BenchmarkError


@app.command()
def publish(
    folder: str = typer.Argument(..., metavar="DIR", help="Folder to write the bundle into (new, empty, or an "
                                                         "earlier bundle, which is replaced)."),
    suite: str = typer.Option(..., help="Suite to publish (as stored)."),
    storage: str | None = typer.Option(None, help="SQLAlchemy URL of the results store."),
    data_root: str | None = typer.Option(None, help="Folder holding the datasets (their files' SHA-256 go into "
                                                    "the bundle); default $BENCHMARK_DATA."),
    command: str | None = typer.Option(None, help="The exact command that produced the results; default the run "
                                                  "command the stored budget implies."),
    version: str | None = typer.Option(None, help="The bundle's version; default the date (YYYY.MM.DD)."),
) -> None:
    """Write a versioned, self-contained bundle of a suite's stored results: every seed row and its test
    predictions, the suite and its digest, the command, the environment's lock, data file hashes, the
    hardware, the scores and results hashes, the HTML report, CITATION.cff and BibTeX."""
    from benchmark.cli.stored import check_stored_suite, open_existing_store
    from benchmark.publish import publish_bundle

    for name, value in (("DIR", folder), ("--command", command), ("--version", version)):
        if value is not None and not value.strip():
            raise BenchmarkError(f"{name} is empty", f"give a value for {name}, or leave the option out")
    check_writable_folder(str(Path(folder).parent) if Path(folder).parent != Path("") else ".", "DIR")
    store = open_existing_store(storage)
    check_stored_suite(store, suite)
    done = publish_bundle(store, suite, folder, command=command, data_root=data_root, version=version,
                          progress=lambda step: console.print(f"publishing '{suite}': {step}", markup=False))
    console.print(f"bundle: {done.folder} (version {done.version}; {done.cells} cells, {done.rows} seed rows, "
                  f"{done.files} files, {done.bytes / 2**20:.1f} MB; scores hash sha256:{done.scores_hash}, "
                  f"results hash sha256:{done.results_hash})", markup=False)


@app.command()
def verify(
    folder: str = typer.Argument(..., metavar="DIR", help="The bundle's folder."),
    cells: int = typer.Option(3, help="Cells (dataset, method, split seed) to re-run, drawn at random; 0: only "
                                      "the integrity checks."),
    seeds_only: bool = typer.Option(False, "--seeds-only", help="Re-run the stored best parameters' seeds, "
                                                              "without tuning."),
    seed: int | None = typer.Option(None, help="Seed of the random draw of cells (printed; repeats the draw)."),
    tolerance: float = typer.Option(0.05, help="Where this environment is not the bundle's: the largest "
                                               "difference allowed in a metric's mean over a cell's seeds."),
    data_root: str | None = typer.Option(None, help="Folder holding the datasets; default $BENCHMARK_DATA."),
    device: str = typer.Option("cpu", help="cpu or cuda: the device to re-run on."),
) -> None:
    """Check a bundle (manifest hashes, scores hash, every metric recomputed from the stored predictions),
    then re-run randomly drawn cells and compare: exact where the environment is the bundle's, within
    --tolerance otherwise. Exit status 1 when anything differs."""
    from benchmark.publish import is_bundle, verify_bundle

    if not is_bundle(folder):
        raise BenchmarkError(f"{folder} is not a bundle folder (no MANIFEST.json)",
                             "give the folder `python -m benchmark publish` wrote")
    if cells < 0:
        raise BenchmarkError(f"--cells {cells} is negative", "give 0 or more cells")
    if not tolerance >= 0:
        raise BenchmarkError(f"--tolerance {tolerance} is invalid", "give 0 or a positive difference")
    result = verify_bundle(folder, cells, seeds_only=seeds_only, seed=seed, tolerance=tolerance, data_root=data_root,
                           device=device, progress=lambda step: console.print(step, markup=False))
    _print_verification(result, cells, seeds_only)
    if not result.ok:
        raise typer.Exit(1)


def _print_verification(result, cells: int, seeds_only: bool) -> None:
    for problem in result.integrity:
        out.print(f"FAILED integrity: {problem}", markup=False)
    if not result.integrity:
        out.print(f"integrity: every file matches MANIFEST.json; the scores hash matches; {result.rescored} seed rows "
                  "rescored from their stored predictions give their stored metrics", markup=False)
    elif not result.cells:
        out.print("verification FAILED: the bundle's files differ from what was published", markup=False)
        return
    if result.exact:
        out.print(f"environment: the bundle's (same lock, Python, machine, data files, suite): cells must match "
                  f"exactly (every metric to 6 decimals{'' if seeds_only else ', and the tuned parameters'})",
                  markup=False)
    else:
        out.print(f"environment differs from the bundle's ({'; '.join(result.environment)}): each headline and "
                  f"compared metric's mean over a cell's seeds must lie within ±{result.tolerance}", markup=False)
    out.print(f"cells: {len(result.cells)} of {cells} asked, drawn with --seed {result.draw_seed}"
              f"{' (seed re-runs of the stored best parameters)' if seeds_only else ' (tuning included)'}",
              markup=False)
    for c in result.cells:
        out.print(f"  {c.status:16} {c.dataset} x {c.method} split {c.split_seed} ({c.seconds:.0f} s)", markup=False)
        for line in c.lines:
            out.print(f"      {line}", markup=False)
    out.print("verification " + ("passed" if result.ok else "FAILED"), markup=False)
