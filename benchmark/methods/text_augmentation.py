"""Text augmentation rows: new minority texts from the training split's own minority texts (the
``resample`` hook with ``space = "input"``, on raw texts before featurisation).

Every minority class below ``target_ratio`` times the largest class gets copies of its training texts
(drawn uniformly with replacement, seeded) changed by an augmenter: nlpaug's character-level noise
(keyboard, OCR, random characters), word-level random swap, deletion, substitution and crop, spelling
errors, EDA (:mod:`benchmark.methods.text_augmentation_eda`), back-translation and contextual
word-embedding substitution. The engines call the hook on training rows only, so validation and test
texts never seed an augmented text. A text the augmenter leaves unchanged is augmented again (up to
``max_tries`` times), so the added texts differ from their sources.

Back-translation and contextual substitution load pretrained models with ``transformers`` (a Hugging
Face model name, or a local folder). Where the model is not on the machine, the pair is "not
applicable" with the reason "model unavailable: <name>" and the fix (decided before any trial: no
budget is spent on a run that cannot start; a pair marked so is skipped on resume, so re-run it with a
fresh store or suite after installing the model); building the component anyway fails at once with the
same message. Set ``HF_HUB_OFFLINE=1`` on machines without a network so nothing waits for a hub.
"""

from __future__ import annotations

import importlib.util
import os
import random
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from benchmark.errors import BenchmarkError
from benchmark.methods.base import MethodContext, Recipe, register_method
from benchmark.methods.text_augmentation_eda import EDA, wordnet_problem
from benchmark.methods.text_augmentation_papers import (
    BACK_TRANSLATION_BIB,
    CONTEXTUAL_BIB,
    EDA_BIB,
    NLPAUG_BIB,
    NOISE_BIB,
)

if TYPE_CHECKING:
    from benchmark.datasets.base import Split

ENGINES = ("deep", "classical")
BACK_TRANSLATION_MODELS = tuple(os.environ.get(
    "BENCHMARK_BACK_TRANSLATION_MODELS", "Helsinki-NLP/opus-mt-en-de,Helsinki-NLP/opus-mt-de-en").split(","))
CONTEXTUAL_MODEL = os.environ.get("BENCHMARK_CONTEXTUAL_MODEL", "distilbert-base-uncased")

# An augmenter maps a list of texts to as many augmented texts, its randomness seeded by ``seed``.
Augmenter = Callable[[list[str], int], list[str]]


@contextmanager
def seeded_globals(seed: int) -> Iterator[None]:
    """nlpaug draws from Python's and NumPy's global generators: seed them, and restore them after."""
    py_state, np_state = random.getstate(), np.random.get_state()
    random.seed(seed)
    np.random.seed(seed % 2**32)
    try:
        yield
    finally:
        random.setstate(py_state)
        np.random.set_state(np_state)


