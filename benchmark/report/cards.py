"""Method and dataset cards for a report: what the registries say, and the split's class counts.

A name in the store that the registry no longer knows (a renamed or removed plugin) still gets a
card, marked unregistered, so its stored results are shown rather than dropped.

Class counts come from the pair rows when the runner stored the split's summary in their ``info``
(keys of :meth:`benchmark.datasets.base.Split.summary`: ``class_names``, ``class_counts``,
``minority_classes``, ``imbalance_ratio`` and, where the dataset has an unlabeled pool, ``unlabeled``);
otherwise the split is read from the data root when one is given and its cached split or source
files are there (never downloaded), and used only when its fingerprint matches the stored one;
otherwise the card says they are unknown.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from benchmark.errors import UnknownNameError
from benchmark.report.records import StoredPair, StoredResult
from benchmark.store import OK


@dataclass
class MethodCard:
    name: str
    registered: bool
    family: str = "unregistered"
    summary: str = ""
    paper: str = ""
    differences: str = ""
    modalities: list[str] = field(default_factory=list)
    # a combined row's parts (benchmark.methods._composition): name, family, summary and paper key each
    parts: list[dict[str, Any]] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)


def method_cards(names: list[str], problems: list[str]) -> dict[str, MethodCard]:
    from benchmark.methods import method_registry

    cards = {}
    for name in names:
        try:
            m = method_registry.get(name)
        except UnknownNameError:
            problems.append(f"method '{name}' has stored results but is not in the method registry (renamed or "
                            f"removed plugin?): its rows are shown as stored, without family or citation")
            cards[name] = MethodCard(name, registered=False)
            continue
        cards[name] = MethodCard(name, True, m.family, m.summary, m.paper, m.differences, list(m.modalities),
                                 m.card().get("parts", []), list(m.tags))
    return cards


@dataclass
class DatasetCard:
    name: str
    registered: bool
    modality: str = "unknown"
    registry_classes: int | None = None
    source: str = ""
    description: str = ""
    license: str = ""
    citation: str = ""
    class_names: list[str] | None = None
    class_counts: dict[str, list[int]] | None = None  # part -> counts
    minority_classes: list[int] = field(default_factory=list)
    imbalance_ratio: float | None = None
    split_seeds: list[Any] = field(default_factory=list)
    fingerprints: list[str] = field(default_factory=list)
    counts_note: str = ""
    unlabeled: dict[str, Any] | None = None  # the unlabeled pool's record (Split.info["unlabeled"]), if any
    # A dataset read from a file (a suite file's, --datasets file:): its card as the run stored it with
    # its pairs (benchmark.run.pair.file_card: path, SHA-256, rows, classes, imbalance, duplicates)
    file_card: dict[str, Any] | None = None
    duplicates: dict[str, Any] | None = None  # the split's duplicates record, when stored

    @property
    def unlabeled_text(self) -> str:
        """The pool's size, class mix, per-class counts and source in one line."""
        from benchmark.datasets.unlabeled import unlabeled_text

        return unlabeled_text(self.unlabeled)

    @property
    def num_classes(self) -> int | None:
        if self.class_names:
            return len(self.class_names)
        if self.class_counts:
            return len(next(iter(self.class_counts.values())))
        return self.registry_classes

    def class_label(self, c: int) -> str:
        return self.class_names[c] if self.class_names and c < len(self.class_names) else str(c)

    def head_to_tail(self, num_classes: int) -> list[int]:
        """Class indices from the most to the fewest training samples (index order when unknown)."""
        train = (self.class_counts or {}).get("train")
        if not train or len(train) != num_classes:
            return list(range(num_classes))
        return sorted(range(num_classes), key=lambda c: (-train[c], c))


def _summary_from_info(pairs: list[StoredPair]) -> dict[str, Any] | None:
    for p in pairs:
        if isinstance(p.info, dict) and "class_counts" in p.info:
            return p.info
    return None


