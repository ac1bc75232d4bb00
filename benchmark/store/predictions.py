"""Each seed row's test-set predictions, kept beside its scores, so that a metric added later is computed
from the store without re-training and a published result can be re-checked.

One row of ``benchmark_predictions`` per seed row (same key: suite, dataset, method, split seed, seed):
the class probabilities of the test split as float16 (row order of the split), the test labels, and
what scoring needs besides (minority classes, training class counts, whether prior-shift figures were
computed). Arrays are stored as little-endian bytes compressed with zlib: plain data, never pickled.

The rule that makes recomputation exact: **a seed row's test scores are the scores of its stored
predictions**. :func:`as_stored` rounds probabilities to float16 before anything is scored
(:func:`seed_scores`), so scoring the stored predictions again gives the stored figures bit for bit. The
rounding (relative 2^-11, about 0.05%) is far below seed-to-seed variation; it can only tie two scores
that differed in the fourth decimal.

The table sits beside the results tables in the same database. It is created when the first predictions
are saved (a store written before it existed simply has none: its rows are shown as they were scored),
and reading never creates it.
"""

from __future__ import annotations

import hashlib
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sqlalchemy import JSON, DateTime, Integer, LargeBinary, String, UniqueConstraint, inspect, select
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError
from sqlalchemy.orm import Mapped, mapped_column

from benchmark.datasets.scenarios import prior_shift_metrics
from benchmark.metrics import compute_metrics, pr_curves
from benchmark.store.results import Base, Store, now

PROBA_DTYPE = np.dtype("<f2")  # float16, little-endian: 2 bytes per class per test row
LABEL_DTYPE = np.dtype("<i4")
PREDICTIONS_FORMAT = 1


def as_stored(proba: Any) -> np.ndarray:
    """Class probabilities as they are stored (rounded to float16), in float64 for scoring."""
    return np.asarray(np.asarray(proba, dtype=np.float64).astype(PROBA_DTYPE), dtype=np.float64)


def seed_scores(y_true: Any, proba: Any, minority_classes: Sequence[int], train_counts: Sequence[int] | None,
                prior_shift: bool = False) -> tuple[dict[str, float], dict[str, list[float]]]:
    """A seed row's test metrics and per-class figures: the one definition, used when the row is scored and
    whenever it is scored again from its stored predictions. ``proba`` is rounded as stored first;
    ``prior_shift`` adds the figures re-weighted to the balanced and training priors."""
    stored = as_stored(proba)
    metrics, per_class = compute_metrics(y_true, stored, minority_classes, train_counts)
    if prior_shift:
        metrics.update(prior_shift_metrics(np.asarray(y_true), stored, list(minority_classes), list(train_counts or [])))
    return metrics, per_class


@dataclass
class Predictions:
    """The test predictions of one seed row and what scoring them needs."""

    y_true: np.ndarray  # (N,) class indices
    proba: np.ndarray  # (N, C) float16
    minority_classes: list[int]
    train_counts: list[int] | None = None
    prior_shift: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.y_true = np.asarray(self.y_true).astype(LABEL_DTYPE, casting="same_kind", copy=False)
        proba = np.asarray(self.proba)
        self.proba = proba if proba.dtype == PROBA_DTYPE else proba.astype(np.float64).astype(PROBA_DTYPE)
        self.minority_classes = [int(c) for c in self.minority_classes]
        self.train_counts = None if self.train_counts is None else [int(c) for c in self.train_counts]
        check_shapes(self.y_true, self.proba)

    @property
    def y_pred(self) -> np.ndarray:
        return self.proba.argmax(axis=1)

    def scores(self) -> tuple[dict[str, float], dict[str, list[float]]]:
        """The metrics and per-class figures of these predictions (:func:`seed_scores`)."""
        return seed_scores(self.y_true, self.proba, self.minority_classes, self.train_counts, self.prior_shift)

    def curves(self) -> dict[str, dict]:
        """The report's precision-recall curves of the minority classes, from these (stored) predictions: the
        seed row's ``pr_curves`` artifact, so a bundle need not keep it twice."""
        return pr_curves(self.y_true, as_stored(self.proba), self.minority_classes)

    def scoring(self) -> dict[str, Any]:
        """What scoring needs besides the arrays, as stored beside them."""
        return {"minority_classes": self.minority_classes, "train_counts": self.train_counts,
                "prior_shift": self.prior_shift, "format": PREDICTIONS_FORMAT}

    def digest(self) -> str:
        """SHA-256 of the stored arrays' bytes (probabilities, then labels)."""
        return hashlib.sha256(self.proba.tobytes() + self.y_true.tobytes()).hexdigest()


