"""The generative family: over-sampling with samples of a generative model trained on the training rows.

One mechanism for every row (:mod:`benchmark.methods.generative._base`): a :class:`Generator` contract
(fit on the pair's training rows within the suite's generator budget, then sample n rows of class c),
one ``resample`` component (:class:`GenerativeOversampler`) that tops classes up to a target ratio,
a cache of trained generators (``_cache``), and fidelity and memorisation measures stored with every
seed row (``_fidelity``, ``_reference``). Rows: ``deepsmote``, ``cvae-oversampling``,
``vae-posterior-oversampling``, ``bagan-gp`` (images), and the diffusion and tabular rows of
``diffusion``, ``feature_diffusion`` and ``tabular``.
"""
