"""Suite files (TOML): what a complete file resolves to, the checks that name a bad key with its table
path and the valid keys, the digest stored with each pair, a changed file refused before any work, and
suites from other packages through the ``benchmark.suites`` entry-point group."""

from __future__ import annotations

import textwrap

import pytest

import benchmark.registry as registry_module
from benchmark.errors import BenchmarkError
from benchmark.methods import method_registry
from benchmark.suites import Suite, load_suite_file, resolve_suite, suite_registry
from benchmark.suites.files import TRAINING_KEYS

COMPLETE = """
    # every key a suite file may hold
    name = "my-suite"
    description = "two KEEL sets and a table"
    datasets = ["keel-yeast3", "keel-glass?", {file = "data/credit.csv", target = "label", nominal = ["code"]}]
    methods = ["baseline", "random-*sampling"]
    families = ["ensemble"]
    split_seeds = 2
    objective = "balanced_accuracy"
    pruner = "median"
    tune = ["lr"]
    tuning_width = 2
    intended_device = "gpu"

    [budget]
    trials = 3
    seeds = 2
    timeout = 60
    device_seconds = 120.5

    [engines]
    tabular = "classical"

    [training.tabular]
    epochs = 7
    batch_size = 32
    lr = 1e-2
    lr_steps = [0.5, 0.75]
"""


