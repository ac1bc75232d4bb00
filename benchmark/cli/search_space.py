"""A method's search space as ``show method`` prints it: what its ``search_space(trial, ctx)`` asks for.

The space is recorded, not declared: the method's own function is called with real Optuna trials of an
in-memory study (random sampling, a fixed seed), on a context built from a tiny split of the method's
first modality (:mod:`benchmark.testing`). Several draws reach the parameters that are asked only for
some values of another (conditional ones, marked so). The shared training parameters a suite tunes for
every method alike (``Suite.tune``: learning rate, weight decay) are not part of a method's space.
"""

from __future__ import annotations

import warnings
from typing import Any

DRAWS = 24  # enough for every branch of the spaces in the registry; a draw costs microseconds


def recorded_search_space(method: Any, draws: int = DRAWS) -> tuple[dict[str, Any], str | None]:
    """The space, ``{param: {"type": "float"|"int"|"categorical", "low", "high", "log", "step", "choices",
    "conditional"}}``, and the tiny split it was asked on (ranges computed from the data, such as a class
    prior, hold for that split); ``({"error": ...}, None)`` when no tiny split of its modalities lets it
    be asked. Tiny splits are tried in order (the first of its first modality is
    three-class; a method for binary tasks gets the binary one)."""
    import optuna

    from benchmark.testing import tiny_splits

    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # no "A new study created in memory" line
    error = "no tiny split to ask it on"
    try:
        for modality in method.modalities:
            for split in tiny_splits(modality):
                try:
                    return _record_draws(method, split, draws), split.dataset
                except Exception as exc:  # e.g. a space for binary tasks asked on a three-class split
                    error = f"{type(exc).__name__}: {exc}"
    finally:
        optuna.logging.set_verbosity(verbosity)
    return {"error": error}, None


def _record_draws(method: Any, split: Any, draws: int) -> dict[str, Any]:
    import optuna

    from benchmark.methods import MethodContext
    from benchmark.testing import tiny_config

    ctx = MethodContext.from_split(split, method.engines[0], epochs=tiny_config().epochs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    found: dict[str, Any] = {}
    seen: dict[str, int] = {}
    for _ in range(draws):
        trial = study.ask()
        method.search_space(trial, ctx)
        for name, distribution in trial.distributions.items():
            found.setdefault(name, distribution)
            seen[name] = seen.get(name, 0) + 1
        study.tell(trial, 0.0)
    return {name: {**record(dist), "conditional": seen[name] < draws} for name, dist in found.items()}


def record(distribution: Any) -> dict[str, Any]:
    """One Optuna distribution as plain data."""
    kind = type(distribution).__name__
    if kind == "CategoricalDistribution":
        return {"type": "categorical", "choices": [_plain(c) for c in distribution.choices]}
    rec = {"type": "int" if kind == "IntDistribution" else "float", "low": distribution.low,
           "high": distribution.high, "log": bool(distribution.log)}
    if getattr(distribution, "step", None) not in (None, 1) or (kind == "FloatDistribution" and distribution.step):
        rec["step"] = distribution.step
    return rec


def _plain(value: Any) -> Any:
    return value if value is None or isinstance(value, bool | int | float | str) else repr(value)


def describe(space: dict[str, Any]) -> list[str]:
    """Lines such as ``gamma  float in [0.5, 5.0], log scale``."""
    if "error" in space and not isinstance(space["error"], dict):
        return [f"(could not be asked on a tiny split: {space['error']})"]
    width = max((len(n) for n in space), default=0)
    lines = []
    for name, rec in space.items():
        if rec["type"] == "categorical":
            text = "one of " + ", ".join(str(c) for c in rec["choices"])
        else:
            text = f"{rec['type']} in [{rec['low']:g}, {rec['high']:g}]"
            text += ", log scale" if rec["log"] else ""
            text += f", step {rec['step']:g}" if "step" in rec else ""
        text += " (asked only for some values of the others)" if rec.get("conditional") else ""
        lines.append(f"{name.ljust(width)}  {text}")
    return lines
