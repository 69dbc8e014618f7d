"""Evaluation: zero-shot evaluation of a trained module over languages (:mod:`zero_shot`), scoring of prediction
folders (:mod:`score`), fusion attention (:mod:`fusion`). The metrics themselves are pure functions in
:mod:`adapterx.tasks.metrics` (each task kind scores with them).

Scores are on a 0-100 scale and follow the official scripts: XTREME's ``evaluate.py`` (accuracy, seqeval F1 for
PAN-X *and* UD-POS), the SQuAD v1.1 script (XQuAD, TyDiQA-GoldP) and MLQA's ``mlqa_evaluation_v1.py``.
Every metric also reduces per-example sufficient statistics, so a bootstrap can recompute it on resamples.
"""
