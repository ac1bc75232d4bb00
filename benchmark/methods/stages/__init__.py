"""Multi-stage schedules (the ``stages`` hook): two_stage (balanced then full data, and deferred
re-balancing), decoupling (cRT, tau-normalisation, LWS) and eos (over-sampling in embedding space)."""
