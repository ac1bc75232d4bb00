"""Text augmentation: new texts differ from their sources, come in the requested number, only from
training minority rows, and a seed reproduces them; EDA's operations; missing models fail fast."""

from __future__ import annotations

import random
import time

import numpy as np
import pytest

from benchmark.errors import BenchmarkError, ResourceUnavailableError
from benchmark.methods import method_registry
from benchmark.methods.augmentation._text_eda import EDA, synonyms, wordnet_problem
from benchmark.methods.augmentation._text_nlpaug import contextual_augmenter, model_problem
from benchmark.methods.augmentation.text import TextOversampler
from benchmark.methods.base import MethodContext, Recipe
from benchmark.testing import make_text_split
from benchmark.training.base import TrainingConfig
from benchmark.training.deep import prepare_training_data

needs_wordnet = pytest.mark.skipif(
    wordnet_problem() is not None,
    reason=f"{wordnet_problem()}: set NLTK_DATA to a folder with corpora/wordnet",
)

ROWS = [
    "text-keyboard-noise",
    "text-ocr-noise",
    "text-random-char",
    "text-word-swap",
    "text-word-delete",
    "text-word-substitute",
    "text-word-crop",
]


def build(name: str, split, **params):
    ctx = MethodContext.from_split(split, "deep")
    return method_registry.get(name).build({"target_ratio": 1.0, "aug_p": 0.2, **params}, ctx).resample


@pytest.mark.parametrize("name", [*ROWS, pytest.param("eda", marks=needs_wordnet)])
def test_new_texts_differ_number_as_asked_and_come_from_training_minority_rows(name):
    split = make_text_split()  # 60 ham, 12 spam (the minority)
    sampler = build(name, split, alpha=0.2)
    X, y = sampler.resample(split.train.X, split.train.y, seed=0)
    assert np.bincount(y).tolist() == [60, 60]
    assert np.array_equal(X[:72], split.train.X) and np.array_equal(y[:72], split.train.y)
    sources = np.array(sampler.sources)
    assert len(sources) == 48 and np.all(split.train.y[sources] == 1)  # minority training rows only
    new = X[72:]
    assert all(new_text != split.train.X[s] for new_text, s in zip(new, sources, strict=True))
    again, _ = build(name, split, alpha=0.2).resample(split.train.X, split.train.y, seed=0)
    other, _ = build(name, split, alpha=0.2).resample(split.train.X, split.train.y, seed=1)
    assert list(again) == list(X) and list(other) != list(X)


def test_the_engine_hands_the_hook_training_rows_only():
    split = make_text_split()
    seen = []

    class Recording(TextOversampler):
        def resample(self, X, y, seed):
            seen.append(list(X))
            return super().resample(X, y, seed)

    sampler = build("text-word-swap", split)
    recipe = Recipe(resample=Recording(sampler.augmenter, (1,), 0.5))
    _, F, y = prepare_training_data(split, recipe, TrainingConfig(epochs=1, tfidf_max_features=100), seed=0)
    assert seen == [list(split.train.X)] and np.bincount(y).tolist() == [60, 30] and F.shape[0] == 90


def test_target_ratio_and_classes_already_large_enough():
    split = make_text_split()
    X, y = build("text-word-delete", split, target_ratio=0.5).resample(split.train.X, split.train.y, seed=0)
    assert np.bincount(y).tolist() == [60, 30]
    X, y = build("text-word-delete", split, target_ratio=0.2).resample(split.train.X, split.train.y, seed=0)
    assert np.bincount(y).tolist() == [60, 12]  # 12 >= ceil(0.2 * 60): nothing to add
    with pytest.raises(BenchmarkError, match="target_ratio"):
        TextOversampler(lambda t, s: t, (1,), 0.0)


