"""Text augmentation rows: new minority texts from the training split's own minority texts (the
``resample`` hook with ``space = "input"``, on raw texts before featurisation).

Every minority class below ``target_ratio`` times the largest class gets copies of its training texts
(drawn uniformly with replacement, seeded) changed by an augmenter: nlpaug's character-level noise
(keyboard, OCR, random characters), word-level random swap, deletion, substitution and crop, spelling
errors, EDA (:mod:`benchmark.methods.augmentation._text_eda`), back-translation and contextual
word-embedding substitution. The engines call the hook on training rows only, so validation and test
texts never seed an augmented text. A text the augmenter leaves unchanged is augmented again (up to
``max_tries`` times), so the added texts differ from their sources.

Back-translation and contextual substitution load pretrained models with ``transformers`` (a Hugging
Face model name, or a local folder). Where the model is not on the machine, the pair is stored as
"resource-unavailable" with the reason "model unavailable: <name>" and the fix (decided before any
trial: no budget is spent on a run that cannot start; the next run tries the pair again, so installing
the model is enough); building the component anyway fails at once with the
same message. Set ``HF_HUB_OFFLINE=1`` on machines without a network so nothing waits for a hub.
"""

from __future__ import annotations

import os
import random
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from benchmark.errors import BenchmarkError, ResourceUnavailableError
from benchmark.methods._oversampling import check_ratio, top_up_targets
from benchmark.methods._papers import BACK_TRANSLATION_BIB, CONTEXTUAL_BIB, EDA_BIB, NLPAUG_BIB, NOISE_BIB
from benchmark.methods.augmentation._text_eda import EDA, WORDNET_FIX, wordnet_problem
from benchmark.methods.augmentation._text_nlpaug import (
    MODEL_FIX,
    Augmenter,
    back_translation_augmenter,
    contextual_augmenter,
    model_problem,
    nlpaug_augmenter,
    nlpaug_char,
    nlpaug_word,
)
from benchmark.methods.base import BOTH_ENGINES, MethodContext, Recipe, register_method

if TYPE_CHECKING:
    from benchmark.datasets.base import Split

BACK_TRANSLATION_MODELS = tuple(
    os.environ.get(
        "BENCHMARK_BACK_TRANSLATION_MODELS", "Helsinki-NLP/opus-mt-en-de,Helsinki-NLP/opus-mt-de-en"
    ).split(",")
)
CONTEXTUAL_MODEL = os.environ.get("BENCHMARK_CONTEXTUAL_MODEL", "distilbert-base-uncased")