def check_shapes(y_true: np.ndarray, proba: np.ndarray) -> None:
    """Stored predictions are read as input: wrong shapes or values are refused with what was found."""
    if proba.ndim != 2 or y_true.ndim != 1 or proba.shape[0] != y_true.shape[0]:
        raise ValueError(f"predictions have shape {proba.shape} for {y_true.shape} labels; expected (N, classes) "
                         "and (N,)")
    if y_true.size and (y_true.min() < 0 or y_true.max() >= proba.shape[1]):
        raise ValueError(f"labels range over {int(y_true.min())}..{int(y_true.max())}, outside the "
                         f"{proba.shape[1]} classes of the probabilities")
    if not np.isfinite(proba).all():
        raise ValueError("predictions hold NaN or infinite probabilities")


def scoring_from(record: Any) -> dict[str, Any]:
    """The scoring fields of a stored record, checked (a damaged record is an error naming the field)."""
    if not isinstance(record, dict):
        raise ValueError(f"the scoring record is a {type(record).__name__}, expected an object")
    minority, counts = record.get("minority_classes"), record.get("train_counts")
    if not isinstance(minority, list) or not all(isinstance(c, int) for c in minority):
        raise ValueError(f"minority_classes {minority!r} is not a list of class indices")
    if counts is not None and (not isinstance(counts, list) or not all(isinstance(c, int) for c in counts)):
        raise ValueError(f"train_counts {counts!r} is not a list of counts")
    return {"minority_classes": minority, "train_counts": counts, "prior_shift": bool(record.get("prior_shift"))}


