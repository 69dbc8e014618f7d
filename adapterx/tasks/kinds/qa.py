"""Extractive span QA (SQuAD, XQuAD, MLQA, TyDiQA-GoldP).

Contexts longer than the window are cut into overlapping windows (``max_length`` tokens, ``doc_stride`` tokens of
overlap). Training: the answer's start/end token in each window, or the ``<s>`` token (index 0) where the window does
not hold the whole answer, as in the original BERT/XLM-R SQuAD recipe. Prediction: over all windows of an example,
the best span (start <= end, at most ``MAX_ANSWER_TOKENS``) by start logit + end logit among the top ``N_BEST`` starts
and ends, mapped back to characters of the context through the tokenizer's offsets.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from adapterx.errors import ConfigError
from adapterx.tasks.kinds import Features, model_inputs, pad_batch
from adapterx.tasks import metrics

N_BEST = 20
MAX_ANSWER_TOKENS = 30  # XTREME's run_squad default max_answer_length


class QAOps:
    auto_class = "AutoModelForQuestionAnswering"

    def featurize(self, task, examples, tokenizer, max_length: int, doc_stride: int, train: bool) -> Features:
        max_query = max_query_tokens(max_length)
        if doc_stride >= max_length - max_query - 4:
            # Every window holds <s> question </s></s> context </s>: the overlap must leave room for new context.
            raise ConfigError(f"--doc-stride {doc_stride} is too large for --max-length {max_length}: use at most "
                              f"{max_length - max_query - 5} (e.g. --doc-stride {max_length // 4})")
        questions = clip_questions([ex.question.lstrip() for ex in examples], tokenizer, max_query)
        contexts = [ex.context for ex in examples]
        enc = tokenizer(
            questions,
            contexts,
            truncation="only_second",
            max_length=max_length,
            stride=doc_stride,
            return_overflowing_tokens=True,
            return_offsets_mapping=True,
        )
        items, ex_index, extra = [], [], []
        for f, sample in enumerate(enc["overflow_to_sample_mapping"]):
            seq_ids = enc.sequence_ids(f)
            offsets = enc["offset_mapping"][f]
            item: dict[str, Any] = model_inputs(enc, f)  # question = segment A, context = B
            ex = examples[sample]
            if train:
                item["start_positions"], item["end_positions"] = _label_window(ex, seq_ids, offsets)
            items.append(item)
            ex_index.append(sample)
            # Keep offsets of context tokens only: None marks question and special tokens (never an answer).
            extra.append([o if s == 1 else None for o, s in zip(offsets, seq_ids)])
        return Features(items, ex_index, extra)

    def collate(self, items: list[dict[str, Any]], pad_id: int) -> dict[str, Any]:
        return pad_batch(items, pad_id)

    def outputs(self, out: Any) -> list[Any]:
        start = out.start_logits.float().cpu().numpy()
        end = out.end_logits.float().cpu().numpy()
        return [(s, e) for s, e in zip(start, end)]

    def decode(self, task, kept: list[Any], features: Features, examples: list) -> list[Any]:
        best: list[tuple[float, str]] = [(-np.inf, "") for _ in examples]
        for f, (start, end) in enumerate(kept):
            offsets = features.extra[f]
            n = len(offsets)
            start, end = start[:n], end[:n]
            ctx = examples[features.example_index[f]].context
            starts = np.argsort(start)[::-1][:N_BEST]
            ends = np.argsort(end)[::-1][:N_BEST]
            for s in starts:
                if offsets[s] is None:
                    continue
                for e in ends:
                    if offsets[e] is None or e < s or e - s + 1 > MAX_ANSWER_TOKENS:
                        continue
                    score = float(start[s] + end[e])
                    i = features.example_index[f]
                    if score > best[i][0]:
                        best[i] = (score, ctx[offsets[s][0] : offsets[e][1]])
        return [text.strip() for _, text in best]

    def score(self, task, predictions: list[Any], examples: list, lang: str) -> tuple[dict[str, float], list[dict]]:
        preds = {ex.id: p for ex, p in zip(examples, predictions)}
        scores = metrics.qa_scores(preds, examples, lang=lang, mlqa=task.mlqa_normalisation)
        stats = metrics.qa_per_example(preds, examples, lang=lang, mlqa=task.mlqa_normalisation)
        return scores, stats

    def selection_metric(self, task) -> str:
        return "score"


def max_query_tokens(max_length: int) -> int:
    """Question budget per window: a quarter of it, at most 64 tokens (the SQuAD recipe's max_query_length of 64 in
    384-token windows). Without a cap a long question (or one the tokenizer splits into characters) leaves no room
    for context, and the tokenizer refuses the stride."""
    return min(64, max_length // 4)


def clip_questions(questions: list[str], tokenizer, max_query: int) -> list[str]:  # noqa: ANN001
    """Cut each question after its ``max_query``-th token, at a character offset, so the text stays the original."""
    enc = tokenizer(questions, add_special_tokens=False, return_offsets_mapping=True)
    out = []
    for q, offsets in zip(questions, enc["offset_mapping"]):
        out.append(q if len(offsets) <= max_query else q[: offsets[max_query - 1][1]])
    return out


def _label_window(ex, seq_ids: list[int | None], offsets: list[tuple[int, int]]) -> tuple[int, int]:
    """Token start/end of the first gold answer inside this window, or (0, 0) when the window misses it."""
    if not ex.answers:
        return 0, 0
    a = ex.answers[0]
    start_char, end_char = a.start, a.start + len(a.text)
    ctx = [i for i, s in enumerate(seq_ids) if s == 1]
    if not ctx or offsets[ctx[0]][0] > start_char or offsets[ctx[-1]][1] < end_char:
        return 0, 0
    ts = next(i for i in ctx if offsets[i][1] > start_char)
    te = next(i for i in reversed(ctx) if offsets[i][0] < end_char)
    return ts, max(ts, te)


OPS = QAOps()