def write(tmp_path, text, name="suite.toml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


@pytest.fixture
def table(tmp_path):
    (tmp_path / "data").mkdir()
    rows = "".join(f"{i / 10},{i % 3},{'rare' if i % 6 == 0 else 'common'}\n" for i in range(60))
    (tmp_path / "data" / "credit.csv").write_text("x,code,label\n" + rows)
    return tmp_path / "data" / "credit.csv"


def test_a_complete_file(tmp_path, table):
    suite = load_suite_file(write(tmp_path, COMPLETE))
    assert suite.name == "my-suite" and suite.description == "two KEEL sets and a table"
    assert suite.datasets == ("keel-yeast3", "keel-glass0", "keel-glass1", "keel-glass2", "keel-glass4",
                              "keel-glass5", "keel-glass6", "credit")
    ensembles = {n for n, m in method_registry.items() if m.family == "ensemble"}
    assert suite.methods[:3] == ("baseline", "random-oversampling", "random-undersampling")
    assert set(suite.methods) == {"baseline", "random-oversampling", "random-undersampling"} | ensembles
    assert suite.budget.record() == {"trials": 3, "seeds": 2, "timeout": 60, "device_seconds": 120.5}
    assert (suite.split_seeds, suite.objective, suite.pruner, suite.tune, suite.tuning_width, suite.intended_device) == (
        2, "balanced_accuracy", "median", ("lr",), 2, "gpu")
    assert suite.engines == {"image": "deep", "text": "deep", "tabular": "classical"}
    config = suite.training_for("keel-yeast3", "tabular")
    assert (config.epochs, config.batch_size, config.lr, config.lr_steps) == (7, 32, 0.01, (0.5, 0.75))
    credit = suite.file_datasets["credit"]
    assert credit.params["path"] == str(table) and credit.params["nominal"] == ["code"]  # relative to the file
    assert suite.origin == str(tmp_path / "suite.toml")
    card = resolve_suite(str(tmp_path / "suite.toml")).card()
    assert card["file_datasets"] == {"credit": "file:data/credit.csv?target=label&nominal=code"}


def test_the_name_defaults_to_the_stem_and_overrides_merge_over_the_modality(tmp_path):
    path = write(tmp_path, """
        datasets = ["keel-pima", {name = "keel-yeast*", training = {epochs = 3}}]
        [budget]
        trials = 1
        seeds = 1
        [training.tabular]
        epochs = 9
        batch_size = 16
    """, name="quick-one.toml")
    suite = load_suite_file(path)
    assert suite.name == "quick-one" and suite.methods is None  # no methods: every method that applies
    assert "keel-yeast3" in suite.dataset_training and "keel-pima" not in suite.dataset_training
    own = suite.training_for("keel-yeast3", "tabular")
    assert (own.epochs, own.batch_size) == (3, 16)  # epochs its own, batch size the modality's
    assert suite.training_for("keel-pima", "tabular").epochs == 9


def test_mixed_list_and_array_of_tables_is_refused_by_toml(tmp_path):
    path = write(tmp_path, 'datasets = ["keel-pima"]\n[[datasets]]\nname = "keel-yeast3"\n')
    with pytest.raises(BenchmarkError, match="is not valid TOML"):
        load_suite_file(path)


BASE = """
    datasets = ["keel-yeast3"]
    [budget]
    trials = 1
    seeds = 1
    [training.tabular]
    epochs = 2
"""


@pytest.mark.parametrize("change, needle, valid", [
    (("epochs = 2", "epochz = 2"), "unknown key 'training.tabular.epochz' (did you mean 'epochs'?)",
     "valid keys of [training.tabular]: " + ", ".join(TRAINING_KEYS)),
    (("trials = 1", "trails = 1"), "unknown key 'budget.trails'", "valid keys of [budget]: trials, seeds, timeout, "
                                                                   "device_seconds"),
    (("datasets =", "datasetz = 1\ndatasets ="), "unknown key 'datasetz'", "valid keys of the top level: name, "),
    (("[training.tabular]", "[training.tabluar]"), "unknown key 'training.tabluar'",
     "valid keys of [training]: image, text, tabular"),
    (('["keel-yeast3"]', '[{name = "keel-yeast3", epochs = 3}]'), "unknown key 'datasets[0].epochs'",
     "valid keys of [datasets[0]]: name, training"),
    (('["keel-yeast3"]', '[{file = "x.csv", traget = "y"}]'), "unknown key 'datasets[0].traget'", "target"),
    (("epochs = 2", "epochs = \"two\""), "training.tabular.epochs = 'two' is a string", "a whole number"),
    (("epochs = 2", "cuda_graphs = 1"), "training.tabular.cuda_graphs = 1 is a whole number", "true or false"),
    (("epochs = 2", "epochs = 0"), "[training.tabular]: epochs=0 is invalid", "at least 1 epoch"),
    (("seeds = 1", "seeds = 0"), "budget.seeds 0 is invalid", "at least 1 seed"),
    (("seeds = 1", ""), "budget.seeds is missing", "add seeds = N"),
    (("keel-yeast3", "keel-yeast33"), "datasets[0]: unknown dataset 'keel-yeast33'", "fix the name"),
    (("keel-yeast3", "nokeel-*"), "the pattern 'nokeel-*' matches no registered dataset", "list datasets"),
    (("[budget]", 'methods = ["smoet"]\n[budget]'), "methods[0]: unknown method 'smoet'", "fix the name"),
    (("[budget]", 'families = ["losses"]\n[budget]'), "'losses' is not a method family (did you mean 'loss'?)",
     "use some of: "),
    (("[budget]", 'name = "smoke"\n[budget]'), "name 'smoke' is a registered suite's", "another name"),
    (("[budget]", 'objective = "accuracyy"\n[budget]'), "objective 'accuracyy' is unknown", "use one of"),
    (("[budget]", 'tune = ["momentum"]\n[budget]'), "tunes unknown shared parameters ['momentum']", "lr"),
    (("[budget]", "split_seeds = true\n[budget]"), "split_seeds = True is a boolean", "a whole number"),
    (("[budget]", 'intended_device = "tpu"\n[budget]'), "has intended_device 'tpu'", "use 'any' or 'gpu'"),
    (("[budget]", '[engines]\ntabular = "gpu"\n[budget]'), "engines.tabular = 'gpu' is unknown", "deep, classical"),
    (("[training.tabular]\nepochs = 2", "[training.image]\nepochs = 2"),
     "no training settings for tabular data (dataset 'keel-yeast3')", "add a [training.tabular] table"),
])
def test_a_bad_file_names_the_key_and_what_is_valid(tmp_path, change, needle, valid):
    text = textwrap.dedent(BASE).replace(*change)
    path = write(tmp_path, text)
    with pytest.raises(BenchmarkError) as info:
        load_suite_file(path)
    message = str(info.value)
    assert needle in message and valid in (info.value.fix or "") + message
    assert str(path) in message and "\n" not in message  # names the file, on one line


def test_missing_and_invalid_files(tmp_path):
    with pytest.raises(BenchmarkError, match="suite file .*nope.toml does not exist"):
        resolve_suite(str(tmp_path / "nope.toml"))
    with pytest.raises(BenchmarkError, match="is not valid TOML"):
        load_suite_file(write(tmp_path, "datasets = [\n"))
    assert resolve_suite("smoke") is suite_registry.get("smoke")  # a name is still a registered suite


def digest_of(tmp_path, text, dataset="keel-yeast3", name="suite.toml"):
    return load_suite_file(write(tmp_path, text, name)).pair_digest(dataset, "tabular")


def test_the_pair_digest_follows_the_settings_not_the_bytes(tmp_path):
    base = digest_of(tmp_path, BASE)
    assert base is not None and len(base) == 64
    assert digest_of(tmp_path, "# a comment\n\n" + BASE.replace("epochs = 2", "epochs   =   2  # two")) == base
    assert digest_of(tmp_path, BASE.replace('["keel-yeast3"]', '["keel-yeast3", "keel-pima"]')) == base
    assert digest_of(tmp_path, BASE.replace("[budget]", 'methods = ["smote"]\n[budget]')) == base
    assert digest_of(tmp_path, BASE.replace("epochs = 2", "epochs = 3")) != base
    assert digest_of(tmp_path, BASE.replace("[budget]", "tuning_width = 1\n[budget]")) != base
    assert digest_of(tmp_path, BASE.replace("[budget]", '[engines]\ntabular = "classical"\n[budget]')) != base
    assert digest_of(tmp_path, BASE.replace("[budget]", '[engines]\nimage = "classical"\n[budget]')) == base
    assert suite_registry.get("smoke").pair_digest("keel-yeast3", "tabular") is None  # built-in: none


def test_a_changed_file_is_refused_before_any_work(tmp_path, table):
    from benchmark.run import RunOptions
    from benchmark.store import Store

    text = BASE.replace('["keel-yeast3"]', '["keel-yeast3", {file = "data/credit.csv", target = "label"}]')
    path = write(tmp_path, text)
    url = f"sqlite:///{tmp_path / 'r.db'}"
    plan = RunOptions(suite=str(path), methods=["baseline"], storage=url, device="cpu").resolve()
    assert plan.datasets == ["keel-yeast3", "credit"] and set(plan.file_datasets) == {"credit"}
    assert plan.dataset_entry("credit") is plan.suite.file_datasets["credit"]
    budget = plan.pair_budget("credit")
    assert budget["suite_digest"] == plan.suite.pair_digest("credit", "tabular")
    assert budget["data_file"]["target"] == "label" and "path" not in budget["data_file"]
    store = Store(url)
    for dataset in plan.datasets:  # as a finished run leaves them
        store.update_pair(plan.suite.name, dataset, "baseline", status="complete", budget=plan.pair_budget(dataset))
    RunOptions(suite=str(path), methods=["baseline"], storage=url, device="cpu").resolve()  # unchanged: resumes
    path.write_text(text.replace("epochs = 2", "epochs = 4"))
    with pytest.raises(BenchmarkError, match=r"suite 'suite' is stored .* other settings than the suite file .*"
                                             r"training settings, engine or tuning width of this dataset changed"
                                             r".*first seen on pair credit x baseline") as info:
        RunOptions(suite=str(path), methods=["baseline"], storage=url, device="cpu").resolve()
    assert "give the changed suite another name" in info.value.fix
    path.write_text(text.replace("trials = 1", "trials = 5"))
    with pytest.raises(BenchmarkError, match="trials 1 -> 5"):
        RunOptions(suite=str(path), methods=["baseline"], storage=url, device="cpu").resolve()
    path.write_text(text.replace('target = "label"', 'target = "label", drop = ["code"]'))
    with pytest.raises(BenchmarkError, match="the file dataset's options changed.*credit x baseline"):
        RunOptions(suite=str(path), methods=["baseline"], storage=url, device="cpu").resolve()


def test_datasets_from_the_command_line(tmp_path, table, monkeypatch):
    from benchmark.run import RunOptions

    monkeypatch.chdir(tmp_path)
    url = f"sqlite:///{tmp_path / 'r.db'}"
    plan = RunOptions(suite="smoke", datasets=["keel-yeast3", "file:data/credit.csv?target=label&name=cr"],
                      methods=["baseline"], storage=url, device="cpu").resolve()
    assert plan.datasets == ["keel-yeast3", "cr"] and plan.dataset_entry("cr").params["path"] == str(table)
    assert "suite_digest" not in plan.pair_budget("cr") and plan.pair_budget("cr")["data_file"]["kind"] == "table"
    assert plan.pair_budget("keel-yeast3") == plan.pair_budget()  # a built-in suite's records are unchanged
    with pytest.raises(BenchmarkError, match="named 'keel-yeast3', a registered dataset's name"):
        RunOptions(suite="smoke", datasets=["file:data/credit.csv?target=label&name=keel-yeast3"], storage=url,
                   device="cpu").resolve()


def test_a_suite_from_an_entry_point_is_found(tmp_path, monkeypatch):
    """A plugin package names a Suite (built in code, or read from a TOML file it ships)."""
    shipped = load_suite_file(write(tmp_path, BASE.replace("datasets =", 'name = "plugin-toml"\ndatasets ='),
                                    name="plugin.toml"))
    in_code = Suite(name="plugin-suite", description="from a plugin", datasets=("keel-pima",), methods=("baseline",),
                    budget=suite_registry.get("smoke").budget, training=suite_registry.get("smoke").training)

    class FakeEntryPoint:
        def __init__(self, name, obj):
            self.name, self.value, self._obj = name, f"plugin_pkg:{name}", obj

        def load(self):
            return self._obj

    groups = []

    def fake_entry_points(group):
        groups.append(group)
        return [FakeEntryPoint("plugin-suite", in_code), FakeEntryPoint("more", [shipped])]

    monkeypatch.setattr(registry_module, "entry_points", fake_entry_points)
    monkeypatch.setattr(suite_registry, "_entries", dict(suite_registry._entries))  # leave no trace
    monkeypatch.setattr(suite_registry, "_discovered", False)
    assert resolve_suite("plugin-suite") is in_code and resolve_suite("plugin-toml") is shipped
    assert groups == ["benchmark.suites"]
    assert {"plugin-suite", "plugin-toml", "smoke"} <= set(suite_registry.names())


def test_show_suite_of_a_file(tmp_path, monkeypatch, capsys):
    import json

    from benchmark.cli import main

    path = write(tmp_path, BASE, name="quick.toml")
    with pytest.raises(SystemExit) as done:
        main(["show", "suite", str(path), "--format", "json"])
    assert done.value.code == 0
    card = json.loads(capsys.readouterr().out)
    assert card["name"] == "quick" and card["file"] == str(path) and card["training"]["tabular"]["epochs"] == 2
