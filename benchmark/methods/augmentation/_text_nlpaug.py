"""nlpaug glue for the text-augmentation rows: seeded nlpaug augmenters and the pretrained models of
back-translation and contextual substitution (a Hugging Face name or a local folder), checked before
they load so that a missing model fails at once with "model unavailable: <name>".
"""

from __future__ import annotations

import importlib.util
import os
import random
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from benchmark.errors import BenchmarkError

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


MODEL_FIX = (
    "download the model into the Hugging Face cache on a machine with a network (or copy it), or point "
    "BENCHMARK_BACK_TRANSLATION_MODELS / BENCHMARK_CONTEXTUAL_MODEL at local model folders"
)


def load_model(names: tuple[str, ...], make: Callable[[], Any]) -> Any:
    """Build an nlpaug model augmenter; a missing model fails at once with "model unavailable: <name>"."""
    for name in names:
        problem = model_problem(name)
        if problem:
            raise BenchmarkError(problem, MODEL_FIX)
    try:
        return make()
    except (OSError, ValueError, ImportError) as exc:
        raise BenchmarkError(
            f"model unavailable: {', '.join(names)} ({str(exc).splitlines()[0]})", MODEL_FIX
        ) from exc


def device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def nlpaug_char():
    import nlpaug.augmenter.char as nac

    return nac


def nlpaug_word():
    import nlpaug.augmenter.word as naw

    return naw


def back_translation_augmenter(from_model: str, to_model: str) -> Augmenter:
    """Back-translation through nlpaug (source -> pivot with ``from_model``, back with ``to_model``)."""
    return nlpaug_augmenter(
        lambda: load_model(
            (from_model, to_model),
            lambda: nlpaug_word().BackTranslationAug(
                from_model_name=from_model, to_model_name=to_model, device=device(), max_length=256
            ),
        )
    )


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
        return nlpaug_word().ContextualWordEmbsAug(
            model_path=model, model_type=masked_lm_type(model), action=action, aug_p=aug_p, device=device()
        )

    return nlpaug_augmenter(lambda: load_model((model,), make))