class PredictionRow(Base):
    __tablename__ = "benchmark_predictions"
    __table_args__ = (UniqueConstraint("suite", "dataset", "method", "split_seed", "seed", name="uq_predictions"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    suite: Mapped[str] = mapped_column(String(128), index=True)
    dataset: Mapped[str] = mapped_column(String(128))
    method: Mapped[str] = mapped_column(String(128))
    split_seed: Mapped[int] = mapped_column(Integer, default=0)
    seed: Mapped[int] = mapped_column(Integer)
    rows: Mapped[int] = mapped_column(Integer)
    classes: Mapped[int] = mapped_column(Integer)
    proba: Mapped[bytes] = mapped_column(LargeBinary)  # zlib(float16 little-endian, C order)
    labels: Mapped[bytes] = mapped_column(LargeBinary)  # zlib(int32 little-endian)
    scoring: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    sha256: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[Any] = mapped_column(DateTime, default=now, onupdate=now)


def _encode(array: np.ndarray) -> bytes:
    return zlib.compress(np.ascontiguousarray(array).tobytes(), 6)


def _decode(data: bytes, dtype: np.dtype, shape: tuple[int, ...], what: str) -> np.ndarray:
    try:
        raw = zlib.decompress(data)
    except zlib.error as exc:
        raise ValueError(f"the stored {what} are not zlib data ({exc})") from None
    expected = int(np.prod(shape)) * dtype.itemsize
    if len(raw) != expected:
        raise ValueError(f"the stored {what} hold {len(raw)} bytes; shape {shape} needs {expected}")
    return np.frombuffer(raw, dtype=dtype).reshape(shape)


def has_predictions_table(store: Store) -> bool:
    return inspect(store.engine).has_table(PredictionRow.__tablename__)


def save_predictions(store: Store, suite: str, dataset: str, method: str, seed: int, predictions: Predictions, *,
                     split_seed: int = 0) -> None:
    """Store (or replace) the test predictions of one seed row."""
    if not has_predictions_table(store):
        try:
            PredictionRow.__table__.create(store.engine, checkfirst=True)
        except (OperationalError, ProgrammingError):  # another worker created it at the same moment
            if not has_predictions_table(store):
                raise
    fields = {"rows": int(predictions.proba.shape[0]), "classes": int(predictions.proba.shape[1]),
              "proba": _encode(predictions.proba), "labels": _encode(predictions.y_true),
              "scoring": predictions.scoring(), "sha256": predictions.digest()}
    key = {"suite": suite, "dataset": dataset, "method": method, "split_seed": split_seed, "seed": seed}
    for attempt in range(2):
        with store.session() as s:
            row = s.scalar(select(PredictionRow).filter_by(**key))
            if row is None:
                row = PredictionRow(**key)
                s.add(row)
            for name, value in fields.items():
                setattr(row, name, value)
            try:
                s.commit()
                return
            except IntegrityError:  # another worker stored the same seed's predictions first: replace them
                s.rollback()
                if attempt:
                    raise


def decode_row(row: PredictionRow) -> Predictions:
    """The predictions a stored row holds; a damaged row raises ValueError saying what is wrong."""
    if not isinstance(row.rows, int) or not isinstance(row.classes, int) or row.rows < 0 or row.classes < 1:
        raise ValueError(f"the stored shape ({row.rows}, {row.classes}) is not a table of probabilities")
    proba = _decode(row.proba, PROBA_DTYPE, (row.rows, row.classes), "probabilities")
    labels = _decode(row.labels, LABEL_DTYPE, (row.rows,), "labels")
    out = Predictions(labels, proba, **scoring_from(row.scoring))
    if out.digest() != row.sha256:
        raise ValueError(f"the stored predictions' SHA-256 {out.digest()[:12]} differs from the recorded "
                         f"{str(row.sha256)[:12]}: the row was changed after it was written")
    return out


PredictionKey = tuple[str, str, str, int, int]  # suite, dataset, method, split seed, seed


def load_predictions(store: Store, suite: str | None = None, *, dataset: str | None = None,
                     problems: list[str] | None = None) -> dict[PredictionKey, Predictions]:
    """Every stored prediction of ``suite`` (and ``dataset``), by seed-row key. A damaged row is left out
    and said in ``problems`` (raised when ``problems`` is None)."""
    query = select(PredictionRow).order_by(PredictionRow.dataset, PredictionRow.method, PredictionRow.split_seed,
                                           PredictionRow.seed)
    if suite is not None:
        query = query.filter_by(suite=suite)
    if dataset is not None:
        query = query.filter_by(dataset=dataset)
    found: dict[PredictionKey, Predictions] = {}
    if not has_predictions_table(store):
        return found
    with store.session() as s:
        for row in s.scalars(query):
            key = (row.suite, row.dataset, row.method, row.split_seed, row.seed)
            try:
                found[key] = decode_row(row)
            except ValueError as exc:
                if problems is None:
                    raise ValueError(f"predictions of {key[1]} x {key[2]} split {key[3]} seed {key[4]}: {exc}") from None
                problems.append(f"predictions of {key[1]} x {key[2]} split {key[3]} seed {key[4]} are damaged: {exc}; "
                                "left out")
    return found


def missing_metrics(metrics: dict[str, Any], predictions: Predictions) -> dict[str, float]:
    """Figures the stored ``metrics`` lack but the metric table defines: computed from the predictions
    (a metric added after the row was scored), without re-training."""
    computed, _ = predictions.scores()
    return {name: value for name, value in computed.items() if name not in metrics}


def save_many(store: Store, entries: list[tuple[PredictionKey, Predictions]]) -> None:
    """Store many seed rows' predictions in one transaction (reading a bundle into a fresh store)."""
    if not entries:
        return
    PredictionRow.__table__.create(store.engine, checkfirst=True)
    with store.session() as s:
        for (suite, dataset, method, split_seed, seed), p in entries:
            s.add(PredictionRow(suite=suite, dataset=dataset, method=method, split_seed=split_seed, seed=seed,
                                rows=int(p.proba.shape[0]), classes=int(p.proba.shape[1]), proba=_encode(p.proba),
                                labels=_encode(p.y_true), scoring=p.scoring(), sha256=p.digest()))
        s.commit()
