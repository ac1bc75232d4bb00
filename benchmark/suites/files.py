"""Suite files: a benchmark of your own, defined in TOML, run with ``--suite path/to/my-suite.toml``.

TOML rather than YAML: Python reads it with its standard library (``tomllib``, Python 3.11; the same
parser as the ``tomli`` package on 3.10), so a suite file adds no dependency; its values are typed
(``trials = 2`` is a number, ``"2"`` a string: no YAML "Norway problem", no implicit dates); and it is
the format of ``pyproject.toml``, which every Python user has edited. Every key is checked: an unknown
or misspelt one is an error naming it with its table path (``training.image.epochz``) and the valid
keys there, and a value of the wrong type names the type it needs.

The suite's name is the file's ``name`` key, else the file's stem. It may not be a registered suite's
name. Everything a pair runs under (the budget, objective, pruner, tuned parameters and a digest of
its training settings, engines, tuning width and data file spec: :meth:`Suite.pair_digest`) is
stored with the pair, so a changed file under the same name is refused instead of mixing results.
``scenarios = ["label-noise-0.2", "missing-0.1", "prior-shift"]`` adds stress scenarios
(:mod:`benchmark.datasets.scenarios`): each pair is also trained and scored under each of them.
"""

from __future__ import annotations

import difflib
import re
import sys
from dataclasses import fields
from pathlib import Path
from typing import Any

from benchmark.datasets import dataset_registry
from benchmark.datasets.base import MODALITIES
from benchmark.datasets.files import OPTIONS as FILE_OPTIONS
from benchmark.datasets.files import file_dataset, is_file_spec, parse_file_spec
from benchmark.errors import BenchmarkError, UnknownNameError
from benchmark.limits import check_name_length
from benchmark.methods import FAMILIES, method_registry
from benchmark.protocol import Budget
from benchmark.suites.base import Suite, suite_registry
from benchmark.training.base import TrainingConfig

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

SUITE_KEYS = ("name", "description", "datasets", "methods", "families", "budget", "split_seeds", "objective",
              "pruner", "tune", "tuning_width", "intended_device", "engines", "training", "scenarios")
BUDGET_KEYS = ("trials", "seeds", "timeout", "device_seconds")
DATASET_KEYS = ("name", "training")  # a registered dataset (or pattern) with its own training settings
FILE_DATASET_KEYS = (*FILE_OPTIONS, "training")
TRAINING_KEYS = tuple(f.name for f in fields(TrainingConfig) if f.name != "extra")
ENGINES = ("deep", "classical")
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
MAX_FILE_BYTES = 1 << 20  # a suite file is a page of settings; a megabyte is far beyond any real one
GLOB = re.compile(r"[*?\[]")


def looks_like_suite_file(value: str) -> bool:
    """A ``--suite`` value that names a file rather than a registered suite."""
    return value.lower().endswith(".toml") or "/" in value or "\\" in value


def resolve_suite(value: str) -> Suite:
    """A registered suite by name, or the suite of a TOML file (``--suite``, ``show suite``)."""
    if looks_like_suite_file(value) or (value not in suite_registry and Path(value).is_file()):
        return load_suite_file(value)
    return suite_registry.get(value)


