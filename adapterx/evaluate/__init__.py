"""Evaluation: metrics as pure functions (:mod:`adapterx.evaluate.metrics`), zero-shot evaluation over languages.

Scores are on a 0-100 scale and follow the official scripts: XTREME's ``evaluate.py`` (accuracy, seqeval F1 for
PAN-X *and* UD-POS), the SQuAD v1.1 script (XQuAD, TyDiQA-GoldP) and MLQA's ``mlqa_evaluation_v1.py``.
Every metric also reduces per-example sufficient statistics, so a bootstrap can recompute it on resamples.
"""
