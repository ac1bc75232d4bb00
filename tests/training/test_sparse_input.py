"""Sparse TF-IDF input rows (issue 26): the MLP's first layer on CSR rows gives the dense fit's scores up to
float rounding; recipes that transform input rows keep dense rows (one rule, decided once per fit)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
import torch
import torch.nn.functional as F

import benchmark.training.deep as deep
from benchmark.datasets import dataset_registry
from benchmark.methods.augmentation.embedding_mixing import EmbeddingMixup, KeepEmbeddings
from benchmark.methods.base import Recipe, Stage
from benchmark.metrics import compute_metrics
from benchmark.models.sparse_rows import SparseInputLinear, SparseRows, sparse_linear
from benchmark.testing import make_tabular_split, make_text_split
from benchmark.training.base import TrainingConfig
from benchmark.training.deep import DeepEngine
from benchmark.training.sparse_input import dense_input_reason
from benchmark.training.stacked import fit_many
from benchmark.training.stacked_mlp import fit_exact

CPU = torch.device("cpu")
TEXT = TrainingConfig(epochs=4, batch_size=64, lr=1e-3, tfidf_max_features=5000)  # the text suite's, fewer epochs


def forced_dense(monkeypatch) -> None:
    monkeypatch.setattr(deep, "dense_input_reason", lambda *args: "forced dense by the test")


def test_sparse_and_dense_text_fits_differ_by_float_rounding_only(data_root, monkeypatch):
    split = dataset_registry.get("sms-spam-mini").load(data_root)
    sparse = DeepEngine().fit(split, Recipe(), TEXT, seed=3, device="cpu")
    forced_dense(monkeypatch)
    dense = DeepEngine().fit(split, Recipe(), TEXT, seed=3, device="cpu")
    assert sparse.timings["sparse_input"] == 1 and "sparse_input" not in dense.timings
    assert sp.issparse(sparse.featurizer.transform(split.test.X[:2]))  # predictions take the sparse path too
    # the same model: parameter names, shapes and the nn.Linear (out, in) layout
    assert [(k, v.shape, v.stride()) for k, v in sparse.model.state_dict().items()] == \
        [(k, v.shape, v.stride()) for k, v in dense.model.state_dict().items()]
    p_sparse, p_dense = sparse.predict_proba(split.test.X), dense.predict_proba(split.test.X)
    assert not np.array_equal(p_sparse, p_dense)  # another summation really ran ...
    # ... and it rounds differently, no more: each product sums 16 stored terms instead of 5,000 columns
    # (parameters agree to about 1e-7 after a step); 4 epochs of training leave the probabilities within
    # 1e-5 (measured: under 1e-6), the same bound as the fused optimiser's test in test_cpu_engine.py
    np.testing.assert_allclose(p_sparse, p_dense, atol=1e-5)
    scores = [compute_metrics(split.test.y, p, split.minority_classes)[0] for p in (p_sparse, p_dense)]
    for name in ("balanced_accuracy", "minority_recall", "minority_f1", "macro_f1"):
        assert scores[0][name] == pytest.approx(scores[1][name], abs=1e-9), name
    np.testing.assert_allclose(sparse.embed(split.val.X), dense.embed(split.val.X), atol=1e-5)


def test_the_sparse_first_layer_computes_the_dense_product_and_gradients():
    gen = torch.Generator().manual_seed(0)
    dense = torch.rand(9, 40, generator=gen) * (torch.rand(9, 40, generator=gen) < 0.1)
    dense[4] = 0  # a row without a stored term gives the bias
    rows = SparseRows.from_scipy(sp.csr_matrix(dense.numpy()), CPU)
    idx = torch.tensor([4, 0, 8, 4, 2])
    assert torch.equal(rows[idx].to_dense(), dense[idx]) and torch.equal(rows[2:7].to_dense(), dense[2:7])
    assert rows.shape == (9, 40) and len(rows) == 9 and rows[3:3].shape == (0, 40)
    layer = SparseInputLinear(40, 6)
    weight, bias = layer.weight, layer.bias
    out_sparse = layer(rows[idx])
    grads_sparse = torch.autograd.grad(out_sparse.square().sum(), (weight, bias))
    out_dense = F.linear(dense[idx], weight, bias)
    grads_dense = torch.autograd.grad(out_dense.square().sum(), (weight, bias))
    torch.testing.assert_close(out_sparse, out_dense, atol=1e-6, rtol=1e-5)
    assert torch.equal(out_sparse[0], bias.detach())
    for a, b in zip(grads_sparse, grads_dense, strict=True):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-5)
        assert a.stride() == b.stride()  # the weight's gradient in the parameter's own layout
    assert torch.equal(layer(dense[idx]), out_dense)  # dense rows: nn.Linear's own path
    frozen = sparse_linear(rows[idx], weight.detach(), bias.detach())
    assert not frozen.requires_grad


class InputSpy:
    """A recipe component that records what type of rows it is given (and changes nothing)."""

    def __init__(self):
        self.seen: list[type] = []

    def resample(self, X, y, seed):
        self.seen.append(type(X))
        return X, y

    def augment(self, x, y, state):
        self.seen.append(type(x))
        return x, y


def test_recipes_that_transform_input_rows_take_the_dense_path():
    split, name = make_text_split(), "mlp"
    assert dense_input_reason(split, Recipe(), TEXT, CPU, name) is None
    mixing = Recipe(augment=EmbeddingMixup(2, 1.0))  # mixup of input vectors: TF-IDF rows mixed densely
    assert "augment" in dense_input_reason(split, mixing, TEXT, CPU, name)
    stage_mix = Recipe(stages=[Stage("a", 0.5), Stage("b", 0.5, augment=EmbeddingMixup(2, 1.0))])
    assert "augment" in dense_input_reason(split, stage_mix, TEXT, CPU, name)
    # a feature_resample stage's augment sees embeddings, not input rows
    embedding_mix = Recipe(stages=[Stage("a", 0.5), Stage("b", 0.5, feature_resample=KeepEmbeddings(),
                                                               augment=EmbeddingMixup(2, 1.0))])
    assert dense_input_reason(split, embedding_mix, TEXT, CPU, name) is None
    assert "not the MLP" in dense_input_reason(split, Recipe(), TEXT, CPU, "embedding-bag")
    assert "not TF-IDF" in dense_input_reason(split, Recipe(), TrainingConfig(text_features="tokens"), CPU, name)
    assert "not TF-IDF" in dense_input_reason(make_tabular_split(), Recipe(), TEXT, CPU, name)
    assert "cuda" in dense_input_reason(split, Recipe(), TEXT, torch.device("cuda"), name)

    config = TrainingConfig(epochs=2, batch_size=16, tfidf_max_features=200)
    spy = InputSpy()
    dense_fit = DeepEngine().fit(split, Recipe(augment=spy), config, seed=0, device="cpu")
    assert "sparse_input" not in dense_fit.timings and set(spy.seen) == {torch.Tensor}
    assert isinstance(dense_fit.featurizer.transform(split.test.X[:1]), np.ndarray)
    mixed = DeepEngine().fit(split, mixing, config, seed=0, device="cpu")  # a real mixing component trains
    assert "sparse_input" not in mixed.timings and mixed.predict_proba(split.test.X).shape == (26, 2)


def test_a_feature_space_resampler_gets_the_dense_rows_and_training_stays_sparse(monkeypatch):
    split = make_text_split()
    config = TrainingConfig(epochs=2, batch_size=16, tfidf_max_features=200)
    spy = InputSpy()
    sparse = DeepEngine().fit(split, Recipe(resample=spy), config, seed=0, device="cpu")
    assert sparse.timings["sparse_input"] == 1 and spy.seen == [np.ndarray]
    forced_dense(monkeypatch)
    dense = DeepEngine().fit(split, Recipe(resample=spy), config, seed=0, device="cpu")
    assert spy.seen == [np.ndarray, np.ndarray]
    np.testing.assert_allclose(sparse.predict_proba(split.test.X), dense.predict_proba(split.test.X), atol=1e-5)


def test_stacked_trials_that_disagree_on_sparse_rows_are_refused():
    split = make_text_split()
    config = TrainingConfig(epochs=2, batch_size=16, tfidf_max_features=200)
    with pytest.raises(Exception, match="disagree on sparse input rows"):
        fit_exact(split, [Recipe(), Recipe(augment=InputSpy())], [config] * 2, [0, 1], CPU)


def test_by_default_trials_on_sparse_rows_train_one_by_one_and_stack_only_when_asked():
    split = make_text_split()
    config = TrainingConfig(epochs=2, batch_size=16, tfidf_max_features=200)
    default = fit_many(split, [Recipe(), Recipe()], [config] * 2, [0, 1], device="cpu", exact_only=True)
    asked = fit_many(split, [Recipe(), Recipe()], [config] * 2, [0, 1], device="cpu", exact_only=False)
    for one, stacked in zip(default, asked, strict=True):
        assert "stacked_trials" not in one.timings and one.timings["sparse_input"] == 1
        assert stacked.timings["stacked_trials"] == 2 and stacked.timings["sparse_input"] == 1
        assert np.array_equal(one.predict_proba(split.test.X), stacked.predict_proba(split.test.X))
    tabular = fit_many(make_tabular_split(), [Recipe(), Recipe()], [config] * 2, [0, 1], device="cpu",
                       exact_only=True)
    assert tabular[0].timings["stacked_trials"] == 2  # dense MLP rows still stack by default
