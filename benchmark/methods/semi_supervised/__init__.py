"""Semi-supervised rows: also learn from a dataset's unlabeled pool (``Split.unlabeled``, features only).

pseudo_labelling (Yang & Xu 2020: train, pseudo-label the pool, train on both, as two stages of the
budget) and fixmatch (FixMatch with distribution alignment: consistency between weak and strong views
of pool images). Both refuse datasets without a pool ("not applicable", with the reason) and carry the
tag "unlabeled-data", which the report marks. ``_pool`` (the pool rule and draws) and ``_views``
(FixMatch's weak and strong image views) are their helpers.
"""