def load_suite_file(path: str | Path) -> Suite:
    """Read and check a suite file; every error names the file, the key and what is valid."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise BenchmarkError(f"suite file {path} does not exist" if not path.exists() else f"{path} is not a file",
                             "give the path of a .toml suite file, or a registered suite (`python -m benchmark "
                             "list suites`)")
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise BenchmarkError(f"suite file {path} has {size:,} bytes", f"a suite file holds at most {MAX_FILE_BYTES:,} "
                             "bytes: list datasets by pattern or in a table file instead")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise BenchmarkError(f"suite file {path} is not valid TOML: {exc}", "fix the line it names") from None
    except RecursionError:  # tomllib parses nested arrays and inline tables recursively
        raise BenchmarkError(f"suite file {path} nests arrays or tables too deeply to read",
                             "a suite file needs at most a few levels: flatten the nested value") from None
    return SuiteFile(path.resolve()).suite(data)


class SuiteFile:
    """The checks and conversions of one suite file's content (``path`` names it in every message)."""

    def __init__(self, path: Path):
        self.path = path
        self.base = path.parent

    def error(self, what: str, fix: str) -> BenchmarkError:
        return BenchmarkError(f"suite file {self.path}: {what}", fix)

    def check_keys(self, table: Any, valid: tuple[str, ...], where: str) -> dict[str, Any]:
        """``table`` as a dict whose keys are all in ``valid``; else an error naming the first bad key."""
        if not isinstance(table, dict):
            raise self.error(f"{where} must be a table, not {_kind(table)}", f"write it as [{where}] with its keys")
        for key in table:
            if key not in valid:
                close = difflib.get_close_matches(key, valid, n=1)
                hint = f" (did you mean '{close[0]}'?)" if close else ""
                full = f"{where}.{key}" if where else key
                place = f"[{where}]" if where else "the top level"
                raise self.error(f"unknown key '{full}'{hint}", f"valid keys of {place}: {', '.join(valid)}")
        return table

    def value(self, table: dict[str, Any], key: str, kind: type | tuple[type, ...], where: str, default: Any,
              need: str) -> Any:
        if key not in table:
            return default
        value = table[key]
        kinds = kind if isinstance(kind, tuple) else (kind,)
        if isinstance(value, bool) and bool not in kinds or not isinstance(value, kinds):
            full = f"{where}.{key}" if where else key
            raise self.error(f"{full} = {value!r} is {_kind(value)}", f"give {need}")
        return value

    def strings(self, table: dict[str, Any], key: str, where: str = "") -> list[str] | None:
        value = self.value(table, key, list, where, None, f"a list of strings, e.g. {key} = [\"...\"]")
        if value is not None and not all(isinstance(v, str) and v.strip() for v in value):
            raise self.error(f"{key} = {value!r} holds something other than names", "give a list of strings")
        return value

    # -- the whole file --------------------------------------------------------------------------
    def suite(self, data: dict[str, Any]) -> Suite:
        self.check_keys(data, SUITE_KEYS, "")
        name = self.value(data, "name", str, "", self.path.stem, "the suite's name as a string")
        if not NAME.fullmatch(name):
            raise self.error(f"name {name!r} is not a usable suite name",
                             "use letters, digits, '.', '_' and '-' (it names the report's folder)")
        if name in suite_registry:
            raise self.error(f"name '{name}' is a registered suite's", "give the suite file another name = \"...\"")
        training = self.training(data.get("training", {}))
        datasets, file_datasets, overrides = self.datasets(data)
        dataset_training = {}
        for dataset, settings in overrides.items():
            modality = self.modality(dataset, file_datasets)
            base = training.get(modality, TrainingConfig())
            dataset_training[dataset] = self.config({**_config_values(base), **settings[1]}, settings[0])
        for dataset in datasets:
            modality = self.modality(dataset, file_datasets)
            if dataset not in dataset_training and modality not in training:
                raise self.error(f"no training settings for {modality} data (dataset '{dataset}')",
                                 f"add a [training.{modality}] table (keys: {', '.join(TRAINING_KEYS)})")
        engines = self.engines(data.get("engines", {}))
        kwargs: dict[str, Any] = {}
        for key, kind, need in (("split_seeds", int, "a whole number of 1 or more"),
                                ("tuning_width", int, "a whole number of 1 or more"),
                                ("objective", str, "a metric name, e.g. \"minority_f1\""),
                                ("pruner", str, "\"hyperband\", \"successive-halving\", \"median\" or \"none\""),
                                ("intended_device", str, "\"any\" or \"gpu\"")):
            if key in data:
                kwargs[key] = self.value(data, key, kind, "", None, need)
        tune = self.strings(data, "tune")
        scenarios = self.strings(data, "scenarios")  # label-noise-P, missing-P, prior-shift: checked by the Suite
        if scenarios:
            kwargs["scenarios"] = tuple(scenarios)
        try:
            return Suite(
                name=name,
                description=self.value(data, "description", str, "", f"suite file {self.path.name}", "a string"),
                datasets=tuple(datasets), methods=self.methods(data), budget=self.budget(data.get("budget")),
                training=training, engines=engines, tune=tuple(tune or ()), dataset_training=dataset_training,
                origin=str(self.path), file_datasets=file_datasets, **kwargs)
        except BenchmarkError as exc:
            if str(self.path) in exc.message:
                raise
            raise self.error(exc.message, exc.fix or "check the value") from None

    def budget(self, table: Any) -> Budget:
        if table is None:
            raise self.error("it has no [budget]", "add a [budget] table with trials = N and seeds = N")
        self.check_keys(table, BUDGET_KEYS, "budget")
        for key in ("trials", "seeds"):
            if key not in table:
                raise self.error(f"budget.{key} is missing", f"add {key} = N to [budget]")
        trials = self.value(table, "trials", int, "budget", None, "a whole number of 1 or more")
        seeds = self.value(table, "seeds", int, "budget", None, "a whole number of 1 or more")
        timeout = self.value(table, "timeout", (int, float), "budget", None, "seconds, as a number")
        device = self.value(table, "device_seconds", (int, float), "budget", None, "seconds, as a number")
        try:
            return Budget(trials=trials, seeds=seeds, timeout=timeout, device_seconds=device)
        except BenchmarkError as exc:
            raise self.error(exc.message.replace("--", "budget.").replace("-", "_"), exc.fix or "") from None

    def engines(self, table: Any) -> dict[str, str]:
        self.check_keys(table, MODALITIES, "engines")
        engines = {"image": "deep", "text": "deep", "tabular": "deep"}
        for modality in table:
            engine = self.value(table, modality, str, "engines", None, f"one of {', '.join(ENGINES)}")
            if engine not in ENGINES:
                raise self.error(f"engines.{modality} = {engine!r} is unknown", f"use one of {', '.join(ENGINES)}")
            engines[modality] = engine
        return engines

    # -- training settings -----------------------------------------------------------------------
    def training(self, table: Any) -> dict[str, TrainingConfig]:
        self.check_keys(table, MODALITIES, "training")
        return {m: self.config(self.check_keys(v, TRAINING_KEYS, f"training.{m}"), f"training.{m}")
                for m, v in table.items()}

    def config(self, values: dict[str, Any], where: str) -> TrainingConfig:
        """A TrainingConfig from ``values``, each checked against the field's type."""
        # field types as written ("int", "str | None"), whether or not annotations are postponed there
        types = {f.name: f.type if isinstance(f.type, str) else getattr(f.type, "__name__", str(f.type))
                 for f in fields(TrainingConfig)}
        converted = {}
        for key, value in values.items():
            kind = types[key]
            if value is None:  # only a default can be None (TOML has no null): "the dataset's default model"
                converted[key] = None
                continue
            if kind == "bool":
                value = self.value(values, key, bool, where, None, "true or false")
            elif kind == "int":
                value = self.value(values, key, int, where, None, "a whole number")
            elif kind == "float":
                value = float(self.value(values, key, (int, float), where, None, "a number"))
            elif kind.startswith("str"):
                value = self.value(values, key, str, where, None, "a string")
            elif kind.startswith("tuple"):
                value = self.value(values, key, list, where, None, "a list of numbers")
                if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in value):
                    raise self.error(f"{where}.{key} = {value!r} holds something other than numbers",
                                     "give a list of numbers")
                value = tuple(float(v) for v in value)
            converted[key] = value
        try:
            return TrainingConfig(**converted)
        except BenchmarkError as exc:
            raise self.error(f"[{where}]: {exc.message}", exc.fix or "check the value") from None

    # -- datasets and methods --------------------------------------------------------------------
    def datasets(self, data: dict[str, Any]) -> tuple[list[str], dict[str, Any], dict[str, tuple[str, dict]]]:
        """Dataset names in order, the file datasets by name, and per-dataset training overrides
        (name -> (where, settings))."""
        items = data.get("datasets")
        if not isinstance(items, list) or not items:
            raise self.error("it names no datasets", "add datasets = [\"keel-yeast3\", ...] or [[datasets]] tables "
                                                     "(file = \"table.csv\", target = \"label\")")
        names: list[str] = []
        files: dict[str, Any] = {}
        overrides: dict[str, tuple[str, dict]] = {}
        for i, item in enumerate(items):
            where = f"datasets[{i}]"
            settings = None
            if isinstance(item, dict) and "file" in item:
                self.check_keys(item, FILE_DATASET_KEYS, where)
                options = {k: v for k, v in item.items() if k not in ("file", "training")}
                file = self.value(item, "file", str, where, None, "the path of a table or an image folder")
                entry = self.file_entry(file_dataset, file, base=self.base, where=where, **options)
                found = [entry.name]
                files = self.add_file(files, entry)
                settings = item.get("training")
            elif isinstance(item, dict):
                self.check_keys(item, DATASET_KEYS, where)
                if "name" not in item:
                    raise self.error(f"{where} has neither file nor name",
                                     "give file = \"path\" (a table or image folder) or name = \"registered-name\"")
                found = self.registered(self.value(item, "name", str, where, None, "a dataset name"), where)
                settings = item.get("training")
            elif isinstance(item, str) and is_file_spec(item):
                entry = self.file_entry(parse_file_spec, item, base=self.base)
                found = [entry.name]
                files = self.add_file(files, entry)
            elif isinstance(item, str):
                found = self.registered(item, where)
            else:
                raise self.error(f"{where} = {item!r} is {_kind(item)}",
                                 "give a dataset name, a pattern, or a table with file = \"...\"")
            if settings is not None:
                self.check_keys(settings, TRAINING_KEYS, f"{where}.training")
                for name in found:
                    overrides[name] = (f"{where}.training", settings)
            names.extend(n for n in found if n not in names)
        return names, files, overrides

    def file_entry(self, build: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return build(*args, **kwargs)
        except BenchmarkError as exc:
            raise self.error(exc.message, exc.fix or "check the dataset's options") from None

    def add_file(self, files: dict[str, Any], entry: Any) -> dict[str, Any]:
        try:
            check_name_length("dataset", entry.name)
        except BenchmarkError as exc:
            raise self.error(f"the file dataset {entry.spec[:60]}: {exc.message}", exc.fix) from None
        if entry.name in dataset_registry:
            raise self.error(f"the file dataset {entry.spec} is named '{entry.name}', a registered dataset's name",
                             "give it another name = \"...\" in its table")
        if entry.name in files and files[entry.name].params["path"] != entry.params["path"]:
            raise self.error(f"two file datasets are named '{entry.name}' ({files[entry.name].spec}, {entry.spec})",
                             "give one of them another name = \"...\"")
        return {**files, entry.name: entry}

    def registered(self, name: str, where: str) -> list[str]:
        """A registered dataset, or every one a shell pattern matches (any case)."""
        if GLOB.search(name):
            found = dataset_registry.names(name)
            if not found:
                raise self.error(f"{where}: the pattern '{name}' matches no registered dataset",
                                 "`python -m benchmark list datasets` lists them")
            return found
        try:
            dataset_registry.resolve([name])
        except UnknownNameError as exc:
            raise self.error(f"{where}: {exc.message}", "fix the name, or give a file = \"...\"") from None
        return [dataset_registry.canonical(name)]

    def modality(self, dataset: str, files: dict[str, Any]) -> str:
        entry = files.get(dataset) or dataset_registry.get(dataset)
        return entry.modality

    def methods(self, data: dict[str, Any]) -> tuple[str, ...] | None:
        """Methods by name, shell pattern (any case) or family; None (every method that applies) when the
        file names neither methods nor families."""
        patterns, families = self.strings(data, "methods"), self.strings(data, "families")
        if patterns is None and families is None:
            return None
        chosen: list[str] = []
        for i, pattern in enumerate(patterns or []):
            if GLOB.search(pattern):
                found = method_registry.names(pattern)
                if not found:
                    raise self.error(f"methods[{i}]: the pattern '{pattern}' matches no method",
                                     "`python -m benchmark list methods` lists them")
            else:
                try:
                    found = [method_registry.get(pattern).name]
                except UnknownNameError as exc:
                    raise self.error(f"methods[{i}]: {exc.message}", "fix the name") from None
            chosen.extend(found)
        for family in families or []:
            if family not in FAMILIES:
                close = difflib.get_close_matches(family, FAMILIES, n=1)
                raise self.error(f"families: '{family}' is not a method family"
                                 + (f" (did you mean '{close[0]}'?)" if close else ""),
                                 f"use some of: {', '.join(FAMILIES)}")
            chosen.extend(n for n, m in method_registry.items() if m.family == family)
        if not chosen:
            raise self.error("methods and families select no method", "name at least one method or family")
        return tuple(dict.fromkeys(chosen))


def _config_values(config: TrainingConfig) -> dict[str, Any]:
    """A config's fields as a suite file gives them (tuples as lists), for merging overrides over it."""
    return {k: list(v) if isinstance(v, tuple) else v for k, v in vars(config).items() if k != "extra"}


def _kind(value: Any) -> str:
    names = {bool: "a boolean", int: "a whole number", float: "a number", str: "a string", list: "a list",
             dict: "a table"}
    return next((n for t, n in names.items() if type(value) is t), f"a {type(value).__name__}")
