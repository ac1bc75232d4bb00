"""Pixel-space diffusion (DDPM / CBDM) and feature-space diffusion (LDMLR) over-sampling."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from benchmark.methods import method_registry
from benchmark.methods.base import GeneratorBudget, MethodContext, ResampleContext
from benchmark.methods.generative._ddpm import DiffusionTraining, ddim_sample, train_denoiser
from benchmark.methods.generative._unet import build_unet, resolution_levels
from benchmark.methods.generative.diffusion import PixelDiffusionGenerator, diffusion_recipe, unet_width
from benchmark.methods.generative.feature_diffusion import (
    FeatureDiffusionGenerator,
    FeatureDiffusionResampler,
)
from benchmark.testing import make_image_split, make_tabular_split, tiny_config
from tests.methods.generative.helpers import check_generator_contract


def test_pixel_diffusion_generates_the_requested_images_deterministically():
    split = make_image_split()  # CBDM's regulariser on: the plain DDPM runs in the over-sampler test below
    out = check_generator_contract(
        lambda: PixelDiffusionGenerator(guidance=1.5, ddim_steps=3, base_width=8, cbdm_tau=1.0),
        split, {1: 3, 2: 5})
    assert out.shape == (8, 1, 8, 8)


def test_the_unet_follows_the_image_shape():
    assert [resolution_levels(s, s) for s in (28, 32, 8, 14, 7)] == [3, 3, 3, 2, 1]
    assert unet_width("cpu") == 16 and unet_width("cuda:0") == 64
    for shape in ((1, 28, 28), (3, 32, 32)):
        unet = build_unet(*shape, num_classes=10, base_width=8)
        assert unet.config.num_class_embeds == 11  # one extra row: the null class of guidance
        out = unet(torch.zeros(2, *shape), torch.tensor([5, 900]), class_labels=torch.tensor([3, 10])).sample
        assert out.shape == (2, *shape)


class LabelBlind(torch.nn.Module):
    """A denoiser that ignores the label: CBDM's regulariser must then vanish."""

    def __init__(self):
        super().__init__()
        self.lin = torch.nn.Linear(3, 3)

    def forward(self, x, t, labels, label_scale=0.0):
        return self.lin(x) + label_scale * labels.float().unsqueeze(1)


def test_cbdm_regulariser_compares_predictions_for_two_labels_at_the_same_noisy_row():
    x0, y = torch.randn(40, 3), torch.tensor([0] * 30 + [1] * 10)

    def losses(tau, label_scale):
        torch.manual_seed(0)
        net = LabelBlind()
        training = DiffusionTraining(steps=20, batch_size=8, cbdm_tau=tau)
        return train_denoiser(net, lambda x, t, c: net(x, t, c, label_scale), x0, y, 2, training, seed=3)[1]

    assert losses(1.0, 0.0) == pytest.approx(losses(0.0, 0.0))  # label-blind: the term is zero
    assert losses(1.0, 0.5) != pytest.approx(losses(0.0, 0.5))  # label-aware: the term is active


def test_guidance_mixes_the_conditional_and_null_predictions():
    seen = []

    def denoise(x, t, c):
        seen.append(c.clone())
        return torch.where((c == 2).view(-1, 1), torch.ones_like(x), torch.zeros_like(x))

    training = DiffusionTraining(steps=1, batch_size=1)
    labels = torch.tensor([0, 1])
    ddim_sample(denoise, labels, (3,), 2, training, steps=2, guidance=0.0, seed=0, batch_size=8)
    assert all(torch.equal(c, labels) for c in seen)  # no guidance: no unconditional pass
    seen.clear()
    ddim_sample(denoise, labels, (3,), 2, training, steps=2, guidance=2.0, seed=0, batch_size=8)
    assert all(torch.equal(c, torch.tensor([0, 1, 2, 2])) for c in seen) and len(seen) == 2


def test_pixel_diffusion_oversampler_tops_up_from_the_training_rows_only(tmp_path, monkeypatch):
    split = make_image_split()
    X, y = split.train.X, split.train.y
    fitted_on = []
    original_fit = PixelDiffusionGenerator.fit

    def spy(self, X_fit, y_fit, **kwargs):
        fitted_on.append((X_fit, y_fit))
        return original_fit(self, X_fit, y_fit, **kwargs)

    monkeypatch.setattr(PixelDiffusionGenerator, "fit", spy)
    recipe = diffusion_recipe({"target_ratio": 0.5, "guidance": 1.0, "ddim_steps": 2}, cbdm_tau=0.0)
    context = ResampleContext(cache_dir=tmp_path, split_fingerprint="tiny", budget=GeneratorBudget(1, 64))
    X_new, y_new = recipe.resample.resample(X, y, seed=0, context=context)
    assert np.bincount(y_new).tolist() == [40, 20, 20]  # class 2 (8 rows) topped up to 0.5 x 40
    np.testing.assert_array_equal(X_new[: len(X)], X)
    assert X_new.dtype == np.uint8 and X_new.shape[1:] == X.shape[1:]
    (X_fit, y_fit), = fitted_on
    np.testing.assert_array_equal(X_fit, X)  # the generator saw the training rows and nothing else
    np.testing.assert_array_equal(y_fit, y)
    assert context.timings["generator_seconds"] > 0
    # a second trial of the study with another guidance reuses the trained generator
    again = diffusion_recipe({"target_ratio": 1.0, "guidance": 3.0, "ddim_steps": 2}, cbdm_tau=0.0)
    context2 = ResampleContext(cache_dir=tmp_path, split_fingerprint="tiny", budget=GeneratorBudget(1, 64))
    again.resample.resample(X, y, seed=0, context=context2)
    assert len(fitted_on) == 1 and context2.timings["generator_cached_seconds"] > 0


def test_feature_diffusion_generates_embeddings_in_the_training_range():
    split = make_tabular_split(nominal=False)
    out = check_generator_contract(lambda: FeatureDiffusionGenerator(guidance=1.0, ddim_steps=3, hidden=32),
                                   split, {1: 7})
    X = split.train.X
    assert (out >= X.min(0)).all() and (out <= X.max(0)).all()


def test_ldmlr_retrains_the_head_on_real_plus_generated_embeddings(monkeypatch):
    import benchmark.training.deep as deep

    split = make_image_split()
    stage_labels = []
    original = deep.StepRunner

    class Recording(original):
        def __init__(self, trained, optimizer, stage_X, y_stage, *args, **kwargs):
            stage_labels.append((trained, stage_X.shape, torch.bincount(y_stage).tolist()))
            super().__init__(trained, optimizer, stage_X, y_stage, *args, **kwargs)

    monkeypatch.setattr(deep, "StepRunner", Recording)
    method = method_registry.get("ldmlr")
    ctx = MethodContext.from_split(split, "deep", epochs=2)
    recipe = method.build({"target_ratio": 1.0, "guidance": 1.0, "ddim_steps": 2, "first_stage_share": 0.5}, ctx)
    assert isinstance(recipe.stages[1].feature_resample, FeatureDiffusionResampler)
    config = dataclasses.replace(tiny_config(), generator_epochs=1)
    model = deep.DeepEngine().fit(split, recipe, config, seed=0, device="cpu")
    (first_net, first_shape, first_counts), (head, head_shape, head_counts) = stage_labels
    assert first_counts == [40, 20, 8] and len(first_shape) == 4  # end to end on the images
    assert head_counts == [40, 40, 40] and len(head_shape) == 2  # the head: real + generated embeddings
    assert head is model.model.head
    assert model.timings["generator_seconds"] > 0 and model.timings["feature_resample_seconds"] > 0
