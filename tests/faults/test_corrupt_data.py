"""Corrupted data files: empty, a missing column, latin-1 text, malformed JSON. Each is refused with one line that
names the file (and the line, where there is one), exit 2, before anything trains and without an output folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from ._cli import ax, one_line_error, partials


@pytest.fixture
def no_training(monkeypatch: pytest.MonkeyPatch) -> list:
    """Record calls of the training loop: a data error must be found before it starts."""
    import adapterx.engine.loop

    calls: list = []

    def fake_train(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        calls.append(args)
        raise AssertionError("training started before the data was checked")

    monkeypatch.setattr(adapterx.engine.loop, "train", fake_train)
    return calls


def _train_stsb(data: Path, out: Path):  # noqa: ANN202
    return ax("train-intermediate", "stsb", "--model", "tiny", "--data", data, "--max-steps", "2", "--output", out, "-q")


def _eval(task: str, path: Path, *extra: str):  # noqa: ANN202
    return ax("eval", task, "--module", "none", "--model", "tiny", "--eval-file", f"sw={path}", *extra)


# ---------------------------------------------------------------------------------------------- training files


@pytest.mark.parametrize("content", [b"", b"\n\n", b"   \r\n"])
def test_empty_training_file(content, tmp_path, no_training):
    data = tmp_path / "empty.csv"
    data.write_bytes(content)
    out = tmp_path / "out"
    one_line_error(_train_stsb(data, out), "empty.csv")
    assert not out.exists() and not partials(tmp_path) and not no_training


def test_latin1_training_file_names_file_line_and_fix(tmp_path, no_training):
    data = tmp_path / "stsb-latin1.csv"
    data.write_bytes('"A cat sits.","A cat sat.",4.0\n"Caf\xe9 cr\xe8me","Le caf\xe9",3.5\n'.encode("latin-1"))
    out = tmp_path / "out"
    err = one_line_error(_train_stsb(data, out), f"{data}:2", "UTF-8")
    assert "iconv" in err or "re-encode" in err
    assert not out.exists() and not partials(tmp_path) and not no_training


def test_training_csv_with_a_missing_column(tmp_path, no_training):
    data = tmp_path / "stsb-short.csv"
    data.write_text('"a cat sits","a cat sat",4.0\n"a dog runs","a dog ran",3.0\n"only one sentence",2.0\n',
                    encoding="utf-8")
    out = tmp_path / "out"
    one_line_error(_train_stsb(data, out), f"{data}:3")
    assert not out.exists() and not partials(tmp_path) and not no_training


# ---------------------------------------------------------------------------------------------- evaluation files


@pytest.mark.parametrize(("task", "name"), [("xnli", "empty.tsv"), ("tydiqa", "empty.json"), ("panx", "empty.conll")])
def test_empty_eval_file(task, name, tmp_path):
    path = tmp_path / name
    path.write_bytes(b"")
    one_line_error(_eval(task, path), name)


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("premise\thypothesis\tlabel\nA man eats.\tA person eats.\tentailment\nA man eats.\tentailment\n", 3),
        ("A man eats.\tA person eats.\tentailment\nA man eats only\n", 2),
        ("A man eats.\tA person eats.\tentailment\nA man eats.\tA person eats.\n", 2),  # labelled and unlabelled mixed
    ],
)
def test_xnli_tsv_with_a_missing_column_names_file_and_line(text, line, tmp_path):
    path = tmp_path / "bad.tsv"
    path.write_text(text, encoding="utf-8")
    one_line_error(_eval("xnli", path), f"{path}:{line}")


def test_xnli_tsv_without_the_label_column_is_refused_not_scored_zero(tmp_path):
    path = tmp_path / "nolabel.tsv"
    path.write_text("A man eats.\tA person eats.\nA dog runs.\tA cat sleeps.\n", encoding="utf-8")
    one_line_error(_eval("xnli", path), "nolabel.tsv")


def test_latin1_eval_tsv_names_file_and_line(tmp_path):
    path = tmp_path / "latin1.tsv"
    path.write_bytes("premise\thypothesis\tlabel\nA man eats.\tA person eats.\tentailment\n"
                     "Caf\xe9 cr\xe8me\tLe caf\xe9\tneutral\n".encode("latin-1"))
    one_line_error(_eval("xnli", path), f"{path}:3", "UTF-8")


def test_latin1_squad_json_names_the_file(tmp_path):
    path = tmp_path / "latin1.json"
    path.write_bytes('{"data": [{"paragraphs": [{"context": "Caf\xe9", "qas": []}]}]}'.encode("latin-1"))
    one_line_error(_eval("tydiqa", path), "latin1.json", "UTF-8")


def test_malformed_squad_json_names_file_line_and_column(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text('{"data": [{"paragraphs": [\n  {"context": "abc", "qas": [\n', encoding="utf-8")
    err = one_line_error(_eval("tydiqa", path), f"{path}:")
    assert "JSON" in err


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ('{"data": 3}', "data"),
        ('{"version": "1.1"}', "data"),
        ('{"data": [{"title": "t"}]}', "paragraphs"),
        ('{"data": [{"paragraphs": [{"context": "abc", "qas": [{"id": "1", "answers": []}]}]}]}', "question"),
    ],
)
def test_squad_json_of_the_wrong_shape_is_one_line(text, needle, tmp_path):
    path = tmp_path / "shape.json"
    path.write_text(text, encoding="utf-8")
    one_line_error(_eval("tydiqa", path), "shape.json", needle)


def test_squad_json_without_answers_names_the_file(tmp_path):
    path = tmp_path / "unlabelled.json"
    path.write_text('{"data": [{"paragraphs": [{"context": "abc def", "qas": [{"id": "1", "question": "q?"}]}]}]}',
                    encoding="utf-8")
    one_line_error(_eval("tydiqa", path), "unlabelled.json")


def test_conll_with_a_missing_tag_column_names_file_and_line(tmp_path):
    path = tmp_path / "bad.conll"
    path.write_text("Paris\tB-LOC\nis\nnice\tO\n", encoding="utf-8")
    one_line_error(_eval("panx", path, "--langs", "sw"), f"{path}:2")


def test_missing_and_folder_eval_files(tmp_path):
    one_line_error(_eval("xnli", tmp_path / "nope.tsv"), "nope.tsv")
    one_line_error(_eval("xnli", tmp_path), str(tmp_path))