class TextOversampler:
    """The ``resample`` component: augmented copies of minority training texts up to a target ratio.

    Args:
        augmenter: texts, seed -> augmented texts.
        minority_classes: the classes that receive new texts (the split's minority classes).
        target_ratio: each of them ends with ``ceil(target_ratio * n_max)`` texts where it had fewer.
        max_tries: augmentations of a text that came back unchanged.
    """

    space = "input"

    def __init__(self, augmenter: Augmenter, minority_classes: tuple[int, ...], target_ratio: float,
                 max_tries: int = 5):
        if not 0 < target_ratio <= 1:
            raise BenchmarkError(f"text augmentation got target_ratio={target_ratio}",
                                 "use a ratio to the largest class in (0, 1]")
        self.augmenter, self.minority_classes = augmenter, tuple(minority_classes)
        self.target_ratio, self.max_tries = float(target_ratio), int(max_tries)
        self.unchanged = 0

    def resample(self, X: np.ndarray, y: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
        X, y = np.asarray(X), np.asarray(y, dtype=np.int64)
        if X.ndim != 1:
            raise BenchmarkError(f"text augmentation got rows of shape {X.shape}",
                                 "it runs on raw texts (space 'input' on text data)")
        counts = np.bincount(y)
        target = int(np.ceil(self.target_ratio * counts.max()))
        rng = np.random.default_rng(seed)
        new_texts: list[str] = []
        new_labels: list[int] = []
        self.sources: list[int] = []  # training row of each added text
        for c in self.minority_classes:
            n = int(counts[c]) if c < len(counts) else 0
            if n == 0 or n >= target:
                continue
            rows = rng.choice(np.flatnonzero(y == c), size=target - n, replace=True)
            texts = [str(t) for t in X[rows]]
            new_texts += self._augment(texts, int(rng.integers(2**31)))
            new_labels += [c] * len(rows)
            self.sources += rows.tolist()
        if not new_texts:
            return X, y
        return (np.concatenate([X.astype(str), np.array(new_texts, dtype=str)]),
                np.concatenate([y, np.array(new_labels, dtype=np.int64)]))

    def _augment(self, texts: list[str], seed: int) -> list[str]:
        out = list(self.augmenter(texts, seed))
        if len(out) != len(texts):
            raise BenchmarkError(f"the text augmenter returned {len(out)} texts for {len(texts)}",
                                 "an augmenter must return one text per input text")
        for attempt in range(1, self.max_tries + 1):
            same = [i for i, (a, b) in enumerate(zip(out, texts, strict=True)) if a == b]
            if not same:
                break
            again = self.augmenter([texts[i] for i in same], seed + attempt)
            for i, text in zip(same, again, strict=True):
                out[i] = text
        self.unchanged = sum(a == b for a, b in zip(out, texts, strict=True))  # texts no draw could change
        return out


# -- augmenters ---------------------------------------------------------------------------------------------
def nlpaug_augmenter(make: Callable[[], Any]) -> Augmenter:
    """An nlpaug augmenter, built on first use, run under seeded global generators."""
    built: list[Any] = []

    def run(texts: list[str], seed: int) -> list[str]:
        if not built:
            built.append(make())
        with seeded_globals(seed):
            out = built[0].augment(texts)
        return [str(t) for t in out]

    return run


def eda_augmenter(eda: EDA) -> Augmenter:
    def run(texts: list[str], seed: int) -> list[str]:
        rng = random.Random(seed)
        return [eda.augment(t, rng) for t in texts]

    return run


def model_problem(name: str) -> str | None:
    """None when ``name`` (a local folder, or a Hugging Face model) can be loaded here; else why not."""
    if importlib.util.find_spec("transformers") is None:
        return f"model unavailable: {name} (the transformers package is not installed)"
    path = Path(name).expanduser()
    if path.is_dir():
        return None
    if name.startswith((".", "/", "~")):
        return f"model unavailable: {name} (no such folder)"
    from huggingface_hub import try_to_load_from_cache

    if isinstance(try_to_load_from_cache(name, "config.json"), str):
        return None
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on"):
        return f"model unavailable: {name} (not in the Hugging Face cache, and HF_HUB_OFFLINE is set)"
    return None  # a network may fetch it; a failed download is reported by load_model


MODEL_FIX = ("download the model into the Hugging Face cache on a machine with a network (or copy it), or point "
             "BENCHMARK_BACK_TRANSLATION_MODELS / BENCHMARK_CONTEXTUAL_MODEL at local model folders")


def load_model(names: tuple[str, ...], make: Callable[[], Any]) -> Any:
    """Build an nlpaug model augmenter; a missing model fails at once with "model unavailable: <name>"."""
    for name in names:
        problem = model_problem(name)
        if problem:
            raise BenchmarkError(problem, MODEL_FIX)
    try:
        return make()
    except (OSError, ValueError, ImportError) as exc:
        raise BenchmarkError(f"model unavailable: {', '.join(names)} ({str(exc).splitlines()[0]})", MODEL_FIX) from exc


def models_available(*names: str) -> Callable[[Split], str | None]:
    def applies_to(split: Split) -> str | None:
        for name in names:
            problem = model_problem(name)
            if problem:
                return f"{problem}; {MODEL_FIX}"
        return None

    return applies_to


def wordnet_available(split: Split) -> str | None:
    problem = wordnet_problem()
    return f"{problem} (EDA needs WordNet synsets)" if problem else None


def device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


# -- search spaces and registration ----------------------------------------------------------------------
def ratio_space(trial, ctx: MethodContext) -> dict:
    """The target ratio of each minority class to the largest class, above where the data already is."""
    counts = [c for c in ctx.class_counts if c > 0]
    low = min(1.0, max(0.2, min(counts) / max(counts) + 0.05))
    return {"target_ratio": trial.suggest_float("target_ratio", low, 1.0)}


def with_p(trial, ctx: MethodContext) -> dict:
    return {**ratio_space(trial, ctx), "aug_p": trial.suggest_float("aug_p", 0.05, 0.3)}


def text_augmentation(name: str, make: Callable[[dict, MethodContext], Augmenter], summary: str, paper: str,
                      space=with_p, applies_to=None, differences: str = "") -> None:
    """Register a text row: ``make(params, ctx)`` gives the augmenter of the :class:`TextOversampler`."""

    def build(params: dict, ctx: MethodContext) -> Recipe:
        return Recipe(resample=TextOversampler(make(params, ctx), tuple(ctx.minority_classes),
                                               params.get("target_ratio", 1.0)))

    build.__doc__ = summary
    register_method(name, family="text-augmentation", modalities=("text",), engines=ENGINES, summary=summary,
                    paper=paper, search_space=space, applies_to=applies_to, differences=differences)(build)


def _nac():
    import nlpaug.augmenter.char as nac

    return nac


def _naw():
    import nlpaug.augmenter.word as naw

    return naw


text_augmentation(
    "text-keyboard-noise",
    lambda p, c: nlpaug_augmenter(lambda: _nac().KeyboardAug(aug_char_p=p.get("aug_p", 0.1),
                                                              aug_word_p=p.get("aug_p", 0.1))),
    "Over-sample minority texts with keyboard typos (a character replaced by a neighbouring key, nlpaug).",
    NLPAUG_BIB + "\n" + NOISE_BIB)
text_augmentation(
    "text-ocr-noise",
    lambda p, c: nlpaug_augmenter(lambda: _nac().OcrAug(aug_char_p=p.get("aug_p", 0.1),
                                                         aug_word_p=p.get("aug_p", 0.1))),
    "Over-sample minority texts with OCR confusions (0/o, 1/l, ...; nlpaug).", NLPAUG_BIB + "\n" + NOISE_BIB)
text_augmentation(
    "text-random-char",
    lambda p, c: nlpaug_augmenter(lambda: _nac().RandomCharAug(action=p.get("action", "substitute"),
                                                                aug_char_p=p.get("aug_p", 0.1),
                                                                aug_word_p=p.get("aug_p", 0.1))),
    "Over-sample minority texts with random character insertions, substitutions, swaps or deletions (nlpaug).",
    NLPAUG_BIB + "\n" + NOISE_BIB,
    space=lambda t, c: {**with_p(t, c), "action": t.suggest_categorical("action", ["insert", "substitute", "swap",
                                                                                   "delete"])})
for _action, _what in (("swap", "neighbouring words swapped"), ("delete", "random words deleted"),
                       ("crop", "a random run of words cut out")):
    text_augmentation(
        f"text-word-{_action}",
        lambda p, c, a=_action: nlpaug_augmenter(lambda: _naw().RandomWordAug(action=a, aug_p=p.get("aug_p", 0.1))),
        f"Over-sample minority texts with {_what} (nlpaug's RandomWordAug).", NLPAUG_BIB + "\n" + EDA_BIB)


class ClassVocabulary:
    """Substitution words for ``text-word-substitute``: the words of the minority texts it augments."""

    def __init__(self, aug_p: float):
        self.aug_p = aug_p

    def __call__(self, texts: list[str], seed: int) -> list[str]:
        words = sorted({w for t in texts for w in t.split()}) or ["_"]
        run = nlpaug_augmenter(lambda: _naw().RandomWordAug(action="substitute", aug_p=self.aug_p, target_words=words))
        return run(texts, seed)


text_augmentation(
    "text-word-substitute", lambda p, c: ClassVocabulary(p.get("aug_p", 0.1)),
    "Over-sample minority texts with random words replaced by words of other minority texts (nlpaug).",
    NLPAUG_BIB, differences="nlpaug substitutes a placeholder '_' by default; here the replacement words are "
                            "drawn from the minority texts being augmented, which also inserts class vocabulary.")
text_augmentation(
    "text-spelling-errors",
    lambda p, c: nlpaug_augmenter(lambda: _naw().SpellingAug(aug_p=p.get("aug_p", 0.1))),
    "Over-sample minority texts with common misspellings (nlpaug's bundled spelling-error dictionary).",
    NLPAUG_BIB + "\n" + NOISE_BIB)

EDA_ALPHAS = [0.05, 0.1, 0.2, 0.3, 0.4, 0.5]  # the values of the paper's alpha study (Figure 2)


def eda_space(trial, ctx: MethodContext) -> dict:
    """The paper sets alpha_sr = alpha_ri = alpha_rs = p_rd = alpha; its recommendation is 0.1 (0.05 for
    large data). One alpha is tuned for all four, as in the paper."""
    return {**ratio_space(trial, ctx), "alpha": trial.suggest_categorical("alpha", EDA_ALPHAS)}


def make_eda(params: dict, ctx: MethodContext) -> Augmenter:
    a = params.get("alpha", 0.1)
    return eda_augmenter(EDA(a, a, a, a))


text_augmentation(
    "eda", make_eda,
    "EDA: synonym replacement (WordNet), random insertion, random swap and random deletion of minority texts.",
    EDA_BIB, space=eda_space, applies_to=wordnet_available,
    differences="One operation per new text, drawn uniformly; tokens keep their case and symbols (the paper "
                "lower-cases and keeps letters only); stop words are scikit-learn's English list.")


def back_translation_augmenter(from_model: str, to_model: str) -> Augmenter:
    """Back-translation through nlpaug (source -> pivot with ``from_model``, back with ``to_model``)."""
    return nlpaug_augmenter(lambda: load_model((from_model, to_model), lambda: _naw().BackTranslationAug(
        from_model_name=from_model, to_model_name=to_model, device=device(), max_length=256)))


def register_back_translation(name: str, from_model: str, to_model: str) -> None:
    """Register a back-translation row through ``from_model`` (source -> pivot) and ``to_model`` (pivot ->
    source): Hugging Face model names or local folders."""
    text_augmentation(
        name, lambda params, ctx: back_translation_augmenter(from_model, to_model),
        f"Over-sample minority texts by back-translation ({from_model} then {to_model}, nlpaug).",
        BACK_TRANSLATION_BIB + "\n" + NLPAUG_BIB, space=ratio_space, applies_to=models_available(from_model, to_model),
        differences="The translation models' default decoding; a text that comes back unchanged stays (a "
                    "deterministic decoder repeats itself) and is counted in the component's ``unchanged``.")


def masked_lm_type(model: str) -> str:
    """nlpaug's model family ("bert", "roberta", "bart") of ``model``: from a local folder's config.json
    (nlpaug itself guesses it from the name, which a local path need not contain), else ''."""
    config = Path(model).expanduser() / "config.json"
    if config.is_file():
        import json

        kind = str(json.loads(config.read_text()).get("model_type", ""))
        return {"distilbert": "bert", "squeezebert": "bert", "longformer": "roberta"}.get(kind, kind)
    return ""


def _public_token_ids() -> None:
    """nlpaug 1.1.11 maps tokens to ids with the private ``_convert_token_to_id`` of "slow" tokenizers
    unless the class name says "Fast"; transformers 5 dropped both the suffix and the method, so every
    masked-LM model fails on load. Route nlpaug's two lookups through the public API (same results)."""
    import nlpaug.model.lang_models as nml

    for cls in (nml.Bert, nml.DistilBert, nml.Roberta):
        cls.token2id = lambda self, token: self.tokenizer.convert_tokens_to_ids(token)
        cls.id2token = lambda self, _id: self.tokenizer.convert_ids_to_tokens(_id)


def contextual_augmenter(model: str, action: str = "substitute", aug_p: float = 0.1) -> Augmenter:
    """Words substituted (or inserted) by the predictions of masked language model ``model`` (nlpaug)."""

    def make() -> Any:
        _public_token_ids()
        return _naw().ContextualWordEmbsAug(model_path=model, model_type=masked_lm_type(model), action=action,
                                            aug_p=aug_p, device=device())

    return nlpaug_augmenter(lambda: load_model((model,), make))


def register_contextual(name: str, model: str) -> None:
    """Register a contextual word-embedding substitution row with masked language model ``model``."""
    text_augmentation(
        name, lambda params, ctx: contextual_augmenter(model, params.get("action", "substitute"),
                                                       params.get("aug_p", 0.1)),
        f"Over-sample minority texts by replacing or inserting words predicted by {model} (nlpaug).",
        CONTEXTUAL_BIB + "\n" + NLPAUG_BIB, applies_to=models_available(model),
        space=lambda t, c: {**with_p(t, c), "action": t.suggest_categorical("action", ["substitute", "insert"])})


if len(BACK_TRANSLATION_MODELS) != 2:
    raise BenchmarkError(f"BENCHMARK_BACK_TRANSLATION_MODELS={','.join(BACK_TRANSLATION_MODELS)!r} names "
                         f"{len(BACK_TRANSLATION_MODELS)} model(s)", "give two, comma-separated: source->pivot,pivot->source")
register_back_translation("back-translation", *BACK_TRANSLATION_MODELS)
register_contextual("contextual-word-substitution", CONTEXTUAL_MODEL)
