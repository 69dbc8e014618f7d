"""A score is right, or there is none (issue 28, class 1; issue 27, 5: synthetic predictions are never published).

One mechanism: every prediction and gold value goes through ``adapterx.results.xtreme_format.LabelSet`` (each
spelling the task's readers accept, in one canonical form; anything else is ``file:line``), and the split and data
source a prediction file carries (its ``manifest.json``, or an export's ``adapterx_export.json``) must match the gold's
(score) or the submission's (export). No model runs here: predictions are written from the gold itself."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from xtreme_files import N, write_task

from ._cli import ax, one_line_error

NLI = ("entailment", "neutral", "contradiction")


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Labelled data files: xnli en/de test, pawsx en dev+test, xcopa et test, panx en dev, tatoeba de."""
    root = tmp_path_factory.mktemp("score-data")
    write_task(root, "xnli", "en", "test")
    write_task(root, "xnli", "de", "test")
    write_task(root, "pawsx", "en", "test")
    write_task(root, "pawsx", "en", "dev")
    write_task(root, "xcopa", "et", "test")
    write_task(root, "panx", "en", "dev")
    write_task(root, "tatoeba", "de", "test")
    return root


def _gold(data: Path, task: str, lang: str, split: str) -> list:
    from adapterx.data import layout
    from adapterx.tasks import get_task

    out = []
    for ex in layout.read_split(get_task(task).layout, data, split, lang):
        out.append(list(ex.tags) if hasattr(ex, "tags") else ex.label)
    return out


def _adapterx_preds(folder: Path, task: str, lang: str, preds: list, split: str | None = "test",
                    source: str = "dir:data") -> Path:
    """``folder/<task>/<lang>.jsonl`` and its manifest, as ``--save-predictions`` writes them."""
    d = folder / task
    d.mkdir(parents=True, exist_ok=True)
    (d / f"{lang}.jsonl").write_text("".join(json.dumps({"id": i, "prediction": p}) + "\n" for i, p in enumerate(preds)))
    manifest = {"task": task, "languages": {lang: {"n": len(preds), "n_total": len(preds), "complete": True,
                                                   "labelled": True, "source": source}}}
    if split is not None:
        manifest["split"] = split
    (d / "manifest.json").write_text(json.dumps(manifest))
    return d / f"{lang}.jsonl"


def _score_json(*args: object) -> dict:
    res = ax("score", *args, "--json")
    assert res.exit_code == 0, (res.exception, res.stderr)
    return json.loads(res.stdout)


# --------------------------------------------------------------------------------------------------------------
# every label format the readers accept is scored; anything else is file:line


def test_xnli_submission_with_integer_labels_scores_100(data, tmp_path):
    """The issue's example: 0/1/2 (the XNLI test files' own format) was scored 0.00 with exit 0."""
    sub = tmp_path / "sub" / "xnli"
    sub.mkdir(parents=True)
    (sub / "test-de.tsv").write_text("".join(f"{NLI.index(g)}\n" for g in _gold(data, "xnli", "de", "test")))
    (sub / "test-en.tsv").write_text("".join(f"{g.capitalize()}\n" for g in _gold(data, "xnli", "en", "test")))
    out = _score_json(tmp_path / "sub", "--gold", data)
    assert out["xnli"]["scores"]["de"]["accuracy"] == pytest.approx(100.0)
    assert out["xnli"]["scores"]["en"]["accuracy"] == pytest.approx(100.0)  # "Entailment": the same label


def test_contradictory_spelling_and_integer_gold_folder_are_read(data, tmp_path):
    """XNLI-MT's "contradictory" (the readers accept it) in predictions, 0/1/2 in a gold label folder."""
    gold = _gold(data, "xnli", "de", "test")
    (tmp_path / "sub" / "xnli").mkdir(parents=True)
    (tmp_path / "sub" / "xnli" / "test-de.tsv").write_text(
        "".join(("contradictory" if g == "contradiction" else g) + "\n" for g in gold))
    (tmp_path / "labels" / "xnli").mkdir(parents=True)
    (tmp_path / "labels" / "xnli" / "test-de.tsv").write_text("".join(f"{NLI.index(g)}\n" for g in gold))
    out = _score_json(tmp_path / "sub", "--gold", tmp_path / "labels")
    assert out["xnli"]["scores"]["de"]["accuracy"] == pytest.approx(100.0)
    assert out["xnli"]["gold"]["de"].endswith("labels/xnli/test-de.tsv")


