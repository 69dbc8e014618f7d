"""XTREME(-R)'s submission layout (issue 17): ``export xtreme``, ``score``, prediction without gold, BUCC test mining
with dev's threshold. Data files are synthetic examples written in the official formats (tests/xtreme_files.py)."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from conftest import run_cli
from xtreme_files import N, write_task

from adapterx.results import xtreme_format as xf

# task -> (languages, split of its evaluation files)
EVAL_TASKS = {
    "xnli": (("en", "sw"), "test"),
    "pawsx": (("en", "de"), "test"),
    "xcopa": (("sw", "et"), "test"),
    "udpos": (("en", "sw"), "test"),
    "panx": (("en", "sw"), "test"),
    "xquad": (("en", "de"), "test"),
    "mlqa": (("en", "de"), "test"),
    "tydiqa": (("en", "sw"), "dev"),
}
RETRIEVAL_TASKS = {"tatoeba": ("de", "sw"), "bucc": ("de", "sw")}


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A labelled XTREME-style data folder for every task (BUCC: dev and test, both with gold)."""
    root = tmp_path_factory.mktemp("xtreme-data")
    for task, (langs, split) in EVAL_TASKS.items():
        for lang in langs:
            write_task(root, task, lang, split)
    for task, langs in RETRIEVAL_TASKS.items():
        for lang in langs:
            for split in (("dev", "test") if task == "bucc" else ("test",)):
                write_task(root, task, lang, split)
    return root


def _json(res) -> dict:
    assert res.exit_code == 0, res.stderr
    return json.loads(res.stdout)


def _evaluate(task: str, data: Path, *extra: str) -> dict:
    if task in RETRIEVAL_TASKS:
        split = ("--split", "test") if task == "bucc" else ()
        return _json(run_cli("retrieve", task, "--module", "none", "--model", "tiny", "--data-dir", str(data),
                             *split, "--json", *extra))
    langs, split = EVAL_TASKS[task]
    return _json(run_cli("eval", task, "--module", "none", "--model", "tiny", "--data-dir", str(data), "--split", split,
                         "--langs", ",".join(langs), "--max-length", "64", "--doc-stride", "16", "--json", *extra))


# --------------------------------------------------------------------------------------------------------------
# layout


@pytest.mark.parametrize("task,expected", [
    ("xnli", "xnli/test-sw.tsv"), ("pawsx", "pawsx/test-sw.tsv"), ("xcopa", "xcopa/test-sw.jsonl"),
    ("udpos", "udpos/test-sw.tsv"), ("panx", "panx/test-sw.tsv"), ("xquad", "xquad/test-sw.json"),
    ("mlqa", "mlqa/test-sw.json"), ("tydiqa", "tydiqa/test-sw.json"), ("tatoeba", "tatoeba/test-sw.tsv"),
    ("bucc", "bucc2018/test-sw.tsv"), ("bucc2018", "bucc2018/test-sw.tsv"),
])
def test_layout_file_names(task, expected, tmp_path):
    assert xf.file_path(tmp_path, task, "sw") == tmp_path / expected


def test_layout_formats_are_what_evaluate_py_reads(tmp_path):
    # Shapes of google-research/xtreme's mock_test_data: one label / tag / index per line, blank line between
    # sentences, src<TAB>en pairs, {"label": i} lines, a {qid: text} dict.
    files = {
        "xnli": (["entailment", "contradiction"], "entailment\ncontradiction\n"),
        "pawsx": (["1", "0"], "1\n0\n"),
        "udpos": ([["PRON", "AUX"], ["PUNCT"]], "PRON\nAUX\n\nPUNCT\n\n"),
        "tatoeba": ([367, 258], "367\n258\n"),
        "bucc": ([("de-000413461", "en-000091985")], "de-000413461\ten-000091985\n"),
        "xcopa": ([0, 1], '{"label": 0}\n{"label": 1}\n'),
    }
    for task, (preds, text) in files.items():
        path = xf.write_file(xf.file_path(tmp_path, task, "de"), task, preds)
        assert path.read_text(encoding="utf-8") == text, task
        assert xf.read_file(path, task) == preds
    qa = xf.write_file(xf.file_path(tmp_path, "mlqa", "de"), "mlqa", {"c076d4b0": "3050 und 3350"})
    assert json.loads(qa.read_text(encoding="utf-8")) == {"c076d4b0": "3050 und 3350"}
    assert xf.tasks_in(tmp_path) == ["xnli", "pawsx", "xcopa", "udpos", "mlqa", "tatoeba", "bucc"]


