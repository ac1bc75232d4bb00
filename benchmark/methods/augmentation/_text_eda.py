"""EDA, Easy Data Augmentation (Wei and Zou 2019), written on NLTK's WordNet.

Four operations on a text of l words, each changing n = max(1, int(alpha * l)) words:

- synonym replacement (SR): n distinct non-stop words that have WordNet synonyms are each replaced by a
  random synonym;
- random insertion (RI): n times, a random synonym of a random word of the text is inserted at a
  random position;
- random swap (RS): n times, two random words swap places;
- random deletion (RD): each word is deleted with probability alpha (at least one word stays).

As in the paper, EDA needs only WordNet synsets (no part-of-speech tagger). Words are whitespace
tokens kept as they are (the paper lower-cases and strips everything but letters: in SMS spam, digits
and symbols are part of the signal); synonyms are looked up for a token's lower-cased letters and
multi-word lemmas are inserted with spaces. Stop words are scikit-learn's English list.
"""

from __future__ import annotations

import functools
import os
import random

from benchmark.errors import BenchmarkError

OPERATIONS = ("synonym_replacement", "random_insertion", "random_swap", "random_deletion")
WORDNET_FIX = (
    "install NLTK (pip install nltk) and its WordNet data: with a network, python -m nltk.downloader "
    "wordnet; offline on Debian, apt-get install wordnet-base wordnet-sense-index, copy "
    "/usr/share/wordnet into DEST/corpora/wordnet (add index.sense and lexnames) and set NLTK_DATA=DEST"
)


def wordnet_problem() -> str | None:
    """None when NLTK's WordNet loads; else what is missing (for "not applicable" reasons and errors)."""
    try:
        from nltk.corpus import wordnet
    except ImportError:
        return "WordNet unavailable: the nltk package is not installed"
    try:
        wordnet.ensure_loaded()
    except LookupError:
        where = os.environ.get("NLTK_DATA", "NLTK's default folders")
        return f"WordNet unavailable: NLTK found no corpora/wordnet under {where}"
    return None


def require_wordnet() -> None:
    problem = wordnet_problem()
    if problem:
        raise BenchmarkError(problem, WORDNET_FIX)


@functools.lru_cache(maxsize=200_000)
def synonyms(word: str) -> tuple[str, ...]:
    """WordNet synonyms of ``word`` (lemmas of all its synsets, underscores as spaces, itself excluded)."""
    from nltk.corpus import wordnet

    key = "".join(ch for ch in word.lower() if ch.isalpha())
    if not key:
        return ()
    found = {
        lemma.name().replace("_", " ").replace("-", " ").lower()
        for synset in wordnet.synsets(key)
        for lemma in synset.lemmas()
    }
    found.discard(key)
    return tuple(sorted(found))


def _stop_words() -> frozenset[str]:
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    return frozenset(ENGLISH_STOP_WORDS)


class EDA:
    """EDA with the paper's parameters: ``alpha_sr``, ``alpha_ri``, ``alpha_rs`` and ``p_rd``.

    :meth:`augment` makes one new text with one operation drawn uniformly among those whose alpha is
    positive (the paper's code makes the same number with each operation and shuffles them).
    """

    def __init__(
        self, alpha_sr: float = 0.1, alpha_ri: float = 0.1, alpha_rs: float = 0.1, p_rd: float = 0.1
    ):
        for name, value in (
            ("alpha_sr", alpha_sr),
            ("alpha_ri", alpha_ri),
            ("alpha_rs", alpha_rs),
            ("p_rd", p_rd),
        ):
            if not 0 <= value <= 1:
                raise BenchmarkError(
                    f"EDA got {name}={value}", "use values in [0, 1] (the paper uses 0.05-0.5)"
                )
        self.alphas = dict(zip(OPERATIONS, (alpha_sr, alpha_ri, alpha_rs, p_rd), strict=True))
        if not any(self.alphas.values()):
            raise BenchmarkError("EDA got every alpha 0", "give at least one operation a positive alpha")
        require_wordnet()
        self.stop_words = _stop_words()

    def augment(self, text: str, rng: random.Random) -> str:
        words = text.split()
        if not words:
            return text
        operation = rng.choice([op for op, a in self.alphas.items() if a > 0])
        return " ".join(getattr(self, operation)(words, self.alphas[operation], rng))

    @staticmethod
    def _count(alpha: float, words: list[str]) -> int:
        return max(1, int(alpha * len(words)))

    def synonym_replacement(self, words: list[str], alpha: float, rng: random.Random) -> list[str]:
        out = list(words)
        candidates = [i for i, w in enumerate(words) if w.lower() not in self.stop_words and synonyms(w)]
        rng.shuffle(candidates)
        for i in candidates[: self._count(alpha, words)]:
            out[i] = rng.choice(synonyms(words[i]))
        return out

    def random_insertion(self, words: list[str], alpha: float, rng: random.Random) -> list[str]:
        out = list(words)
        for _ in range(self._count(alpha, words)):
            for _attempt in range(10):  # as the paper's code: up to 10 draws for a word with synonyms
                options = synonyms(rng.choice(out))
                if options:
                    out.insert(rng.randint(0, len(out)), rng.choice(options))
                    break
        return out

    def random_swap(self, words: list[str], alpha: float, rng: random.Random) -> list[str]:
        out = list(words)
        if len(out) < 2:
            return out
        for _ in range(self._count(alpha, words)):
            i, j = rng.sample(range(len(out)), 2)
            out[i], out[j] = out[j], out[i]
        return out

    def random_deletion(self, words: list[str], p: float, rng: random.Random) -> list[str]:
        if len(words) == 1:
            return list(words)
        kept = [w for w in words if rng.random() > p]
        return kept or [rng.choice(words)]
