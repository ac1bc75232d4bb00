"""Self-supervised pre-training rows (the ``pretrain`` hook): the backbone learns a pretext task on the
training rows without their labels, then trains as usual from those weights (Yang & Xu 2020, "Rethinking
the Value of Labels for Improving Class-Imbalanced Learning": SSP).

    _pretext.py      what the rows share: the tuned share of the epochs, the square-image rule
    rotation.py      ssp-rotation: predict which of four right-angle rotations an image shows (Gidaris et al.)
    contrastive.py   ssp-simclr: SimCLR's contrastive views and NT-Xent loss (Chen et al. 2020)
    vime.py          vime-ssl: VIME's mask estimation and feature reconstruction for tabular rows (Yoon et al.)

The pre-training stage takes a tuned share of the suite's epochs, each epoch the same fixed sample
count as every other epoch, so an SSP row trains as many samples as the baseline (the deep engine's
:mod:`benchmark.training.pretext`). Text has no row here: the project's text networks are MLPs on
TF-IDF or sentence-embedding vectors, whose standard pretext tasks (masked-token prediction) need the
tokens, not these fixed features; the sentence embeddings are themselves the output of self-supervised
pre-training.
"""
