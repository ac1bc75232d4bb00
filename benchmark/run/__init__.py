"""The run layer: from a suite's name to stored results.

- :mod:`~benchmark.run.plan`: the options of a run, checked and resolved once into a plan;
- :mod:`~benchmark.run.runner`: the executor choice and the run's summary;
- :mod:`~benchmark.run.pair`: the life of one (dataset, method) pair, which both executors call;
- :mod:`~benchmark.run.worker`: one worker's loop over the pairs, and its share of the machine;
- :mod:`~benchmark.run.pool`: the local worker processes (``--workers N``), replaced when they die;
- :mod:`~benchmark.run.ray_tasks`: the pair steps as Ray tasks (``--executor ray``);
- :mod:`~benchmark.run.progress`: callbacks for a front end, the ETA, the summary;
- :mod:`~benchmark.run.cost`: the cost of a run before it runs (``--plan``), from the datasets (their
  files, else their cards: ``Dataset.card_split``), :mod:`~benchmark.run.resume` (what the store holds) and
  :mod:`~benchmark.run.calibration` (measured steps), and the packing of trials on a GPU
  (:mod:`~benchmark.run.packing`, the policy).
"""

from benchmark.run.plan import RunOptions, RunPlan
from benchmark.run.progress import Progress, RunSummary, RunTracker
from benchmark.run.runner import run_suite

__all__ = ["Progress", "RunOptions", "RunPlan", "RunSummary", "RunTracker", "run_suite"]
