"""Text datasets. Splits keep the raw texts, so text augmentation and any featuriser can use them."""

from __future__ import annotations

import numpy as np

from benchmark.datasets.base import DataPart, LoadRequest, Split, register_dataset
from benchmark.errors import BenchmarkError, DataUnavailableError
from benchmark.protocol import stratified_holdout

SMS_FILE = "sms_spam/SMSSpamCollection"
SMS_URL = "https://archive.ics.uci.edu/static/public/228/sms+spam+collection.zip"
SMS_BIB = """@inproceedings{almeida2011sms,
  title={Contributions to the Study of {SMS} Spam Filtering: New Collection and Results},
  author={Almeida, Tiago A. and G{\\'o}mez Hidalgo, Jos{\\'e} Mar{\\'\\i}a and Yamakami, Akebo},
  booktitle={Proceedings of the 11th ACM Symposium on Document Engineering}, pages={259--262}, year={2011}}"""


def read_sms_collection(path) -> tuple[np.ndarray, np.ndarray]:
    """Read the UCI format: one message per line, ``ham`` or ``spam``, a tab, the text."""
    texts, labels = [], []
    with open(path, encoding="utf-8") as fh:
        for number, line in enumerate(fh, 1):
            line = line.rstrip("\n\r")
            if not line:
                continue
            label, sep, text = line.partition("\t")
            if not sep or label not in ("ham", "spam"):
                raise BenchmarkError(f"{path}, line {number}: expected 'ham' or 'spam', a tab, then the text; "
                                     f"got {line[:60]!r}", "replace the file with the original UCI SMSSpamCollection")
            texts.append(text)
            labels.append(1 if label == "spam" else 0)
    return np.array(texts, dtype=str), np.array(labels, dtype=np.int64)


def text_split(name: str, request: LoadRequest, texts: np.ndarray, labels: np.ndarray, class_names: list[str]) -> Split:
    """Stratified test hold-out (natural imbalance), then a stratified validation share of the rest."""
    params = request.params
    if params.get("max_samples") and params["max_samples"] < len(labels):
        _, keep = stratified_holdout(labels, params["max_samples"] / len(labels), request.rng("subset"), what="subset")
        texts, labels = texts[keep], labels[keep]
    rest, test = stratified_holdout(labels, params.get("test_fraction", 0.2), request.rng("test"), what="test")
    train, val = stratified_holdout(labels[rest], params.get("val_fraction", 0.2), request.rng("validation"))
    train, val = rest[train], rest[val]
    return Split(name, "text", class_names, DataPart(texts[train], labels[train]), DataPart(texts[val], labels[val]),
                 DataPart(texts[test], labels[test]), info={k: v for k, v in params.items()})


def load_sms(request: LoadRequest) -> Split:
    path = request.data_root / SMS_FILE
    if not path.exists():
        raise DataUnavailableError(request.name, [SMS_FILE], SMS_URL, f"{path} is missing")
    texts, labels = read_sms_collection(path)
    return text_split(request.name, request, texts, labels, ["ham", "spam"])


SMS_CARD = dict(
    modality="text",
    num_classes=2,
    source=SMS_URL,
    license="CC BY 4.0",
    citation=SMS_BIB,
    files=(SMS_FILE,),
    default_model={"deep": "mlp", "classical": "logreg"},
)

register_dataset(
    "sms-spam",
    description="SMS Spam Collection v.1: 5,574 English SMS messages, 747 spam (13.4%); stratified 20% test, "
    "20% of the rest for validation.",
    params={"test_fraction": 0.2, "val_fraction": 0.2},
    **SMS_CARD,
)(load_sms)

register_dataset(
    "sms-spam-mini",
    description="A stratified subset of 1,200 messages of the SMS Spam Collection (same spam share), "
    "for the smoke suite.",
    params={"test_fraction": 0.2, "val_fraction": 0.2, "max_samples": 1200},
    **SMS_CARD,
)(load_sms)
