"""Text datasets. Splits keep the raw texts, so text augmentation and any featuriser can use them.

Protocol: a stratified test hold-out keeps the natural imbalance; validation is a stratified share
of the rest. Messages equal after whitespace normalisation and case folding
(:func:`benchmark.protocol.normalise_text`: the featurisers lower-case) are grouped, and each group lies
in one part, so no test message is also a training message; the split's ``duplicates`` record counts
them. The SMS Spam Collection is read from ``<data root>/sms_spam/SMSSpamCollection``; when
it is absent, the UCI archive is downloaded (where downloads can work) and the file is extracted,
checked against its pinned SHA-256 and only then put in place.

``sms-spam-mini`` (the smoke suite's) draws its 1,200 messages from the full collection with the
split seed. For split seeds 0 and 1 it needs no data root: the package ships
``sms_spam/SMSSpamCollection-mini`` (:func:`sparse_sms_subset`), the collection's 5,574 lines with
the text of every message those two subsets do not draw left empty, so the same labels give the
same draws and the same splits, byte for byte, as the full file (the data root's full file, or a
``-mini`` file there, is still read first).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from benchmark.datasets.base import LoadRequest, Split, register_dataset
from benchmark.datasets.card import count_stats
from benchmark.datasets.download import SMS_ZIP_URL, fetch_zip_member, require_download
from benchmark.datasets.packaged import locate
from benchmark.datasets.split import holdout_split
from benchmark.errors import BenchmarkError
from benchmark.protocol import stratified_holdout

SMS_FILE = "sms_spam/SMSSpamCollection"
SMS_MINI_FILE = "sms_spam/SMSSpamCollection-mini"  # shipped in the package: see sparse_sms_subset
MINI_SPLIT_SEEDS = (0, 1)  # the split seeds whose sms-spam-mini subsets SMSSpamCollection-mini holds
SMS_URL = SMS_ZIP_URL
SMS_BIB = """@inproceedings{almeida2011sms,
  title={Contributions to the Study of {SMS} Spam Filtering: New Collection and Results},
  author={Almeida, Tiago A. and G{\\'o}mez Hidalgo, Jos{\\'e} Mar{\\'\\i}a and Yamakami, Akebo},
  booktitle={Proceedings of the 11th ACM Symposium on Document Engineering}, pages={259--262}, year={2011}}"""


def read_sms_collection(path) -> tuple[np.ndarray, np.ndarray]:
    """Read the UCI format: one message per line, ``ham`` or ``spam``, a tab, the text."""
    texts, labels = [], []
    with open(path, "rb") as fh:
        for number, raw in enumerate(fh, 1):
            try:
                line = raw.decode("utf-8").rstrip("\n\r")
            except UnicodeDecodeError as exc:
                raise BenchmarkError(f"{path}, line {number}: not valid UTF-8 ({exc.reason} at byte {exc.start})",
                                     "replace the file with the original UCI SMSSpamCollection") from None
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
    """The entry's stratified subset (``max_samples``), then the hold-outs of every dataset without an
    official test set (:func:`benchmark.datasets.split.holdout_split`), messages equal after normalisation grouped."""
    params = request.params
    if params.get("max_samples") and params["max_samples"] < len(labels):
        keep = subset_rows(labels, params["max_samples"], request)
        texts, labels = texts[keep], labels[keep]
    return holdout_split(name, "text", request, texts, labels, class_names, info=dict(params),
                         compared="texts after whitespace normalisation and case folding")


def subset_rows(labels: np.ndarray, max_samples: int, request: LoadRequest) -> np.ndarray:
    """The rows of ``text_split``'s stratified subset for the request's split seed."""
    return stratified_holdout(labels, max_samples / len(labels), request.rng("subset"), what="subset")[1]


def load_sms(request: LoadRequest) -> Split:
    """The SMS Spam Collection: ham is class 0, spam (the minority) class 1.

    Read from the data root; the subset entry (``max_samples``) falls back to the packaged sparse copy
    for the split seeds it holds; otherwise the UCI archive is downloaded where downloads can work."""
    path = request.data_root / SMS_FILE
    if not path.exists() and request.params.get("max_samples") and request.split_seed in MINI_SPLIT_SEEDS:
        path = locate(request.data_root, SMS_MINI_FILE) or path
    if not path.exists():
        require_download(request.name, request.data_root, [SMS_FILE], SMS_URL)
        fetch_zip_member(request.name, [SMS_URL], path.name, path, [SMS_FILE], SMS_URL, check=read_sms_collection,
                         pin=SMS_FILE)
    texts, labels = read_sms_collection(path)
    if path.name != Path(SMS_FILE).name:  # the sparse copy: every message the subset draws must be there
        rows = subset_rows(labels, request.params["max_samples"], request)
        if (texts[rows] == "").any():
            raise BenchmarkError(f"{path} lacks messages that split seed {request.split_seed} draws (it holds "
                                 f"those of split seeds {', '.join(map(str, MINI_SPLIT_SEEDS))})",
                                 f"put the full SMS Spam Collection under the data root as {SMS_FILE}")
    return text_split(request.name, request, texts, labels, ["ham", "spam"])


def sparse_sms_subset(full: Path, max_samples: int, split_seeds: tuple[int, ...] = MINI_SPLIT_SEEDS,
                      name: str = "sms-spam-mini") -> bytes:
    """The packaged ``SMSSpamCollection-mini``: every line of the full collection ``full``, in order,
    with the text cut (``ham\t``) from each message that no subset of ``split_seeds`` draws.

    Keeping every label keeps the stratified draw of each split seed identical to the full file's,
    so the splits (and their fingerprints) are the same; regenerate it with this function."""
    texts, labels = read_sms_collection(full)
    keep = np.zeros(len(labels), dtype=bool)
    for seed in split_seeds:
        keep[subset_rows(labels, max_samples, LoadRequest(name, full.parent, seed, {}))] = True
    lines = [f"{'spam' if y else 'ham'}\t{t if k else ''}\n" for t, y, k in zip(texts, labels, keep, strict=True)]
    return "".join(lines).encode("utf-8")


SMS_COUNTS = [4827, 747]  # ham, spam in the 5,574 messages of v.1


def subset_counts(counts: list[int], max_samples: int | None) -> list[int]:
    """Class counts after the stratified subset of ``text_split`` (round(share * n_c), at least 1)."""
    if not max_samples or max_samples >= sum(counts):
        return list(counts)
    share = max_samples / sum(counts)
    return [min(max(1, int(round(share * n))), n - 1) for n in counts]


SMS_CARD = dict(
    modality="text",
    num_classes=2,
    class_names=("ham", "spam"),
    source=SMS_URL,
    license="CC BY 4.0",
    citation=SMS_BIB,
    files=(SMS_FILE,),
    default_model={"deep": "mlp", "classical": "logreg"},
    tags=("text", "binary"),
)

register_dataset(
    "sms-spam",
    description="SMS Spam Collection v.1: 5,574 English SMS messages, 747 spam (13.4%); stratified 20% test, "
    "20% of the rest for validation.",
    params={"test_fraction": 0.2, "val_fraction": 0.2},
    stats=count_stats(SMS_COUNTS),
    **SMS_CARD,
)(load_sms)

register_dataset(
    "sms-spam-mini",
    description="A stratified subset of 1,200 messages of the SMS Spam Collection (same spam share), drawn "
    "with the split seed, for the smoke suite; split seeds 0 and 1 need no data root (a copy ships in the package).",
    params={"test_fraction": 0.2, "val_fraction": 0.2, "max_samples": 1200},
    stats=count_stats(subset_counts(SMS_COUNTS, 1200)),
    **{**SMS_CARD, "files": (SMS_FILE, SMS_MINI_FILE)},
)(load_sms)
