"""Vision long-tail datasets: MNIST-LT, Fashion-MNIST-LT, CIFAR-10-LT, CIFAR-100-LT and digits-lt.

The protocol of the long-tail literature (Cui et al. 2019, Cao et al. 2019): the balanced official
training set is subsampled to n_i = floor(n_max * rho^(-i/(C-1))) images of class i, classes in their
natural order, with the split seed choosing which images; the official balanced test set is the test
split. The validation split is drawn from the long-tailed pool with the same per-class proportions
(``val_fraction`` of each class, at least one), so tuning never sees a test image and faces the same
imbalance as training. Pool images identical (pixel for pixel) to a test image are removed from the
pool first, and identical pool images are grouped so that a group lies in one part (the split's
``duplicates`` record counts both; the official Fashion-MNIST files hold none).

Names: ``<family>`` is the exponential profile at rho=100; ``<family>-r10``, ``-r50`` and ``-r100`` pick
rho; ``<family>-step`` (rho=100), ``-step-r10`` and ``-step-r100`` use the step profile (half the classes
keep n_max, half keep n_max/rho), as in Cao et al. 2019. Every variant of a family draws each class in
the same random order, so for one split seed the rho=100 subsample is nested in the rho=10 one.

Unlabeled pool: the official training images the long-tail profile left out (never a validation or
test image, nor one identical to any split image), drawn with their own random stream so the split's
parts are the same with or without it; ``unlabeled_mix`` and ``unlabeled_ratio`` set its class mix and
size (:mod:`benchmark.datasets.unlabeled`). The card states the pool's size and class mix.

``label_preserving_transforms`` names the augmentations that keep the label, for augmentation methods
to respect: ``hflip`` (mirror left-right), ``crop`` (pad and random crop), ``affine-small`` (rotation
up to about 15 degrees, small shifts, scaling and shear), ``colour-jitter``, ``noise``, ``blur``, ``erasing``
(Cutout / random erasing), ``autoaugment`` (a learned policy for natural images).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np

from benchmark.datasets.base import LoadRequest, Split, register_dataset
from benchmark.datasets.card import CardStats
from benchmark.datasets.split import DataPart, duplicates_record
from benchmark.datasets.torchvision_files import (
    CIFAR10_LAYOUT,
    CIFAR100_LAYOUT,
    ImageSource,
    load_cifar,
    load_mnist_family,
    mnist_expected,
)
from benchmark.datasets.unlabeled import (
    DEFAULT_MIX,
    DEFAULT_RATIO,
    check_unlabeled_params,
    draw_unlabeled,
    expected_unlabeled,
)
from benchmark.errors import BenchmarkError
from benchmark.protocol import (
    HOLDOUT_FRACTIONS,
    PROFILES,
    balanced_holdout,
    check_rho,
    duplicate_groups,
    holdout_fractions,
    minority_classes,
    rows_in,
    stratified_holdout,
    subsample_per_class,
)

VAL_FRACTION = HOLDOUT_FRACTIONS["image"][1]  # of each class of the long-tailed pool

# Digits: no flips (2/5 and 6/9 mirror each other) and no large rotations (6 vs 9).
DIGIT_TRANSFORMS = ("crop", "affine-small", "noise", "blur", "erasing")
# Fashion-MNIST: a mirrored garment is the same garment; an upside-down one is not a natural image.
FASHION_TRANSFORMS = ("hflip", "crop", "affine-small", "noise", "blur", "erasing")
# Natural images: the standard CIFAR recipe (flip + pad-4 crop) and the stronger policies built on it.
CIFAR_TRANSFORMS = ("hflip", "crop", "affine-small", "colour-jitter", "noise", "blur", "erasing", "autoaugment")

# torchvision's class names (a test checks them against torchvision)
MNIST_CLASSES = ("0 - zero", "1 - one", "2 - two", "3 - three", "4 - four", "5 - five", "6 - six", "7 - seven",
                 "8 - eight", "9 - nine")
FASHION_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                   "Ankle boot")
MNIST_URL = "https://ossci-datasets.s3.amazonaws.com/mnist/"
FASHION_URL = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
CIFAR100_CLASSES = tuple("""apple aquarium_fish baby bear beaver bed bee beetle bicycle bottle bowl boy bridge bus
butterfly camel can castle caterpillar cattle chair chimpanzee clock cloud cockroach couch crab crocodile cup
dinosaur dolphin elephant flatfish forest fox girl hamster house kangaroo keyboard lamp lawn_mower leopard lion
lizard lobster man maple_tree motorcycle mountain mouse mushroom oak_tree orange orchid otter palm_tree pear
pickup_truck pine_tree plain plate poppy porcupine possum rabbit raccoon ray road rocket rose sea seal shark shrew
skunk skyscraper snail snake spider squirrel streetcar sunflower sweet_pepper table tank telephone television tiger
tractor train trout tulip turtle wardrobe whale willow_tree wolf woman worm""".split())

DIGITS_BIB = """@misc{alpaydin1998optical,
  title={Optical Recognition of Handwritten Digits},
  author={Alpaydin, E. and Kaynak, C.},
  howpublished={UCI Machine Learning Repository}, year={1998}, doi={10.24432/C50P49}}"""
MNIST_BIB = """@article{lecun1998gradient,
  title={Gradient-Based Learning Applied to Document Recognition},
  author={LeCun, Yann and Bottou, L{\\'e}on and Bengio, Yoshua and Haffner, Patrick},
  journal={Proceedings of the IEEE}, volume={86}, number={11}, pages={2278--2324}, year={1998}}"""
FASHION_BIB = """@article{xiao2017fashion,
  title={Fashion-{MNIST}: a Novel Image Dataset for Benchmarking Machine Learning Algorithms},
  author={Xiao, Han and Rasul, Kashif and Vollgraf, Roland},
  journal={arXiv preprint arXiv:1708.07747}, year={2017}}"""
CIFAR_BIB = """@techreport{krizhevsky2009learning,
  title={Learning Multiple Layers of Features from Tiny Images},
  author={Krizhevsky, Alex}, institution={University of Toronto}, year={2009}}"""
LONG_TAIL_BIB = """@inproceedings{cui2019class,
  title={Class-Balanced Loss Based on Effective Number of Samples},
  author={Cui, Yin and Jia, Menglin and Lin, Tsung-Yi and Song, Yang and Belongie, Serge},
  booktitle={CVPR}, pages={9268--9277}, year={2019}}
@inproceedings{cao2019learning,
  title={Learning Imbalanced Datasets with Label-Distribution-Aware Margin Loss},
  author={Cao, Kaidi and Wei, Colin and Gaidon, Adrien and Arechiga, Nikos and Ma, Tengyu},
  booktitle={NeurIPS}, year={2019}}"""


# -- the long-tail protocol ------------------------------------------------------------------------
def long_tail_counts(n_max: int, num_classes: int, rho: float, profile: str = "exp") -> list[int]:
    """Per-class training counts of the long-tailed pool (before the validation hold-out)."""
    if profile not in PROFILES:
        raise BenchmarkError(f"imbalance profile {profile!r} is unknown", f"use one of {sorted(PROFILES)}")
    check_rho(rho)
    return PROFILES[profile](n_max, num_classes, rho)


POOL_SOURCE = "official training images the long-tail profile left out"


def long_tail_split(name: str, request: LoadRequest, X: np.ndarray, y: np.ndarray, X_test: np.ndarray,
                    y_test: np.ndarray, class_names: list[str], n_max: int | None = None,
                    pool_source: str = POOL_SOURCE) -> Split:
    """Subsample a balanced training pool to the entry's profile, hold out a validation share with the
    same per-class proportions (at least one per class), keep the test set (balanced to its smallest
    class when the entry's ``balance_test`` is set); the images the profile left out give the
    unlabeled pool (``unlabeled_mix``, ``unlabeled_ratio``: :mod:`benchmark.datasets.unlabeled`)."""
    params = request.params
    mix, ratio = params.get("unlabeled_mix", DEFAULT_MIX), params.get("unlabeled_ratio", DEFAULT_RATIO)
    check_unlabeled_params(mix, ratio, name)
    num_classes = len(class_names)
    if params.get("balance_test"):
        test_counts = np.bincount(y_test, minlength=num_classes)
        test_keep = subsample_per_class(y_test, [int(test_counts.min())] * num_classes, request.rng("test"))
        X_test, y_test = X_test[test_keep], y_test[test_keep]
    # The test set is given: pool images identical to a test image leave the pool (counted), so no
    # test image is also a training or validation image.
    shared = rows_in(X, X_test)
    removed = np.bincount(y[shared], minlength=num_classes)
    X, y = X[~shared], y[~shared]
    pool_counts = np.bincount(y, minlength=num_classes)
    n_max = int(params.get("n_max") or n_max or pool_counts.min())
    profile, rho = params.get("profile", "exp"), params.get("rho", 100)
    val_fraction = holdout_fractions("image", params)[1]
    # an entry with explicit per-class pool sizes ("counts", e.g. DeepSMOTE's) uses them instead of a profile
    counts = ([int(n) for n in params["counts"]] if params.get("counts")
              else long_tail_counts(n_max, num_classes, rho, profile))
    for c, n in enumerate(counts):
        if n < 2:
            raise BenchmarkError(
                f"the {profile} profile with rho={rho} and n_max={n_max} leaves class {c} ({class_names[c]}) "
                f"{n} training image(s): too few for one training and one validation image",
                "lower rho or raise n_max so that every class keeps at least 2 images")
        if n > pool_counts[c] + removed[c]:
            raise BenchmarkError(
                f"class {c} ({class_names[c]}) has {pool_counts[c]} training images but the profile asks for {n}",
                "lower n_max, or check that the data files are complete")
        if n > pool_counts[c] and pool_counts[c] < 2:
            raise BenchmarkError(
                f"class {c} ({class_names[c]}) keeps {pool_counts[c]} training image(s) after removing the "
                f"{removed[c]} identical to test images", "check that the training and test files are not the same")
        counts[c] = min(n, int(pool_counts[c]))  # short only by the images removed as test duplicates
    keep = subsample_per_class(y, counts, request.rng("long-tail"))
    X_lt, y_lt = X[keep], y[keep]
    groups = duplicate_groups(X_lt)
    train_idx, val_idx = stratified_holdout(y_lt, val_fraction, request.rng("validation"), groups=groups)
    info = {"profile": profile, "rho": rho, "n_max": n_max, "long_tail_counts": counts,
            "long_tail_size": int(sum(counts)), "val_fraction": val_fraction,
            "duplicates": duplicates_record(groups, y_lt, compared="images with identical pixels",
                                            removed_from_training=int(removed.sum()))}
    # The tail third by training count unless the entry sets another share ("minority_fraction").
    tail = (minority_classes(np.bincount(y_lt[train_idx], minlength=num_classes).tolist(),
                             params["minority_fraction"]) if "minority_fraction" in params else [])
    unlabeled = None
    if mix != "none":  # its own random stream: the parts above are drawn as without a pool
        left = np.ones(len(y), dtype=bool)
        left[keep] = False
        unlabeled, info["unlabeled"] = draw_unlabeled(
            X[left], y[left], counts, mix, ratio, request.rng("unlabeled"), exclude=(X_lt, X_test),
            source=f"{pool_source} (none identical to a training, validation or test image); labels withheld",
            class_names=class_names)
    return Split(name, "image", class_names, DataPart(X_lt[train_idx], y_lt[train_idx]),
                 DataPart(X_lt[val_idx], y_lt[val_idx]), DataPart(X_test, y_test), minority_classes=tail, info=info,
                 unlabeled=unlabeled)


# -- digits-lt: scikit-learn's bundled digits, for tests and the smoke suite --------------------------
DIGITS_CLASS_SIZES = (178, 182, 177, 183, 181, 182, 181, 179, 174, 180)  # load_digits(): 1,797 images


@register_dataset(
    "digits-lt",
    modality="image",
    num_classes=10,
    source="scikit-learn's bundled copy of the UCI optical digits (sklearn.datasets.load_digits)",
    description="8x8 grey digits made long-tailed (exponential profile, rho=10) with a balanced test "
    "hold-out of 40 images per class; small enough for tests and the smoke suite.",
    license="CC BY 4.0",
    citation=DIGITS_BIB,
    params={"rho": 10, "profile": "exp", "test_per_class": 40, "unlabeled_mix": DEFAULT_MIX,
            "unlabeled_ratio": DEFAULT_RATIO},
    default_model={"deep": "small-cnn"},
    label_preserving_transforms=DIGIT_TRANSFORMS,
    class_names=tuple(str(d) for d in range(10)),
    stats=CardStats(
        long_tail_counts=tuple(long_tail_counts(134, 10, 10)), test_counts=(40,) * 10, imbalance_ratio=10.0,
        input_shape=(1, 8, 8), extra={"pool_size": 1797},
        unlabeled=expected_unlabeled([n - 40 - lt for n, lt in zip(DIGITS_CLASS_SIZES, long_tail_counts(
            134, 10, 10), strict=True)], long_tail_counts(134, 10, 10), DEFAULT_MIX, DEFAULT_RATIO,
            "digit images of the long-tail pool its profile left out", [str(d) for d in range(10)])),
)
def digits_lt(request: LoadRequest) -> Split:
    """Digits: 1,797 images; a balanced test set is held out first, the rest is the long-tail pool.
    n_max is its smallest class after the hold-out (digit 8: 174 - 40 = 134); the images the profile
    leaves out are the unlabeled pool."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = np.rint(digits.images * (255.0 / 16.0)).astype(np.uint8)[:, None, :, :]
    labels = digits.target.astype(np.int64)
    pool, test = balanced_holdout(labels, request.params["test_per_class"], request.rng("test"),
                                  groups=duplicate_groups(images))
    return long_tail_split(request.name, request, images[pool], labels[pool], images[test], labels[test],
                           [str(d) for d in range(10)], pool_source="digit images of the long-tail pool its profile "
                                                                    "left out")


# -- the torchvision long-tail families ------------------------------------------------------------
def build_long_tail(request: LoadRequest, read: Callable[[LoadRequest], ImageSource], class_names: tuple[str, ...]
                    ) -> Split:
    data = read(request)
    return long_tail_split(request.name, request, data.X_train, data.y_train, data.X_test, data.y_test,
                           list(class_names))


FAMILIES = {
    "mnist-lt": dict(
        title="MNIST-LT", n_max=5421, test_counts=[892] * 10, pool="60,000 training images",
        train_counts=[5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949],
        read=partial(load_mnist_family, "MNIST", source=MNIST_URL),
        class_names=MNIST_CLASSES, files=tuple(mnist_expected("MNIST")), source=MNIST_URL,
        license="CC BY-SA 3.0 (Y. LeCun and C. Cortes)", citation=MNIST_BIB + "\n" + LONG_TAIL_BIB,
        model="small-cnn", shape=(1, 28, 28), transforms=DIGIT_TRANSFORMS, balance_test=True,
        note="n_max=5,421 is the smallest MNIST training class (digit 5); the official test set "
             "(892 to 1,135 per class) is balanced to 892 per class with the split seed"),
    "fashion-mnist-lt": dict(
        title="Fashion-MNIST-LT", n_max=6000, test_counts=[1000] * 10, pool="60,000 training images",
        train_counts=[6000] * 10,
        read=partial(load_mnist_family, "FashionMNIST", source=FASHION_URL),
        class_names=FASHION_CLASSES, files=tuple(mnist_expected("FashionMNIST")),
        source=FASHION_URL, license="MIT (Zalando Research)",
        citation=FASHION_BIB + "\n" + LONG_TAIL_BIB, model="small-cnn", shape=(1, 28, 28),
        transforms=FASHION_TRANSFORMS,
        balance_test=False, note="official balanced test set of 1,000 images per class"),
    "cifar10-lt": dict(
        title="CIFAR-10-LT", n_max=5000, test_counts=[1000] * 10, pool="50,000 training images",
        train_counts=[5000] * 10,
        read=partial(load_cifar, CIFAR10_LAYOUT, num_classes=10),
        class_names=CIFAR10_CLASSES, files=tuple(CIFAR10_LAYOUT.files), source=CIFAR10_LAYOUT.url,
        license="no licence stated; free for research (A. Krizhevsky)", citation=CIFAR_BIB + "\n" + LONG_TAIL_BIB,
        model="resnet32", shape=(3, 32, 32), transforms=CIFAR_TRANSFORMS, balance_test=False,
        note="official balanced test set of 1,000 images per class"),
    "cifar100-lt": dict(
        title="CIFAR-100-LT", n_max=500, test_counts=[100] * 100, pool="50,000 training images",
        train_counts=[500] * 100,
        read=partial(load_cifar, CIFAR100_LAYOUT, num_classes=100),
        class_names=CIFAR100_CLASSES, files=tuple(CIFAR100_LAYOUT.files), source=CIFAR100_LAYOUT.url,
        license="no licence stated; free for research (A. Krizhevsky)", citation=CIFAR_BIB + "\n" + LONG_TAIL_BIB,
        model="resnet32", shape=(3, 32, 32), transforms=CIFAR_TRANSFORMS, balance_test=False,
        note="official balanced test set of 100 images per class"),
}

# suffix -> (profile, rho); the bare family name is the exponential profile at rho=100
VARIANTS = {"": ("exp", 100), "-r10": ("exp", 10), "-r50": ("exp", 50), "-r100": ("exp", 100),
            "-step": ("step", 100), "-step-r10": ("step", 10), "-step-r100": ("step", 100)}


def pool_params(name: str, family: str, counts: list[int], mix: str, ratio: float | None
                ) -> tuple[dict[str, Any], dict[str, Any]]:
    """The unlabeled pool's entry parameters and its card statistics (expected from the official
    class sizes) for a variant of ``family`` with labelled long-tail ``counts``."""
    check_unlabeled_params(mix, ratio, name)
    ratio = ratio if mix in ("long-tail", "uniform") else None
    spec = FAMILIES[family]
    left = [n - c for n, c in zip(spec["train_counts"], counts, strict=True)]
    return ({"unlabeled_mix": mix, "unlabeled_ratio": ratio},
            expected_unlabeled(left, counts, mix, ratio, f"{spec['title']}'s {POOL_SOURCE}", spec["class_names"]))


def register_long_tail(name: str, family: str, profile: str, rho: float, *, val_fraction: float = VAL_FRACTION,
                       n_max: int | None = None, note: str | None = None, unlabeled_mix: str = DEFAULT_MIX,
                       unlabeled_ratio: float | None = DEFAULT_RATIO) -> None:
    """Register a long-tail variant of one of the :data:`FAMILIES` (plugins may add other rhos, a
    smaller head class ``n_max`` for quick runs, or another unlabeled pool: ``unlabeled_mix``
    "long-tail", "uniform", "all" or "none", ``unlabeled_ratio`` its size relative to the labelled set)."""
    spec = dict(FAMILIES[family])
    spec["n_max"] = n_max or spec["n_max"]
    spec["note"] = note or spec["note"]
    counts = long_tail_counts(spec["n_max"], len(spec["class_names"]), rho, profile)  # checks rho now
    shape = ("an exponential (n_i = n_max * rho^(-i/(C-1)))" if profile == "exp"
             else "a step (half the classes n_max, half n_max/rho)")
    register_variant(
        name, family, counts, unlabeled_mix, unlabeled_ratio, val_fraction,
        summary=(f"the {spec['pool']} subsampled to {shape} profile with rho={rho:g} and n_max={spec['n_max']:,}: "
                 f"{sum(counts):,} images"),
        note=spec["note"], params={"profile": profile, "rho": rho, "n_max": spec["n_max"]},
        tags=(profile, f"rho={rho:g}"))


def register_variant(name: str, family: str, counts: list[int], unlabeled_mix: str, unlabeled_ratio: float | None,
                     val_fraction: float, *, summary: str, note: str, params: dict[str, Any],
                     tags: tuple[str, ...]) -> None:
    """Register a variant of one of the :data:`FAMILIES` whose long-tailed pool has ``counts``: the card,
    parameters and statistics every long-tail variant shares, with its own ``summary``, ``params`` and ``tags``."""
    spec = FAMILIES[family]
    if not 0 < val_fraction < 1:
        raise BenchmarkError(f"val_fraction={val_fraction!r} of '{name}' is invalid", "use a number between 0 and 1")
    pool, pool_stats = pool_params(name, family, counts, unlabeled_mix, unlabeled_ratio)
    register_dataset(
        name,
        modality="image",
        num_classes=len(spec["class_names"]),
        source=spec["source"],
        description=(f"{spec['title']}: {summary}, {round(val_fraction * 100)}% of each class held out for "
                     f"validation (at least 1); {note}."),
        license=spec["license"],
        citation=spec["citation"],
        params={**params, "val_fraction": val_fraction, "balance_test": spec["balance_test"], **pool},
        files=spec["files"],
        default_model={"deep": spec["model"]},
        tags=("long-tail", *tags),
        label_preserving_transforms=spec["transforms"],
        class_names=spec["class_names"],
        stats=CardStats(long_tail_counts=tuple(counts), test_counts=tuple(spec["test_counts"]),
                        imbalance_ratio=counts[0] / counts[-1], input_shape=tuple(spec["shape"]), unlabeled=pool_stats),
        family=family,
    )(partial(build_long_tail, read=spec["read"], class_names=spec["class_names"]))


for _family in FAMILIES:
    for _suffix, (_profile, _rho) in VARIANTS.items():
        register_long_tail(_family + _suffix, _family, _profile, _rho)

# A small sibling of Fashion-MNIST-LT (head class of 300 images, 740 in all, same test set) for CPU
# checks of the vision methods in CI; the long-tail literature's figures use fashion-mnist-lt.
# Its unlabeled pool is as large as its labelled long-tail set (ratio 1: 740 images), so CI runs pool rows quickly.
register_long_tail("fashion-mnist-lt-mini", "fashion-mnist-lt", "exp", 100, n_max=300,
                   note="a small variant for quick CPU checks (CI); benchmark figures use fashion-mnist-lt",
                   unlabeled_ratio=1.0)

# DeepSMOTE's class counts (Dablain et al. 2022, its MNIST and Fashion-MNIST experiments: imbalance ratio 100),
# so that its Tables II and III (DeepSMOTE against SMOTE, BAGAN and GAMO) can be re-run; the pool holds these
# counts and the validation share is held out of each class as in every long-tail variant.
DEEPSMOTE_COUNTS = (4000, 2000, 1000, 750, 500, 350, 200, 100, 60, 40)


def register_fixed_counts(name: str, family: str, counts: tuple[int, ...], note: str,
                          val_fraction: float = VAL_FRACTION, *, unlabeled_mix: str = DEFAULT_MIX,
                          unlabeled_ratio: float | None = DEFAULT_RATIO) -> None:
    """Register a variant of one of the :data:`FAMILIES` whose long-tailed pool has the given class counts
    (the unlabeled pool as in :func:`register_long_tail`)."""
    spec = FAMILIES[family]
    if len(counts) != len(spec["class_names"]) or min(counts) < 2:
        raise BenchmarkError(f"'{name}' gives {len(counts)} class counts {counts}",
                             f"give {len(spec['class_names'])} counts of at least 2")
    rho = counts[0] / counts[-1]
    register_variant(
        name, family, list(counts), unlabeled_mix, unlabeled_ratio, val_fraction,
        summary=(f"the class counts {', '.join(map(str, counts))} ({sum(counts):,} images, imbalance ratio {rho:g}) "
                 f"drawn from the {spec['pool']}"),
        note=f"{note}; {spec['note']}", params={"profile": "counts", "counts": list(counts), "rho": rho,
                                                "n_max": counts[0]},
        tags=("counts", f"rho={rho:g}"))


for _family in ("mnist-lt", "fashion-mnist-lt"):
    register_fixed_counts(f"{_family}-deepsmote", _family, DEEPSMOTE_COUNTS,
                          "the class counts of DeepSMOTE's experiments (Dablain et al. 2022)")
