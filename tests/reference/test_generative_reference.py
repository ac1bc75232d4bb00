"""The TabDDPM row's diffusion against the authors' code (yandex-research/tab-ddpm): the cosine schedule and
the noised rows q(x_t | x_0), for fixed rows, noise and timesteps."""

from __future__ import annotations

import pytest
import torch

from benchmark.methods.generative._ddpm import TRAIN_TIMESTEPS, DiffusionTraining
from tests.reference._figures import assert_close, load

pytestmark = pytest.mark.reference


def test_tabddpm_schedule_noising_and_objective_match_the_authors_code():
    record = load("tabddpm")
    inputs, expected, tol = record["inputs"], record["expected"], record["tolerance"]
    assert TRAIN_TIMESTEPS == 1000
    scheduler = DiffusionTraining(steps=1, batch_size=1).scheduler()  # the row's (TabDDPMGenerator's) training
    assert_close(scheduler.betas[inputs["beta_steps"]], expected["betas"], tol, "TabDDPM betas")
    x0, noise = torch.tensor(inputs["x0"]), torch.tensor(inputs["noise"])
    x_t = scheduler.add_noise(x0, noise, torch.tensor(inputs["t"]))
    assert_close(x_t, expected["x_t"], tol, "TabDDPM noised rows")