# --------------------------------------------------------------------------------------------------------------
# round trip: eval -> export -> score gives the scores eval printed


@pytest.mark.parametrize("task", [*EVAL_TASKS, *RETRIEVAL_TASKS])
def test_eval_export_score_round_trip(task, data, tmp_path):
    preds, sub = tmp_path / "preds", tmp_path / "submission"
    ev = _evaluate(task, data, "--save-predictions", str(preds), "--xtreme-out", str(sub))
    assert ev["scores"] and not ev.get("unscored")
    t = xf.xtreme_task(task)
    for lang in ev["scores"]:
        assert xf.file_path(sub, task, lang).is_file()
    meta = json.loads((sub / "adapterx_export.json").read_text())
    assert meta["seqeval"] and set(meta["tasks"][task]) == set(ev["scores"])
    # export from the predictions folder writes the same files as --xtreme-out
    again = tmp_path / "again"
    assert run_cli("export", "xtreme", str(preds), "--to", str(again)).exit_code == 0
    for lang in ev["scores"]:
        assert xf.file_path(again, task, lang).read_bytes() == xf.file_path(sub, task, lang).read_bytes()
    # both layouts score to exactly what eval printed
    for folder in (sub, preds):
        scored = _json(run_cli("score", str(folder), "--gold", str(data), "--json"))
        assert scored[task]["scores"] == ev["scores"], (folder, t)
        assert scored[task]["average"] == ev["average"]
        assert scored[task]["low_resource_average"] == ev["low_resource_average"]


