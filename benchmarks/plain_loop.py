"""Sanity against a plain loop: one recipe cell per target trained by adapterx and by a plain `transformers` loop.

For each target (TyDiQA-GoldP, PAN-X, UD-POS) the cell ``minilm full none -> TARGET seed 1`` of
``recipes/minilm-xstilts.yaml`` is run twice on the same English train / dev files of ``../shared/data``:

- by adapterx (``adapterx run RECIPE --run-dir DIR --set ...``, the grid restricted to that one cell, zero-shot
  evaluation restricted to English: the English dev selection does not depend on it);
- by the loop below: plain ``transformers`` (AutoModelForQuestionAnswering / AutoModelForTokenClassification),
  ``torch.optim.AdamW`` (default implementation), linear warmup and decay (adapterx's warmup line by default,
  ``--schedule hf`` for ``transformers.get_linear_schedule_with_warmup``), gradient clipping, evaluation on English
  dev every ``eval_every`` steps keeping the best, official metrics written out here. It imports no adapterx code:
  the only use of adapterx is the ``adapterx`` command for the other side (and, without ``--model-dir``, one call of
  ``adapterx.backbone.resolve("minilm")`` to find the extracted MiniLM folder).

It prints one Markdown table: target, adapterx's English dev score, the plain loop's, the difference, wall times.
A benchmark, not a test: it asserts nothing. See benchmarks/README.md ("Plain-loop sanity check").

    python benchmarks/plain_loop.py --targets panx --steps 20 --max-train 320 --max-dev 100   # quick check
    python benchmarks/plain_loop.py --targets panx,udpos,tydiqa --out plain.md --json plain.json  # full settings
"""

from __future__ import annotations

import argparse
import collections
import copy
import json
import math
import os
import platform
import random
import re
import shutil
import string
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
TARGETS = ("tydiqa", "panx", "udpos")

# TrainConfig's defaults (adapterx/engine/loop.py), written out: the recipe's stage, method and per-task patches go
# over these, in that order (adapterx/grid/recipe_schema.py, class Training).
TRAIN_DEFAULTS: dict[str, Any] = {
    "lr": 1e-4, "batch_size": 16, "grad_accum": 1, "epochs": 3.0, "max_steps": None, "warmup_ratio": 0.1,
    "weight_decay": 0.01, "max_grad_norm": 1.0, "eval_steps": None, "max_length": 128, "group_by_length": None,
}
# QA post-processing as Hugging Face's run_qa / XTREME's run_squad: the best span among the top-20 starts and ends,
# at most 30 tokens (adapterx/tasks/kinds/qa.py uses the same: N_BEST 20, MAX_ANSWER_TOKENS 30).
N_BEST = 20
MAX_ANSWER_TOKENS = 30
EVAL_BATCH = 32
# English train / dev files of each target under the data root (XTREME's download layout).
FILES = {
    "tydiqa": ("tydiqa/tydiqa-goldp-v1.1-train/english_tydiqa_train.json",
               "tydiqa/tydiqa-goldp-v1.1-dev/english_tydiqa_dev.json"),
    "panx": ("panx/train-en.tsv", "panx/dev-en.tsv"),
    "udpos": ("udpos/train-en.tsv", "udpos/dev-en.tsv"),
}
SELECT = {"tydiqa": "score", "panx": "f1", "udpos": "f1"}  # the dev score both sides select on
METRIC_NAME = {"tydiqa": "(EM+F1)/2", "panx": "entity F1 (seqeval)", "udpos": "F1 (seqeval, raw UPOS tags)"}
TOLERANCE = 1.5  # points: issue 24's bound on |adapterx - plain|
# Label sets in XTREME's order (google/xtreme's ClassLabel ids): the head's rows are then the same labels as adapterx's.
LABELS = {
    "panx": ["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC"],
    "udpos": ["ADJ", "ADP", "ADV", "AUX", "CCONJ", "DET", "INTJ", "NOUN", "NUM", "PART", "PRON", "PROPN", "PUNCT",
              "SCONJ", "SYM", "VERB", "X"],
}


# ----------------------------------------------------------------------------------------------------------------
# settings of the cell, from the recipe


