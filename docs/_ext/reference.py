"""Reference pages generated from the code at build time: the command line (each command's ``--help``, as
the terminal prints it) and the suite file (every key the reader accepts, the training settings with their
types and defaults from :class:`benchmark.training.base.TrainingConfig`). A new option or key appears here
the moment it exists; tests/test_docs.py checks that every command and key has its entry."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

WIDTH = 88  # the help is re-wrapped to this width, as on a terminal of that size

# What each top-level key of a suite file means (the keys are benchmark.suites.files.SUITE_KEYS; a key
# missing here fails the build, so a new key cannot go undocumented).
SUITE_KEY_TEXT = {
    "name": "The suite's name (its report goes to `reports/<name>/`); default: the file's stem.",
    "description": "One line shown on the report.",
    "datasets": "Registered names or shell patterns, `{name = ..., training = {...}}` tables, and `{file = ...}` "
                "tables of your own data (options below).",
    "methods": "Method names or shell patterns; combined rows as `smote+focal-loss`.",
    "families": "Every method of these families (`python -m benchmark list methods` shows each one's family).",
    "budget": "A table: trials, seeds, timeout, device_seconds (below).",
    "split_seeds": "How many splits (split seeds 0..N-1), each tuned on its own validation part.",
    "objective": "The validation metric tuning maximises (default `minority_f1`).",
    "pruner": "hyperband, successive-halving, median or none.",
    "tune": "Shared settings tuned for every method alike, e.g. `[\"lr\", \"weight_decay\"]`.",
    "tuning_width": "Trials the sampler may run before conditioning on their results (the determinism width).",
    "intended_device": "\"gpu\" for a suite whose settings are meant for a GPU: the plan then gives the GPU "
                       "estimate beside the CPU one and says so on a CPU (default \"any\").",
    "engines": "A table, per modality: `deep` or `classical`.",
    "training": "Tables `[training.<modality>]` of training settings (below).",
    "scenarios": "Stress scenarios, e.g. `[\"label-noise-0.2\", \"missing-0.1\", \"prior-shift\"]`: each pair is "
                 "also trained and scored under each of them (`benchmark.datasets.scenarios`).",
}
BUDGET_KEY_TEXT = {
    "trials": "Tuning trials per (dataset, method) pair.",
    "seeds": "Seeds the best configuration is re-trained with and scored on the test split.",
    "timeout": "Optional: wall-clock seconds of tuning per pair.",
    "device_seconds": "Optional: a cap on the summed seconds of a pair's trials.",
}
FILE_KEY_TEXT = {
    "file": "A table (CSV, TSV, Parquet, ...) or a folder of class sub-folders of images; relative to the suite file.",
    "name": "The dataset's name in the report; default the file's stem.",
    "target": "Tables: the label column.",
    "nominal": "Tables: columns read as categories.",
    "drop": "Tables: columns left out (identifiers).",
    "sep": "Tables: the separator of a text table.",
    "size": "Images: the side (or `HxW`) images are resized to.",
    "colour": "Images: `grey` or `rgb`.",
    "test_fraction": "The stratified test share (default per modality).",
    "val_fraction": "The validation share of the rest.",
    "training": "Training settings for this dataset only.",
}


def command_help(args: list[str]) -> str:
    """What ``python -m benchmark ARGS --help`` prints at :data:`WIDTH` columns."""
    from typer.testing import CliRunner

    from benchmark.cli import app

    result = CliRunner().invoke(app, [*args, "--help"], env={"COLUMNS": str(WIDTH)}, prog_name="python -m benchmark")
    if result.exit_code != 0:
        raise RuntimeError(f"`python -m benchmark {' '.join(args)} --help` exited {result.exit_code}: {result.output}")
    return result.output.rstrip()


def command_names() -> list[str]:
    """The registered commands, in the order ``--help`` lists them."""
    from benchmark.cli import app

    return [c.name or c.callback.__name__ for c in app.registered_commands]


def cli_page() -> str:
    lines = ["# Command-line reference", "",
             "Generated from the commands themselves: each section is what `python -m benchmark COMMAND --help` "
             "prints. Every command checks its input before any work and exits with status 2 and one line "
             "naming the problem and the fix.", "", "```text", command_help([]), "```"]
    for name in command_names():
        lines += ["", f"(cli-{name})=", f"## {name}", "", "```text", command_help([name]), "```"]
    return "\n".join(lines) + "\n"


def _table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header),
            *("| " + " | ".join(r) + " |" for r in rows)]


def _default(field: dataclasses.Field) -> str:
    if field.default is not dataclasses.MISSING:
        value: Any = field.default
    elif field.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
        value = field.default_factory()  # type: ignore[misc]
    else:
        return "required"
    return "the dataset's default" if value is None else f"`{value!r}`"


def suite_file_tables() -> str:
    """The key tables of the suite-file reference (included by docs/suite-files.md)."""
    from benchmark.suites.files import BUDGET_KEYS, FILE_DATASET_KEYS, SUITE_KEYS, TRAINING_KEYS
    from benchmark.training.base import TrainingConfig

    missing = [k for k, known in ((k, SUITE_KEY_TEXT) for k in SUITE_KEYS) if k not in known]
    missing += [k for k in BUDGET_KEYS if k not in BUDGET_KEY_TEXT]
    missing += [k for k in FILE_DATASET_KEYS if k not in FILE_KEY_TEXT]
    if missing:
        raise RuntimeError(f"suite-file keys without a description in docs/_ext/reference.py: {missing}")
    fields = {f.name: f for f in dataclasses.fields(TrainingConfig)}
    lines = ["### Top-level keys", "", *_table(("key", "meaning"), [(f"`{k}`", SUITE_KEY_TEXT[k]) for k in SUITE_KEYS]),
             "", "### `[budget]`", "", *_table(("key", "meaning"), [(f"`{k}`", BUDGET_KEY_TEXT[k]) for k in BUDGET_KEYS]),
             "", "### A dataset from a file: `{file = ...}`", "",
             *_table(("key", "meaning"), [(f"`{k}`", FILE_KEY_TEXT[k]) for k in FILE_DATASET_KEYS]),
             "", "### Training settings: `[training.<modality>]` and a dataset's `training`", "",
             *_table(("key", "type", "default"),
                     [(f"`{k}`", f"`{fields[k].type}`".replace("|", "\\|"), _default(fields[k])) for k in TRAINING_KEYS])]
    return "\n".join(lines) + "\n"


def write_reference(out: Path) -> list[Path]:
    """Write ``cli.md`` and ``suite-file-keys.md`` under ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    pages = []
    for name, text in (("cli.md", cli_page()), ("suite-file-keys.md", suite_file_tables())):
        path = out / name
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
        pages.append(path)
    return pages