def _load_summary(name: str, data_root: str, split_seed: int, fingerprints: list[str],
                  problems: list[str]) -> dict | None:
    from benchmark.datasets import dataset_registry
    from benchmark.datasets.base import resolve_cache_dir, resolve_data_root

    entry = dataset_registry.get(name)
    try:
        # Only from what is on disk: the cached split, or the source files. A report never downloads.
        root = resolve_data_root(data_root)
        cached = (resolve_cache_dir(root) / f"{entry.cache_key(split_seed, root)}.npz").exists()
        missing = [f for f in entry.files if not (root / f).exists()]
        if not cached and missing:
            problems.append(f"dataset '{name}': class counts are not stored, and neither its cached split nor "
                            f"its files ({', '.join(missing[:3])}{', ...' if len(missing) > 3 else ''}) are under "
                            f"{root}")
            return None
        split = entry.load(root, split_seed)
    except Exception as exc:  # a missing file must not stop the report: the card says counts are unknown
        problems.append(f"dataset '{name}': class counts are not stored and the split could not be rebuilt "
                        f"from the data root ({type(exc).__name__}: {exc})")
        return None
    summary = split.summary()
    if fingerprints and summary["fingerprint"] not in fingerprints:
        problems.append(f"dataset '{name}': the split rebuilt from the data root differs from the one the results "
                        "were computed on (fingerprints differ); its class counts are not shown")
        return None
    return summary


def dataset_card(name: str, pairs: list[StoredPair], rows: list[StoredResult], data_root: str | None,
                 problems: list[str]) -> DatasetCard:
    from benchmark.datasets import dataset_registry

    card = DatasetCard(name, registered=name in dataset_registry)
    stored_card = next((p.info["dataset_card"] for p in pairs if isinstance(p.info.get("dataset_card"), dict)), None)
    if card.registered:
        entry = dataset_registry.get(name)
        card.modality, card.source, card.description = entry.modality, entry.source, entry.description
        card.license, card.citation = entry.license, entry.citation
        card.registry_classes = entry.num_classes
    elif stored_card is not None:  # a user's own data: a dataset like any other, its card from the store
        card.file_card = stored_card
        card.modality, card.description = stored_card.get("modality", "unknown"), stored_card.get("description", "")
        card.source, card.license = stored_card.get("spec") or stored_card.get("path", ""), stored_card.get("license", "")
        card.registry_classes = stored_card.get("classes")
    else:
        problems.append(f"dataset '{name}' has stored results but is not in the dataset registry: its card is empty")
    card.split_seeds = sorted({p.info.get("split_seed") for p in pairs if p.info.get("split_seed") is not None}
                              | {r.provenance.get("split_seed") for r in rows if r.provenance.get("split_seed") is not None})
    card.fingerprints = sorted({p.info.get("split_fingerprint") for p in pairs if p.info.get("split_fingerprint")}
                               | {r.provenance.get("split_fingerprint") for r in rows
                                  if r.provenance.get("split_fingerprint")})
    summary = _summary_from_info(pairs)
    if summary is not None:
        card.counts_note = "from the stored split summary"
    elif card.registered and data_root is not None and len(card.split_seeds) <= 1 and any(
            r.status == OK for r in rows):
        seed = card.split_seeds[0] if card.split_seeds else 0
        summary = _load_summary(name, data_root, int(seed), card.fingerprints, problems)
        if summary is not None:
            card.counts_note = "rebuilt from the data root (fingerprint checked)"
    if summary is not None:
        counts = summary.get("class_counts")
        card.class_counts = counts if isinstance(counts, dict) else {"train": list(counts)}
        card.class_names = summary.get("class_names")
        card.minority_classes = list(summary.get("minority_classes") or [])
        card.imbalance_ratio = summary.get("imbalance_ratio")
        card.unlabeled = summary.get("unlabeled") if isinstance(summary.get("unlabeled"), dict) else None
        card.duplicates = summary.get("duplicates") if isinstance(summary.get("duplicates"), dict) else None
    else:
        card.counts_note = "not stored with the results; pass --data-root to rebuild them from the data"
        curves = next((r.artifacts.get("pr_curves") for r in rows if r.status == OK
                       and isinstance(r.artifacts.get("pr_curves"), dict)), None)
        if curves:  # the re-runs stored one curve per minority class
            card.minority_classes = sorted(int(c) for c in curves if str(c).isdigit())
    return card
