"""Reader for SQuAD v1.1-format JSON (SQuAD, XQuAD, MLQA, TyDiQA-GoldP) -> :class:`QAExample`."""

from __future__ import annotations

from typing import Any

from adapterx.data.examples import Answer, QAExample
from adapterx.data.readers.files import PathArg, note_origin, read_json
from adapterx.errors import DataError


def _articles(path: PathArg, obj: Any) -> list[Any]:
    # {"version": ..., "data": [...]} (SQuAD, XQuAD "1.1", MLQA 1.0), {"data": [...]} (TyDiQA per-language files
    # without "version"), or a bare list of articles (XTREME's evaluate.read_squad accepts both).
    if isinstance(obj, dict):
        if "data" not in obj:
            raise DataError(f"{path}: no 'data' key at the top level; expected SQuAD v1.1 JSON {{'data': [articles]}}.")
        obj = obj["data"]
    if not isinstance(obj, list):
        raise DataError(f"{path}: 'data' must be a list of articles, found {type(obj).__name__}.")
    return obj


def read_squad(path: PathArg) -> list[QAExample]:
    """Every question of a SQuAD v1.1-format file, with all its gold answers in file order.

    Answers with empty text are dropped: XTREME's preprocessing replaces test answers by ``{"answer_start": 0,
    "text": ""}``, and such a file reads as unlabelled (``answers == ()``). ``id`` is the question id.
    """
    data = _articles(path, read_json(path))
    out: list[QAExample] = []
    for a_i, article in enumerate(data):
        if not isinstance(article, dict) or not isinstance(article.get("paragraphs"), list):
            raise DataError(f"{path}: article {a_i} has no 'paragraphs' list.")
        title = article.get("title", "")
        title = title if isinstance(title, str) else str(title)
        for p_i, par in enumerate(article["paragraphs"]):
            where = f"{path}: article {a_i} paragraph {p_i}"
            if not isinstance(par, dict) or not isinstance(par.get("context"), str):
                raise DataError(f"{where}: missing string 'context'.")
            for qa in par.get("qas", []):
                if not isinstance(qa, dict) or "id" not in qa or not isinstance(qa.get("question"), str):
                    raise DataError(f"{where}: a question lacks 'id' or a string 'question'.")
                qid = str(qa["id"])
                answers: list[Answer] = []
                for ans in qa.get("answers", []) or []:
                    try:
                        text, start = ans["text"], int(ans["answer_start"])
                    except (KeyError, TypeError, ValueError):
                        raise DataError(
                            f"{path}: question {qid}: each answer needs 'text' and an integer 'answer_start'."
                        ) from None
                    if not isinstance(text, str):
                        raise DataError(f"{path}: question {qid}: answer text must be a string.")
                    if text == "":
                        continue
                    answers.append(Answer(text=text, start=start))
                out.append(QAExample(qid, par["context"], qa["question"], tuple(answers), title))
                note_origin(f"{path}: question id {qid}")
    if not out:
        raise DataError(f"{path}: no questions found in the SQuAD-format file.")
    return out
