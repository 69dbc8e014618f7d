"""Social IQa: the registered task, its Hugging Face row converter and synthetic stand-in, its official files reaching
the pipeline (--train-file / --dev-file / --data FILE|FOLDER), and XTREME-R's XCOPA protocol (SIQA, then English
COPA) as ``adapterx stack siqa xcopa`` with every method."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import run_cli

from adapterx.data.examples import ChoiceExample
from adapterx.data.sources import DataOptions, load_split
from adapterx.errors import DataError
from adapterx.tasks import get_task, hf_rows

LINES = [
    {"context": "Tracy didn't go home that evening and resisted Riley's attacks.",
     "question": "What does Tracy need to do before this?",
     "answerA": "make a new plan", "answerB": "Go home and see Riley", "answerC": "Find somewhere to go"},
    {"context": "Sydney walked past a homeless woman asking for change.", "question": "How would you describe Sydney?",
     "answerA": "sympathetic", "answerB": "like a person who was unable to help", "answerC": "incredulous"},
    {"context": "Sasha protected the patients' rights.", "question": "What will patients want to do next?",
     "answerA": "write new laws", "answerB": "get petitions signed", "answerC": "live longer"},
]


def _official(folder: Path, split: str, labels: str = "3\n1\n2\n") -> Path:
    """``<split>.jsonl`` + ``<split>-labels.lst`` as in socialiqa-train-dev.zip."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{split}.jsonl").write_text("".join(json.dumps(x) + "\n" for x in LINES), encoding="utf-8")
    (folder / f"{split}-labels.lst").write_text(labels, encoding="utf-8")
    return folder / f"{split}.jsonl"


def test_siqa_is_a_registered_three_option_intermediate_task():
    t = get_task("siqa")
    assert (t.kind, t.num_choices, t.metric, t.languages) == ("multiple_choice", 3, "accuracy", ("en",))
    assert t.eval_split == "dev"
    assert t.intermediate and not t.target
    assert t.hf.splits["dev"] == ("siqa", "validation")
    from adapterx.data.hf_sources import get_dataset

    # main still holds social_i_qa.py (no loading under datasets >= 4): the parquet conversion PR is read
    assert (get_dataset("siqa").repo, get_dataset("siqa").revision) == ("allenai/social_i_qa", "refs/pr/3")
    xcopa = get_task("xcopa")
    assert "stack siqa xcopa" in xcopa.notes and "stack siqa xcopa" in xcopa.description
    assert "cannot share" not in xcopa.notes


def test_siqa_row_converts_the_one_based_label():
    row = {"context": "c", "question": "q", "answerA": "a", "answerB": "b", "answerC": "x", "label": "2"}
    assert hf_rows.siqa_row(row, 7) == ChoiceExample("7", "c", "q", ("a", "b", "x"), 1)
    assert hf_rows.siqa_row({**row, "label": "3"}, 0).label == 2
    assert hf_rows.siqa_row({**row, "label": ""}, 0) is None
    with pytest.raises(DataError, match="row 4: label '0' is not 1, 2 or 3"):
        hf_rows.siqa_row({**row, "label": "0"}, 4)


def test_synthetic_siqa_has_three_options():
    ex, prov = load_split(get_task("siqa"), "train", "en", DataOptions(data="synthetic"))
    assert prov.source == "synthetic" and len(ex) == 512
    assert all(len(e.choices) == 3 for e in ex) and {e.label for e in ex} == {0, 1, 2}
    dev, _ = load_split(get_task("siqa"), "dev", "en", DataOptions(default_synthetic=True))
    assert all(len(e.choices) == 3 for e in dev)


