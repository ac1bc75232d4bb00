"""A study resumed under other settings is refused with what changed, one short item per setting."""

from benchmark.tuning.study import differences


def test_a_changed_training_setting_is_named_by_its_own_key():
    stored = {"trials": 2, "config": {"epochs": 4, "lr": 1e-3, "batch_size": 64}}
    asked = {"trials": 2, "config": {"epochs": 4, "lr": 1e-3, "batch_size": 64, "cpu_threads": 1}}
    assert differences(stored, asked) == "config.cpu_threads None (this run asks for 1)"


def test_top_level_and_nested_changes_are_all_listed_and_nothing_else():
    stored = {"trials": 2, "pruner": "hyperband", "config": {"epochs": 4, "lr": 1e-3}}
    asked = {"trials": 3, "pruner": "hyperband", "config": {"epochs": 6, "lr": 1e-3}}
    assert differences(stored, asked) == "config.epochs 4 (this run asks for 6), trials 2 (this run asks for 3)"
