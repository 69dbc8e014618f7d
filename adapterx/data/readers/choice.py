"""Reader for XCOPA / COPA JSON lines -> :class:`ChoiceExample`."""

from __future__ import annotations

from adapterx.data.examples import ChoiceExample
from adapterx.data.readers._io import PathArg, read_jsonl
from adapterx.errors import DataError

COPA_QUESTIONS: tuple[str, str] = ("cause", "effect")


def read_copa(path: PathArg) -> list[ChoiceExample]:
    """XCOPA/COPA JSON lines ``{"premise", "choice1", "choice2", "question": "cause"|"effect", "label", "idx"}``
    (XCOPA adds ``changed``). ``label`` 0 means choice1; a missing label gives ``label=None``. ``question`` is kept
    as the word ``"cause"``/``"effect"``: the task featurizer turns it into a connector ("because"/"so")."""
    out: list[ChoiceExample] = []
    for n, obj in read_jsonl(path):
        where = f"{path}:{n}"
        missing = [k for k in ("premise", "choice1", "choice2", "question") if not isinstance(obj.get(k), str)]
        if missing:
            raise DataError(
                f"{where}: missing or non-string key(s) {', '.join(missing)}; "
                "COPA lines need premise, choice1, choice2, question."
            )
        question = obj["question"].strip().lower()
        if question not in COPA_QUESTIONS:
            raise DataError(f"{where}: question {obj['question']!r} must be 'cause' or 'effect'.")
        raw = obj.get("label")
        label: int | None
        if raw is None:
            label = None
        elif isinstance(raw, bool) or str(raw).strip() not in ("0", "1"):
            raise DataError(f"{where}: label {raw!r} must be 0 (choice1) or 1 (choice2).")
        else:
            label = int(str(raw).strip())
        out.append(
            ChoiceExample(
                id=str(len(out)),
                context=obj["premise"],
                question=question,
                choices=(obj["choice1"], obj["choice2"]),
                label=label,
            )
        )
    return out
