"""Token tagging (UD-POS, PAN-X / WikiANN, CCG supertags), first-subword labelling.

Each word's tag is predicted from its first sub-word; the other sub-words carry label -100 (ignored by the loss),
as XTREME's ``run_tag.py`` does. Words cut off by ``max_length`` get the task's fallback tag (``O`` where the task has
it, else its first label), so every input word has exactly one predicted tag and the metric sees every sentence.
"""

from __future__ import annotations

from typing import Any

from adapterx.errors import DataError
from adapterx.tasks.kinds import Features, model_inputs, pad_batch
from adapterx.tasks import metrics


def fallback_tag(task) -> str:
    return "O" if "O" in task.labels else task.labels[0]


class TaggingOps:
    auto_class = "AutoModelForTokenClassification"

    def featurize(self, task, examples, tokenizer, max_length: int, doc_stride: int, train: bool) -> Features:
        label2id = task.label2id
        # XLM-R's tokenizer splits an empty or whitespace-only token into nothing; give it a visible stand-in so the
        # word keeps a position (and a prediction).
        words = [[w if w.strip() else "_" for w in ex.tokens] for ex in examples]
        enc = tokenizer(words, is_split_into_words=True, truncation=True, max_length=max_length)
        items, extra = [], []
        for i, ex in enumerate(examples):
            word_ids = enc.word_ids(i)
            item: dict[str, Any] = model_inputs(enc, i)
            if ex.tags is not None:
                labels, prev = [], None
                for w in word_ids:
                    if w is None or w == prev:
                        labels.append(-100)
                    else:
                        tag = ex.tags[w]
                        if tag not in label2id:
                            raise DataError(f"{task.name}: sentence {ex.id} has tag {tag!r}, not one of {', '.join(task.labels)}")
                        labels.append(label2id[tag])
                    prev = w
                item["labels"] = labels
            items.append(item)
            extra.append(word_ids)
        return Features(items, list(range(len(examples))), extra)

    def collate(self, items: list[dict[str, Any]], pad_id: int) -> dict[str, Any]:
        return pad_batch(items, pad_id, {"labels": -100})

    def outputs(self, out: Any) -> list[Any]:
        return list(out.logits.float().cpu().numpy())

    def decode(self, task, kept: list[Any], features: Features, examples: list) -> list[Any]:
        preds = []
        for f, logits in enumerate(kept):
            ex = examples[features.example_index[f]]
            tags = [fallback_tag(task)] * len(ex.tokens)
            prev = None
            for pos, w in enumerate(features.extra[f]):
                if w is not None and w != prev:
                    tags[w] = task.labels[int(logits[pos].argmax())]
                prev = w
            preds.append(tags)
        return preds

    def score(self, task, predictions: list[Any], examples: list, lang: str) -> tuple[dict[str, float], list[dict]]:
        gold = [list(ex.tags) for ex in examples]
        f1 = metrics.tagging_f1(gold, predictions)
        stats = metrics.tagging_per_example(gold, predictions)
        return {"f1": f1}, stats

    def selection_metric(self, task) -> str:
        return "f1"


OPS = TaggingOps()
