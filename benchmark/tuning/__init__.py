"""Tuning: one Optuna study per (suite, dataset, method) pair under an equal budget.

- :mod:`~benchmark.tuning.job`: the pair job (what a pair needs) and how parameters become a model;
- :mod:`~benchmark.tuning.study`: opening the study, the seeded sampler, the pruner, orphaned trials;
- :mod:`~benchmark.tuning.history`: the history a budget slot conditions on, kept once final;
- :mod:`~benchmark.tuning.budget`: which trials are charged to the budget, what a pair has spent;
- :mod:`~benchmark.tuning.trials`: the one trial loop (one trial at a time, or M stacked).

Re-running the best configuration over seeds and scoring the test split is the run layer's job
(:mod:`benchmark.run.pair`): nothing in this package reads the test split. The package imports
nothing eagerly, so that ``benchmark.tuning.budget`` stays light for the report.
"""
