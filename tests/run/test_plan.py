"""``run --plan``: the pairs, fits, samples and device-hours of a run, counted without training and
without writing; checked against what the suite implies and against what a real run stores."""

from __future__ import annotations

import json
import sqlite3
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest

from benchmark.datasets import dataset_registry
from benchmark.methods import method_registry
from benchmark.run import RunOptions
from benchmark.run import cost as cost_module
from benchmark.run.calibration import StepShape, Workload, calibrate
from benchmark.run.cost import TO_RUN, plan_cost
from benchmark.run.plan import WORKER_MEMORY, machine_capacity
from benchmark.training.base import TrainingConfig
from benchmark.training.epochs import epoch_compute


def run_cli(args: list[str], tmp_path: Path, monkeypatch, capsys) -> tuple[int, str, str]:
    from benchmark.cli import main

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", ["benchmark"])
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    captured = capsys.readouterr()
    return exit_info.value.code, captured.out, captured.err


def tiny_calibrations(workloads, device):
    """A real measurement of a tiny step, standing for every shape: the plan's arithmetic is what is checked."""
    tiny = calibrate(Workload(StepShape("small-cnn", (1, 8, 8), 8), 2, 16, 4, TrainingConfig(batch_size=8)), device)
    return {w.shape: replace(tiny, shape=w.shape) for w in workloads}


def dump(path: Path) -> list[str]:
    """Every row of every table of an SQLite store, in order: equal dumps, equal contents."""
    with sqlite3.connect(path) as conn:
        return list(conn.iterdump())


def held_out(n: int, fraction: float) -> int:
    """Validation rows of a class of ``n``: the protocol's rule, written out."""
    return min(max(1, round(fraction * n)), n - 1)


def fixed_generators(cost, splits, device):
    """Every generative row timed as one made-up generator (timing each on images takes minutes on a CPU):
    the plan's arithmetic is what is checked; tests/run/test_pilot.py times real ones."""
    for p in cost.to_run():
        if p.generator_samples:
            cost.generators[p.method] = (1000, 0.5, 2e-5)


