"""Data augmentation: image transforms of each batch (image), over-sampling by transformed copies
(image_oversampling), MixUp-style mixing of inputs (mixing) and of embeddings (embedding_mixing), and
new minority texts (text). ``_image_ops``, ``_mixing_ops`` and ``_text_*`` are their helpers;
``_timing`` times the ``augment`` hook of every row (``python -m benchmark.methods.augmentation._timing``)."""
