"""Sequence-level tasks: regression (STS: one score per pair) and classification (NLI, paraphrase, sentiment)."""

from __future__ import annotations

from typing import Any

from adapterx.errors import DataError
from adapterx.tasks.kinds import Features, model_inputs, pad_batch
from adapterx.tasks import metrics


class SequenceOps:
    auto_class = "AutoModelForSequenceClassification"

    def featurize(self, task, examples, tokenizer, max_length: int, doc_stride: int, train: bool) -> Features:
        a = [ex.text_a for ex in examples]
        b = [ex.text_b for ex in examples]
        pair = any(x is not None for x in b)
        enc = tokenizer(a, b if pair else None, truncation=True, max_length=max_length)
        items = []
        label2id = task.label2id
        for i, ex in enumerate(examples):
            item = model_inputs(enc, i)
            if ex.label is not None:
                if task.kind == "regression":
                    item["labels"] = float(ex.label)
                else:
                    lab = str(ex.label)
                    if lab not in label2id:
                        raise DataError(
                            f"{task.name}: example {ex.id} has label {lab!r}, not one of {', '.join(task.labels)}"
                        )
                    item["labels"] = label2id[lab]
            items.append(item)
        return Features(items, list(range(len(examples))))

    def collate(self, items: list[dict[str, Any]], pad_id: int) -> dict[str, Any]:
        batch = pad_batch(items, pad_id)
        if "labels" in batch and batch["labels"].is_floating_point():
            batch["labels"] = batch["labels"].float()
        return batch

    def outputs(self, out: Any) -> list[Any]:
        return list(out.logits.float().cpu().numpy())

    def decode(self, task, kept: list[Any], features: Features, examples: list) -> list[Any]:
        if task.kind == "regression":
            return [float(k.reshape(-1)[0]) for k in kept]
        return [task.labels[int(k.argmax())] for k in kept]

    def score(self, task, predictions: list[Any], examples: list, lang: str) -> tuple[dict[str, float], list[dict]]:
        gold = [ex.label for ex in examples]
        if task.kind == "regression":
            gold_f = [float(g) for g in gold]
            scores = {"spearman": metrics.spearman(gold_f, predictions), "pearson": metrics.pearson(gold_f, predictions)}
            stats = [{"pred": float(p), "gold": g} for p, g in zip(predictions, gold_f)]
            return scores, stats
        gold_s = [str(g) for g in gold]
        stats = [{"score": float(p == g)} for p, g in zip(predictions, gold_s)]
        return {"accuracy": metrics.accuracy(gold_s, predictions)}, stats

    def selection_metric(self, task) -> str:
        return "spearman" if task.kind == "regression" else "accuracy"


OPS = SequenceOps()
