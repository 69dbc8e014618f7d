"""Bad-input class 2 (issue "Bad input handled by class"): a file in another task's format. The mechanism is
adapterx/data/readers/signature.py: ``check_signature`` sniffs the head of every file a reader is about to read
(``adapterx.data.sources.read_task_file`` and ``adapterx.data.layout.read_split``) and refuses a definite other
format, naming the format found and the ones expected. Files it cannot place go to the reader unchanged."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from adapterx.data.readers.signature import sniff

from ._cli import ax, one_line_error, partials

FILES = {
    "panx.tsv": "EU\tB-ORG\nrejects\tO\nGerman\tB-MISC\n\nPeter\tB-PER\nBlackburn\tI-PER\n",
    "xnli.tsv": "A man eats.\tA person eats.\tentailment\nA dog runs.\tA cat sleeps.\tneutral\n",
    "stsb.tsv": "sentence1\tsentence2\tscore\nA man plays.\tA man is playing.\t4.5\nA dog.\tA cat.\t0.5\n",
    "copa.jsonl": json.dumps({"premise": "a", "choice1": "b", "choice2": "c", "question": "cause", "label": 0}) + "\n",
    "squad.json": json.dumps({"version": "1.1", "data": [{"title": "t", "paragraphs": [
        {"context": "a context", "qas": [{"id": "q", "question": "?", "answers": [{"text": "a", "answer_start": 0}]}]}]}]},
        indent=1),
    "ud.conllu": "# text = The cat\n1\tThe\tthe\tDET\t_\t_\t2\tdet\t_\t_\n2\tcat\tcat\tNOUN\t_\t_\t0\troot\t_\t_\n\n",
    "siqa.jsonl": json.dumps({"context": "c", "question": "q", "answerA": "a", "answerB": "b", "answerC": "c"}) + "\n",
}


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    out = {}
    for name, text in FILES.items():
        out[name] = tmp_path / name
        out[name].write_text(text, encoding="utf-8")
    return out


def _target(tmp_path: Path, task: str, *extra: object):  # noqa: ANN202
    return ax("train-target", task, "--model", "tiny", "--langs", "en", "--max-steps", "1",
              "--output", tmp_path / "out", *extra, "-q")


# --- the examples -------------------------------------------------------------------------------------


def test_a_panx_file_as_an_xnli_eval_file_is_not_read_as_pairs(tmp_path: Path, files: dict, train_calls: list) -> None:
    """Was: read as unlabelled XNLI pairs, predictions written, exit 0."""
    res = _target(tmp_path, "xnli", "--data", "synthetic", "--eval-file", f"en={files['panx.tsv']}")
    one_line_error(res, str(files["panx.tsv"]), "looks like token<TAB>tag lines", "xnli reads NLI pairs")
    assert train_calls == [] and not (tmp_path / "out").exists() and partials(tmp_path) == []


def test_an_xnli_file_as_panx_training_data(tmp_path: Path, files: dict, train_calls: list) -> None:
    res = _target(tmp_path, "panx", "--train-file", files["xnli.tsv"], "--dev-file", files["panx.tsv"])
    one_line_error(res, "looks like NLI pairs (TSV)", "panx reads token<TAB>tag lines")
    assert train_calls == []


# --- more cases of the class ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("task", "given", "found"), [
    ("stsb", "squad.json", "SQuAD JSON"),
    ("tydiqa", "stsb.tsv", "STS pairs (TSV)"),
    ("xnli", "copa.jsonl", "COPA (JSON lines)"),
    ("xcopa", "siqa.jsonl", "Social IQa (JSON lines)"),
    ("pawsx", "xnli.tsv", "NLI pairs (TSV)"),
])
def test_a_file_of_another_task(tmp_path: Path, files: dict, train_calls: list, task: str, given: str,
                                found: str) -> None:
    cmd = "train-intermediate" if task == "stsb" else "train-target"
    extra = () if task == "stsb" else ("--langs", "en")
    res = ax(cmd, task, "--model", "tiny", "--train-file", files[given], "--dev-file", files[given],
             "--max-steps", "1", "--output", tmp_path / "out", *extra, "-q")
    one_line_error(res, str(files[given]), f"looks like {found}", f"{task} reads")
    assert train_calls == []


def test_a_foreign_file_in_a_data_dir_is_named(tmp_path: Path, files: dict) -> None:
    """An XTREME-layout folder whose panx/ file holds XNLI pairs: named by the layout reader too."""
    folder = tmp_path / "download" / "panx"
    folder.mkdir(parents=True)
    for split in ("dev", "test"):
        (folder / f"{split}-sw.tsv").write_text(FILES["xnli.tsv"], encoding="utf-8")
    from adapterx.data.sources import DataOptions, load_split
    from adapterx.errors import DataError
    from adapterx.tasks import get_task

    with pytest.raises(DataError) as info:
        load_split(get_task("panx"), "test", "sw", DataOptions(data_dir=tmp_path / "download"), for_eval=True)
    msg = str(info.value)
    assert "test-sw.tsv" in msg and "looks like NLI pairs (TSV)" in msg and "panx reads token<TAB>tag lines" in msg


def test_sniffing_names_each_format_and_leaves_the_unknown_alone(files: dict, tmp_path: Path) -> None:
    assert {name: (sniff(path) or ("?",))[0] for name, path in files.items()} == {
        "panx.tsv": "token<TAB>tag lines", "xnli.tsv": "NLI pairs (TSV)", "stsb.tsv": "STS pairs (TSV)",
        "copa.jsonl": "COPA (JSON lines)", "squad.json": "SQuAD JSON", "ud.conllu": "CoNLL-U",
        "siqa.jsonl": "Social IQa (JSON lines)"}
    unknown = tmp_path / "test-sw.tsv"  # an unlabelled XNLI test file: two sentences, nothing to tell by
    unknown.write_text("Mtu anakula.\tMtu anakula chakula.\n", encoding="utf-8")
    assert sniff(unknown) is None