def test_plan_of_vision_lt_counts_what_the_suite_implies(data_root, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(cost_module, "calibrate_all", tiny_calibrations)
    monkeypatch.setattr(cost_module, "measure_generators", fixed_generators)
    store = tmp_path / "absent.db"
    started = time.perf_counter()
    status, out, err = run_cli(["run", "--suite", "vision-lt", "--plan", "--format", "json", "--data-root",
                                str(data_root), "--storage", f"sqlite:///{store}"], tmp_path, monkeypatch, capsys)
    elapsed = time.perf_counter() - started
    assert status == 0, err
    assert elapsed < 60
    assert not store.exists()  # the plan never creates the store
    record = json.loads(out)
    methods = method_registry.names()
    assert record["totals"]["pairs"] == 4 * len(methods) and len(record["pairs"]) == 4 * len(methods)
    pairs = {(p["dataset"], p["method"]): p for p in record["pairs"]}
    datasets = {d["name"]: d for d in record["datasets"]}
    assert {d: datasets[d]["source"] for d in datasets} == {"mnist-lt": "card", "fashion-mnist-lt": "data",
                                                            "cifar10-lt": "card", "cifar100-lt": "card"}
    # training rows: fashion-mnist-lt's loaded split; the others from their cards' pool counts
    assert datasets["fashion-mnist-lt"]["train_rows"] == len(dataset_registry.get("fashion-mnist-lt").load(data_root).train)
    for name in ("mnist-lt", "cifar10-lt", "cifar100-lt"):
        counts = dataset_registry.get(name).stats["long_tail_counts"]
        assert datasets[name]["train_rows"] == sum(counts) - sum(held_out(n, 0.2) for n in counts)
    epochs = {"mnist-lt": 30, "fashion-mnist-lt": 30, "cifar10-lt": 200, "cifar100-lt": 200}
    to_run = [p for p in record["pairs"] if p["status"] == TO_RUN]
    for p in to_run:
        d = datasets[p["dataset"]]
        assert (p["trials"], p["seeds"], p["stored_trials"], p["stored_seeds"]) == (20, 3, 0, 0)
        assert p["samples"] == 23 * epochs[p["dataset"]] * epoch_compute(d["train_rows"], 128)[0]
    for p in record["pairs"]:
        assert (p["status"] == TO_RUN) != bool(p["reason"]), p  # every pair not run says why
    assert record["totals"]["fits"] == 23 * len(to_run)
    assert record["totals"]["samples"] == sum(p["samples"] for p in to_run)
    # what a run would refuse: a binary-only loss everywhere, a mirror on digits (not on garments or CIFAR)
    assert all(pairs[(d, "alpha-balanced-ce")]["status"] == "not-applicable" for d in epochs)
    assert pairs[("mnist-lt", "horizontal-flip")]["status"] == "not-applicable"
    assert {pairs[(d, "horizontal-flip")]["status"] for d in ("fashion-mnist-lt", "cifar10-lt")} == {TO_RUN}
    assert all(pairs[(d, "baseline")]["status"] == TO_RUN for d in epochs)
    # device-hours: every fit's start-up plus its samples at the calibrated rate (images do not stack on a CPU),
    # plus what the pilot pair paid per fit besides its steps, plus each generator's start-up (scaled by the
    # cells of the pair's table) and samples, measured on this machine
    calibration, pilot, generators = record["calibrations"][0], record["pilot"], record["generators"]
    rate, overhead = calibration["samples_per_second"], calibration["overhead_seconds"]
    assert pilot["fits"] == 23 and pilot["fit_seconds"] > 0 and not record["stack_rates"]
    assert not any(q["stacked"] for q in to_run)
    assert {q["method"] for q in to_run if q["generator_samples"]} == set(generators) != set()

    def generator(q):
        if not q["generator_samples"]:
            return 0.0
        g = generators[q["method"]]
        return ((q["trials"] > 0) + q["seeds"]) * g["start_seconds"] * q["cells"] / g["cells"] \
            + q["generator_samples"] * g["seconds_per_sample"]

    expected = sum((q["trials"] + q["seeds"]) * (overhead + pilot["fit_seconds"]) + q["samples"] / rate + generator(q)
                   for q in to_run) / 3600
    assert record["totals"]["device_hours"] == pytest.approx(expected, rel=1e-3)
    assert record["totals"]["unestimated_pairs"] == 0
    # a GPU suite planned on a CPU: said so, with the H100 figures' estimate of its training steps
    assert record["intended_device"] == "gpu" and record["gpu_reference"]
    gpu_rates = {"mnist-lt": 176_000, "fashion-mnist-lt": 176_000, "cifar10-lt": 34_700, "cifar100-lt": 34_700}
    assert record["totals"]["gpu_hours"] == pytest.approx(
        sum(q["samples"] / gpu_rates[q["dataset"]] for q in to_run) / 3600, rel=1e-3)
    # the pairs not run, one line per rule with its count; every pair is in the JSON with its own reason
    groups = {(g["status"], g["reason"]): g["pairs"] for g in record["not_run_by_reason"]}
    assert sum(groups.values()) == len(record["pairs"]) - len(to_run)
    assert groups[("not-applicable", "this loss is defined for binary tasks")] == 4 * len(
        [m for m in methods if pairs[("mnist-lt", m)]["reason"] and "binary" in pairs[("mnist-lt", m)]["reason"]])
    assert {c["shape"] for c in record["calibrations"]} == {"small-cnn 1x28x28 b128", "resnet32 3x32x32 b128"}
    assert record["pruning"]["assumption"] == "no pruning: an upper bound"
    assert record["packing"]["per_device"] == 1 and record["workers"] == min(machine_capacity()[0], capped())


@pytest.mark.slow  # starts processes (the CLI or workers): seconds, kept out of -m 'not slow'
def test_plan_subtracts_what_a_run_stored_and_writes_nothing(data_root, tmp_path, monkeypatch, capsys):
    store = tmp_path / "store.db"
    common = ["--suite", "smoke", "--datasets", "keel-yeast3", "--storage", f"sqlite:///{store}", "--data-root",
              str(data_root)]
    args = [*common, "--methods", "baseline,class-weighted-ce"]
    plan = RunOptions(suite="smoke", methods=["baseline", "class-weighted-ce"], datasets=["keel-yeast3"],
                      storage=f"sqlite:///{store}", data_root=str(data_root), plan_only=True).resolve()
    before = plan_cost(plan, calibrate=False)
    assert [(p.trials, p.seeds) for p in before.to_run()] == [(2, 1)] * 4  # 2 methods x 2 split seeds
    assert not store.exists()

    status, _, err = run_cli(["run", *common, "--methods", "baseline", "--quiet", "--output", str(tmp_path / "r")],
                             tmp_path, monkeypatch, capsys)
    assert status == 0, err
    # an interrupted seed re-run and an interrupted trial, as a killed run leaves them
    with sqlite3.connect(store) as conn:
        conn.execute("DELETE FROM benchmark_results WHERE method='baseline' AND split_seed=1")
        conn.execute("UPDATE benchmark_pairs SET status='re-running' WHERE method='baseline' AND split_seed=1")
        conn.execute("UPDATE benchmark_pairs SET status='tuning' WHERE method='baseline' AND split_seed=0")
        study = conn.execute("SELECT study_id FROM studies WHERE study_name='smoke::keel-yeast3::baseline'").fetchone()
        trial = conn.execute("SELECT trial_id FROM trials WHERE study_id=? ORDER BY number DESC", study).fetchone()
        conn.execute("UPDATE trials SET state='FAIL' WHERE trial_id=?", trial)
        conn.execute("DELETE FROM trial_user_attributes WHERE trial_id=? AND key='failure'", trial)
        conn.execute("INSERT INTO trial_user_attributes (trial_id, key, value_json) VALUES (?, 'failure', ?)",
                     (trial[0], json.dumps("interrupted: its worker process was killed by SIGKILL")))
    snapshot = dump(store)
    started = time.perf_counter()
    status, out, err = run_cli(["run", *args, "--plan", "--format", "json"], tmp_path, monkeypatch, capsys)
    assert status == 0, err
    assert time.perf_counter() - started < 60
    assert dump(store) == snapshot  # nothing trained, nothing written
    pairs = {(p["method"], p["split_seed"]): p for p in json.loads(out)["pairs"]}
    left = {key: (p["status"], p["trials"], p["seeds"], p["stored_trials"], p["stored_seeds"])
            for key, p in pairs.items()}
    assert left == {("baseline", 0): (TO_RUN, 1, 0, 1, 1),  # the interrupted trial runs again
                    ("baseline", 1): (TO_RUN, 0, 1, 2, 0),  # tuning done, its seed re-run missing
                    ("class-weighted-ce", 0): (TO_RUN, 2, 1, 0, 0),
                    ("class-weighted-ce", 1): (TO_RUN, 2, 1, 0, 0)}
    samples = {key: p["samples"] for key, p in pairs.items()}
    assert samples[("baseline", 1)] * 3 == samples[("class-weighted-ce", 1)]  # 1 fit of 3 left

    # the table says the same, and a finished pair is counted as stored
    status, out, err = run_cli(["run", *args, "--plan"], tmp_path, monkeypatch, capsys)
    assert status == 0, err
    assert "already stored: 4 fits" in out and "4 to run" in out and "device-hours" in out
    assert dump(store) == snapshot


@pytest.mark.parametrize("args, needle", [
    (["run", "--suite", "no-such-suite", "--plan"], "unknown suite 'no-such-suite'"),
    (["run", "--suite", "smoke", "--format", "json"], "--format json was given without --plan"),
    (["run", "--suite", "smoke", "--plan", "--workers", "many"], "--workers many is invalid"),
])
def test_plan_refuses_bad_input_with_one_line(args, needle, tmp_path, monkeypatch, capsys):
    store = tmp_path / "store.db"
    status, out, err = run_cli([*args, "--storage", f"sqlite:///{store}"], tmp_path, monkeypatch, capsys)
    lines = [line for line in err.splitlines() if line.strip()]
    assert status == 2 and len(lines) == 1 and needle in lines[0], err
    assert out == "" and not store.exists()


def capped() -> int:
    """Local workers the memory allows now (one per GiB available)."""
    _, available = machine_capacity()
    return 10**6 if available is None else max(1, available // WORKER_MEMORY)


def test_workers_auto_is_one_per_core_on_a_cpu(tmp_path):
    url = f"sqlite:///{tmp_path / 's.db'}"
    for workers in (None, "auto"):
        plan = RunOptions(suite="smoke", workers=workers, device="cpu", storage=url).resolve()
        assert plan.options.workers == min(machine_capacity()[0], capped())
        assert cost_module.fill_device(plan) is plan  # nothing to pack on a CPU
        assert any("one per CPU core" in note for note in plan.notes) or plan.options.workers == 1
    assert RunOptions(suite="smoke", workers=1, device="cpu", storage=url).resolve().options.workers == 1


def test_fill_device_takes_the_packing_policys_count(tmp_path, monkeypatch):
    from benchmark.run.packing import Packing

    plan = RunOptions(suite="smoke", device="cpu", storage=f"sqlite:///{tmp_path / 's.db'}").resolve()
    plan = replace(plan, options=replace(plan.options, workers="auto"))  # as resolved on a CUDA machine
    monkeypatch.setattr(cost_module, "plan_cost", lambda p: replace(plan_cost(p, calibrate=False),
                                                                   packing=Packing(2, "2 process(es) per device: test")))
    filled = cost_module.fill_device(plan)
    assert filled.options.workers == 2 and any("--workers auto: 2 worker process(es)" in n for n in filled.notes)


def test_a_table_without_its_files_is_counted_from_its_card(tmp_path):
    plan = RunOptions(suite="tabular", datasets=["imblearn-abalone"], methods=["baseline", "smote-nc"],
                      data_root=str(tmp_path), storage=f"sqlite:///{tmp_path / 's.db'}", plan_only=True).resolve()
    cost = plan_cost(plan, calibrate=False)
    assert {d.source for d in cost.datasets} == {"card"} and len(cost.datasets) == 5  # 5 split seeds
    rows = []
    for n in dataset_registry.get("imblearn-abalone").stats["class_counts"]:  # [3787, 390]
        rest = n - held_out(n, 0.3)
        rows.append(rest - held_out(rest, 0.25))
    assert cost.datasets[0].train_rows == sum(rows)
    status = {(p.method, p.split_seed): p.status for p in cost.pairs}
    assert {status[("baseline", k)] for k in range(5)} == {TO_RUN}
    assert {status[("smote-nc", k)] for k in range(5)} == {"not-applicable"}  # no nominal feature on its card
    assert cost.datasets[0].shape == StepShape("mlp", (10,), 64, "features")


def test_the_pruned_share_comes_from_the_suites_finished_studies(tmp_path):
    from benchmark.run.resume import observed_pruning
    from benchmark.store import Store

    url = f"sqlite:///{tmp_path / 's.db'}"
    store = Store(url)
    plan = RunOptions(suite="smoke", storage=url).resolve()
    # digits-lt trains 6 epochs in smoke: 2 trials of a study could train 12; these trained 6, 4 and 8
    for i, (method, epochs) in enumerate([("baseline", 6), ("smote", 4), ("focal-loss", 8)]):
        store.update_pair("smoke", "digits-lt", method, status="complete", engine="deep",
                          spent={"trials": 2, "epochs": epochs})
        assert observed_pruning(plan, store) == (None if i < 2 else pytest.approx((18 / 36, 3)))
    store.update_pair("smoke", "keel-yeast3", "baseline", status="complete", engine="classical",
                      spent={"trials": 2, "epochs": 0})  # no epochs to prune on the classical engine
    assert observed_pruning(plan, store) == pytest.approx((0.5, 3))
    assert observed_pruning(replace(plan, pruner="none"), store) is None


def test_a_cpu_calibration_is_the_median_of_repeats_after_a_discarded_warm_up(monkeypatch):
    from benchmark.run import calibration as cal

    shape = StepShape("mlp", (8,), 64, "features")
    rates = iter([10.0, 500.0, 90.0, 110.0, 100.0, 95.0, 105.0, 99.0, 101.0])  # the first is the warm-up
    made = []

    def fake(workload, device):
        made.append(1)
        return cal.Calibration(shape, device, next(rates), 0.5, 24, 0.2)

    monkeypatch.setattr(cal, "calibrate", fake)
    result = cal.calibrate_stable(Workload(shape, 2, 780, 200, TrainingConfig()), "cpu")
    # warm-up (10) dropped; repeats until 3 and 1 s timed: 5 runs of 0.2 s -> 500, 90, 110, 100, 95 -> median 100
    assert (result.samples_per_second, result.repeats, len(made)) == (100.0, 5, 6)
    assert result.seconds == pytest.approx(1.0) and result.steps == 5 * 24


def test_the_plan_table_summarises_refusals_by_rule_and_names_the_gpu_suite(tmp_path, monkeypatch):
    from benchmark.cli.plan_table import format_plan

    monkeypatch.setattr(cost_module, "calibrate_all", tiny_calibrations)
    plan = RunOptions(suite="vision-lt", device="cpu", datasets=["mnist-lt", "cifar10-lt"], plan_only=True,
                      storage=f"sqlite:///{tmp_path / 'absent.db'}").resolve()
    cost = plan_cost(plan)
    text = format_plan(cost)
    refused = [p for p in cost.pairs if p.status != TO_RUN]
    rules = [line for line in text.splitlines() if line.startswith("  ") and "not-applicable:" in line]
    assert len(refused) > 3 * len(rules)  # one line per rule, not one per pair
    assert sum(int(line.split()[0]) for line in rules) == len(refused)
    assert "suite 'vision-lt' is meant for a GPU" in text and "on one H100" in text
    assert "s per fit, from a pilot pair of this budget (23 fits" in text