def cell_settings(recipe: dict[str, Any], target: str, steps: int | None, max_train: int | None,
                  max_dev: int | None, group: str, eval_every: int | None = None) -> dict[str, Any]:
    """Hyperparameters and data caps of ``minilm full none -> target``: TrainConfig's defaults < the recipe's
    ``training.target`` < the full method's ``lr`` < ``training.per_task.<target>``; caps: ``data`` < its
    ``per_task.<target>``; then this script's overrides (--steps, --eval-every, --max-train, --max-dev,
    --group-by-length)."""
    full = [m for m in recipe.get("methods", []) if m.get("name") == "full"]
    if not full:
        raise SystemExit(f"{recipe.get('name')}: the recipe has no `full` method")
    training = recipe.get("training") or {}
    s = dict(TRAIN_DEFAULTS)
    s.update(training.get("target") or {})
    if "lr" in full[0]:
        s["lr"] = full[0]["lr"]
    s.update((training.get("per_task") or {}).get(target) or {})
    if "eval_every" in s:
        s["eval_steps"] = s.pop("eval_every")
    if "doc_stride" not in s:  # the recipe's rule (adapterx/grid/expand.py): a quarter of the window, 8..64
        s["doc_stride"] = max(8, min(64, s["max_length"] // 4))
    data = recipe.get("data") or {}
    caps = {k: data.get(k) for k in ("max_train_examples", "max_eval_examples")}
    caps.update({k: v for k, v in ((data.get("per_task") or {}).get(target) or {}).items() if v is not None})
    if steps:
        s["max_steps"] = steps
    if eval_every:
        s["eval_steps"] = eval_every
    if max_train:
        caps["max_train_examples"] = max_train
    if max_dev:
        caps["max_eval_examples"] = max_dev
    if group != "recipe":
        s["group_by_length"] = {"auto": None, "on": True, "off": False}[group]
    if s.get("grad_accum", 1) != 1:
        raise SystemExit("grad_accum > 1: not written in the plain loop")
    return {**s, **caps, "seed": 1, "data_root": data.get("root", "../shared/data")}


# ----------------------------------------------------------------------------------------------------------------
# data: minimal readers of the original files


def read_squad(path: Path) -> list[dict[str, Any]]:
    """SQuAD v1.1 JSON: every question in file order, with its non-empty gold answers."""
    out = []
    for article in json.loads(path.read_text(encoding="utf-8"))["data"]:
        for par in article["paragraphs"]:
            for qa in par["qas"]:
                answers = [(a["text"], int(a["answer_start"])) for a in qa.get("answers", []) if a["text"]]
                out.append({"id": str(qa["id"]), "context": par["context"], "question": qa["question"],
                            "answers": answers})
    return out


def read_token_tags(path: Path) -> list[tuple[list[str], list[str]]]:
    """``token<TAB>tag`` lines, a blank line between sentences."""
    out, tokens, tags = [], [], []
    for line in path.read_text(encoding="utf-8-sig").splitlines():
        line = line.rstrip(" \t")
        if not line.strip():
            if tokens:
                out.append((tokens, tags))
            tokens, tags = [], []
            continue
        token, tag = line.split("\t")
        tokens.append(token.strip(" "))
        tags.append(tag.strip())
    if tokens:
        out.append((tokens, tags))
    return out


# ----------------------------------------------------------------------------------------------------------------
# features


QA_START = "hf"  # --qa-start: which token starts an answer (below)


def qa_features(tok, examples: list[dict[str, Any]], max_length: int, doc_stride: int, train: bool) -> list[dict]:
    """Hugging Face run_qa's windows: question first, the context truncated only, ``doc_stride`` tokens of overlap;
    a training window's label is the answer's first / last token, or [CLS] (0) where the window misses it.

    The first token: run_qa's, the last token starting at or before the answer's first character (``--qa-start
    hf``), or the first token ending after it (``--qa-start first-ending-after``, adapterx's rule). They differ only
    where the answer's first character is not inside a token (an answer that starts with a space: run_qa labels the
    word before it): 13 of the 4,064 TyDiQA-GoldP English training windows at 128 tokens."""
    enc = tok([ex["question"].lstrip() for ex in examples], [ex["context"] for ex in examples],
              truncation="only_second", max_length=max_length, stride=doc_stride,
              return_overflowing_tokens=True, return_offsets_mapping=True)
    feats = []
    for f, sample in enumerate(enc["overflow_to_sample_mapping"]):
        seq = enc.sequence_ids(f)
        offsets = enc["offset_mapping"][f]
        item = {"input_ids": enc["input_ids"][f], "attention_mask": enc["attention_mask"][f],
                "token_type_ids": enc["token_type_ids"][f], "example": sample,
                "offsets": [o if s == 1 else None for o, s in zip(offsets, seq)]}
        if train:
            start = end = 0
            ex = examples[sample]
            if ex["answers"]:
                text, start_char = ex["answers"][0]
                end_char = start_char + len(text)
                ctx = [i for i, s in enumerate(seq) if s == 1]
                if ctx and offsets[ctx[0]][0] <= start_char and offsets[ctx[-1]][1] >= end_char:
                    start = (max(i for i in ctx if offsets[i][0] <= start_char) if QA_START == "hf" else
                             min(i for i in ctx if offsets[i][1] > start_char))
                    end = min(i for i in ctx if offsets[i][1] >= end_char)
            item["start_positions"], item["end_positions"] = start, end
        feats.append(item)
    return feats


def tag_features(tok, examples, label2id: dict[str, int], max_length: int) -> list[dict]:
    """XTREME's run_tag: words tokenized, each word's first sub-token carries its tag, the others -100; a word the
    tokenizer turns into nothing becomes [UNK] (utils_tag.py), so every word keeps a position unless truncated."""
    vocab = sorted({w for words, _ in examples for w in words})
    pieces = tok(vocab, add_special_tokens=False)["input_ids"] if vocab else []
    empty = {w for w, p in zip(vocab, pieces) if not p}
    words = [[tok.unk_token if w in empty else w for w in ws] for ws, _ in examples]
    enc = tok(words, is_split_into_words=True, truncation=True, max_length=max_length)
    feats = []
    for i, (_, tags) in enumerate(examples):
        word_ids = enc.word_ids(i)
        labels, prev = [], None
        for w in word_ids:
            labels.append(-100 if w is None or w == prev else label2id[tags[w]])
            prev = w
        feats.append({"input_ids": enc["input_ids"][i], "attention_mask": enc["attention_mask"][i],
                      "token_type_ids": enc["token_type_ids"][i], "labels": labels, "word_ids": word_ids})
    return feats


MODEL_KEYS = ("input_ids", "attention_mask", "token_type_ids", "labels", "start_positions", "end_positions")


def collate(items: list[dict], pad_id: int, with_labels: bool):  # noqa: ANN201
    """Pad to the longest item of the batch."""
    import torch

    width = max(len(it["input_ids"]) for it in items)
    pads = {"input_ids": pad_id, "attention_mask": 0, "token_type_ids": 0, "labels": -100}
    batch = {}
    for k in MODEL_KEYS:
        if k not in items[0] or (not with_labels and k in ("labels", "start_positions", "end_positions")):
            continue
        if isinstance(items[0][k], list):
            batch[k] = torch.tensor([it[k] + [pads[k]] * (width - len(it[k])) for it in items])
        else:
            batch[k] = torch.tensor([it[k] for it in items])
    return batch


# ----------------------------------------------------------------------------------------------------------------
# batch order: a seeded permutation, or length-grouped batches (the Trainer's mega-batches)


def padding_share(lengths: list[int], batch_size: int) -> float:
    import torch

    order = torch.randperm(len(lengths), generator=torch.Generator().manual_seed(0)).tolist()
    computed = sum(max(lengths[i] for i in order[b:b + batch_size]) * len(order[b:b + batch_size])
                   for b in range(0, len(order), batch_size))
    return 1.0 - sum(lengths) / computed if computed else 0.0


def grouped_order(lengths: list[int], batch_size: int, gen) -> list[int]:  # noqa: ANN001
    """Shuffle, cut into mega-batches of up to 50 batches, sort each by length, cut into batches, shuffle the
    batches, longest batch first, a short last batch last: adapterx/engine/batching.py's rule, written again."""
    import torch

    n = len(lengths)
    mega = max(1, min(n // (batch_size * 4), 50)) * batch_size
    perm = torch.randperm(n, generator=gen).tolist()
    batches = []
    for start in range(0, n, mega):
        chunk = sorted(perm[start:start + mega], key=lambda i: lengths[i], reverse=True)
        batches.extend(chunk[b:b + batch_size] for b in range(0, len(chunk), batch_size))
    last = batches.pop() if len(batches[-1]) < batch_size else None
    if batches:
        batches = [batches[i] for i in torch.randperm(len(batches), generator=gen).tolist()]
        longest = max(range(len(batches)), key=lambda b: lengths[batches[b][0]])
        batches[0], batches[longest] = batches[longest], batches[0]
    if last is not None:
        batches.append(last)
    return [i for b in batches for i in b]


# ----------------------------------------------------------------------------------------------------------------
# metrics, written out


def _normalize(s: str) -> str:
    """SQuAD v1.1's official normalize_answer."""
    s = s.lower()
    s = "".join(ch for ch in s if ch not in set(string.punctuation))
    s = re.sub(r"\b(a|an|the)\b", " ", s)
    return " ".join(s.split())


def _f1(pred: str, gold: str) -> float:
    p, g = _normalize(pred).split(), _normalize(gold).split()
    same = sum((collections.Counter(p) & collections.Counter(g)).values())
    if same == 0:
        return 0.0
    precision, recall = same / len(p), same / len(g)
    return 2 * precision * recall / (precision + recall)


def squad_scores(preds: list[str], examples: list[dict[str, Any]]) -> dict[str, float]:
    """SQuAD v1.1 EM / F1 (max over gold answers) x 100, and XTREME's QA score (EM + F1) / 2."""
    em = 100.0 * sum(max(float(_normalize(p) == _normalize(g)) for g, _ in ex["answers"])
                     for p, ex in zip(preds, examples)) / len(examples)
    f1 = 100.0 * sum(max(_f1(p, g) for g, _ in ex["answers"]) for p, ex in zip(preds, examples)) / len(examples)
    return {"exact_match": em, "f1": f1, "score": (em + f1) / 2}


def tag_scores(gold: list[list[str]], pred: list[list[str]]) -> dict[str, float]:
    """seqeval's entity F1 (default mode, as XTREME; on raw UPOS tags for UD-POS, as XTREME) and token accuracy."""
    import warnings

    from seqeval.metrics import f1_score

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # seqeval warns about UPOS tags that are not IOB
        f1 = 100.0 * f1_score(gold, pred)
    total = sum(len(g) for g in gold)
    acc = 100.0 * sum(a == b for g, p in zip(gold, pred) for a, b in zip(g, p)) / total
    return {"f1": f1, "accuracy": acc}


# ----------------------------------------------------------------------------------------------------------------
# the plain loop


def predict(model, feats: list[dict], pad_id: int, device: str) -> list[Any]:  # noqa: ANN001
    """Model outputs per feature, in order: (start, end) logits for QA, token logits for tagging."""
    import torch

    out = []
    with torch.inference_mode():
        for b in range(0, len(feats), EVAL_BATCH):
            items = feats[b:b + EVAL_BATCH]
            batch = {k: v.to(device) for k, v in collate(items, pad_id, with_labels=False).items()}
            res = model(**batch)
            if hasattr(res, "start_logits"):
                s, e = res.start_logits.float().cpu().numpy(), res.end_logits.float().cpu().numpy()
                out.extend((s[i][:len(it["input_ids"])], e[i][:len(it["input_ids"])]) for i, it in enumerate(items))
            else:
                lg = res.logits.float().cpu().numpy()
                out.extend(lg[i][:len(it["input_ids"])] for i, it in enumerate(items))
    return out


def decode_qa(outputs, feats, examples) -> list[str]:  # noqa: ANN001
    """run_qa's postprocess_qa_predictions (version 1): over every window, the best start + end logit among the top
    N_BEST starts and ends, start <= end, at most MAX_ANSWER_TOKENS tokens, both inside the context."""
    import numpy as np

    best = [(-math.inf, "") for _ in examples]
    for (start, end), feat in zip(outputs, feats):
        offsets, i = feat["offsets"], feat["example"]
        ctx = examples[i]["context"]
        for s in np.argsort(start)[::-1][:N_BEST]:
            for e in np.argsort(end)[::-1][:N_BEST]:
                if offsets[s] is None or offsets[e] is None or e < s or e - s + 1 > MAX_ANSWER_TOKENS:
                    continue
                score = float(start[s] + end[e])
                if score > best[i][0]:
                    best[i] = (score, ctx[offsets[s][0]:offsets[e][1]])
    return [text for _, text in best]


def decode_tags(outputs, feats, examples, labels: list[str], fallback: str) -> tuple[list[list[str]], int]:  # noqa: ANN001
    """Each word's tag from its first sub-token; a word cut off by max_length gets ``fallback``."""
    preds, missing = [], 0
    for logits, feat, (words, _) in zip(outputs, feats, examples):
        tags, prev = [None] * len(words), None
        for pos, w in enumerate(feat["word_ids"]):
            if w is not None and w != prev:
                tags[w] = labels[int(logits[pos].argmax())]
            prev = w
        missing += sum(t is None for t in tags)
        preds.append([fallback if t is None else t for t in tags])
    return preds, missing


def plain_run(target: str, s: dict[str, Any], model_dir: Path, data_root: Path, device: str,
              group_hint: bool | None, schedule: str = "adapterx") -> dict[str, Any]:
    """Train the cell with plain transformers; the best English dev score over the evaluations and the curve."""
    import numpy as np
    import torch
    from transformers import (AutoModelForQuestionAnswering, AutoModelForTokenClassification, AutoTokenizer,
                              get_linear_schedule_with_warmup)
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    t_start = time.perf_counter()
    seed = s["seed"]
    tok = AutoTokenizer.from_pretrained(model_dir)
    train_path, dev_path = (data_root / p for p in FILES[target])
    n_train, n_dev = s.get("max_train_examples"), s.get("max_eval_examples")
    if target == "tydiqa":
        train_ex, dev_ex = read_squad(train_path)[:n_train], read_squad(dev_path)[:n_dev]
        feats = qa_features(tok, train_ex, s["max_length"], s["doc_stride"], train=True)
        dev_feats = qa_features(tok, dev_ex, s["max_length"], s["doc_stride"], train=False)
        labels: list[str] = []
    else:
        train_ex, dev_ex = read_token_tags(train_path)[:n_train], read_token_tags(dev_path)[:n_dev]
        labels = LABELS[target]
        label2id = {t: i for i, t in enumerate(labels)}
        feats = tag_features(tok, train_ex, label2id, s["max_length"])
        dev_feats = tag_features(tok, dev_ex, label2id, s["max_length"])
    fallback = "O" if "O" in labels else "X"

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # the head's initialisation
    if target == "tydiqa":
        model = AutoModelForQuestionAnswering.from_pretrained(model_dir)
    else:
        model = AutoModelForTokenClassification.from_pretrained(
            model_dir, num_labels=len(labels), id2label=dict(enumerate(labels)), label2id=label2id)
    model.to(device)
    torch.manual_seed(seed)  # dropout from here

    bs = s["batch_size"]
    steps_per_epoch = max(1, math.ceil(len(feats) / bs))
    total = s["max_steps"] or max(1, round(s["epochs"] * steps_per_epoch))
    eval_every = s["eval_steps"] or min(total, steps_per_epoch)
    params = [p for p in model.parameters() if p.requires_grad]
    groups = [{"params": [p for p in params if p.ndim > 1], "weight_decay": s["weight_decay"]},
              {"params": [p for p in params if p.ndim <= 1], "weight_decay": 0.0}]
    opt = torch.optim.AdamW(groups, lr=s["lr"])
    warmup = int(s["warmup_ratio"] * total)
    if schedule == "hf":  # transformers' own: lr 0 at the first step, the peak after `warmup` steps
        sched = get_linear_schedule_with_warmup(opt, warmup, total)
    else:  # adapterx's linear_schedule (engine/loop.py), written out: the same line one step earlier in warmup
        sched = torch.optim.lr_scheduler.LambdaLR(
            opt, lambda k: (k + 1) / max(1, warmup) if k < warmup else max(0.0, (total - k) / max(1, total - warmup)))
    lengths = [len(f["input_ids"]) for f in feats]
    grouped = s["group_by_length"]
    if grouped is None:  # auto: on where random batches are >= 10% padding (token labels / spans: no label check)
        grouped = padding_share(lengths, bs) >= 0.10
    gen = torch.Generator().manual_seed(seed)

    def evaluate() -> dict[str, float]:
        model.eval()
        out = predict(model, dev_feats, tok.pad_token_id, device)
        model.train()
        if target == "tydiqa":
            return squad_scores(decode_qa(out, dev_feats, dev_ex), dev_ex)
        preds, missing = decode_tags(out, dev_feats, dev_ex, labels, fallback)
        return {**tag_scores([list(t) for _, t in dev_ex], preds), "words_cut": missing}

    t_train = time.perf_counter()
    curve, losses, best, best_step = [], [], None, 0
    model.train()
    step = 0
    while step < total:
        order = grouped_order(lengths, bs, gen) if grouped else torch.randperm(len(feats), generator=gen).tolist()
        for b in range(0, len(order), bs):
            if step >= total:
                break
            batch = {k: v.to(device) for k, v in collate([feats[i] for i in order[b:b + bs]], tok.pad_token_id,
                                                          with_labels=True).items()}
            loss = model(**batch).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, s["max_grad_norm"])
            opt.step()
            sched.step()
            opt.zero_grad(set_to_none=True)
            step += 1
            losses.append(round(loss.item(), 5))
            if step % eval_every == 0 or step == total:
                dev = evaluate()
                curve.append((step, dev))
                if best is None or dev[SELECT[target]] > best[SELECT[target]]:
                    best, best_step = dev, step
                print(f"  plain {target} step {step}/{total} loss {loss.item():.4f} dev "
                      f"{SELECT[target]} {dev[SELECT[target]]:.2f}", flush=True)
    train_s = time.perf_counter() - t_train
    return {"best_dev": best, "best_step": best_step, "score": best[SELECT[target]], "dev_curve": curve,
            "loss_curve": losses, "steps": total, "group_by_length": grouped,
            "group_by_length_adapterx": group_hint, "train_size": len(train_ex), "train_features": len(feats),
            "dev_size": len(dev_ex), "labels": labels, "train_time_s": round(train_s, 1),
            "wall_s": round(time.perf_counter() - t_start, 1)}


# ----------------------------------------------------------------------------------------------------------------
# the adapterx side


def adapterx_run(target: str, recipe: dict[str, Any], recipe_path: Path, s: dict[str, Any], run_dir: Path,
                 args: argparse.Namespace) -> dict[str, Any]:
    """``adapterx run`` restricted to ``minilm full none -> target seed 1``, English evaluation only."""
    full = next(m for m in recipe["methods"] if m.get("name") == "full")
    # The recipe restricted to this target: its per-task settings of the other targets go too (a recipe refuses a
    # setting of a task its grid does not run); data.root stays relative to the repository root (cwd below).
    one = copy.deepcopy(recipe)
    for section in ("training", "data", "eval"):
        per_task = (one.get(section) or {}).get("per_task")
        if per_task:
            kept = {k: v for k, v in per_task.items() if k == target}
            if kept:
                one[section]["per_task"] = kept
            else:
                del one[section]["per_task"]
    run_dir.mkdir(parents=True, exist_ok=True)
    restricted = run_dir / f"recipe-{target}.yaml"
    restricted.write_text(json.dumps(one, indent=1))  # JSON is YAML
    exe = Path(sys.executable).parent / "adapterx"
    cmd = [str(exe) if exe.exists() else "adapterx", "run", str(restricted), "--run-dir", str(run_dir),
           "--set", f"methods=[{json.dumps(full)}]", "--set", "intermediates=[none]",
           "--set", f"targets=[{target}]", "--set", "seeds=[1]", "--set", "eval.languages=[en]"]
    if args.steps:
        cmd += ["--set", f"training.target.max_steps={args.steps}"]
    if args.eval_every:
        cmd += ["--set", f"training.target.eval_every={args.eval_every}"]
    if args.max_train:
        cmd += ["--set", f"data.per_task.{target}.max_train_examples={args.max_train}"]
    if args.max_dev:
        cmd += ["--set", f"data.per_task.{target}.max_eval_examples={args.max_dev}"]
    if args.group_by_length != "recipe":
        value = {"auto": "null", "on": "true", "off": "false"}[args.group_by_length]
        cmd += ["--set", f"training.target.group_by_length={value}"]
    print("  $ " + " ".join(f"'{c}'" if " " in c or "{" in c else c for c in cmd), flush=True)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, text=True, capture_output=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"adapterx run failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    cells = sorted(run_dir.glob("cells/*/run/metrics.json"))
    if len(cells) != 1:
        raise SystemExit(f"{run_dir}: expected one cell, found {len(cells)}")
    metrics = json.loads(cells[0].read_text())
    cell = json.loads((cells[0].parent.parent / "cell.json").read_text())
    used = cell["training"]["target"]
    # The plain loop's settings must be the cell's: say so loudly where they are not.
    differ = {k: (used.get(k), s.get(k)) for k in ("lr", "batch_size", "max_steps", "warmup_ratio", "weight_decay",
                                                    "max_grad_norm", "eval_steps", "max_length", "doc_stride")
              if used.get(k) != s.get(k) and not (k == "doc_stride" and target != "tydiqa")}
    for k in ("max_train_examples", "max_eval_examples"):
        if cell["data"].get(k) != s.get(k):
            differ[k] = (cell["data"].get(k), s.get(k))
    sel = SELECT[target]
    return {"score": metrics["best_dev"][sel], "best_dev": metrics["best_dev"], "best_step": metrics["best_step"],
            "dev_curve": metrics["dev_curve"], "group_by_length": metrics.get("group_by_length"),
            "train_time_s": round(metrics["train_time_s"], 1), "wall_s": round(wall, 1), "cell": cell,
            "settings_differ": differ, "command": cmd}


# ----------------------------------------------------------------------------------------------------------------


def load_avg() -> float | None:
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:
        return None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--targets", default=",".join(TARGETS), help="comma-separated: tydiqa,panx,udpos")
    ap.add_argument("--recipe", type=Path, default=ROOT / "recipes" / "minilm-xstilts.yaml")
    ap.add_argument("--steps", type=int, help="override max_steps on both sides (quick checks)")
    ap.add_argument("--eval-every", type=int, help="override eval_every on both sides (quick checks)")
    ap.add_argument("--max-train", type=int, help="override max_train_examples on both sides (quick checks)")
    ap.add_argument("--max-dev", type=int, help="override max_eval_examples on both sides (quick checks)")
    ap.add_argument("--group-by-length", choices=("recipe", "auto", "on", "off"), default="recipe",
                    help="training batch grouping on both sides (default: the recipe's; it sets none: auto)")
    ap.add_argument("--schedule", choices=("adapterx", "hf"), default="adapterx",
                    help="plain loop's learning-rate schedule: adapterx's warmup ((k+1)/warmup at step k, default) or"
                         " transformers' get_linear_schedule_with_warmup (k/warmup: lr 0 at the first step)")
    ap.add_argument("--model-dir", type=Path, help="the extracted MiniLM folder (default: adapterx's minilm)")
    ap.add_argument("--run-dir", type=Path, help="adapterx's run folders go under it (default: a temporary one)")
    ap.add_argument("--skip", default="", help="adapterx or plain: leave that side out")
    ap.add_argument("--qa-start", choices=("hf", "first-ending-after"), default="hf",
                    help="QA training labels: run_qa's answer-start token (hf) or adapterx's rule (first-ending-after)")
    ap.add_argument("--device", default=None, help="plain loop's device (default: cuda when present, else cpu)")
    ap.add_argument("--out", type=Path, help="write the Markdown table here too")
    ap.add_argument("--json", type=Path, help="write every number here (settings, curves, times)")
    args = ap.parse_args()
    global QA_START
    QA_START = args.qa_start

    import yaml

    import torch
    import transformers

    targets = [t.strip() for t in args.targets.split(",") if t.strip()]
    bad = [t for t in targets if t not in TARGETS]
    if bad:
        raise SystemExit(f"--targets: {', '.join(bad)} unknown; choose from {', '.join(TARGETS)}")
    skip = {x.strip() for x in args.skip.split(",") if x.strip()}
    recipe_path = args.recipe.resolve()
    recipe = yaml.safe_load(recipe_path.read_text())
    model_dir = args.model_dir
    if model_dir is None and "plain" not in skip:
        from adapterx.backbone import resolve  # once, only to find the extracted folder

        model_dir = Path(resolve("minilm").path)
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    work = Path(tempfile.mkdtemp(prefix="plain_loop_")) if args.run_dir is None else args.run_dir
    results: dict[str, Any] = {}
    for target in targets:
        s = cell_settings(recipe, target, args.steps, args.max_train, args.max_dev, args.group_by_length,
                          args.eval_every)
        data_root = (ROOT / s["data_root"]).resolve()
        if not data_root.is_dir():
            raise SystemExit(f"data root {data_root} is absent (the recipe's data.root, read from {ROOT})")
        print(f"== {target}: {json.dumps({k: v for k, v in s.items() if k != 'data_root'})}", flush=True)
        res: dict[str, Any] = {"settings": s, "load_before": load_avg()}
        if "adapterx" not in skip:
            run_dir = work / f"adapterx-{target}"
            if run_dir.exists():
                shutil.rmtree(run_dir)
            res["adapterx"] = adapterx_run(target, recipe, recipe_path, s, run_dir, args)
            a = res["adapterx"]
            print(f"  adapterx {target}: {SELECT[target]} {a['score']:.2f} at step {a['best_step']}, "
                  f"grouped {a['group_by_length']}, wall {a['wall_s']}s", flush=True)
            if a["settings_differ"]:
                print(f"  WARNING: the cell ran with other settings (cell, plain): {a['settings_differ']}", flush=True)
        res["load_between"] = load_avg()
        if "plain" not in skip:
            hint = res.get("adapterx", {}).get("group_by_length")
            res["plain"] = plain_run(target, s, model_dir, data_root, device, hint, args.schedule)
            p = res["plain"]
            if hint is not None and hint != p["group_by_length"]:
                print(f"  WARNING: adapterx grouped by length: {hint}, the plain loop: {p['group_by_length']}")
        res["load_after"] = load_avg()
        results[target] = res

    def fmt(x: float | None) -> str:
        return "–" if x is None else f"{x:.2f}"

    lines = [
        f"Plain-loop sanity check: `{recipe_path.name}`, cell `minilm full none -> TARGET seed 1`, English dev "
        f"(best of the evaluations). {platform.node()}, {device}, torch {torch.__version__}, transformers "
        f"{transformers.__version__}, {os.cpu_count()} cores. Overrides: steps {args.steps or 'recipe'}, "
        f"eval_every {args.eval_every or 'recipe'}, plain loop's schedule {args.schedule}, "
        f"max-train {args.max_train or 'recipe'}, max-dev {args.max_dev or 'recipe'}, group_by_length "
        f"{args.group_by_length}, QA answer-start token {args.qa_start}.",
        "",
        "| target | dev metric | adapterx | plain loop | plain − adapterx | within 1.5 | best step (ax / plain) "
        "| batches grouped (ax / plain) | wall s (ax / plain) | train s (ax / plain) | load 1-min |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for target, res in results.items():
        a, p = res.get("adapterx"), res.get("plain")
        diff = p["score"] - a["score"] if a and p else None
        lines.append(
            f"| {target} | {METRIC_NAME[target]} | {fmt(a and a['score'])} | {fmt(p and p['score'])} | "
            f"{'–' if diff is None else f'{diff:+.2f}'} | {'–' if diff is None else ('yes' if abs(diff) <= TOLERANCE else 'NO')} | "
            f"{a['best_step'] if a else '–'} / {p['best_step'] if p else '–'} | "
            f"{a['group_by_length'] if a else '–'} / {p['group_by_length'] if p else '–'} | "
            f"{a['wall_s'] if a else '–'} / {p['wall_s'] if p else '–'} | "
            f"{a['train_time_s'] if a else '–'} / {p['train_time_s'] if p else '–'} | "
            f"{res['load_before']} / {res['load_between']} / {res['load_after']} |")
    table = "\n".join(lines)
    print()
    print(table)
    if args.out:
        args.out.write_text(table + "\n")
    if args.json:
        args.json.write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items()}, "results": results},
                                        indent=1, default=str))
    if args.run_dir is None:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
