"""The report survives hostile names (never mathtext), says which pairs were still in progress, and a
full disk under the output folder ends in one line with no temporary file left behind."""

from __future__ import annotations

import errno
import subprocess
from pathlib import Path

import numpy as np
import pytest

from benchmark.errors import BenchmarkError
from benchmark.report import build_report, plots
from benchmark.store import Store
from tests.report.test_report import BUDGET, SUITE

HOSTILE = ("$\\notacommand{$", "a$x^2$b", "$$", "50$ off")


def metric_values(method: str, seed: int) -> dict[str, float]:
    q = 0.4 + 0.03 * (len(method) % 7) + 0.01 * seed
    return {"minority_recall": q, "minority_f1": q, "minority_pr_auc": q, "balanced_accuracy": q + 0.1,
            "macro_f1": q, "accuracy": q + 0.2, "gmean": q, "ece": 0.05}


def add_result(store: Store, dataset: str, method: str, seeds=(0, 1)) -> None:
    store.update_pair(SUITE, dataset, method, status="complete", budget=BUDGET)
    for seed in seeds:
        store.claim_seed(SUITE, dataset, method, seed)
        store.finish_seed(SUITE, dataset, method, seed, status="ok", metrics=metric_values(method, seed),
                          per_class={"recall": [0.5, 0.7]})


def test_figures_draw_dollar_signs_as_typed_never_as_mathtext():
    names = [*HOSTILE, "plain"]
    svg = plots.cd_diagram(names, [1.0, 2.0, 3.0, 3.5, 4.5], 0.8, [[0, 1]], title="$\\bad{$")
    assert "\\notacommand{" in svg and "a$x^2$b" in svg
    svg = plots.recall_heatmap(names, ["c$0", "$c1$"], np.full((5, 2), 0.5), [False, True], "t $\\x$")
    assert "$c1$" in svg
    with pytest.raises(ValueError):  # the guard is live: matplotlib's default parses these and fails
        import matplotlib.pyplot as plt

        with plt.rc_context({**plots.STYLE, "text.parse_math": True}):
            fig = plt.figure()
            fig.text(0, 0, HOSTILE[0])
            plots.to_svg(fig)


def test_a_hostile_method_name_does_not_stop_the_report(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'r.db'}")
    for dataset in ("keel-yeast3", "sms-spam-mini"):
        for method in ("baseline", *HOSTILE):
            add_result(store, dataset, method)
    built = build_report(store, SUITE, tmp_path / "out")
    index = Path(built.index).read_text()
    assert "a$x^2$b" in index and "\\notacommand{" in index
    assert not list((tmp_path / "out").rglob("*.tmp"))


def test_a_report_built_while_pairs_run_says_which_are_in_progress(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'r.db'}")
    add_result(store, "keel-yeast3", "baseline")
    add_result(store, "keel-yeast3", "smote")
    store.update_pair(SUITE, "sms-spam-mini", "smote", status="tuning", budget=BUDGET)
    store.update_pair(SUITE, "sms-spam-mini", "baseline", status="re-running", budget=BUDGET)
    store.claim_seed(SUITE, "sms-spam-mini", "baseline", 0)
    built = build_report(store, SUITE, tmp_path / "out")
    index = Path(built.index).read_text()
    assert ("2 pair(s) were still in progress when this report was written (running elsewhere, or interrupted): "
            "sms-spam-mini × baseline (re-running), sms-spam-mini × smote (tuning)") in index
    for name in ("baseline", "smote"):  # once they finish, the note is gone
        store.update_pair(SUITE, "sms-spam-mini", name, status="complete")
    assert "still in progress" not in Path(build_report(store, SUITE, tmp_path / "out").index).read_text()


def test_a_full_output_disk_is_one_line_and_leaves_no_temporary_file(tmp_path, monkeypatch):
    """Simulated ENOSPC (every file write fails part way) so that it runs anywhere; the tmpfs test in
    tests/e2e/test_fault_injection.py fills a real file system."""
    store = Store(f"sqlite:///{tmp_path / 'r.db'}")
    add_result(store, "keel-yeast3", "baseline")
    real = Path.write_bytes

    def full(self, data):
        real(self, data[: len(data) // 2])
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Path, "write_bytes", full)
    with pytest.raises(BenchmarkError) as caught:
        build_report(store, SUITE, tmp_path / "out")
    message = str(caught.value)
    assert "\n" not in message and "no space left on the device to write" in message
    assert "datasets/keel-yeast3.html (" in message and "KB needed" in message
    assert not list((tmp_path / "out").rglob("*.tmp"))


def can_mount() -> bool:
    probe = Path("/tmp/benchmark-mount-probe")
    probe.mkdir(exist_ok=True)
    ok = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(probe)], capture_output=True).returncode == 0
    if ok:
        subprocess.run(["umount", str(probe)], check=True)
    return ok


@pytest.fixture
def small_disk(tmp_path):
    """A real 200 KB file system (tmpfs; needs root), unmounted afterwards."""
    if not can_mount():
        pytest.skip("mounting a tmpfs needs root")
    folder = tmp_path / "small"
    folder.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=200k", "tmpfs", str(folder)], check=True)
    yield folder
    subprocess.run(["umount", "--lazy", str(folder)], check=True)


def test_a_report_into_a_really_full_disk_is_one_line_without_temporary_files(tmp_path, small_disk):
    store = Store(f"sqlite:///{tmp_path / 'r.db'}")
    for dataset in ("keel-yeast3", "sms-spam-mini"):
        for method in ("baseline", "smote"):
            add_result(store, dataset, method)
    (small_disk / "filler").write_bytes(b"x" * 150_000)
    with pytest.raises(BenchmarkError, match=r"no space left on the device to write .*needed, .* free"):
        build_report(store, SUITE, small_disk / "out")
    assert not list(small_disk.rglob("*.tmp"))
    (small_disk / "filler").unlink()
    assert Path(build_report(store, SUITE, small_disk / "out").index).exists()
