"""Test helper: write synthetic examples as the official data files of an XTREME download folder (labelled, or
stripped of their labels as XTREME's test copies are), so that eval / export / score run on files."""

from __future__ import annotations

import json
from pathlib import Path

from adapterx.data import synthetic

N = 24  # examples per language: enough for every metric, fast on the tiny model


def _examples(task: str, lang: str, split: str) -> list:
    from adapterx.tasks import get_task

    spec = get_task(task)
    extra = {"n_choices": spec.num_choices} if spec.kind == "multiple_choice" else {}
    if spec.kind == "classification" and spec.synthetic.generator == "nli":
        extra = {"labels": spec.labels}
    return synthetic.GENERATORS[spec.synthetic.generator](lang, N, seed=7, split=split, **extra)[:N]


def _squad(examples: list, labelled: bool) -> dict:
    data = [{"title": "t", "paragraphs": [{"context": ex.context, "qas": [{
        "id": ex.id, "question": ex.question,
        "answers": [{"text": a.text, "answer_start": a.start} for a in ex.answers] if labelled
        else [{"text": "", "answer_start": 0}],
    }]}]} for ex in examples]
    return {"version": "1.1", "data": data}


def write_task(root: Path, task: str, lang: str, split: str = "test", labelled: bool = True) -> Path:
    """Write ``task``/``lang``/``split`` under ``root`` in the layout adapterx reads; returns the file."""
    if task in ("tatoeba", "bucc"):
        return _write_retrieval(root, task, lang, split, labelled)
    ex = _examples(task, lang, split)
    if task == "xnli":
        path = root / "xnli" / "test-labelled" / lang / "test.jsonl" if split == "test" else root / "xnli" / lang / f"{split}.jsonl"
        lines = [json.dumps({"premise": e.text_a, "hypothesis": e.text_b,
                             **({"label": ("entailment", "neutral", "contradiction").index(e.label)} if labelled else {})})
                 for e in ex]
        text = "\n".join(lines) + "\n"
    elif task == "pawsx":
        path = root / "pawsx" / f"{split}-{lang}.tsv"
        text = "".join(f"{e.text_a}\t{e.text_b}" + (f"\t{e.label}" if labelled else "") + "\n" for e in ex)
    elif task == "xcopa":
        path = root / "xcopa" / lang / f"{'val' if split == 'dev' else split}.{lang}.jsonl"
        text = "".join(json.dumps({"premise": e.context, "choice1": e.choices[0], "choice2": e.choices[1],
                                   "question": e.question, "idx": i, **({"label": e.label} if labelled else {})}) + "\n"
                       for i, e in enumerate(ex))
    elif task in ("udpos", "panx"):
        path = root / task / f"{split}-{lang}.tsv"
        text = "".join("".join(f"{tok}\t{tag}\n" if labelled else f"{tok}\n" for tok, tag in zip(e.tokens, e.tags)) + "\n"
                       for e in ex)
    elif task == "xquad":
        path = root / "xquad" / f"xquad.{lang}.json"
        text = json.dumps(_squad(ex, labelled))
    elif task == "mlqa":
        path = root / "mlqa" / "MLQA_V1" / split / f"{split}-context-{lang}-question-{lang}.json"
        text = json.dumps(_squad(ex, labelled))
    elif task == "tydiqa":
        path = root / "tydiqa" / "tydiqa-goldp-v1.1-dev" / f"tydiqa.goldp.{lang}.dev.json"
        text = json.dumps(_squad(ex, labelled))
    else:
        raise ValueError(task)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def _write_retrieval(root: Path, task: str, lang: str, split: str, labelled: bool) -> Path:
    from adapterx.retrieval.corpora import synthetic_bucc, synthetic_tatoeba

    if task == "tatoeba":
        c = synthetic_tatoeba(lang, N, seed=7)
        d = root / "tatoeba"
        d.mkdir(parents=True, exist_ok=True)
        (d / f"{lang}-en.{lang}").write_text("\n".join(c.source) + "\n", encoding="utf-8")
        (d / f"{lang}-en.en").write_text("\n".join(c.target) + "\n", encoding="utf-8")
        return d / f"{lang}-en.{lang}"
    c = synthetic_bucc(lang, N, seed=7 if split == "test" else 8)
    d = root / "bucc2018"
    d.mkdir(parents=True, exist_ok=True)
    (d / f"{lang}-en.{split}.{lang}").write_text("".join(f"{i}\t{s}\n" for i, s in zip(c.source_ids, c.source)), encoding="utf-8")
    (d / f"{lang}-en.{split}.en").write_text("".join(f"{i}\t{s}\n" for i, s in zip(c.target_ids, c.target)), encoding="utf-8")
    gold = d / f"{lang}-en.{split}.gold"
    if labelled:
        gold.write_text("".join(f"{s}\t{t}\n" for s, t in c.gold_pairs), encoding="utf-8")
    else:
        gold.unlink(missing_ok=True)
    return d / f"{lang}-en.{split}.{lang}"
