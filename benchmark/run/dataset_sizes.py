"""What a plan knows of a dataset on one split seed: its sizes and the shape of its training step, from
its files as a run reads them, or from its card where they are absent (``Dataset.stats``: class counts,
sizes and input shape are known without data). A plan never downloads."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

from benchmark.datasets.base import DataPart, Dataset, Split
from benchmark.datasets.download import OFFLINE_ENV, downloads_disabled
from benchmark.errors import DataUnavailableError
from benchmark.protocol import stratified_holdout
from benchmark.run.calibration import StepShape
from benchmark.run.pair import model_config
from benchmark.run.plan import RunPlan
from benchmark.store.status import DATA_ERROR, DATA_UNAVAILABLE
from benchmark.training.base import TrainingConfig
from benchmark.training.deep import DEFAULT_MODELS
from benchmark.training.epochs import epoch_compute
from benchmark.training.features import make_featurizer

NO_ESTIMATE = "no estimate"  # data absent and no card to count from
MINILM_WIDTH = 384  # all-MiniLM-L6-v2's embedding size: the MLP's input under text_features="minilm"


@dataclass
class DatasetPlan:
    """One dataset on one split seed, as the plan sees it: read from its files or counted from its card."""

    name: str
    split_seed: int
    source: str  # "data" or "card"
    note: str | None  # why the card: what a run would record now
    modality: str
    num_classes: int
    train_rows: int
    val_rows: int
    config: TrainingConfig  # the suite's settings for the dataset, as a pair's come from them
    shape: StepShape | None  # the deep engine's step; None: not calibrated (token features)

    @property
    def epoch_samples(self) -> int:
        return epoch_compute(self.train_rows, self.config.batch_size)[0]


# -- reading ------------------------------------------------------------------------------------
@contextmanager
def downloads_off() -> Iterator[None]:
    """A plan reads what is there and never downloads (it must take seconds, and change nothing)."""
    before = os.environ.get(OFFLINE_ENV)
    os.environ[OFFLINE_ENV] = "1"
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(OFFLINE_ENV, None)
        else:
            os.environ[OFFLINE_ENV] = before


def read_dataset(plan: RunPlan, name: str, split_seed: int) -> tuple[DatasetPlan, Split | None]:
    """The dataset's split as a run would load it, else one counted from its card; the split is None
    when neither works (the run would record the load's status; the plan has nothing to count)."""
    entry = plan.dataset_entry(name)
    source, note = "data", None
    may_download = not downloads_disabled()  # the run's setting, before the plan turns downloads off
    with downloads_off():
        try:
            split = entry.load(plan.data_root, split_seed)
        except Exception as exc:  # noqa: BLE001 - as a run: whatever a loader raises concerns this dataset only
            if isinstance(exc, DataUnavailableError) and may_download:
                note = "its files are absent; a run would try to download them"
            elif isinstance(exc, DataUnavailableError):
                note = f"its files are absent; a run now would record it {DATA_UNAVAILABLE} ({exc.message})"
            else:
                message = getattr(exc, "message", None) or (str(exc).splitlines() or [type(exc).__name__])[0]
                note = f"its files cannot be read; a run now would record it {DATA_ERROR} ({message})"
            source, split = "card", card_split(entry, split_seed)
    config = plan.suite.training_for(name, entry.modality)
    if split is None:
        return DatasetPlan(name, split_seed, NO_ESTIMATE, f"{note}; its card gives no class counts", entry.modality,
                           entry.num_classes, 0, 0, config, None), None
    deep = model_config(config, entry.default_model, "deep")  # the backbone a deep-engine pair trains
    shape = step_shape(split, deep) if source == "data" else card_shape(entry, deep)
    return DatasetPlan(name, split_seed, source, note, split.modality, split.num_classes, len(split.train),
                       len(split.val), config, shape), split


def step_shape(split: Split, config: TrainingConfig) -> StepShape | None:
    """The calibrated shape of a loaded split's training step: the backbone's input after featurisation."""
    model = config.model or DEFAULT_MODELS[split.modality]
    if split.modality == "image":
        return StepShape(model, tuple(int(d) for d in split.train.X.shape[1:]), config.batch_size, "image")
    if split.modality == "tabular":
        return StepShape(model, (int(split.train.X.shape[1]),), config.batch_size, "features")
    width = text_width(config, split)
    return None if width is None else StepShape(model, (width,), config.batch_size, "features")


def text_width(config: TrainingConfig, split: Split | None) -> int | None:
    """The MLP's input width on text: TF-IDF terms (fitted on the training texts where they are here, else
    the cap), the sentence encoder's size; token ids feed a sequence model, not calibrated here."""
    if config.text_features == "tfidf":
        if split is None:
            return config.tfidf_max_features
        return int(make_featurizer("text", config).fit(split.train.X).spec.shape[0])
    if config.text_features == "minilm":
        return MINILM_WIDTH
    return None


def card_shape(entry: Dataset, config: TrainingConfig) -> StepShape | None:
    """The step shape from a dataset's card: the image shape, the number of features, the text featuriser."""
    model = config.model or DEFAULT_MODELS[entry.modality]
    stats = entry.stats
    if entry.modality == "image":
        shape = stats.get("input_shape")
        return StepShape(model, tuple(int(d) for d in shape), config.batch_size, "image") if shape else None
    if entry.modality == "tabular":
        features = stats.get("features")
        return StepShape(model, (int(features),), config.batch_size, "features") if features else None
    width = text_width(config, None)
    return None if width is None else StepShape(model, (width,), config.batch_size, "features")


def card_split(entry: Dataset, split_seed: int) -> Split | None:
    """A split with the class counts a dataset's card gives (inputs are zeros, never materialised): what
    counting and the methods' ``applies_to`` need. The hold-outs use the protocol's own rule
    (:func:`benchmark.protocol.stratified_holdout`, without duplicates), so the counts are the loader's
    up to the duplicate images a real split groups or removes."""
    stats, params = entry.stats, entry.params
    rng = np.random.default_rng(split_seed)
    if "long_tail_counts" in stats:  # vision long-tail: the pool, then the validation share of each class
        rest = np.repeat(np.arange(len(stats["long_tail_counts"])), stats["long_tail_counts"])
        test = np.repeat(np.arange(entry.num_classes), stats.get("test_counts") or [1] * entry.num_classes)
        fractions = (params.get("val_fraction", 0.2),)
    elif "class_counts" in stats:  # tables and texts: a test hold-out, then a validation share of the rest
        everything = np.repeat(np.arange(len(stats["class_counts"])), stats["class_counts"])
        kept, held = stratified_holdout(everything, params.get("test_fraction", 0.3), rng, what="test")
        rest, test = everything[kept], everything[held]
        fractions = (params.get("val_fraction", 0.25),)
    else:
        return None
    train_idx, val_idx = stratified_holdout(rest, fractions[0], rng)
    shape = card_input_shape(entry)

    def part(y: np.ndarray) -> DataPart:
        dtype = np.uint8 if entry.modality == "image" else np.float32
        return DataPart(np.broadcast_to(np.zeros((1, *shape), dtype=dtype), (len(y), *shape)), y.astype(np.int64))

    nominal = int(stats.get("nominal_features") or 0)
    kinds = (["nominal"] * nominal + ["numeric"] * (shape[0] - nominal)) if entry.modality == "tabular" else None
    names = list(entry.class_names) or [str(c) for c in range(entry.num_classes)]
    split = Split(entry.name, entry.modality, names, part(rest[train_idx]), part(rest[val_idx]), part(test),
                  feature_kinds=kinds, info={"card": True})
    pool = stats.get("unlabeled") or {}
    if pool.get("size") and hasattr(split, "unlabeled"):  # the card's unlabeled pool (semi-supervised rows)
        split.info["unlabeled"] = pool
        split.unlabeled = part(np.zeros(int(pool["size"]), dtype=np.int64)).X
    return split


def card_input_shape(entry: Dataset) -> tuple[int, ...]:
    if entry.modality == "image":
        return tuple(int(d) for d in entry.stats.get("input_shape") or (1, 1, 1))
    if entry.modality == "tabular":
        return (int(entry.stats.get("features") or 1),)
    return (1,)
