"""Which leaderboard rows learned from unlabeled data as well as labels, and how much.

Self- and semi-supervised rows that draw on a dataset's unlabeled pool saw more data than the
label-only rows beside them, so the report marks them (:data:`MARK` after the method's name, with a
legend line saying how many unlabeled rows each used) rather than let a reader mistake them for
label-only methods. The figure is read from the stored seed re-runs: the deep engine stores
``timings["unlabeled_rows"]``, the pool rows it offered to training. Rows stored without it (an older
engine, another plugin) are still marked when their method carries the tag :data:`UNLABELED_TAG`,
with the number given as not stored.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from benchmark.methods.base import UNLABELED_TAG
from benchmark.report.records import StoredResult
from benchmark.store import OK

MARK = "U"
LEGEND = "learned from an unlabeled pool as well as the labelled training rows; not a label-only row"


@dataclass
class UnlabeledUse:
    """One method's use of unlabeled data: per dataset, the most pool rows a seed re-run was offered
    (None: known only from the method's tag)."""

    method: str
    rows: dict[str, int | None] = field(default_factory=dict)
    tagged: bool = False
    # per dataset, the most pool rows a seed re-run took into training with pseudo-labels (pseudo-labelling
    # stages store ``pseudo_labelled_rows``): a pool offered is not a pool used
    pseudo_labelled: dict[str, int] = field(default_factory=dict)

    def shown_on(self, dataset: str | None) -> bool:
        """Whether the row is marked on ``dataset``'s page (the suite page when None): where it has
        results that used the pool, or everywhere when only its tag is known."""
        return dataset is None or dataset in self.rows or not self.rows

    def text(self, dataset: str | None = None) -> str:
        """'used N unlabeled rows' (on one dataset, or on each of the suite's datasets)."""
        datasets = [dataset] if dataset is not None else sorted(self.rows)
        known = [(d, self.rows[d]) for d in datasets if d in self.rows]
        if not known:
            return f"uses unlabeled data (its method carries the tag '{UNLABELED_TAG}')"
        parts = []
        for d, n in known:
            where = "" if dataset is not None else f" on {d}"
            added = self.pseudo_labelled.get(d)
            taken = f" (pseudo-labelled and trained on up to {added:,} of them)" if added is not None else ""
            parts.append(f"used {n:,} unlabeled rows{where}{taken}" if n is not None else
                         f"used unlabeled data{where} (tag '{UNLABELED_TAG}'; the number of rows was not stored)")
        return "; ".join(parts)


def unlabeled_uses(results: Sequence[StoredResult], tags: Mapping[str, Sequence[str]]) -> dict[str, UnlabeledUse]:
    """The methods whose successful seed rows used unlabeled data (``timings["unlabeled_rows"]`` > 0),
    or whose method carries the tag ``unlabeled-data``; keyed by method."""
    uses: dict[str, UnlabeledUse] = {}
    ok = [r for r in results if r.status == OK]
    for r in ok:
        n = r.timings.get("unlabeled_rows") if isinstance(r.timings, dict) else None
        if isinstance(n, int | float) and not isinstance(n, bool) and n > 0:
            use = uses.setdefault(r.method, UnlabeledUse(r.method))
            use.rows[r.dataset] = max(int(n), use.rows.get(r.dataset) or 0)
            added = r.timings.get("pseudo_labelled_rows")
            if isinstance(added, int | float) and not isinstance(added, bool):
                use.pseudo_labelled[r.dataset] = max(int(added), use.pseudo_labelled.get(r.dataset, 0))
    for method, method_tags in tags.items():
        if UNLABELED_TAG not in (method_tags or ()):
            continue
        use = uses.setdefault(method, UnlabeledUse(method))
        use.tagged = True
        for r in ok:
            if r.method == method:
                use.rows.setdefault(r.dataset, None)
    return uses


def legend_lines(uses: Mapping[str, UnlabeledUse], methods: Sequence[str], dataset: str | None = None) -> list[str]:
    """One line per marked method among ``methods`` (in their order): 'name: used N unlabeled rows'."""
    lines = []
    for m in methods:
        use = uses.get(m)
        if use is not None and use.shown_on(dataset):
            lines.append(f"{m}: {use.text(dataset)}")
    return lines