def test_label_outside_the_set_names_file_and_line(data, tmp_path):
    gold = _gold(data, "xnli", "de", "test")
    sub = tmp_path / "sub" / "xnli"
    sub.mkdir(parents=True)
    lines = [f"{NLI.index(g)}" for g in gold]
    lines[4] = "3"
    (sub / "test-de.tsv").write_text("\n".join(lines) + "\n")
    one_line_error(ax("score", tmp_path / "sub", "--gold", data), f"{sub / 'test-de.tsv'}:5", "'3'", "xnli label")


def test_adapterx_prediction_outside_the_set_names_file_and_line(data, tmp_path):
    gold = _gold(data, "pawsx", "en", "test")
    path = _adapterx_preds(tmp_path / "p", "pawsx", "en", [*gold[:2], "paraphrase", *gold[3:]])
    one_line_error(ax("score", tmp_path / "p", "--gold", data), f"{path}:3", "'paraphrase'", "pawsx label")


def test_xcopa_option_index_beyond_the_options(data, tmp_path):
    sub = tmp_path / "sub" / "xcopa"
    sub.mkdir(parents=True)
    gold = _gold(data, "xcopa", "et", "test")
    (sub / "test-et.jsonl").write_text("".join(json.dumps({"label": 2 if i == 1 else g}) + "\n" for i, g in enumerate(gold)))
    one_line_error(ax("score", tmp_path / "sub", "--gold", data), f"{sub / 'test-et.jsonl'}:2", "0..1")


def test_panx_tag_outside_the_tag_set(data, tmp_path):
    gold = _gold(data, "panx", "en", "dev")
    gold[1] = ["B-FOO" if i == 0 else t for i, t in enumerate(gold[1])]
    path = _adapterx_preds(tmp_path / "p", "panx", "en", gold, split="dev")
    one_line_error(ax("score", tmp_path / "p", "--gold", data), f"{path}:2", "'B-FOO'", "panx tag")


def test_tatoeba_index_beyond_the_target_sentences(data, tmp_path):
    sub = tmp_path / "sub" / "tatoeba"
    sub.mkdir(parents=True)
    (sub / "test-de.tsv").write_text("".join(f"{i if i != 3 else 999}\n" for i in range(N)))  # one per query
    one_line_error(ax("score", tmp_path / "sub", "--gold", data, "--task", "tatoeba"),
                   f"{sub / 'test-de.tsv'}:4", "999", "outside")


# --------------------------------------------------------------------------------------------------------------
# predictions carry their split: export and score refuse a mismatch


def test_export_refuses_pawsx_dev_predictions_as_a_test_file(data, tmp_path):
    """The issue's example: dev and test have as many lines, so the dev file was graded against test gold."""
    _adapterx_preds(tmp_path / "p", "pawsx", "en", _gold(data, "pawsx", "en", "dev"), split="dev")
    one_line_error(ax("export", "xtreme", tmp_path / "p", "--to", tmp_path / "sub"), "dev split", "test-en", "--split test")
    assert not (tmp_path / "sub").exists()


def test_export_refuses_predictions_of_no_recorded_split(data, tmp_path):
    path = _adapterx_preds(tmp_path / "p", "pawsx", "en", _gold(data, "pawsx", "en", "test"), split=None)
    (path.parent / "manifest.json").unlink()
    one_line_error(ax("export", "xtreme", tmp_path / "p", "--to", tmp_path / "sub"), "no split recorded")
    assert not (tmp_path / "sub").exists()


def test_score_refuses_dev_predictions_against_a_test_label_folder(data, tmp_path):
    (tmp_path / "labels" / "pawsx").mkdir(parents=True)
    (tmp_path / "labels" / "pawsx" / "test-en.tsv").write_text("".join(f"{g}\n" for g in _gold(data, "pawsx", "en", "test")))
    _adapterx_preds(tmp_path / "p", "pawsx", "en", _gold(data, "pawsx", "en", "dev"), split="dev")
    one_line_error(ax("score", tmp_path / "p", "--gold", tmp_path / "labels"), "dev split", "test split")


