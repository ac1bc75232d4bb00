"""DeepSMOTE against one training step of its authors' code (tests/reference/data/deepsmote_step.json):
the same networks, weights, batch and penalty rows give the same losses, gradients, update and batch-norm
statistics; the row's defaults are the authors' settings."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from benchmark.methods.generative.deepsmote import DeepSMOTEDecoder, DeepSMOTEEncoder, deepsmote_step
from tests.reference._figures import assert_close, build, context, load

pytestmark = pytest.mark.reference


def _init(module: nn.Module, offset: float) -> None:
    with torch.no_grad():
        for k, (_, p) in enumerate(module.named_parameters()):
            i = torch.arange(p.numel(), dtype=torch.float64)
            p.copy_((0.1 * torch.sin(1.3 * i + k + offset)).view_as(p).float())


def _figures(module: nn.Module, before: dict) -> dict:
    out = {}
    for name, p in module.named_parameters():
        out[name] = {"grad_norm": float(p.grad.double().norm()) if p.grad is not None else 0.0,
                     "step_sum": float((p.detach() - before[name]).double().sum()),
                     "norm_after": float(p.detach().double().norm())}
    for name, b in module.named_buffers():
        if b.dtype.is_floating_point:
            out[name] = {"norm_after": float(b.double().norm())}
    return out


def run_step(record: dict, step=deepsmote_step) -> tuple[float, float, dict, dict]:
    args, inputs = record["inputs"]["args"], record["inputs"]
    shape = (args["n_channel"], 28, 28)
    encoder, decoder = DeepSMOTEEncoder(shape, args["dim_h"], args["n_z"]), DeepSMOTEDecoder(shape, args["dim_h"],
                                                                                             args["n_z"])
    _init(encoder, 0.0), _init(decoder, 100.0)
    x = torch.tensor(np.random.default_rng(0).integers(0, 256, size=(30, 1, 28, 28)) / 255.0, dtype=torch.float32)
    y = np.repeat(np.arange(10), 3)
    class_rows = np.flatnonzero(y == inputs["penalty_class"])[inputs["penalty_rows_in_class"]]
    before = {f"e.{n}": p.detach().clone() for n, p in encoder.named_parameters()}
    before |= {f"d.{n}": p.detach().clone() for n, p in decoder.named_parameters()}
    optimiser = torch.optim.Adam([*encoder.parameters(), *decoder.parameters()], lr=args["lr"])
    encoder.train(), decoder.train()
    mse, mse2 = step(encoder, decoder, optimiser, x[inputs["batch_rows"]], x[class_rows])
    enc = _figures(encoder, {n[2:]: v for n, v in before.items() if n.startswith("e.")})
    dec = _figures(decoder, {n[2:]: v for n, v in before.items() if n.startswith("d.")})
    return float(mse), float(mse2), enc, dec


def _compare(actual: dict, expected: dict, tolerance: dict, who: str) -> None:
    assert set(actual) == set(expected), f"{who}: parameters differ from the authors' network"
    for name, figures in expected.items():
        for key, value in figures.items():
            if key == "step_sum" and figures["grad_norm"] < tolerance["noise_grad_norm"]:
                continue  # a gradient that is rounding noise (see the record's tolerance note)
            tol = {"rtol": 0.0, "atol": tolerance["step_sum_atol"]} if key == "step_sum" else tolerance
            assert_close(actual[name][key], value, tol, f"{who} {name} {key}")


def test_one_training_step_matches_the_authors_code():
    record = load("deepsmote_step")
    mse, mse2, enc, dec = run_step(record)
    out, tolerance = record["outputs"], record["tolerance"]
    assert_close(mse, out["mse"], tolerance, "reconstruction MSE")
    assert_close(mse2, out["mse2"], tolerance, "penalty MSE")
    _compare(enc, out["encoder"], tolerance, "encoder")
    _compare(dec, out["decoder"], tolerance, "decoder")


def test_the_old_pairing_does_not_match_the_authors_code():
    """The check can fail: today's former penalty (codes not detached, images in their own order) moves the
    encoder's gradients away from the authors' figures."""
    def old_step(encoder, decoder, optimiser, batch, class_batch):
        optimiser.zero_grad(set_to_none=True)
        reconstruction = nn.functional.mse_loss(decoder(encoder(batch)), batch)
        perm = torch.roll(torch.arange(class_batch.shape[0]), -1)
        penalty = nn.functional.mse_loss(decoder(encoder(class_batch)[perm]), class_batch)
        (reconstruction + penalty).backward()
        optimiser.step()
        return reconstruction.detach(), penalty.detach()

    record = load("deepsmote_step")
    _, _, enc, _ = run_step(record, old_step)
    with pytest.raises(AssertionError):
        _compare(enc, record["outputs"]["encoder"], record["tolerance"], "encoder")


def test_the_row_runs_the_authors_settings():
    """Through the registry: the authors' step, networks (64 channels, 300-d code, Adam 2e-4), k = 5 and every
    class topped up to the majority count, with nothing tuned."""
    recipe = build("deepsmote", {}, context([300, 30, 3]))
    generator = recipe.resample.make_generator()
    assert type(generator).step is deepsmote_step
    assert (generator.k, generator.width, generator.latent_dim, generator.lr) == (5, 64, 300, 2e-4)
    assert recipe.resample.target_ratio == 1.0
