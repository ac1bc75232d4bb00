"""How a paper names a method: ``smote`` -> "SMOTE", ``ldam-drw`` -> "LDAM-DRW", ``smote+focal-loss`` ->
"SMOTE + Focal loss", and in LaTeX with the ``\\cite{}`` keys of the method's BibTeX entries (the keys of
``references.bib``, which holds the same entries).

Registered names are slugs (lower case, hyphens) so that they can be typed; a table printed in a paper
wants the names the literature uses. The words below are the field's acronyms and spellings; any other
word of a slug is kept in lower case, and a label starting with one is capitalised.
"""

from __future__ import annotations

from benchmark.registry import bibtex_key

# The field's spelling of words that occur in slugs (acronyms, and names spelt with capitals).
WORDS = {
    "smote": "SMOTE", "adasyn": "ADASYN", "enn": "ENN", "knn": "kNN", "ce": "CE", "bce": "BCE", "ldam": "LDAM",
    "drw": "DRW", "ghm": "GHM", "eos": "EOS", "vae": "VAE", "cvae": "CVAE", "ctgan": "CTGAN", "tvae": "TVAE",
    "bagan": "BAGAN", "gp": "GP", "ddpm": "DDPM", "tabddpm": "TabDDPM", "cbdm": "CBDM", "ldmlr": "LDMLR",
    "crt": "cRT", "lws": "LWS", "eda": "EDA", "fmix": "FMix", "cutmix": "CutMix", "mixup": "Mixup",
    "augmix": "AugMix", "autoaugment": "AutoAugment", "randaugment": "RandAugment", "nearmiss": "NearMiss",
    "rusboost": "RUSBoost", "fixmatch": "FixMatch", "da": "DA", "simclr": "SimCLR", "ssp": "SSP", "vime": "VIME",
    "ssl": "SSL", "svm": "SVM", "nc": "NC", "n": "N", "ocr": "OCR", "kmeans": "k-means", "tomek": "Tomek",
    "deepsmote": "DeepSMOTE", "remix": "Remix", "posthoc": "post-hoc", "pos": "pos.", "c": "C",
}
# Words that stay joined to the previous one by a hyphen (LDAM-DRW, GHM-C, SMOTE-ENN, NearMiss-1).
JOINED = {"drw", "c", "enn", "tomek", "gp", "da", "n", "nc", "1", "2", "3"}


def method_label(name: str) -> str:
    """The name a paper gives the method registered as ``name``; a combined row's parts joined by ' + '."""
    return " + ".join(_part_label(part) for part in name.split("+"))


def _part_label(slug: str) -> str:
    words = [w for w in slug.split("-") if w]
    text = ""
    for i, word in enumerate(words):
        shown = WORDS.get(word, word)
        text += shown if i == 0 else ("-" if word in JOINED else " ") + shown
    # a spelling of the field's keeps its case (cRT, k-means SMOTE); a plain word starts the label capitalised
    return text if words and words[0] in WORDS else text[:1].upper() + text[1:]


def cite_keys(paper: str) -> list[str]:
    """The BibTeX keys of every entry in ``paper`` (a combined row cites each part's), in order, once each."""
    from benchmark.report.citation import split_entries

    keys = [bibtex_key(entry) for entry in split_entries(paper or "")]
    return list(dict.fromkeys(k for k in keys if k))
