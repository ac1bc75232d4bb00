"""Report figures drawn with matplotlib as inline SVG: critical-difference diagram, per-class recall
heatmap, precision-recall curves, tuning history.

Text stays text in the SVG (searchable, selectable, sharp when printed), is drawn as typed (never
parsed as mathtext or LaTeX), and the output is deterministic (fixed hash salt, no date), so the same results draw the same figures.
"""

from __future__ import annotations

import hashlib
import io
import math
import re
from collections.abc import Sequence
from typing import Any

import matplotlib

matplotlib.use("Agg")  # reports are built headless
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

STYLE = {
    "svg.fonttype": "none",
    "svg.hashsalt": "imbalance-benchmark",
    "font.family": "sans-serif",
    "font.size": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.titlesize": 9.5,
    "axes.titleweight": "bold",
    "legend.frameon": False,
    "legend.fontsize": 8,
    # Names are data, never markup: a method called "$x^2$" (or an unbalanced "$") is drawn as typed
    # instead of being parsed as mathtext (which fails the whole report on a bad expression).
    "text.parse_math": False,
    "text.usetex": False,
}
PALETTE = plt.get_cmap("tab10").colors + plt.get_cmap("Dark2").colors


def method_colors(methods: Sequence[str]) -> dict[str, str]:
    """One colour per method, the same in every figure of a report."""
    return {m: matplotlib.colors.to_hex(PALETTE[i % len(PALETTE)]) for i, m in enumerate(methods)}


def to_svg(fig: plt.Figure) -> str:
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None})
    plt.close(fig)
    svg = buffer.getvalue()
    svg = svg[svg.index("<svg"):]  # drop the XML prologue and doctype: the SVG is inlined in HTML
    # Natural size, shrunk (never enlarged) by the page's CSS to fit narrow windows.
    return unique_ids(svg.replace("<svg ", '<svg class="figure" ', 1))


SVG_ID = re.compile(r'\sid="([^"]+)"')
SVG_REF = re.compile(r'(href="#|url\(#)([^")]+)')


SVG_BLOCK = re.compile(r"<svg\b.*?</svg>", re.S)


def unique_page_ids(html: str) -> str:
    """A page's inlined figures with ids unique across the page: a figure drawn twice with the same content
    (two metrics' critical-difference diagrams of equal ranks) repeats its ids, so each later copy gets a
    numbered suffix on its ids and the references to them."""
    seen: set[str] = set()
    copies = 0

    def renumber(block: re.Match) -> str:
        nonlocal copies
        svg = block.group(0)
        ids = set(SVG_ID.findall(svg))
        if ids & seen:
            copies += 1
            svg = SVG_ID.sub(lambda m: f' id="{m.group(1)}-{copies}"', svg)
            svg = SVG_REF.sub(lambda m: f"{m.group(1)}{m.group(2)}-{copies}", svg)
            ids = set(SVG_ID.findall(svg))
        seen.update(ids)
        return svg

    return SVG_BLOCK.sub(renumber, html)


def unique_ids(svg: str) -> str:
    """Element ids that stay unique when several figures are inlined in one page: matplotlib numbers them
    per figure (``axes_1``, ``patch_2``), so two figures repeat them and the HTML is invalid. Ids nothing
    refers to are dropped; the referenced ones (clip paths, markers) get a prefix from the figure's content."""
    referenced = {m.group(2) for m in SVG_REF.finditer(svg)}
    prefix = "f" + hashlib.sha256(svg.encode()).hexdigest()[:10]
    svg = SVG_ID.sub(lambda m: f' id="{prefix}-{m.group(1)}"' if m.group(1) in referenced else "", svg)
    return SVG_REF.sub(lambda m: f"{m.group(1)}{prefix}-{m.group(2)}", svg)


