"""Resampling of the training set (the ``resample`` hook, once before training) and of each epoch
(the ``batch_sampler`` hook): over_sampling, under_sampling, cleaning, combined_sampling,
hard_negative_mining and batch_sampling. The imbalanced-learn adapter is :mod:`benchmark.methods._imblearn`."""
