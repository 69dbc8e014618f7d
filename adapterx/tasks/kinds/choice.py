"""Multiple choice (XCOPA / COPA, SIQA, HellaSwag, Cosmos QA, CommonsenseQA).

Each option is encoded as a pair (context + question prompt, option); the model scores every option and a
softmax over them is trained with cross-entropy (``AutoModelForMultipleChoice`` / adapters' multiple-choice head).
"""

from __future__ import annotations

from typing import Any

from adapterx.errors import DataError
from adapterx.tasks.kinds import MODEL_INPUTS, Features, pad_batch
from adapterx.tasks import metrics

# COPA's two question types read as a natural-language prompt, as in jiant's and XTREME's COPA formatting.
COPA_PROMPTS = {"cause": "What was the cause?", "effect": "What happened as a result?"}


def first_segment(context: str, question: str) -> str:
    """The text before each option: the context, then the question (COPA's cause/effect as a prompt)."""
    q = COPA_PROMPTS.get(question, question)
    return f"{context} {q}".strip() if q else context


class ChoiceOps:
    auto_class = "AutoModelForMultipleChoice"

    def featurize(self, task, examples, tokenizer, max_length: int, doc_stride: int, train: bool) -> Features:
        items = []
        for ex in examples:
            if len(ex.choices) != task.num_choices:
                raise DataError(f"{task.name}: example {ex.id} has {len(ex.choices)} options, the task has {task.num_choices}")
            first = first_segment(ex.context, ex.question)
            enc = tokenizer([first] * len(ex.choices), list(ex.choices), truncation=True, max_length=max_length)
            item: dict[str, Any] = {k: enc[k] for k in MODEL_INPUTS if k in enc}  # per key: one row per option
            if ex.label is not None:
                if not 0 <= int(ex.label) < task.num_choices:
                    raise DataError(f"{task.name}: example {ex.id} has label {ex.label}, outside 0..{task.num_choices - 1}")
                item["labels"] = int(ex.label)
            items.append(item)
        return Features(items, list(range(len(examples))))

    def collate(self, items: list[dict[str, Any]], pad_id: int) -> dict[str, Any]:
        import torch

        # Flatten options to pad them together, then restore [batch, choices, length].
        n = len(items[0]["input_ids"])
        keys = [k for k in MODEL_INPUTS if k in items[0]]
        flat = [{k: it[k][o] for k in keys} for it in items for o in range(n)]
        batch = pad_batch(flat, pad_id)
        out = {k: v.view(len(items), n, -1) for k, v in batch.items()}
        if "labels" in items[0]:
            out["labels"] = torch.tensor([it["labels"] for it in items])
        return out

    def outputs(self, out: Any) -> list[Any]:
        return list(out.logits.float().cpu().numpy())

    def decode(self, task, kept: list[Any], features: Features, examples: list) -> list[Any]:
        return [int(k.argmax()) for k in kept]

    def score(self, task, predictions: list[Any], examples: list, lang: str) -> tuple[dict[str, float], list[dict]]:
        gold = [int(ex.label) for ex in examples]
        stats = [{"score": float(p == g)} for p, g in zip(predictions, gold)]
        return {"accuracy": metrics.accuracy(gold, predictions)}, stats

    def selection_metric(self, task) -> str:
        return "accuracy"


OPS = ChoiceOps()
