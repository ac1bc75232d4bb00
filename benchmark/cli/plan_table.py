"""The text ``python -m benchmark run ... --plan`` prints: what the run would do, and what it would cost."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from benchmark.run.cost import TO_RUN, RunCost, refused_by_reason

COLUMNS = (("dataset", "<", 22), ("from", "<", 5), ("train", ">", 7), ("epochs x samples", ">", 17),
           ("step (model input batch)", "<", 26), ("pairs", ">", 5), ("fits", ">", 7),
           ("training samples", ">", 16), ("device-hours", ">", 12))


def _row(values: list[Any]) -> str:
    return "  ".join(f"{str(v):{align}{width}}" for v, (_, align, width) in zip(values, COLUMNS, strict=True)).rstrip()


def _hours(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:,.1f}" if value >= 0.1 else f"{value:.3f}"


def format_plan(cost: RunCost) -> str:
    """The plan as aligned plain lines (one per dataset, then totals, assumptions and refusals)."""
    lines = _plan_table(cost) + _plan_assumptions(cost) + _plan_calibration(cost) + _plan_refusals(cost)
    lines.append(f"plan made in {cost.seconds:.1f} s")
    return "\n".join(lines)


def _plan_table(cost: RunCost) -> list[str]:
    """The header, one row per dataset and the totals, with the card-counted datasets' notes."""
    plan = cost.plan
    budget = plan.budget
    counts: dict[str, int] = defaultdict(int)
    for p in cost.pairs:
        counts[p.status] += 1
    lines = [
        f"plan of suite '{plan.suite.name}' on {cost.device}: {cost.device_name}; store {_store(plan.storage)}",
        f"budget per pair: {budget.trials} tuning trials + {budget.seeds} seed re-runs; {plan.split_seeds} split "
        f"seed(s); pruner {plan.pruner}; nothing is trained and nothing is written",
        f"pairs: {len(cost.pairs)} ({len(plan.datasets)} datasets x {len(plan.methods)} methods x {plan.split_seeds} "
        f"split seed(s)): " + ", ".join(f"{n} {s}" for s, n in sorted(counts.items(), key=lambda kv: kv[0] != TO_RUN)),
        "",
        _row([name for name, _, _ in COLUMNS]),
    ]
    card = []
    for d in _by_dataset(cost):
        lines.append(_row(d["row"]))
        if d["note"]:
            card.append(f"  {d['name']}: {d['note']}")
    to_run = cost.to_run()
    lines.append(_row(["total", "", "", "", "", len(to_run), f"{sum(p.fits for p in to_run):,}",
                       f"{sum(p.samples for p in to_run):,}",
                       _hours(cost.device_hours()) + ("+" if cost.unestimated() and cost.calibrations else "")]))
    lines.append("")
    if card:
        lines += ["* counted from the dataset's card, its files being absent here (the plan never downloads):", *card]
    return lines


def _plan_assumptions(cost: RunCost) -> list[str]:
    """What the figures include and leave out: stored fits, generators, pruning, bookkeeping, the GPU."""
    plan = cost.plan
    to_run = cost.to_run()
    share = cost.pruning[0] if cost.pruning else None
    stored = sum(p.stored_trials + p.stored_seeds for p in cost.pairs)
    lines = [f"already stored: {stored:,} fits (tuning trials and seed re-runs), not counted above"]
    generators = [p for p in to_run if p.generator_samples]
    if generators:
        lines.append(f"generator pre-training (generative rows, not in the device-hours): "
                     f"{sum(p.generator_samples for p in generators):,} samples over {len(generators)} pairs "
                     f"(a study's trials share a generator; each seed re-run trains its own)")
    wall = cost.wall_hours()
    if wall is not None:
        lines.append(f"wall time with {plan.options.workers} worker(s), one core each: about {_hours(wall)} hours "
                     "on a quiet machine" + (" (+: the pairs below not included)" if cost.unestimated() else ""))
    lines.append(f"pruning: none assumed, so {_hours(cost.device_hours())} device-hours is an upper bound"
                 + (f"; this suite's {cost.pruning[1]} finished studies in the store trained {share:.0%} of their "
                    f"tuning epochs ({plan.pruner}): with that share, {_hours(cost.device_hours(share))} device-hours"
                    if share is not None else ""))
    if cost.pilot is not None:
        b = cost.pilot
        lines.append(f"besides steps, measured here and included: {b.fit_seconds:.2f} s per fit, from a pilot pair of "
                     f"this budget ({b.fits} fits, {b.seconds:.1f} s: the trial loop, Optuna, scores and rows in a "
                     "temporary SQLite store)")
    stacked = [p for p in to_run if p.stacked]
    if cost.stack_rates and stacked:
        lines.append(f"stacked: {len(stacked)} of {len(to_run)} pairs train their trials and seed re-runs as stacked "
                     "models, at the stacked rates below")
    if plan.suite.intended_device == "gpu" and not cost.device.startswith("cuda"):
        gpu = cost.gpu_hours()
        lines.append(f"suite '{plan.suite.name}' is meant for a GPU: the estimate above is this {cost.device}'s; "
                     + (f"on one H100 its training steps take about {_hours(gpu[0])} hours (docs/performance.md: "
                        f"{'; '.join(gpu[1])})" if gpu else "no GPU figure covers its models"))
    unestimated = cost.unestimated()
    if unestimated:
        engines = sorted({p.engine or "?" for p in unestimated})
        lines.append(f"not in the device-hours (+): {len(unestimated)} pairs to run on the {'/'.join(engines)} "
                     "engine or with inputs the calibration does not synthesise")
    if plan.options.stack_trials > 1 and not plan.stack_exact_only:
        lines.append(f"--stack-trials {plan.options.stack_trials}: calibrated one trial at a time; stacked trials "
                     "share steps, so the estimate is an upper bound")
    return lines