def cd_diagram(names: Sequence[str], average_ranks: Sequence[float], cd: float,
               groups: Sequence[Sequence[int]], title: str = "") -> str:
    """Demšar's critical-difference diagram: average ranks on an axis (1 = best, left), the CD as a
    bar, and thick lines joining methods whose ranks differ by less than the CD."""
    k = len(names)
    lo, hi = 1, max(k, 2)
    order = sorted(range(k), key=lambda i: average_ranks[i])
    half = math.ceil(k / 2)
    left, right = order[:half], order[half:][::-1]
    rows = max(len(left), len(right))
    line_h = 0.32
    with plt.rc_context(STYLE):
        fig = plt.figure(figsize=(7.2, 1.25 + line_h * (rows + 0.4 * len(groups))))
        ax = fig.add_axes((0, 0, 1, 1))
        ax.set_axis_off()
        x0, x1 = 0.28, 0.72

        def x(rank: float) -> float:
            return x0 + (rank - lo) / (hi - lo) * (x1 - x0)

        top = 0.0
        ax.plot([x(lo), x(hi)], [top, top], color="black", lw=1)
        for r in range(lo, hi + 1):
            ax.plot([x(r), x(r)], [top, top + 0.08], color="black", lw=1)
            ax.text(x(r), top + 0.13, str(r), ha="center", va="bottom", fontsize=8.5)
        for r in np.arange(lo + 0.5, hi, 1.0):
            ax.plot([x(r), x(r)], [top, top + 0.04], color="black", lw=0.7)
        ax.text((x(lo) + x(hi)) / 2, top + 0.42, "average rank (1 = best)", ha="center", va="bottom", fontsize=8)
        # Critical difference bar, above the axis on the left.
        cd_end = min(lo + cd, hi)
        ax.plot([x(lo), x(cd_end)], [top + 0.78, top + 0.78], color="black", lw=1.6)
        for end in (lo, cd_end):
            ax.plot([x(end), x(end)], [top + 0.72, top + 0.84], color="black", lw=1)
        ax.text((x(lo) + x(cd_end)) / 2, top + 0.88, f"CD = {cd:.2f}", ha="center", va="bottom", fontsize=8.5)
        # Clique bars just under the axis.
        clique_y = [top - 0.12 - 0.11 * i for i in range(len(groups))]
        for y, group in zip(clique_y, groups, strict=True):
            rs = [average_ranks[i] for i in group]
            ax.plot([x(min(rs)) - 0.006, x(max(rs)) + 0.006], [y, y], color="black", lw=3.2, solid_capstyle="round")
        base = (clique_y[-1] if clique_y else top) - 0.2
        for side, members in (("left", left), ("right", right)):
            for row, i in enumerate(members):
                y = base - row * line_h
                xr = x(average_ranks[i])
                end = x0 - 0.02 if side == "left" else x1 + 0.02
                ax.plot([xr, xr, end], [top, y, y], color="#444", lw=0.9)
                label = f"{names[i]}  {average_ranks[i]:.2f}" if side == "left" else f"{average_ranks[i]:.2f}  {names[i]}"
                ax.text(end - 0.01 if side == "left" else end + 0.01, y, label, va="center",
                        ha="right" if side == "left" else "left", fontsize=9)
        ax.set_xlim(0, 1)
        ax.set_ylim(base - (rows - 1) * line_h - 0.25, top + 1.1)
        if title:
            ax.set_title(title, loc="left", pad=2)
        return to_svg(fig)


def recall_heatmap(methods: Sequence[str], class_labels: Sequence[str], recall: np.ndarray,
                   minority: Sequence[bool], title: str) -> str:
    """Methods x classes heatmap of per-class test recall (classes already ordered head to tail);
    minority classes are marked with a dot under their label."""
    recall = np.asarray(recall, dtype=np.float64)
    n_m, n_c = recall.shape
    annotate = n_c <= 20 and n_m <= 30
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(max(4.2, min(1.6 + 0.55 * n_c, 11)), 0.9 + 0.34 * n_m))
        image = ax.imshow(np.ma.masked_invalid(recall), cmap="viridis", vmin=0, vmax=1, aspect="auto")
        ax.set_xticks(range(n_c), [f"{lab}{' •' if m else ''}" for lab, m in zip(class_labels, minority, strict=True)],
                      rotation=0 if n_c <= 12 else 90, fontsize=8)
        ax.set_yticks(range(n_m), methods, fontsize=8.5)
        for tick, m in zip(ax.get_xticklabels(), minority, strict=True):
            if m:
                tick.set_color("#b2182b")
                tick.set_fontweight("bold")
        if annotate:
            for i in range(n_m):
                for j in range(n_c):
                    v = recall[i, j]
                    if np.isfinite(v):
                        ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=7,
                                color="black" if v > 0.6 else "white")
        ax.set_xlabel("class (head → tail; • minority)")
        for spine in ax.spines.values():
            spine.set_visible(False)
        fig.colorbar(image, ax=ax, fraction=0.03, pad=0.02, label="recall")
        ax.set_title(title, loc="left")
        return to_svg(fig)


