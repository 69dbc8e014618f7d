"""HellaSwag, Cosmos QA and CommonsenseQA: readers of their official files (small hand-written files in each format:
CRLF, BOM, trailing blank lines, unlabelled test files, malformed records), the same examples as the Hugging Face row
converters give for the same record, the folder layout (--data FOLDER), --data FILE / --train-file / --dev-file
reaching the task, and a train-intermediate run per task on the files."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from conftest import run_cli

from adapterx.data.examples import ChoiceExample
from adapterx.data.layout import find_split_files, read_split
from adapterx.data.readers import has_labels, read_commonsenseqa, read_cosmosqa, read_hellaswag
from adapterx.data.sources import DataOptions, load_split
from adapterx.errors import DataError
from adapterx.tasks import get_task, hf_rows


def _write(path: Path, text: str, bom: bool = False, crlf: bool = False) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if crlf:
        text = text.replace("\r\n", "\n").replace("\n", "\r\n")
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode("utf-8"))
    return path


def _jsonl(records: list[dict]) -> str:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)


def _train(task: str, out: Path, *data: str) -> dict:
    res = run_cli("train-intermediate", task, "--model", "tiny", *data, "--max-steps", "2", "--batch-size", "2",
                  "-q", "--output", str(out))
    assert res.exit_code == 0, res.stdout + res.stderr
    return json.loads((out / "run.json").read_text())


# ---------------------------------------------------------------------------------------------------------------
# HellaSwag: rowanz/hellaswag data/hellaswag_{train,val,test}.jsonl


def _hs(ind: int, ctx_a: str, ctx_b: str, endings: list[str], label: int | None, split: str = "train") -> dict:
    rec = {"ind": ind, "activity_label": "Removing ice from car", "ctx_a": ctx_a, "ctx_b": ctx_b,
           "ctx": f"{ctx_a} {ctx_b}", "endings": endings, "source_id": f"activitynet~v_{ind}", "split": split,
           "split_type": "indomain"}
    if label is not None:
        rec["label"] = label
    return rec


HELLASWAG = [
    _hs(4, "A man is sitting on a roof.", "he",
        ["is using wrap to wrap a pair of skis.", "is ripping level tiles off.", "is holding a rubik's cube.",
         "starts pulling up roofing on a roof."], 3),
    _hs(8, 'Then, the man writes over the snow covering the window of a car, and a woman wearing "winter" clothes '
           "smiles.", "then",
        [", the man adds wax to the windshield and cuts it.",
         (", a person board a ski lift, while two men supporting the head of the person wearing winter clothes snow "
          "as the we girls sled."),
         ", the man puts on a christmas coat, knitted with netting.",
         ", the man continues removing the snow on his car."], 3),
    _hs(12, "A woman is outside with a bucket and a dog.", "the dog",
        ["is running around trying to avoid a bath.", "gets into a bath tub with the dog.",
         "gets the dog wet, then it runs away again.", "gets into the bath tub with the dog."], 0),
    _hs(20, "Café owner wipes the counter,", "she",
        ["pours coffee — «très bien».", "leaves.", "sits.", "sings."], 1),
]


@pytest.mark.parametrize("bom", [False, True])
@pytest.mark.parametrize("crlf", [False, True])
def test_hellaswag_official_jsonl(tmp_path: Path, crlf: bool, bom: bool) -> None:
    path = _write(tmp_path / "hellaswag_train.jsonl", _jsonl(HELLASWAG) + "\n\n", bom=bom, crlf=crlf)
    ex = read_hellaswag(path)
    assert [e.id for e in ex] == ["4", "8", "12", "20"]  # ind
    assert [e.label for e in ex] == [3, 3, 0, 1]
    assert ex[0] == ChoiceExample("4", "A man is sitting on a roof. he", "", tuple(HELLASWAG[0]["endings"]), 3)
    assert ex[1].context.endswith('"winter" clothes smiles. then')
    assert ex[3].choices[0] == "pours coffee — «très bien»."
    assert has_labels(ex)


def test_hellaswag_test_file_is_unlabelled_and_ctx_rebuilt(tmp_path: Path) -> None:
    test = [{k: v for k, v in r.items() if k not in ("ctx", "label")} for r in HELLASWAG[:2]]  # no ctx: ctx_a + " " + ctx_b
    ex = read_hellaswag(_write(tmp_path / "hellaswag_test.jsonl", _jsonl(test)))
    assert [e.label for e in ex] == [None, None] and not has_labels(ex)
    assert ex[0].context == "A man is sitting on a roof. he"
    # labels as the Hugging Face copy stores them (digit strings) are read too; "" / -1 mean unlabelled
    hf_style = [dict(HELLASWAG[0], label="2"), dict(HELLASWAG[1], label="0")]
    assert [e.label for e in read_hellaswag(_write(tmp_path / "hf.jsonl", _jsonl(hf_style)))] == [2, 0]
    blank = [dict(HELLASWAG[0], label=""), dict(HELLASWAG[1], label=-1)]
    assert [e.label for e in read_hellaswag(_write(tmp_path / "blank.jsonl", _jsonl(blank)))] == [None, None]


def test_hellaswag_errors_name_file_and_line(tmp_path: Path) -> None:
    def bad(name: str, rec: dict) -> Path:
        return _write(tmp_path / name, _jsonl([HELLASWAG[0], rec]), crlf=True)

    with pytest.raises(DataError, match=r"three\.jsonl:2: 3 endings, the task has 4 options"):
        read_hellaswag(bad("three.jsonl", dict(HELLASWAG[1], endings=HELLASWAG[1]["endings"][:3])))
    with pytest.raises(DataError, match=r"range\.jsonl:2: label 4 must be an option index 0\.\.3"):
        read_hellaswag(bad("range.jsonl", dict(HELLASWAG[1], label=4)))
    with pytest.raises(DataError, match=r"bool\.jsonl:2: label True must be an option index"):
        read_hellaswag(bad("bool.jsonl", dict(HELLASWAG[1], label=True)))
    with pytest.raises(DataError, match=r"noend\.jsonl:2: missing key endings"):
        read_hellaswag(bad("noend.jsonl", {k: v for k, v in HELLASWAG[1].items() if k != "endings"}))
    with pytest.raises(DataError, match=r"noctx\.jsonl:2: missing or non-string key ctx \(or ctx_a and ctx_b\)"):
        read_hellaswag(bad("noctx.jsonl", {k: v for k, v in HELLASWAG[1].items() if k not in ("ctx", "ctx_b")}))
    with pytest.raises(DataError, match=r"mixed\.jsonl:2: no label but other lines have one"):
        read_hellaswag(bad("mixed.jsonl", {k: v for k, v in HELLASWAG[1].items() if k != "label"}))
    with pytest.raises(DataError, match=r"json\.jsonl:2: invalid JSON"):
        read_hellaswag(_write(tmp_path / "json.jsonl", _jsonl(HELLASWAG[:1]) + '{"ind": 1,\n'))
    # a task configured with another option count
    with pytest.raises(DataError, match=r"five\.jsonl:1: 4 endings, the task has 5 options"):
        read_hellaswag(_write(tmp_path / "five.jsonl", _jsonl(HELLASWAG)), num_choices=5)


def test_hellaswag_file_and_hf_row_give_the_same_examples(tmp_path: Path) -> None:
    ex = read_hellaswag(_write(tmp_path / "hellaswag_val.jsonl", _jsonl(HELLASWAG)))
    for i, (rec, e) in enumerate(zip(HELLASWAG, ex, strict=True)):
        # Rowan/hellaswag: the same fields, label as a string
        row = {**rec, "label": str(rec["label"])}
        hf = hf_rows.hellaswag_row(row, i)
        assert hf == e and e.id == str(rec["ind"])  # ids too: predictions are named alike


# ---------------------------------------------------------------------------------------------------------------
# Cosmos QA: wilburOne/cosmosqa data/{train,valid}.csv (and .jsonl), test.jsonl without labels

COSMOS = [
    {"id": "3Q9SPIIRWJKVQ8244310E8TUS6YWAC##34V1S5K3GTZMDUBNBIGY93FLDOB690##A1S1K7134S2VUC##Blog_1024400##q1_a1##"
           "3XU9MCX6VQQG7YPLCSAFDPQNH4GR20",
     "context": "Good Old War and person L : I saw both of these bands Wednesday night, and they both blew me away. "
                "seriously. Good Old War is acoustic and makes me smile.",
     "question": "In the future , will this person go to see other bands play ?",
     "answer0": "None of the above choices .", "answer1": "This person likes music and likes to see the show , they "
     "will see other bands play .", "answer2": "This person only likes Good Old War and Person L , no other bands .",
     "answer3": "Other Bands is not on tour and this person can not see them .", "label": 1},
    {"id": "cosmos-2",
     "context": 'She said "no, thanks", then left.\nThe next day, she came back, with a cake.',
     "question": "Why did she come back , with a cake ?",
     "answer0": "To apologise, politely.", "answer1": 'She was "hungry".', "answer2": "None of the above choices .",
     "answer3": "She forgot her keys.", "label": 0},
    {"id": "cosmos-3", "context": "Il pleuvait à Zürich ; on est restés.", "question": "What may happen next ?",
     "answer0": "a", "answer1": "b", "answer2": "c", "answer3": "d", "label": 3},
    {"id": "cosmos-4", "context": "We drove, and drove.", "question": "Why ?",
     "answer0": "w", "answer1": "x", "answer2": "y", "answer3": "z", "label": 2},
]
COSMOS_FIELDS = ["id", "context", "question", "answer0", "answer1", "answer2", "answer3", "label"]


def _cosmos_csv(records: list[dict], fields: list[str] = COSMOS_FIELDS) -> str:
    """As the official CSV files are written: a header, minimal quoting (commas, quotes, line breaks)."""
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n", extrasaction="ignore")
    w.writeheader()
    w.writerows(records)
    return buf.getvalue()


@pytest.mark.parametrize("bom", [False, True])
@pytest.mark.parametrize("crlf", [False, True])
def test_cosmosqa_official_csv(tmp_path: Path, crlf: bool, bom: bool) -> None:
    text = _cosmos_csv(COSMOS)
    assert '"She said ""no, thanks"", then left.\n' in text  # quoted: comma, doubled quotes, a line break
    path = _write(tmp_path / "train.csv", text + "\n\n", bom=bom, crlf=crlf)
    ex = read_cosmosqa(path)
    assert [e.id for e in ex] == [r["id"] for r in COSMOS]
    assert [e.label for e in ex] == [1, 0, 3, 2]
    # a CRLF inside a quoted field reads as "\n", as Python's text mode (and the Hugging Face loader) read it
    assert ex[1].context == COSMOS[1]["context"]
    assert ex[1].choices == ("To apologise, politely.", 'She was "hungry".', "None of the above choices .",
                             "She forgot her keys.")
    assert ex[2] == ChoiceExample("cosmos-3", COSMOS[2]["context"], COSMOS[2]["question"], ("a", "b", "c", "d"), 3)


def test_cosmosqa_jsonl_column_order_and_unlabelled_test(tmp_path: Path) -> None:
    from_csv = read_cosmosqa(_write(tmp_path / "valid.csv", _cosmos_csv(COSMOS)))
    assert read_cosmosqa(_write(tmp_path / "valid.jsonl", _jsonl(COSMOS), crlf=True, bom=True)) == from_csv
    # columns by name, in any order, header names in any case
    shuffled = ["label", "answer3", "question", "ID", "answer1", "Context", "answer0", "answer2"]
    text = _cosmos_csv([{k.lower(): v for k, v in r.items()} for r in COSMOS], [f.lower() for f in shuffled])
    text = ",".join(shuffled) + text[text.index("\n"):]
    assert read_cosmosqa(_write(tmp_path / "shuffled.csv", text)) == from_csv
    test = [{k: v for k, v in r.items() if k != "label"} for r in COSMOS]
    ex = read_cosmosqa(_write(tmp_path / "test.jsonl", _jsonl(test)))
    assert [e.label for e in ex] == [None] * 4 and not has_labels(ex)
    ex = read_cosmosqa(_write(tmp_path / "test.csv", _cosmos_csv(test, COSMOS_FIELDS[:-1])))
    assert [e.label for e in ex] == [None] * 4 and ex[1].context == COSMOS[1]["context"]


def test_cosmosqa_errors_name_file_and_line(tmp_path: Path) -> None:
    five = COSMOS_FIELDS[:-1] + ["answer4", "label"]
    with pytest.raises(DataError, match=r"five\.csv:1: 5 options \(answer0\.\.answer4\), the task has 4"):
        read_cosmosqa(_write(tmp_path / "five.csv", _cosmos_csv([dict(r, answer4="e") for r in COSMOS], five)))
    with pytest.raises(DataError, match=r"five\.jsonl:2: 5 options"):
        read_cosmosqa(_write(tmp_path / "five.jsonl", _jsonl([COSMOS[0], dict(COSMOS[1], answer4="e")])))
    no3 = [f for f in COSMOS_FIELDS if f != "answer3"]
    with pytest.raises(DataError, match=r"no3\.csv:1: the first row is not a Cosmos QA header \(missing column\(s\) "
                                        r"answer3\)"):
        read_cosmosqa(_write(tmp_path / "no3.csv", _cosmos_csv(COSMOS, no3)))
    with pytest.raises(DataError, match=r"nohead\.csv:1: the first row is not a Cosmos QA header"):
        read_cosmosqa(_write(tmp_path / "nohead.csv", _cosmos_csv(COSMOS).split("\n", 1)[1]))
    # line numbers count physical lines: record 2 spans lines 3-4, so record 3 starts on line 5
    rows = [dict(r) for r in COSMOS]
    rows[2]["label"] = 4
    with pytest.raises(DataError, match=r"range\.csv:5: label '4' must be an option index 0\.\.3"):
        read_cosmosqa(_write(tmp_path / "range.csv", _cosmos_csv(rows), crlf=True))
    with pytest.raises(DataError, match=r"range\.jsonl:3: label 4 must be an option index"):
        read_cosmosqa(_write(tmp_path / "range.jsonl", _jsonl(rows)))
    short = _cosmos_csv(COSMOS[:1]) + "cosmos-9,ctx,q,a,b,c\n"
    with pytest.raises(DataError, match=r"short\.csv:3: 6 fields, the header has 8"):
        read_cosmosqa(_write(tmp_path / "short.csv", short))
    cut = _cosmos_csv(COSMOS[:1]) + 'cosmos-9,"an open quote,q,a,b,c,d,1\n'
    with pytest.raises(DataError, match=r"cut\.csv:3: malformed CSV .*close every quote"):
        read_cosmosqa(_write(tmp_path / "cut.csv", cut))
    with pytest.raises(DataError, match=r"noq\.jsonl:1: missing or non-string key\(s\) question"):
        read_cosmosqa(_write(tmp_path / "noq.jsonl", _jsonl([{k: v for k, v in COSMOS[0].items() if k != "question"}])))
    mixed = [COSMOS[0], {k: v for k, v in COSMOS[1].items() if k != "label"}]
    with pytest.raises(DataError, match=r"mixed\.csv:3: no label but other lines have one"):
        read_cosmosqa(_write(tmp_path / "mixed.csv", _cosmos_csv(mixed)))
    with pytest.raises(DataError, match=r"header\.csv: a header and no examples"):
        read_cosmosqa(_write(tmp_path / "header.csv", ",".join(COSMOS_FIELDS) + "\r\n\r\n"))


def test_cosmosqa_file_and_hf_row_give_the_same_examples(tmp_path: Path) -> None:
    for name, text in (("train.csv", _cosmos_csv(COSMOS)), ("train.jsonl", _jsonl(COSMOS))):
        ex = read_cosmosqa(_write(tmp_path / name, text, crlf=True))
        for i, (rec, e) in enumerate(zip(COSMOS, ex, strict=True)):
            # allenai/cosmos_qa: id, context, question, answer0..answer3, label (int32)
            assert hf_rows.cosmosqa_row(dict(rec), i) == e and e.id == rec["id"]


# ---------------------------------------------------------------------------------------------------------------
# CommonsenseQA: train_rand_split.jsonl, dev_rand_split.jsonl, test_rand_split_no_answers.jsonl


def _csqa(qid: str, stem: str, texts: list[str], key: str | None, labels: str = "ABCDE", concept: str = "x") -> dict:
    rec: dict = {"id": qid, "question": {"question_concept": concept, "stem": stem,
                                         "choices": [{"label": lab, "text": t} for lab, t in zip(labels, texts)]}}
    if key is not None:
        rec = {"answerKey": key, **rec}
    return rec


CSQA = [
    _csqa("075e483d21c29a511267ef62bedc0461", "The sanctions against the school were a punishing blow, and they "
          "seemed to what the efforts the school had made to change?",
          ["ignore", "enforce", "authoritarian", "yell at", "avoid"], "A", concept="punishing"),
    _csqa("61fe6e879ff18686d7552425a36344c8", "Sammy wanted to go to where the people were.  Where might he go?",
          ["race track", "populated areas", "the desert", "apartment", "roadblock"], "B", concept="people"),
    # choices not in A-E order: the label is answerKey's position among the file's labels
    _csqa("4c1cb0e95b99f72d55c068ba0255c54d", "To locate a choker not located in a jewelry box or boutique where "
          "would you go?", ["jewelry store", "neck", "jewlery box", "jewelry box", "boutique"], "A", labels="EDCBA"),
    _csqa("02e821a3e53cb320790950aab4489e85", "Où est le café ?", ["ici", "là", "là-bas", "partout", "nulle part"], "E"),
]


@pytest.mark.parametrize("bom", [False, True])
@pytest.mark.parametrize("crlf", [False, True])
def test_commonsenseqa_official_jsonl(tmp_path: Path, crlf: bool, bom: bool) -> None:
    ex = read_commonsenseqa(_write(tmp_path / "dev_rand_split.jsonl", _jsonl(CSQA) + "\n \n", bom=bom, crlf=crlf))
    assert [e.id for e in ex] == [r["id"] for r in CSQA]
    assert [e.label for e in ex] == [0, 1, 4, 4]
    assert ex[1] == ChoiceExample(CSQA[1]["id"], "", CSQA[1]["question"]["stem"],
                                  ("race track", "populated areas", "the desert", "apartment", "roadblock"), 1)
    assert ex[2].choices[ex[2].label] == "boutique"  # answerKey A is the last choice here
    assert ex[3].question == "Où est le café ?"


def test_commonsenseqa_test_file_and_hf_layout(tmp_path: Path) -> None:
    test = [{k: v for k, v in r.items() if k != "answerKey"} for r in CSQA]
    ex = read_commonsenseqa(_write(tmp_path / "test_rand_split_no_answers.jsonl", _jsonl(test)))
    assert [e.label for e in ex] == [None] * 4 and not has_labels(ex)
    # lines exported from the Hugging Face copy (question: stem; choices: {label: [...], text: [...]})
    hf = [_hf_csqa(r) for r in CSQA]
    assert read_commonsenseqa(_write(tmp_path / "hf.jsonl", _jsonl(hf))) == read_commonsenseqa(
        _write(tmp_path / "official.jsonl", _jsonl(CSQA)))


def test_commonsenseqa_errors_name_file_and_line(tmp_path: Path) -> None:
    def bad(name: str, rec: dict) -> Path:
        return _write(tmp_path / name, _jsonl([CSQA[0], rec]), crlf=True)

    with pytest.raises(DataError, match=r"four\.jsonl:2: 4 choices, the task has 5 options"):
        read_commonsenseqa(bad("four.jsonl", _csqa("q", "s", ["a", "b", "c", "d"], "A")))
    with pytest.raises(DataError, match=r"key\.jsonl:2: answerKey 'F' is not one of the choices' labels "
                                        r"\(A, B, C, D, E\)"):
        read_commonsenseqa(bad("key.jsonl", _csqa("q", "s", list("abcde"), "F")))
    with pytest.raises(DataError, match=r"lower\.jsonl:2: answerKey 'a' is not one of"):
        read_commonsenseqa(bad("lower.jsonl", _csqa("q", "s", list("abcde"), "a")))
    with pytest.raises(DataError, match=r"dup\.jsonl:2: the choices' labels A, B, C, D, A repeat"):
        read_commonsenseqa(bad("dup.jsonl", _csqa("q", "s", list("abcde"), "A", labels="ABCDA")))
    nostem = _csqa("q", "s", list("abcde"), "A")
    del nostem["question"]["stem"]
    with pytest.raises(DataError, match=r"nostem\.jsonl:2: missing or non-string key question\.stem"):
        read_commonsenseqa(bad("nostem.jsonl", nostem))
    with pytest.raises(DataError, match=r"noq\.jsonl:2: missing key question"):
        read_commonsenseqa(bad("noq.jsonl", {"id": "q", "answerKey": "A"}))
    badchoice = _csqa("q", "s", list("abcde"), "A")
    badchoice["question"]["choices"][2] = {"label": "C"}
    with pytest.raises(DataError, match=r"choice\.jsonl:2: question\.choices must be a list"):
        read_commonsenseqa(bad("choice.jsonl", badchoice))
    with pytest.raises(DataError, match=r"mixed\.jsonl:2: no answerKey but other lines have one"):
        read_commonsenseqa(bad("mixed.jsonl", _csqa("q", "s", list("abcde"), None)))
    with pytest.raises(DataError, match=r"six\.jsonl:1: 5 choices, the task has 4 options"):
        read_commonsenseqa(_write(tmp_path / "six.jsonl", _jsonl(CSQA)), num_choices=4)


def _hf_csqa(rec: dict) -> dict:
    """The tau/commonsense_qa row of an official record."""
    q = rec["question"]
    return {"id": rec["id"], "question": q["stem"], "question_concept": q["question_concept"],
            "choices": {"label": [c["label"] for c in q["choices"]], "text": [c["text"] for c in q["choices"]]},
            "answerKey": rec.get("answerKey", "")}


def test_commonsenseqa_file_and_hf_row_give_the_same_examples(tmp_path: Path) -> None:
    ex = read_commonsenseqa(_write(tmp_path / "train_rand_split.jsonl", _jsonl(CSQA)))
    for i, (rec, e) in enumerate(zip(CSQA, ex, strict=True)):
        hf = hf_rows.commonsenseqa_row(_hf_csqa(rec), i)
        assert hf == e and e.id == rec["id"]


# ---------------------------------------------------------------------------------------------------------------
# folder layout, --data FILE / FOLDER, --train-file / --dev-file


def _hellaswag_files(folder: Path) -> tuple[Path, Path]:
    train = _write(folder / "hellaswag_train.jsonl", _jsonl(HELLASWAG))
    dev = _write(folder / "hellaswag_val.jsonl", _jsonl(HELLASWAG[:2][::-1]))
    _write(folder / "hellaswag_test.jsonl", _jsonl([{k: v for k, v in r.items() if k != "label"} for r in HELLASWAG]))
    return train, dev


def _cosmos_files(folder: Path) -> tuple[Path, Path]:
    train = _write(folder / "train.csv", _cosmos_csv(COSMOS), crlf=True)
    dev = _write(folder / "valid.csv", _cosmos_csv(COSMOS[1:3]), crlf=True)
    _write(folder / "test.jsonl", _jsonl([{k: v for k, v in r.items() if k != "label"} for r in COSMOS]))
    return train, dev


def _csqa_files(folder: Path) -> tuple[Path, Path]:
    train = _write(folder / "train_rand_split.jsonl", _jsonl(CSQA))
    dev = _write(folder / "dev_rand_split.jsonl", _jsonl(CSQA[2:]))
    _write(folder / "test_rand_split_no_answers.jsonl", _jsonl([{k: v for k, v in r.items() if k != "answerKey"}
                                                                for r in CSQA]))
    return train, dev


FILES = {"hellaswag": _hellaswag_files, "cosmosqa": _cosmos_files, "commonsenseqa": _csqa_files}
DEV_LABELS = {"hellaswag": [3, 3], "cosmosqa": [0, 3], "commonsenseqa": [4, 4]}


def test_layout_finds_the_official_file_names(tmp_path: Path) -> None:
    # as the GitHub repositories hold them (data/), in a folder named after the task, or the folder itself
    _hellaswag_files(tmp_path / "repo" / "data")
    _cosmos_files(tmp_path / "cosmosqa")
    _csqa_files(tmp_path / "flat")
    assert find_split_files("hellaswag", tmp_path / "repo", "dev") == {"en": tmp_path / "repo/data/hellaswag_val.jsonl"}
    assert find_split_files("hellaswag", tmp_path / "repo" / "data", "train") == {
        "en": tmp_path / "repo/data/hellaswag_train.jsonl"}
    assert find_split_files("cosmos_qa", tmp_path, "validation") == {"en": tmp_path / "cosmosqa/valid.csv"}
    assert find_split_files("csqa", tmp_path / "flat", "test") == {
        "en": tmp_path / "flat/test_rand_split_no_answers.jsonl"}
    assert [e.label for e in read_split("hellaswag", tmp_path / "repo", "dev", "en")] == [3, 3]
    assert [e.label for e in read_split("cosmosqa", tmp_path, "dev", "en")] == [0, 3]
    assert [e.label for e in read_split("commonsenseqa", tmp_path / "flat", "train", "en")] == [0, 1, 4, 4]
    assert not has_labels(read_split("cosmosqa", tmp_path, "test", "en"))  # unlabelled test files: label None
    # csv before jsonl where a folder holds both
    _write(tmp_path / "cosmosqa" / "valid.jsonl", _jsonl(COSMOS))
    assert find_split_files("cosmosqa", tmp_path, "dev")["en"].name == "valid.csv"
    for task in FILES:
        assert get_task(task).eval_split == "dev"
    with pytest.raises(DataError, match=r"no hellaswag train data for language 'en': expected .*hellaswag_train"):
        read_split("hellaswag", tmp_path / "flat", "train", "en")


@pytest.mark.parametrize("task", list(FILES))
def test_official_files_reach_the_task(tmp_path: Path, task: str) -> None:
    spec = get_task(task)
    folder = tmp_path / "data"
    train, dev = FILES[task](folder)
    n_train = len(read_split(task, folder, "train", "en"))
    # --train-file / --dev-file
    opts = DataOptions(train_file=train, dev_file=dev)
    ex, prov = load_split(spec, "train", "en", opts)
    assert prov.source == f"file:{train}" and len(ex) == n_train and len(ex[0].choices) == spec.num_choices
    ex, prov = load_split(spec, "dev", "en", opts)
    assert prov.source == f"file:{dev}" and [e.label for e in ex] == DEV_LABELS[task]
    # --data TRAIN_FILE: the official dev file beside it selects
    ex, prov = load_split(spec, "dev", "en", DataOptions(data=str(train)))
    assert prov.source == f"file:{dev}" and [e.label for e in ex] == DEV_LABELS[task]
    # --data FOLDER: the folder itself, or one holding it as data/
    for root in (folder, tmp_path):
        ex, prov = load_split(spec, "dev", "en", DataOptions(data=str(root)))
        assert prov.source == f"dir:{root}" and [e.label for e in ex] == DEV_LABELS[task]
        assert len(load_split(spec, "train", "en", DataOptions(data=str(root)))[0]) == n_train


def test_train_intermediate_hellaswag_from_official_files(tmp_path: Path) -> None:
    train, dev = _hellaswag_files(tmp_path / "hs")
    run = _train("hellaswag", tmp_path / "o", "--train-file", str(train), "--dev-file", str(dev))
    assert run["task"] == "hellaswag"
    assert run["data"] == {"source": f"file:{train}", "train_size": 4, "dev_source": f"file:{dev}", "dev_size": 2}


def test_train_intermediate_cosmosqa_from_a_folder(tmp_path: Path) -> None:
    _cosmos_files(tmp_path / "cosmosqa" / "data")
    run = _train("cosmosqa", tmp_path / "o", "--data", str(tmp_path / "cosmosqa"))
    source = f"dir:{tmp_path / 'cosmosqa'}"
    assert run["data"] == {"source": source, "train_size": 4, "dev_source": source, "dev_size": 2}


def test_train_intermediate_commonsenseqa_from_official_files(tmp_path: Path) -> None:
    train, dev = _csqa_files(tmp_path / "csqa")
    run = _train("commonsenseqa", tmp_path / "o", "--data", str(train))
    assert run["data"] == {"source": f"file:{train}", "train_size": 4, "dev_source": f"file:{dev}", "dev_size": 2}
    # a broken file stops the run before training, naming the file and line
    bad = _write(tmp_path / "bad" / "train_rand_split.jsonl", _jsonl([CSQA[0], _csqa("q", "s", list("abcde"), "F")]))
    res = run_cli("train-intermediate", "commonsenseqa", "--model", "tiny", "--max-steps", "2", "--train-file",
                  str(bad), "--dev-file", str(dev), "--output", str(tmp_path / "o2"), "-q")
    assert res.exit_code != 0 and not (tmp_path / "o2").exists()
    assert "train_rand_split.jsonl:2: answerKey 'F'" in " ".join((res.stdout + res.stderr).split())
