"""Bad-input class 1 (issue "Bad input handled by class"): records whose values break the task's own rules. The
mechanism is adapterx/data/rules.py: ``check_records``, applied to every local read in
``adapterx.data.sources._checked`` (and to the gold of ``adapterx score``), from the rules declared on the task
(``TaskSpec.rules``) and its kind; the line comes from the readers' origin log. Each case: one line naming
file:line (or file and question id), exit 2, before training, nothing written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ._cli import ax, one_line_error, partials

STS_HEADER = "sentence1\tsentence2\tscore\n"
GOOD_DEV = STS_HEADER + "A man plays.\tA man is playing.\t4.5\nA dog runs.\tA cat sleeps.\t0.5\n"


@pytest.fixture
def no_training(train_calls: list) -> list:
    return train_calls


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def _stsb(tmp_path: Path, train: str, dev: str = GOOD_DEV):  # noqa: ANN202
    t, d = _write(tmp_path / "train.tsv", train), _write(tmp_path / "dev.tsv", dev)
    return ax("train-intermediate", "stsb", "--model", "tiny", "--train-file", t, "--dev-file", d,
              "--max-steps", "1", "--output", tmp_path / "out", "-q")


def _target(tmp_path: Path, task: str, train: Path, dev: Path | None = None, *extra: str):  # noqa: ANN202
    return ax("train-target", task, "--model", "tiny", "--train-file", train, "--dev-file", dev or train,
              "--langs", "en", "--max-steps", "1", "--output", tmp_path / "out", *extra, "-q")


def _nothing_left(tmp_path: Path, calls: list) -> None:
    assert calls == [] and not (tmp_path / "out").exists() and partials(tmp_path) == []


def _squad(path: Path, context: str, answers: list[tuple[str, int]], qids: tuple[str, ...] = ("q1",)) -> Path:
    qas = [{"id": q, "question": "what?", "answers": [{"text": t, "answer_start": s} for t, s in answers]}
           for q in qids]
    doc = {"version": "1.1", "data": [{"title": "t", "paragraphs": [{"context": context, "qas": qas}]}]}
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


# --- the examples -------------------------------------------------------------------------------------


@pytest.mark.parametrize("score", ["7.5", "-2"])
def test_sts_score_outside_0_5(tmp_path: Path, no_training: list, score: str) -> None:
    res = _stsb(tmp_path, STS_HEADER + f"A man plays.\tA man is playing.\t4\nA dog.\tA cat.\t{score}\n")
    one_line_error(res, f"{tmp_path / 'train.tsv'}:3", f"score {float(score):g}", "0-5")
    _nothing_left(tmp_path, no_training)


def test_squad_answer_start_beyond_its_context(tmp_path: Path, no_training: list) -> None:
    path = _squad(tmp_path / "train.json", "short context", [("context", 40)])
    one_line_error(_target(tmp_path, "tydiqa", path), str(path), "question id q1", "beyond its context")
    _nothing_left(tmp_path, no_training)


def test_a_one_pair_dev_file_cannot_give_a_correlation(tmp_path: Path, no_training: list) -> None:
    res = _stsb(tmp_path, GOOD_DEV, STS_HEADER + "A man plays.\tA man is playing.\t4.5\n")
    one_line_error(res, str(tmp_path / "dev.tsv"), "needs at least 2")
    _nothing_left(tmp_path, no_training)


def test_an_unknown_panx_tag_names_file_and_line(tmp_path: Path, no_training: list) -> None:
    path = _write(tmp_path / "panx.tsv", "EU\tB-ORG\nrejects\tO\n\nGerman\tB-MISC\ncall\tO\n")
    one_line_error(_target(tmp_path, "panx", path), f"{path}:4", "'B-MISC'")
    _nothing_left(tmp_path, no_training)


# --- more cases of the class ---------------------------------------------------------------------------------


def test_constant_dev_scores_give_no_correlation(tmp_path: Path, no_training: list) -> None:
    res = _stsb(tmp_path, GOOD_DEV, STS_HEADER + "A.\tB.\t3\nC.\tD.\t3\nE.\tF.\t3\n")
    one_line_error(res, str(tmp_path / "dev.tsv"), "every score", "is 3")
    _nothing_left(tmp_path, no_training)


def test_duplicate_question_ids(tmp_path: Path, no_training: list) -> None:
    path = _squad(tmp_path / "train.json", "a context here", [("context", 2)], qids=("q1", "q1"))
    one_line_error(_target(tmp_path, "tydiqa", path), "id 'q1' repeats")
    _nothing_left(tmp_path, no_training)


def test_answer_text_not_in_its_context(tmp_path: Path, no_training: list) -> None:
    path = _squad(tmp_path / "train.json", "a context here", [("elsewhere", 0)])
    one_line_error(_target(tmp_path, "tydiqa", path), "question id q1", "not in its context")
    _nothing_left(tmp_path, no_training)


def test_an_unknown_udpos_tag_in_an_eval_file_is_found_before_training(tmp_path: Path, no_training: list) -> None:
    good = _write(tmp_path / "train.tsv", "The\tDET\ncat\tNOUN\n\nsleeps\tVERB\n")
    bad = _write(tmp_path / "sw.tsv", "Paka\tNOUN\nanalala\tVRB\n")
    res = _target(tmp_path, "udpos", good, None, "--eval-file", f"en={bad}")
    one_line_error(res, f"{bad}:1", "'VRB'")
    _nothing_left(tmp_path, no_training)


def test_an_empty_sentence_in_a_pair_file(tmp_path: Path, no_training: list) -> None:
    res = _stsb(tmp_path, STS_HEADER + "A man plays.\tA man is playing.\t4\n \tA cat.\t1\n")
    one_line_error(res, f"{tmp_path / 'train.tsv'}:3", "empty sentence")
    _nothing_left(tmp_path, no_training)


def test_score_refuses_gold_that_breaks_the_rules(tmp_path: Path) -> None:
    """`adapterx score` reads the gold with the same rules: a PAN-X gold file with an unknown tag is named."""
    gold = tmp_path / "gold" / "panx"
    gold.mkdir(parents=True)
    _write(gold / "test-en.tsv", "EU\tB-ORG\nrejects\tB-FOO\n")
    preds = tmp_path / "preds" / "panx"
    preds.mkdir(parents=True)
    _write(preds / "test-en.tsv", "B-ORG\nO\n")
    res = ax("score", tmp_path / "preds", "--gold", tmp_path / "gold", "--task", "panx")
    one_line_error(res, f"{gold / 'test-en.tsv'}:1", "'B-FOO'", "token 2")


def test_rules_are_declared_once_on_the_task() -> None:
    from adapterx.data.rules import RecordRules
    from adapterx.tasks import get_task

    for name in ("stsb", "sickr", "sts12", "sts-all", "stsb-multi", "semrel"):
        assert get_task(name).rules == RecordRules(value_range=(0.0, 5.0)), name
    assert get_task("xnli").rules == RecordRules()


def test_a_data_dir_evaluation_file_is_checked_before_training(tmp_path: Path, no_training: list) -> None:
    folder = tmp_path / "download" / "panx"
    folder.mkdir(parents=True)
    for split in ("dev", "test"):
        _write(folder / f"{split}-sw.tsv", "EU\tB-ORG\n\nGerman\tB-MISC\n")
    res = ax("train-target", "panx", "--model", "tiny", "--data", "synthetic", "--data-dir", tmp_path / "download",
             "--langs", "sw", "--max-steps", "1", "--output", tmp_path / "out", "-q")
    one_line_error(res, "-sw.tsv:3", "'B-MISC'")
    _nothing_left(tmp_path, no_training)