def test_official_files_reach_the_task(tmp_path):
    task = get_task("siqa")
    folder = tmp_path / "socialiqa-train-dev"
    train = _official(folder, "train")
    dev = _official(folder, "dev", labels="1\n1\n3\n")
    # --train-file / --dev-file: labels from the sibling <split>-labels.lst
    opts = DataOptions(train_file=train, dev_file=dev)
    ex, prov = load_split(task, "train", "en", opts)
    assert [e.label for e in ex] == [2, 0, 1] and prov.source == f"file:{train}"
    assert ex[0].choices == ("make a new plan", "Go home and see Riley", "Find somewhere to go")
    assert [e.label for e in load_split(task, "dev", "en", opts)[0]] == [0, 0, 2]
    # --data train.jsonl: dev.jsonl beside it selects
    assert [e.label for e in load_split(task, "dev", "en", DataOptions(data=str(train)))[0]] == [0, 0, 2]
    # --data FOLDER: the unzipped download, or an XTREME-style folder holding it
    for root in (folder, tmp_path):
        ex, prov = load_split(task, "train", "en", DataOptions(data=str(root)))
        assert [e.label for e in ex] == [2, 0, 1] and prov.source == f"dir:{root}"
        assert [e.label for e in load_split(task, "dev", "en", DataOptions(data=str(root)))[0]] == [0, 0, 2]
    with pytest.raises(DataError, match="Social IQa has no public labelled test set"):
        load_split(task, "test", "en", DataOptions(data=str(folder)))


def test_train_intermediate_siqa_from_official_files(tmp_path):
    train = _official(tmp_path / "d", "train")
    dev = _official(tmp_path / "d", "dev", labels="1\n1\n3\n")
    res = run_cli("train-intermediate", "siqa", "--model", "tiny", "--method", "adapter", "--max-steps", "2",
                  "--batch-size", "4", "--train-file", str(train), "--dev-file", str(dev),
                  "--output", str(tmp_path / "o"), "--json", "-q")
    assert res.exit_code == 0, res.stderr
    data = json.loads(res.stdout)["run"]["data"]
    assert data["source"] == f"file:{train}" and (data["train_size"], data["dev_size"]) == (3, 3)
    bad = _official(tmp_path / "bad", "train", labels="3\n1\n")
    res = run_cli("train-intermediate", "siqa", "--model", "tiny", "--max-steps", "2", "--train-file", str(bad),
                  "--dev-file", str(dev), "--output", str(tmp_path / "o2"), "-q")
    assert res.exit_code != 0 and not (tmp_path / "o2").exists()
    assert "train.jsonl:3: no label for this example" in " ".join((res.stdout + res.stderr).split())


def test_a_multiple_choice_head_does_not_depend_on_the_number_of_options(tiny):
    """What the xcopa notes say: one logit per (context, option) pair, so SIQA's 3-option head and COPA's 2-option head
    have the same weights; adapters' head config keeps num_choices only to reshape the logits."""
    import torch
    from adapters import AutoAdapterModel
    from transformers import AutoModelForMultipleChoice

    model = AutoAdapterModel.from_pretrained(tiny.path)
    model.add_multiple_choice_head("three", num_choices=3)
    model.add_multiple_choice_head("two", num_choices=2)
    shapes = {n: [p.shape for p in model.heads[n].parameters()] for n in ("three", "two")}
    assert shapes["three"] == shapes["two"] and shapes["two"][-1] == torch.Size([1])  # last: the Linear(h, 1) bias
    assert model.heads["three"].config["num_choices"] == 3
    mc = AutoModelForMultipleChoice.from_pretrained(tiny.path).eval()
    for n in (2, 3):
        ids = torch.randint(5, 100, (4, n, 9))
        assert mc(input_ids=ids, attention_mask=torch.ones_like(ids)).logits.shape == (4, n)


@pytest.mark.parametrize("method", ["adapter", "lora", "full"])
def test_stack_siqa_xcopa_runs_the_xtreme_r_protocol(method, tmp_path):
    out = tmp_path / "xcopa"
    res = run_cli("stack", "siqa", "xcopa", "--model", "tiny", "--method", method, "--max-steps", "3",
                  "--batch-size", "4", "--langs", "en,sw", "--output", str(out), "--json", "-q")
    assert res.exit_code == 0, res.stderr
    body = json.loads(res.stdout)
    assert body["run"]["chain"] == ["siqa", "xcopa"]
    assert body["run"]["composition"]["modules"][0]["task"] == "siqa"
    assert set(body["metrics"]["eval"]["xcopa"]["scores"]) == {"en", "sw"}
    inter = json.loads((tmp_path / "xcopa.intermediate-siqa" / "run.json").read_text())
    assert inter["task"] == "siqa" and inter["data"]["source"] == "synthetic"