def _plan_calibration(cost: RunCost) -> list[str]:
    """The measured steps each estimate rests on, the packing of trials per device and the workers."""
    plan = cost.plan
    lines: list[str] = []
    if cost.calibrations:
        lines.append(f"calibration on {cost.device_name} (synthetic tensors of each shape, the engine's step with "
                     "the suite's settings, validation in the split's proportion):")
        for c in cost.calibrations.values():
            memory = f", peak {c.peak_reserved / 2**30:.2f} GiB" if c.peak_reserved is not None else ""
            stacked = cost.stack_rates.get(c.shape)
            lines.append(f"  {c.shape.label}: {c.samples_per_second:,.0f} samples/s ({c.steps} steps in "
                         f"{c.seconds:.2f} s), {c.overhead_seconds:.2f} s per fit to start{memory}"
                         + (f"; stacked {stacked:,.0f} samples/s" if stacked else ""))
    if cost.packing is not None:
        lines.append(f"packing: {cost.packing.reason}")
        if len(cost.aggregate) > 1:
            lines.append("  measured at once: " + ", ".join(f"{k}: {v:,.0f} samples/s"
                                                            for k, v in sorted(cost.aggregate.items())))
        single, best = cost.aggregate.get(1), cost.aggregate.get(cost.packing.per_device)
        if single and best:
            lines.append(f"  wall-clock with {cost.packing.per_device} per device: about "
                         f"{_hours(cost.device_hours() * single / best)} hours (device-hours x {single / best:.2f})")
    workers = plan.options.workers
    if workers == "auto" and cost.packing is not None:  # what the run's --workers auto will start
        workers = f"auto: {cost.packing.per_device} per GPU"
    lines.append(f"workers: {workers}")
    return lines


def _plan_refusals(cost: RunCost) -> list[str]:
    """The pairs a run would not run, one line per rule with its count."""
    lines: list[str] = []
    groups = refused_by_reason(cost.pairs)
    if groups:  # one line per rule; every pair with its own reason: --format json
        lines += ["", f"not run ({sum(len(ps) for ps in groups.values())} pairs), as a run records them "
                      "(--format json lists each pair):"]
        for (status, reason), ps in groups.items():
            names = sorted({p.method for p in ps}) if len({p.method for p in ps}) > 1 else sorted({p.dataset for p in ps})
            shown = ", ".join(names[:4]) + (f", ... ({len(names) - 4} more)" if len(names) > 4 else "")
            lines.append(f"  {len(ps)} {status}: {reason} [{shown}]")
    return lines


def _by_dataset(cost: RunCost) -> list[dict[str, Any]]:
    """One table row per dataset: its split seeds' pairs to run added up."""
    rows = []
    for d in cost.datasets:
        if d.split_seed and any(r["name"] == d.name for r in rows):
            row = next(r for r in rows if r["name"] == d.name)
        else:
            row = {"name": d.name, "note": d.note, "pairs": 0, "fits": 0, "samples": 0, "seconds": 0.0,
                   "estimated": True, "dataset": d}
            rows.append(row)
        for p in cost.to_run():
            if p.dataset == d.name and p.split_seed == d.split_seed:
                row["pairs"] += 1
                row["fits"] += p.fits
                row["samples"] += p.samples
                seconds = cost.pair_seconds(p)
                row["seconds"] += seconds or 0.0
                row["estimated"] &= seconds is not None or not p.fits
    for row in rows:
        d = row["dataset"]
        source = d.source + ("*" if d.source != "data" else "")
        per_fit = f"{d.config.epochs} x {d.epoch_samples:,}" if d.train_rows else "-"
        row["row"] = [d.name, source, f"{d.train_rows:,}", per_fit, d.shape.label if d.shape else "-", row["pairs"],
                      f"{row['fits']:,}", f"{row['samples']:,}",
                      _hours(row["seconds"] / 3600 if cost.calibrations else None)
                      + ("" if row["estimated"] or not cost.calibrations else "+")]
    return rows


def _split(split_seed: int) -> str:
    return f" (split {split_seed})" if split_seed else ""


def _store(url: str) -> str:
    from benchmark.store import Store

    return Store.hide_password(url)