def pr_curve_panels(curves: dict[str, dict[str, dict[str, list[float]]]], class_labels: dict[str, str],
                    colors: dict[str, str], title: str, *, baseline: str | None = None,
                    prevalence: dict[str, float] | None = None) -> str:
    """One panel per minority class; in each, the precision-recall curve of each method.
    ``curves[class][method] = {"precision": [...], "recall": [...]}``. The ``baseline`` method's curve is
    drawn dashed in black and labelled as the baseline, and a class's ``prevalence`` in the test split
    as a dotted horizontal line: the precision of a classifier without skill (Saito and Rehmsmeier 2015)."""
    classes = list(curves)
    cols = min(3, len(classes))
    rows = math.ceil(len(classes) / cols)
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(rows, cols, figsize=(3.0 * cols + 0.4, 2.7 * rows), squeeze=False, sharey=True)
        for ax in axes.flat[len(classes):]:
            ax.set_axis_off()
        for ax, c in zip(axes.flat, classes, strict=False):
            for method, curve in curves[c].items():
                if method == baseline:
                    ax.step(curve["recall"], curve["precision"], where="post", color="#111111", lw=1.6,
                            ls=(0, (4, 2)), label=f"{method} (baseline)", zorder=3)
                else:
                    ax.step(curve["recall"], curve["precision"], where="post", color=colors.get(method), lw=1.4,
                            label=method)
            if prevalence and c in prevalence:
                ax.axhline(prevalence[c], color="#777777", lw=1.0, ls=":",
                           label="no skill (precision = prevalence)")
            ax.set_xlim(0, 1.02)
            ax.set_ylim(0, 1.04)
            ax.set_title(f"class {class_labels.get(c, c)}", loc="left", fontweight="normal")
            ax.set_xlabel("recall")
            ax.grid(alpha=0.25)
        for ax in axes[:, 0]:
            ax.set_ylabel("precision")
        legend: dict[str, Any] = {}  # every method once, whichever panel drew it
        for ax in axes.flat[:len(classes)]:
            for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
                legend.setdefault(label, handle)
        fig.legend(list(legend.values()), list(legend), loc="center left", bbox_to_anchor=(1.0, 0.5))
        fig.suptitle(title, x=0.01, ha="left", fontsize=9.5, fontweight="bold")
        # Fixed spacing rather than tight_layout: the same look, one layout pass fewer.
        fig.subplots_adjust(left=0.1, right=0.98, bottom=0.16 / rows, top=1 - 0.16 / rows, wspace=0.12,
                            hspace=0.5)
        return to_svg(fig)


def tuning_history_plot(histories: dict[str, list[tuple[int, float]]], all_values: dict[str, list[tuple[int, float]]],
                        colors: dict[str, str], objective: str, budget: int | None) -> str:
    """Best validation objective so far against the trial number, one line per method, with each
    completed trial's own value as a faint dot."""
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(6.4, 3.0))
        for method, points in histories.items():
            if not points:
                continue
            xs, ys = zip(*points, strict=True)
            end = max(max(xs), (budget or 1) - 1) + 0.5  # the last best value holds to the end of the budget
            ax.step(list(xs) + [end], list(ys) + [ys[-1]], where="post", color=colors.get(method), lw=1.5, label=method)
            if all_values.get(method):
                vx, vy = zip(*all_values[method], strict=True)
                ax.scatter(vx, vy, s=9, color=colors.get(method), alpha=0.35, lw=0)
        ax.set_xlim(left=-0.3)
        ax.set_xlabel("trial")
        ax.set_ylabel(f"best validation {objective.replace('_', ' ')}")
        ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
        ax.grid(alpha=0.25)
        ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5))
        return to_svg(fig)