def test_score_refuses_a_split_option_against_the_manifest(data, tmp_path):
    _adapterx_preds(tmp_path / "p", "pawsx", "en", _gold(data, "pawsx", "en", "dev"), split="dev")
    one_line_error(ax("score", tmp_path / "p", "--gold", data, "--split", "test"), "made on dev", "--split test")
    # the right split scores 100
    assert _score_json(tmp_path / "p", "--gold", data)["pawsx"]["scores"]["en"]["accuracy"] == pytest.approx(100.0)


def test_score_refuses_an_export_record_of_another_split(data, tmp_path):
    """A submission folder whose adapterx_export.json says a file holds dev predictions (an older export)."""
    _adapterx_preds(tmp_path / "p", "pawsx", "en", _gold(data, "pawsx", "en", "test"))
    assert ax("export", "xtreme", tmp_path / "p", "--to", tmp_path / "sub").exit_code == 0
    meta = tmp_path / "sub" / "adapterx_export.json"
    doc = json.loads(meta.read_text())
    doc["tasks"]["pawsx"]["en"]["split"] = "dev"
    meta.write_text(json.dumps(doc))
    one_line_error(ax("score", tmp_path / "sub", "--gold", data), "dev split", "test split")


# --------------------------------------------------------------------------------------------------------------
# synthetic predictions never reach a submission; a score covers every example


def test_export_refuses_predictions_made_on_synthetic_data(data, tmp_path):
    _adapterx_preds(tmp_path / "p", "pawsx", "en", _gold(data, "pawsx", "en", "test"), source="synthetic")
    one_line_error(ax("export", "xtreme", tmp_path / "p", "--to", tmp_path / "sub"), "synthetic data")
    assert not (tmp_path / "sub").exists()


def test_score_refuses_predictions_made_on_synthetic_data(data, tmp_path):
    _adapterx_preds(tmp_path / "p", "pawsx", "en", _gold(data, "pawsx", "en", "test"), source="synthetic")
    one_line_error(ax("score", tmp_path / "p", "--gold", data), "synthetic data")


def test_score_refuses_predictions_of_part_of_the_examples(data, tmp_path):
    gold = _gold(data, "pawsx", "en", "test")
    sub = tmp_path / "sub" / "pawsx"
    sub.mkdir(parents=True)
    (sub / "test-en.tsv").write_text("".join(f"{g}\n" for g in gold[:-3]))
    one_line_error(ax("score", tmp_path / "sub", "--gold", data), f"{len(gold) - 3} lines for {len(gold)}")


@pytest.mark.parametrize("data_field", [{"source": "synthetic"}, {"stsb": {"source": "synthetic"}, "mnli": {"source": "hf:glue"}}])
def test_hub_card_publishes_no_scores_of_synthetic_data(data_field):
    """A module trained on synthetic data (the built-in models' default): its card says so in one line, and neither
    its body nor its metadata carries the numbers (a real data source keeps them)."""
    from adapterx.hub import card

    run = {"task": "stsb", "method": {"name": "adapter"}, "backbone": {"id": "tiny"}, "data": data_field}
    metrics = {"dev": {"spearman": 91.25}, "eval": {"xnli": {"metric": "accuracy", "scores": {"sw": {"accuracy": 61.5}},
                                                             "average": 61.5, "low_resource_average": 61.5}}}
    text = card.render_card(run, metrics, {}, "me/stsb")
    assert "61.5" not in text and "91.25" not in text
    assert "Not published: this module was trained and evaluated on synthetic data" in text
    real = card.render_card({**run, "data": {"source": "dir:/data"}}, metrics, {}, "me/stsb")
    assert "61.5" in real and "91.25" in real


@pytest.mark.parametrize("command", ["eval", "train-target"])
def test_xtreme_out_on_synthetic_data_is_refused_before_it_runs(command, tmp_path, train_calls):
    """A built-in model defaults to synthetic data: `--xtreme-out` is refused before anything trains or is written."""
    args = (["eval", "pawsx", "--module", "none"] if command == "eval"
            else ["train-target", "pawsx", "--max-steps", "1", "--output", tmp_path / "run"])
    res = ax(*args, "--model", "tiny", "--xtreme-out", tmp_path / "sub")
    one_line_error(res, "--xtreme-out", "synthetic data")
    assert not (tmp_path / "sub").exists() and not (tmp_path / "run").exists() and not train_calls