def test_unchanged_texts_are_augmented_again():
    calls = []

    def stubborn(texts, seed):  # leaves every text unchanged on its first call
        calls.append(seed)
        return list(texts) if len(calls) == 1 else [t + " again" for t in texts]

    sampler = TextOversampler(stubborn, (1,), 1.0)
    X, _ = sampler.resample(np.array(["a b", "c d", "e f"]), np.array([0, 0, 1]), seed=0)
    assert list(X[3:]) == ["e f again"] and len(calls) == 2 and sampler.unchanged == 0


@needs_wordnet
def test_eda_operations():
    eda = EDA(0.2, 0.2, 0.2, 0.2)
    rng = random.Random(0)
    words = "the happy customer will win a large cash prize today".split()
    replaced = eda.synonym_replacement(words, 0.2, rng)
    changed = [(a, b) for a, b in zip(words, replaced, strict=True) if a != b]
    assert len(changed) == 2 and all(b in synonyms(a) for a, b in changed)  # n = int(0.2 * 10)
    inserted = eda.random_insertion(words, 0.2, rng)
    assert len(inserted) == 12
    swapped = eda.random_swap(words, 0.2, rng)
    assert sorted(swapped) == sorted(words) and swapped != words
    assert eda.random_deletion(["one"], 0.9, rng) == ["one"]
    assert len(eda.random_deletion(words, 0.99, rng)) >= 1
    assert "glad" in synonyms("happy") and "happy" not in synonyms("happy")


def test_missing_models_fail_fast_with_their_name(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    name = "no-such-org/no-such-model"
    assert model_problem(name).startswith(f"model unavailable: {name}")
    assert model_problem("./no/such/folder").startswith("model unavailable: ./no/such/folder")
    t0 = time.perf_counter()
    with pytest.raises(BenchmarkError, match=f"model unavailable: {name}"):
        TextOversampler(contextual_augmenter(name), (1,), 1.0).resample(
            np.array(["a b", "c d", "e f"]), np.array([0, 0, 1]), seed=0
        )
    assert time.perf_counter() - t0 < 5
    split = make_text_split()
    for row in ("back-translation", "contextual-word-substitution"):
        try:
            method_registry.get(row).not_applicable_reason(split, "deep")
        except ResourceUnavailableError as exc:  # not installed here: the pair says so, with the fix
            assert str(exc).startswith("model unavailable: ") and "BENCHMARK_" in str(exc)


def test_contextual_substitution_runs_a_local_masked_language_model(tmp_path):
    """The real nlpaug path with a model folder: a tiny, randomly initialised BERT written here."""
    transformers = pytest.importorskip("transformers")
    folder = tmp_path / "tiny-mlm"
    folder.mkdir()
    words = sorted({w for t in make_text_split().train.X for w in t.split()})
    (folder / "vocab.txt").write_text(
        "\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *words]) + "\n"
    )
    tokenizer = transformers.BertTokenizer(str(folder / "vocab.txt"))
    config = transformers.BertConfig(
        vocab_size=len(words) + 5,
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=64,
    )
    transformers.BertForMaskedLM(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    assert model_problem(str(folder)) is None
    split = make_text_split()
    sampler = TextOversampler(contextual_augmenter(str(folder), aug_p=0.3), (1,), 0.5)
    X, y = sampler.resample(split.train.X, split.train.y, seed=0)
    assert np.bincount(y).tolist() == [60, 30]
    assert sum(a != split.train.X[s] for a, s in zip(X[72:], sampler.sources, strict=True)) >= 15


def test_word_crop_handles_short_texts():
    """nlpaug's crop raises on one-word runs; those texts lose exactly one word instead."""
    from benchmark.methods.augmentation._text_nlpaug import seeded_globals
    from benchmark.methods.augmentation.text import WordCrop

    texts = ["ok lar", "see you later", "one two three four five six seven eight nine ten"]
    with seeded_globals(0):
        out = WordCrop(0.2).augment(texts)
    assert [len(t.split()) for t in out] == [1, 2, 8]
    assert all(set(o.split()) <= set(t.split()) for o, t in zip(out, texts, strict=True))
