"""EDA's random deletion and random swap against the authors' code (jasonwei20/eda_nlp), draws fed in."""

from __future__ import annotations

import random

import pytest

from benchmark.methods.augmentation._text_eda import EDA, wordnet_problem
from tests.reference._figures import load

pytestmark = [
    pytest.mark.reference,
    pytest.mark.skipif(wordnet_problem() is not None, reason=f"{wordnet_problem()}: set NLTK_DATA (EDA needs WordNet)"),
]


class FedRandom(random.Random):
    """A ``random.Random`` whose draws are the stored ones."""

    def __init__(self, uniforms=(), pairs=(), choices=()):
        super().__init__(0)
        self.uniforms, self.pairs, self.choices = list(uniforms), [list(p) for p in pairs], list(choices)

    def random(self):
        return self.uniforms.pop(0)

    def sample(self, population, k):
        assert k == 2
        return self.pairs.pop(0)

    def choice(self, seq):
        return seq[self.choices.pop(0)]


def test_random_deletion_and_swap_match_the_authors_code():
    record = load("eda")
    words = record["inputs"]["words"]
    for case in record["cases"]:
        eda = EDA(alpha_sr=0.0, alpha_ri=0.0, alpha_rs=case["alpha"], p_rd=case["alpha"])
        if case["operation"] == "random_deletion":
            rng = FedRandom(uniforms=case["draws"]["uniform"], choices=case["draws"]["randint"])
            out = eda.random_deletion(list(words), case["alpha"], rng)
        else:
            assert eda._count(case["alpha"], words) == case["n"]
            out = eda.random_swap(list(words), case["alpha"], FedRandom(pairs=case["pairs"]))
        assert out == case["output"], f"{case['operation']} {case['draws']}"