def test_perfect_predictions_score_100_so_the_lines_are_in_file_order(data, tmp_path):
    """Predictions equal to the gold, written in a shuffled record order: the export puts each on its example's line."""
    from adapterx.data import layout
    from adapterx.tasks import get_task

    preds = tmp_path / "preds"
    rng = random.Random(0)
    for task, (langs, split) in EVAL_TASKS.items():
        for lang in langs:
            examples = layout.read_split(get_task(task).layout, data, split, lang)
            recs = []
            for ex in examples:
                gold = ex.tags if hasattr(ex, "tags") else ex.answers[0].text if hasattr(ex, "answers") else ex.label
                recs.append({"id": ex.id, "prediction": list(gold) if isinstance(gold, tuple) else gold})
            rng.shuffle(recs)
            (preds / task).mkdir(parents=True, exist_ok=True)
            (preds / task / f"{lang}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in recs))
        (preds / task / "manifest.json").write_text(json.dumps({"split": split}))  # what adapterx writes beside them
    sub = tmp_path / "sub"
    assert run_cli("export", "xtreme", str(preds), "--to", str(sub)).exit_code == 0
    scored = _json(run_cli("score", str(sub), "--gold", str(data), "--json"))
    assert set(scored) == set(EVAL_TASKS)
    for task, ev in scored.items():
        for lang, scores in ev["scores"].items():
            assert scores[ev["metric"]] == pytest.approx(100.0), (task, lang, scores)


# --------------------------------------------------------------------------------------------------------------
# prediction without gold


@pytest.mark.parametrize("task", list(EVAL_TASKS))
def test_unlabelled_test_file_gives_a_complete_submission_file(task, tmp_path):
    _, split = EVAL_TASKS[task]
    lang = "de" if task != "xcopa" else "et"
    src = write_task(tmp_path / "data", task, lang, split, labelled=False)
    sub = tmp_path / "sub"
    base = ("eval", task, "--module", "none", "--model", "tiny", "--data-dir", str(tmp_path / "data"),
            "--split", split, "--max-length", "64", "--doc-stride", "16")
    refused = run_cli(*base)
    assert refused.exit_code == 2 and "without gold labels" in refused.stderr and "--xtreme-out" in refused.stderr
    res = run_cli(*base, "--xtreme-out", str(sub))
    assert res.exit_code == 0, res.stderr
    assert "no score" in res.stdout and "have no gold labels" in res.stdout
    ev = _json(run_cli(*base, "--xtreme-out", str(sub), "--json"))
    assert ev["scores"] == {} and ev["unscored"] == [lang] and ev["average"] is None
    got = xf.read_file(xf.file_path(sub, task, lang), task)
    assert len(got) == N  # one prediction per example of the file, labels or not
    if task in ("udpos", "panx"):  # one tag per token
        tokens = [line for line in src.read_text().split("\n\n") if line.strip()]
        assert [len(s) for s in got] == [len(s.strip().split("\n")) for s in tokens]


def test_bucc_test_without_gold_is_mined_with_the_dev_threshold(tmp_path):
    data = tmp_path / "data"
    write_task(data, "bucc", "de", "dev")
    write_task(data, "bucc", "de", "test", labelled=False)
    base = ("retrieve", "bucc", "--module", "none", "--model", "tiny", "--data-dir", str(data), "--split", "test")
    refused = run_cli(*base)
    assert refused.exit_code == 2 and "--xtreme-out" in refused.stderr
    ev = _json(run_cli(*base, "--xtreme-out", str(tmp_path / "sub"), "--json"))
    assert ev["scores"] == {} and ev["unscored"] == ["de"]
    assert "split dev" in ev["mining"]["threshold"] and ev["thresholds"]["de"] is not None
    pairs = xf.read_file(xf.file_path(tmp_path / "sub", "bucc", "de"), "bucc")
    assert pairs and all(s.startswith("de-") and e.startswith("en-") for s, e in pairs)
    # the dev threshold applied to a split that has gold scores it (the official protocol, here on a labelled copy)
    write_task(data, "bucc", "de", "test")
    scored = _json(run_cli(*base, "--threshold-from", "dev", "--json"))
    assert scored["scores"]["de"]["f1"] >= 0 and scored["thresholds"]["de"] == ev["thresholds"]["de"]
    gone = run_cli("retrieve", "bucc", "--module", "none", "--model", "tiny", "--data-dir", str(data), "--split",
                   "test", "--threshold-from", "train")
    assert gone.exit_code == 2 and "no BUCC de-en train files" in gone.stderr


# --------------------------------------------------------------------------------------------------------------
# completeness and bad input


def test_export_refuses_a_partial_language_with_the_count(data, tmp_path):
    preds = tmp_path / "preds"
    _evaluate("xnli", data, "--save-predictions", str(preds), "--max-examples", "5")
    res = run_cli("export", "xtreme", str(preds), "--to", str(tmp_path / "sub"))
    assert res.exit_code == 2 and f"5 of {N} examples" in res.stderr
    assert not (tmp_path / "sub").exists()  # nothing half-written
    early = run_cli("eval", "xnli", "--module", "none", "--model", "tiny", "--data-dir", str(data), "--max-examples",
                    "5", "--xtreme-out", str(tmp_path / "sub"))
    assert early.exit_code == 2 and "--max-examples" in early.stderr
    # a prediction lost from a file (ids are positions in the official file)
    _evaluate("xnli", data, "--save-predictions", str(tmp_path / "full"))
    lines = (tmp_path / "full" / "xnli" / "sw.jsonl").read_text().splitlines()
    (tmp_path / "full" / "xnli" / "sw.jsonl").write_text("\n".join(lines[:3] + lines[4:]) + "\n")
    res = run_cli("export", "xtreme", str(tmp_path / "full"), "--to", str(tmp_path / "sub"))
    assert res.exit_code == 2 and f"{N - 1} of {N} examples predicted (first missing: example 3)" in res.stderr


def test_mlqa_is_scored_with_each_languages_normalisation(tmp_path):
    gold, preds = tmp_path / "gold", tmp_path / "preds"

    def squad(answers: dict[str, str]) -> str:
        qas = [{"id": k, "question": "?", "answers": [{"text": v, "answer_start": 0}]} for k, v in answers.items()]
        return json.dumps({"data": [{"title": "t", "paragraphs": [{"context": "c", "qas": qas}]}]})

    cases = {"de": ({"q1": "der Bahnhof"}, {"q1": "Bahnhof"}), "zh": ({"q1": "北京市"}, {"q1": "北京"}),
             "en": ({"q1": "the station"}, {"q1": "station"})}
    for task in ("mlqa", "xquad"):
        for lang, (g, p) in cases.items():
            xf.file_path(gold, task, lang).parent.mkdir(parents=True, exist_ok=True)
            xf.file_path(gold, task, lang).write_text(squad(g), encoding="utf-8")
            xf.write_file(xf.file_path(preds, task, lang), task, p)
    scored = _json(run_cli("score", str(preds), "--gold", str(gold), "--json"))
    mlqa, squad_ = scored["mlqa"]["scores"], scored["xquad"]["scores"]
    assert mlqa["de"]["exact_match"] == 100.0 and squad_["de"]["exact_match"] == 0.0  # German articles
    assert mlqa["zh"]["f1"] == pytest.approx(80.0) and squad_["zh"]["f1"] == 0.0  # one token per CJK character
    assert mlqa["en"]["exact_match"] == squad_["en"]["exact_match"] == 100.0


def test_bad_predictions_are_one_line_each_with_file_and_count(tmp_path):
    gold, preds = tmp_path / "gold", tmp_path / "preds"
    for lang in ("en", "sw"):
        xf.write_file(xf.file_path(gold, "xnli", lang), "xnli", ["entailment", "neutral", "contradiction"])
    xf.write_file(xf.file_path(gold, "xcopa", "et"), "xcopa", [0, 1])
    qa = {"data": [{"title": "t", "paragraphs": [{"context": "c", "qas": [
        {"id": "q1", "question": "?", "answers": [{"text": "a", "answer_start": 0}]}]}]}]}
    xf.file_path(gold, "xquad", "en").parent.mkdir(parents=True)
    xf.file_path(gold, "xquad", "en").write_text(json.dumps(qa))
    xf.write_file(xf.file_path(preds, "xnli", "en"), "xnli", ["entailment", "neutral"])  # wrong line count
    # xnli sw: missing
    bad = xf.file_path(preds, "xcopa", "et")
    bad.parent.mkdir(parents=True)
    bad.write_text('{"label": 0}\nnot json\n')  # unparsable
    xf.write_file(xf.file_path(preds, "xquad", "en"), "xquad", {"q1": "a", "q7": "b", "q8": "c"})  # ids not in gold
    res = run_cli("score", str(preds), "--gold", str(gold))
    assert res.exit_code == 2
    lines = res.stderr.strip().splitlines()
    assert lines[0] == "error: 4 problem(s) in " + str(preds) + ":"
    assert f"{xf.file_path(preds, 'xnli', 'sw')}: missing" in res.stderr
    assert f"{xf.file_path(preds, 'xnli', 'en')}: 2 lines for 3 in the gold" in res.stderr
    assert f"{bad}:2: expected a JSON object with a 'label' key" in res.stderr
    assert f"{xf.file_path(preds, 'xquad', 'en')}: 2 question id(s) not in the gold" in res.stderr
    assert len(lines) == 5


def test_score_per_example_feeds_report(data, tmp_path):
    preds = tmp_path / "preds"
    ev = _evaluate("xnli", data, "--save-predictions", str(preds))
    res = run_cli("score", str(preds), "--gold", str(data), "--per-example", "--out", str(tmp_path / "scored"),
                  "--name", "my-system", "--json")
    assert _json(res)["xnli"]["scores"] == ev["scores"]
    scored = json.loads((tmp_path / "scored" / "scored.json").read_text())
    stats = json.loads((tmp_path / "scored" / "per_example.json").read_text())
    assert scored["name"] == "my-system" and scored["eval"]["xnli"]["scores"] == ev["scores"]
    assert len(stats["xnli"]["sw"]) == N
    assert 100 * sum(r["score"] for r in stats["xnli"]["sw"]) / N == pytest.approx(ev["scores"]["sw"]["accuracy"], abs=1e-3)


def test_report_includes_a_scored_system(tmp_path, monkeypatch):
    """`report --include-scored DIR` puts a system scored outside the grid beside the run's conditions."""
    import importlib.util
    import sys

    import yaml

    here = Path(__file__).resolve().parent
    if "adapterx_test_fake" not in sys.modules:  # the fake run_cell of test_results.py, as test_report_cli uses it
        spec = importlib.util.spec_from_file_location("adapterx_test_fake", here / "test_results.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules["adapterx_test_fake"] = module
        spec.loader.exec_module(module)
    from adapterx_test_fake import LANGS

    recipe = tmp_path / "r.yaml"
    recipe.write_text(yaml.safe_dump({"name": "s", "backbones": ["tiny"], "methods": ["full"],
                                      "intermediates": ["none"], "targets": ["xnli"], "seeds": [1]}))
    run = tmp_path / "run"
    assert run_cli("run", str(recipe), "--run-dir", str(run), "--cell-fn", "adapterx_test_fake:fake_run_cell").exit_code == 0
    langs = LANGS["xnli"]
    scored = tmp_path / "scored"
    scored.mkdir()
    ev = {"task": "xnli", "metric": "accuracy", "scores": {lang: {"accuracy": 50.0 + i} for i, lang in enumerate(langs)},
          "n_examples": {lang: 10 for lang in langs}}
    (scored / "scored.json").write_text(json.dumps({"name": "paper", "eval": {"xnli": ev}}))
    report = _json(run_cli("report", str(run), "--include-scored", str(scored), "--json", "--no-plots",
                           "--bootstrap", "0", "--out", str(tmp_path / "rep")))
    section = report["targets"]["xnli"]
    assert "scored/paper" in section["conditions"] and report["conditions"]["scored/paper"]["method"] == "paper"
    assert section["scores"]["scored/paper"][langs[0]]["mean"] == 50.0
    assert section["averages"]["scored/paper"]["all"]["mean"] == pytest.approx(50.0 + (len(langs) - 1) / 2)
    assert report["overall"]["scored/paper"]["score"]["all"] == pytest.approx(50.0 + (len(langs) - 1) / 2)
    table = run_cli("report", str(run), "--include-scored", str(scored), "--no-plots", "--bootstrap", "0",
                    "--out", str(tmp_path / "rep2"))
    assert table.exit_code == 0 and "paper" in table.stdout
    missing = run_cli("report", str(run), "--include-scored", str(tmp_path / "nowhere"), "--no-plots")
    assert missing.exit_code == 2 and "scored.json: no such file" in missing.stderr


def test_train_target_writes_the_submission_of_its_run(data, tmp_path):
    run, sub = tmp_path / "run", tmp_path / "sub"
    out = _json(run_cli("train-target", "xnli", "--model", "tiny", "--max-steps", "2", "--batch-size", "8",
                        "--data", "synthetic", "--data-dir", str(data), "--langs", "en,sw", "--output", str(run), "--xtreme-out", str(sub),
                        "--json", "-q"))
    ev = out["metrics"]["eval"]["xnli"]
    assert len(xf.read_file(xf.file_path(sub, "xnli", "sw"), "xnli")) == N
    assert run_cli("export", "xtreme", str(run), "--to", str(tmp_path / "again")).exit_code == 0
    assert (tmp_path / "again" / "xnli" / "test-sw.tsv").read_bytes() == (sub / "xnli" / "test-sw.tsv").read_bytes()
    assert _json(run_cli("score", str(sub), "--gold", str(data), "--json"))["xnli"]["scores"] == ev["scores"]
    # two sources for one task and language: refused, naming both
    twice = run_cli("export", "xtreme", str(run), str(run / "predictions"), "--to", str(tmp_path / "x"))
    assert twice.exit_code == 2 and "is also in" in twice.stderr


def test_real_unlabelled_panx_test_file_gives_one_tag_per_token(shared_data, tmp_path):
    """XTREME's PAN-X test-sw.tsv (tokens only): a complete submission file, no score."""
    src = shared_data / "panx" / "test-sw.tsv"
    res = run_cli("eval", "panx", "--module", "none", "--model", "tiny", "--data-dir", str(shared_data), "--split",
                  "test", "--langs", "sw", "--xtreme-out", str(tmp_path / "sub"))
    assert res.exit_code == 0, res.stderr
    assert "no score" in res.stdout
    sentences = [s.split("\n") for s in src.read_text(encoding="utf-8").strip("\n").split("\n\n")]
    got = xf.read_file(tmp_path / "sub" / "panx" / "test-sw.tsv", "panx")
    assert [len(s) for s in got] == [len(s) for s in sentences]


@pytest.mark.parametrize("task,lang,split", [
    ("xnli", "sw", "test"), ("pawsx", "de", "test"), ("xcopa", "et", "test"), ("udpos", "tl", "test"),
    ("panx", "sw", "dev"), ("xquad", "de", "test"), ("mlqa", "zh", "dev"), ("tydiqa", "sw", "dev"),
])
def test_real_gold_files_score_their_own_labels_100(task, lang, split, shared_data, tmp_path):
    """The official data files as gold: predictions equal to their labels, exported, score 100 (order and readers
    agree on the real formats)."""
    from adapterx.data import layout
    from adapterx.tasks import get_task

    examples = layout.read_split(get_task(task).layout, shared_data, split, lang)
    preds = tmp_path / "preds" / task
    preds.mkdir(parents=True)
    with (preds / f"{lang}.jsonl").open("w", encoding="utf-8") as f:
        for ex in examples:
            gold = ex.tags if hasattr(ex, "tags") else ex.answers[0].text if hasattr(ex, "answers") else ex.label
            f.write(json.dumps({"id": ex.id, "prediction": list(gold) if isinstance(gold, tuple) else gold}) + "\n")
    (preds / "manifest.json").write_text(json.dumps({"split": split}))
    sub = tmp_path / "sub"
    if split == xf.submission_split(task):
        assert run_cli("export", "xtreme", str(tmp_path / "preds"), "--to", str(sub)).exit_code == 0
    else:  # dev predictions are no submission (the export refuses them): scored as adapterx wrote them
        sub = tmp_path / "preds"
    scored = _json(run_cli("score", str(sub), "--gold", str(shared_data), "--split", split, "--json"))
    assert scored[task]["scores"][lang][scored[task]["metric"]] == pytest.approx(100.0)
    assert scored[task]["n_examples"][lang] == len(examples)
