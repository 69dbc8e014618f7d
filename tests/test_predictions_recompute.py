"""`adapterx eval --module none --data-dir ../shared/data --langs all --save-predictions D --json` works for every
target task and every language present, and the saved prediction files recompute to the printed scores with
independent reference code: sklearn (accuracy), seqeval (tagging F1), scipy (Spearman), and the official SQuAD v1.1
and MLQA evaluation rules written out here from their published scripts (not adapterx's metrics module)."""

from __future__ import annotations

import collections
import json
import re
import string
import sys
import unicodedata

import pytest
from conftest import run_cli

from adapterx.data.layout import read_split
from adapterx.tasks import get_task

N = 100  # examples per language: every file is read whole, 100 of each are predicted (keeps the suite fast)
TASKS = ["xnli", "pawsx", "xcopa", "udpos", "panx", "xquad", "mlqa", "tydiqa", "stsb-multi"]


# ---- the official SQuAD v1.1 evaluation (evaluate-v1.1.py), restated -------------------------------------------
def squad_normalize(s: str) -> str:
    s = s.lower()
    s = "".join(ch for ch in s if ch not in set(string.punctuation))
    s = re.sub(r"\b(a|an|the)\b", " ", s)
    return " ".join(s.split())


# ---- the official MLQA evaluation (mlqa_evaluation_v1.py), restated -------------------------------------------
PUNCT = {chr(i) for i in range(sys.maxunicode) if unicodedata.category(chr(i)).startswith("P")}.union(string.punctuation)
MLQA_ARTICLES = {"en": r"\b(a|an|the)\b", "es": r"\b(un|una|unos|unas|el|la|los|las)\b", "vi": r"\b(của|là|cái|chiếc|những)\b",
                 "de": r"\b(ein|eine|einen|einem|eines|einer|der|die|das|den|dem|des)\b", "ar": "\\sال^|ال", "hi": None, "zh": None}


def mlqa_tokens(s: str, lang: str) -> list[str]:
    if lang != "zh":
        return s.split()
    out, buf = [], ""
    for ch in s:
        if re.search(r"[\u4e00-\u9fa5]", ch) or ch in PUNCT:
            if buf.strip():
                out.extend(buf.split())
            buf = ""
            out.append(ch)
        else:
            buf += ch
    if buf.strip():
        out.extend(buf.split())
    return out


def mlqa_normalize(s: str, lang: str) -> str:
    s = s.lower()
    s = "".join(ch for ch in s if ch not in PUNCT)
    if MLQA_ARTICLES[lang]:
        s = re.sub(MLQA_ARTICLES[lang], " ", s)
    return " ".join(mlqa_tokens(s, lang)) if lang == "zh" else " ".join(s.split())


def qa_score(pred: str, golds: list[str], norm) -> tuple[float, float]:  # noqa: ANN001
    def f1(p: str, g: str) -> float:
        pt, gt = norm(p).split(), norm(g).split()
        common = sum((collections.Counter(pt) & collections.Counter(gt)).values())
        if common == 0:
            return 0.0
        prec, rec = common / len(pt), common / len(gt)
        return 2 * prec * rec / (prec + rec)

    return max(float(norm(pred) == norm(g)) for g in golds), max(f1(pred, g) for g in golds)


@pytest.mark.parametrize("task", TASKS)
def test_saved_predictions_recompute_to_printed_scores(task, shared_data, tmp_path):
    res = run_cli("eval", task, "--module", "none", "--model", "tiny", "--data-dir", str(shared_data), "--langs", "all",
                  "--json", "--save-predictions", str(tmp_path), "--max-length", "64", "--doc-stride", "16",
                  "--batch-size", "64", "--max-examples", str(N))
    assert res.exit_code == 0, res.stderr
    ev = json.loads(res.stdout)
    spec = get_task(task)
    split = "dev" if any("dev split" in n for n in ev.get("notes", [])) else spec.eval_split
    assert ev["scores"], "no language evaluated"
    for lang, scores in ev["scores"].items():
        lines = [json.loads(x) for x in (tmp_path / task / f"{lang}.jsonl").read_text(encoding="utf-8").splitlines()]
        examples = read_split(spec.layout, shared_data, split, lang)[:N]
        assert [str(x["id"]) for x in lines] == [ex.id for ex in examples]
        preds = [x["prediction"] for x in lines]
        if spec.kind in ("classification", "multiple_choice"):
            from sklearn.metrics import accuracy_score

            gold = [ex.label for ex in examples]
            want = 100 * accuracy_score([str(g) for g in gold], [str(p) for p in preds])
            assert scores["accuracy"] == pytest.approx(want, abs=1e-3)
        elif spec.kind == "tagging":
            from seqeval.metrics import f1_score

            assert all(len(p) == len(ex.tokens) for p, ex in zip(preds, examples))
            want = 100 * f1_score([list(ex.tags) for ex in examples], preds)
            assert scores["f1"] == pytest.approx(want, abs=1e-3)
        elif spec.kind == "regression":
            from scipy.stats import spearmanr

            want = 100 * spearmanr([float(ex.label) for ex in examples], preds).statistic
            assert scores["spearman"] == pytest.approx(want, abs=1e-3)
        else:
            norm = (lambda s, lang=lang: mlqa_normalize(s, lang)) if spec.mlqa_normalisation else squad_normalize
            em_f1 = [qa_score(p, [a.text for a in ex.answers], norm) for p, ex in zip(preds, examples)]
            em = 100 * sum(e for e, _ in em_f1) / len(em_f1)
            f1 = 100 * sum(f for _, f in em_f1) / len(em_f1)
            assert scores["exact_match"] == pytest.approx(em, abs=1e-3)
            assert scores["f1"] == pytest.approx(f1, abs=1e-3)
            assert scores["score"] == pytest.approx((em + f1) / 2, abs=1e-3)
