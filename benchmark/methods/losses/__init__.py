"""Losses (the ``loss`` hook; class weights for the classical engine): class_weighting (inverse frequency,
effective number), example_weighting (focal, GHM-C), deferred_reweighting (DRW) and margin (LDAM,
balanced softmax, logit adjustment). ``_cross_entropy`` holds the soft-label cross-entropy they share."""