class TextOversampler:
    """The ``resample`` component: augmented copies of minority training texts up to a target ratio.

    Args:
        augmenter: texts, seed -> augmented texts.
        minority_classes: the classes that receive new texts (the split's minority classes).
        target_ratio: each of them ends with ``ceil(target_ratio * n_max)`` texts where it had fewer.
        max_tries: augmentations of a text that came back unchanged.
    """

    space = "input"

    def __init__(
        self, augmenter: Augmenter, minority_classes: tuple[int, ...], target_ratio: float, max_tries: int = 5
    ):
        check_ratio(target_ratio, "text augmentation")
        self.augmenter, self.minority_classes = augmenter, tuple(minority_classes)
        self.target_ratio, self.max_tries = float(target_ratio), int(max_tries)
        self.unchanged = 0

    def resample(self, X: np.ndarray, y: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
        X, y = np.asarray(X), np.asarray(y, dtype=np.int64)
        if X.ndim != 1:
            raise BenchmarkError(
                f"text augmentation got rows of shape {X.shape}",
                "it runs on raw texts (space 'input' on text data)",
            )
        wanted = top_up_targets(np.bincount(y), self.target_ratio, self.minority_classes, who="text augmentation")
        rng = np.random.default_rng(seed)
        new_texts: list[str] = []
        new_labels: list[int] = []
        self.sources: list[int] = []  # training row of each added text
        for c in self.minority_classes:  # the classes' own order: the draws of a seed stay as they were
            if c not in wanted:
                continue
            rows = rng.choice(np.flatnonzero(y == c), size=wanted[c], replace=True)
            texts = [str(t) for t in X[rows]]
            new_texts += self._augment(texts, int(rng.integers(2**31)))
            new_labels += [c] * len(rows)
            self.sources += rows.tolist()
        if not new_texts:
            return X, y
        return (
            np.concatenate([X.astype(str), np.array(new_texts, dtype=str)]),
            np.concatenate([y, np.array(new_labels, dtype=np.int64)]),
        )

    def _augment(self, texts: list[str], seed: int) -> list[str]:
        out = list(self.augmenter(texts, seed))
        if len(out) != len(texts):
            raise BenchmarkError(
                f"the text augmenter returned {len(out)} texts for {len(texts)}",
                "an augmenter must return one text per input text",
            )
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
def eda_augmenter(eda: EDA) -> Augmenter:
    def run(texts: list[str], seed: int) -> list[str]:
        rng = random.Random(seed)
        return [eda.augment(t, rng) for t in texts]

    return run


def models_available(*names: str) -> Callable[[Split], str | None]:
    """``applies_to`` of a model-based augmenter: raises ResourceUnavailableError while a model is missing."""

    def applies_to(split: Split) -> str | None:
        for name in names:
            problem = model_problem(name)
            if problem:
                raise ResourceUnavailableError(problem, MODEL_FIX)
        return None

    return applies_to


def wordnet_available(split: Split) -> str | None:
    """``applies_to`` of EDA: raises ResourceUnavailableError while NLTK's WordNet is missing."""
    problem = wordnet_problem()
    if problem:
        raise ResourceUnavailableError(f"{problem} (EDA needs WordNet synsets)", WORDNET_FIX)
    return None


# -- search spaces and registration ----------------------------------------------------------------------
def ratio_space(trial, ctx: MethodContext) -> dict:
    """The target ratio of each minority class to the largest class, above where the data already is."""
    counts = [c for c in ctx.class_counts if c > 0]
    low = min(1.0, max(0.2, min(counts) / max(counts) + 0.05))
    return {"target_ratio": trial.suggest_float("target_ratio", low, 1.0)}


def with_p(trial, ctx: MethodContext) -> dict:
    return {**ratio_space(trial, ctx), "aug_p": trial.suggest_float("aug_p", 0.05, 0.3)}


def text_augmentation(
    name: str,
    make: Callable[[dict, MethodContext], Augmenter],
    summary: str,
    paper: str,
    space=with_p,
    applies_to=None,
    differences: str = "",
) -> None:
    """Register a text row: ``make(params, ctx)`` gives the augmenter of the :class:`TextOversampler`."""

    def build(params: dict, ctx: MethodContext) -> Recipe:
        return Recipe(
            resample=TextOversampler(
                make(params, ctx), tuple(ctx.minority_classes), params.get("target_ratio", 1.0)
            )
        )

    build.__doc__ = summary
    register_method(
        name,
        family="text-augmentation",
        modalities=("text",),
        engines=BOTH_ENGINES,
        summary=summary,
        paper=paper,
        search_space=space,
        applies_to=applies_to,
        differences=differences,
    )(build)


text_augmentation(
    "text-keyboard-noise",
    lambda p, c: nlpaug_augmenter(
        lambda: nlpaug_char().KeyboardAug(aug_char_p=p.get("aug_p", 0.1), aug_word_p=p.get("aug_p", 0.1))
    ),
    "Over-sample minority texts with keyboard typos (a character replaced by a neighbouring key, nlpaug).",
    NLPAUG_BIB + "\n" + NOISE_BIB,
)
text_augmentation(
    "text-ocr-noise",
    lambda p, c: nlpaug_augmenter(
        lambda: nlpaug_char().OcrAug(aug_char_p=p.get("aug_p", 0.1), aug_word_p=p.get("aug_p", 0.1))
    ),
    "Over-sample minority texts with OCR confusions (0/o, 1/l, ...; nlpaug).",
    NLPAUG_BIB + "\n" + NOISE_BIB,
)
text_augmentation(
    "text-random-char",
    lambda p, c: nlpaug_augmenter(
        lambda: nlpaug_char().RandomCharAug(
            action=p.get("action", "substitute"),
            aug_char_p=p.get("aug_p", 0.1),
            aug_word_p=p.get("aug_p", 0.1),
        )
    ),
    "Over-sample minority texts with random character insertions, substitutions, swaps or deletions "
    "(nlpaug).",
    NLPAUG_BIB + "\n" + NOISE_BIB,
    space=lambda t, c: {
        **with_p(t, c),
        "action": t.suggest_categorical("action", ["insert", "substitute", "swap", "delete"]),
    },
)


class WordCrop:
    """nlpaug's word crop (a contiguous run of words removed), robust to one-word runs.

    nlpaug 1.1.11 raises ValueError whenever the run is one word long (its range sampling slices
    ``tokens[:-0]``, an empty list): short texts, which SMS spam is full of. Removing a run of one word
    is deleting one word, so those texts go through nlpaug's delete with exactly one word instead.
    """

    def __init__(self, aug_p: float):
        naw = nlpaug_word()
        self.crop = naw.RandomWordAug(action="crop", aug_p=aug_p)
        self.delete_one = naw.RandomWordAug(action="delete", aug_min=1, aug_max=1)

    def augment(self, texts: list[str]) -> list[str]:
        out = []
        for text in texts:
            try:
                out.append(self.crop.augment(text)[0])
            except ValueError:
                out.append(self.delete_one.augment(text)[0])
        return out


for _action, _what in (
    ("swap", "neighbouring words swapped"),
    ("delete", "random words deleted"),
):
    text_augmentation(
        f"text-word-{_action}",
        lambda p, c, a=_action: nlpaug_augmenter(
            lambda: nlpaug_word().RandomWordAug(action=a, aug_p=p.get("aug_p", 0.1))
        ),
        f"Over-sample minority texts with {_what} (nlpaug's RandomWordAug).",
        NLPAUG_BIB + "\n" + EDA_BIB,
    )


text_augmentation(
    "text-word-crop",
    lambda p, c: nlpaug_augmenter(lambda: WordCrop(p.get("aug_p", 0.1))),
    "Over-sample minority texts with a random run of words cut out (nlpaug's RandomWordAug).",
    NLPAUG_BIB + "\n" + EDA_BIB,
    differences="A run of one word is removed with nlpaug's delete (its crop fails on one-word runs).",
)


class ClassVocabulary:
    """Substitution words for ``text-word-substitute``: the words of the minority texts it augments."""

    def __init__(self, aug_p: float):
        self.aug_p = aug_p

    def __call__(self, texts: list[str], seed: int) -> list[str]:
        words = sorted({w for t in texts for w in t.split()}) or ["_"]
        run = nlpaug_augmenter(
            lambda: nlpaug_word().RandomWordAug(action="substitute", aug_p=self.aug_p, target_words=words)
        )
        return run(texts, seed)


text_augmentation(
    "text-word-substitute",
    lambda p, c: ClassVocabulary(p.get("aug_p", 0.1)),
    "Over-sample minority texts with random words replaced by words of other minority texts (nlpaug).",
    NLPAUG_BIB,
    differences="nlpaug substitutes a placeholder '_' by default; here the replacement words are "
    "drawn from the minority texts being augmented, which also inserts class vocabulary.",
)
text_augmentation(
    "text-spelling-errors",
    lambda p, c: nlpaug_augmenter(lambda: nlpaug_word().SpellingAug(aug_p=p.get("aug_p", 0.1))),
    "Over-sample minority texts with common misspellings (nlpaug's bundled spelling-error dictionary).",
    NLPAUG_BIB + "\n" + NOISE_BIB,
)

EDA_ALPHAS = [0.05, 0.1, 0.2, 0.3, 0.4, 0.5]  # the values of the paper's alpha study (Figure 2)


def eda_space(trial, ctx: MethodContext) -> dict:
    """The paper sets alpha_sr = alpha_ri = alpha_rs = p_rd = alpha; its recommendation is 0.1 (0.05 for
    large data). One alpha is tuned for all four, as in the paper."""
    return {**ratio_space(trial, ctx), "alpha": trial.suggest_categorical("alpha", EDA_ALPHAS)}


def make_eda(params: dict, ctx: MethodContext) -> Augmenter:
    a = params.get("alpha", 0.1)
    return eda_augmenter(EDA(a, a, a, a))


text_augmentation(
    "eda",
    make_eda,
    "EDA: synonym replacement (WordNet), random insertion, random swap and random deletion of minority "
    "texts.",
    EDA_BIB,
    space=eda_space,
    applies_to=wordnet_available,
    differences="One operation per new text, drawn uniformly; tokens keep their case and symbols (the paper "
    "lower-cases and keeps letters only); stop words are scikit-learn's English list.",
)


def register_back_translation(name: str, from_model: str, to_model: str) -> None:
    """Register a back-translation row through ``from_model`` (source -> pivot) and ``to_model`` (pivot ->
    source): Hugging Face model names or local folders."""
    text_augmentation(
        name,
        lambda params, ctx: back_translation_augmenter(from_model, to_model),
        f"Over-sample minority texts by back-translation ({from_model} then {to_model}, nlpaug).",
        BACK_TRANSLATION_BIB + "\n" + NLPAUG_BIB,
        space=ratio_space,
        applies_to=models_available(from_model, to_model),
        differences="The translation models' default decoding; a text that comes back unchanged stays (a "
        "deterministic decoder repeats itself) and is counted in the component's ``unchanged``.",
    )


def register_contextual(name: str, model: str) -> None:
    """Register a contextual word-embedding substitution row with masked language model ``model``."""
    text_augmentation(
        name,
        lambda params, ctx: contextual_augmenter(
            model, params.get("action", "substitute"), params.get("aug_p", 0.1)
        ),
        f"Over-sample minority texts by replacing or inserting words predicted by {model} (nlpaug).",
        CONTEXTUAL_BIB + "\n" + NLPAUG_BIB,
        applies_to=models_available(model),
        space=lambda t, c: {
            **with_p(t, c),
            "action": t.suggest_categorical("action", ["substitute", "insert"]),
        },
    )


if len(BACK_TRANSLATION_MODELS) != 2:
    raise BenchmarkError(
        f"BENCHMARK_BACK_TRANSLATION_MODELS={','.join(BACK_TRANSLATION_MODELS)!r} names "
        f"{len(BACK_TRANSLATION_MODELS)} model(s)",
        "give two, comma-separated: source->pivot,pivot->source",
    )
register_back_translation("back-translation", *BACK_TRANSLATION_MODELS)
register_contextual("contextual-word-substitution", CONTEXTUAL_MODEL)
