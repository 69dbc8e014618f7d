"""``adapterx retrieve``: encoders with a module active, batched embedding, Tatoeba / BUCC through the CLI on the real
shared data (checked against independent numpy code), the research question (does an STS module move retrieval?),
and the layer sweep with its plot. Everything runs on the built-in tiny model, offline.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from cli.main import app

runner = CliRunner()


# ---------------------------------------------------------------------------------------------------------------
# fixtures
# ---------------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def tiny(tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201 - adapterx.backbone.Backbone
    """The tiny backbone, built once per session; into a temporary cache unless ADAPTERX_CACHE is already set."""
    from adapterx import backbone

    added = "ADAPTERX_CACHE" not in os.environ
    if added:
        os.environ["ADAPTERX_CACHE"] = str(tmp_path_factory.mktemp("adapterx-cache"))
    yield backbone.resolve("tiny")
    if added:
        os.environ.pop("ADAPTERX_CACHE", None)


@pytest.fixture(autouse=True, scope="module")
def _one_thread():  # noqa: ANN202
    """One intra-op thread: on a small shared machine, two contending torch threads were ~7x slower for the tiny model
    (Tatoeba, 62k sentences: 104 s vs 15 s)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _invoke(args: list[str]) -> dict:
    res = runner.invoke(app, args)
    assert res.exit_code == 0, (res.output, res.exception)
    return json.loads(res.stdout)


@pytest.fixture(scope="module")
def sts_lora(tiny, tmp_path_factory: pytest.TempPathFactory) -> Path:  # noqa: ANN001
    """An STS-B intermediate LoRA module trained on synthetic STS pairs (60 steps on the tiny model)."""
    out = tmp_path_factory.mktemp("runs") / "stsb-lora"
    res = runner.invoke(app, ["train-intermediate", "stsb", "--model", "tiny", "--method", "lora", "--max-steps", "60",
                              "--output", str(out), "-q"])
    assert res.exit_code == 0, (res.output, res.exception)
    assert (out / "module" / "adapter_model.safetensors").is_file()
    return out


# ---------------------------------------------------------------------------------------------------------------
# encoders and embedding
# ---------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["adapter", "lora", "full"])
def test_encoder_body_keeps_the_module_active(tiny, method: str) -> None:  # noqa: ANN001
    """The body the retrieval encoder calls gives the same hidden states as the whole module's forward (so adapter /
    LoRA are active, fine-tuned weights used), and different ones from the bare backbone."""
    from adapterx.backbone import load_tokenizer
    from adapterx.methods import build_module
    from adapterx.methods.spec import method_from_options
    from adapterx.retrieval.encode import bare_encoder, embed, encoder_from_module
    from adapterx.tasks import get_task

    tok = load_tokenizer(tiny)
    module = build_module(method_from_options(method), tiny, get_task("stsb"), seed=0)
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():  # move the module's own weights away from their (near-identity) initialisation
        for name, p in module.model.named_parameters():
            if method == "full" or "lora" in name or "adapter" in name:
                p.add_(0.1 * torch.randn(p.shape, generator=gen))
    enc = encoder_from_module(module, tok, device="cpu", module_ref="x", backbone=tiny.record())
    assert enc.method == method and enc.num_layers == tiny.num_layers
    batch = tok(["kotihi mehu secuho", "la jo sa"], padding=True, return_tensors="pt")
    with torch.inference_mode():
        whole = module.model(**batch, output_hidden_states=True).hidden_states
        body = enc.body(**batch, output_hidden_states=True).hidden_states
    assert len(body) == tiny.num_layers + 1
    for a, b in zip(whole, body):
        torch.testing.assert_close(a, b)
    bare = bare_encoder(tiny, tok, device="cpu")
    sents = ["kotihi mehu secuho", "la jo sa", "veki"]
    top = tiny.num_layers
    assert not torch.allclose(embed(enc, sents, top), embed(bare, sents, top), atol=1e-4)


def test_embedding_is_batch_and_order_independent(tiny) -> None:  # noqa: ANN001
    from adapterx.backbone import load_tokenizer
    from adapterx.retrieval.encode import bare_encoder, embed, embed_layers

    enc = bare_encoder(tiny, load_tokenizer(tiny), device="cpu")
    sents = ["a", "kotihi mehu secuho jifeki veki", "la jo", "nosobe calero mosadi lojepa vufi kise", "sa"]
    all_layers = embed_layers(enc, sents, None, "mean", batch_size=2)
    assert sorted(all_layers) == list(range(tiny.num_layers + 1))
    for i, s in enumerate(sents):  # one sentence at a time, no padding at all
        one = embed_layers(enc, [s], None, "mean", batch_size=1)
        for layer in all_layers:
            torch.testing.assert_close(all_layers[layer][i], one[layer][0], atol=1e-5, rtol=1e-4)
    # the layer index convention: -1 is the last layer, the default is default_layer(num_layers)
    torch.testing.assert_close(embed(enc, sents, -1), all_layers[tiny.num_layers])
    torch.testing.assert_close(embed(enc, sents), all_layers[enc.default_layer])
    cls = embed(enc, sents, 0, "cls")
    assert cls.shape == (len(sents), tiny.hidden_size)
    from adapterx.errors import ConfigError

    with pytest.raises(ConfigError, match="out of range"):
        embed(enc, sents, tiny.num_layers + 1)


# ---------------------------------------------------------------------------------------------------------------
# Tatoeba and BUCC on the real shared data
# ---------------------------------------------------------------------------------------------------------------

_LASER = re.compile(r"^tatoeba\.([a-z]{3})-eng\.\1$")


def test_tatoeba_every_pair_in_the_folder_predictions_recompute(
    tiny, shared_data: Path, tmp_path: Path  # noqa: ANN001
) -> None:
    folder = shared_data / "tatoeba" / "v1"
    pairs = sorted(m[1] for p in folder.iterdir() if (m := _LASER.match(p.name)))
    assert len(pairs) >= 30
    preds_dir = tmp_path / "preds"
    ev = _invoke(["retrieve", "tatoeba", "--model", "tiny", "--module", "none", "--data-dir", str(shared_data),
                  "--langs", "all", "--json", "--save-predictions", str(preds_dir)])
    assert ev["task"] == "tatoeba" and ev["metric"] == "accuracy"
    assert len(ev["scores"]) == len(pairs)  # every pair of the folder (LASER codes mapped to ISO 639-1)
    assert ev["layer"] == 1 and ev["num_layers"] == 2 and ev["pooling"] == "mean" and ev["direction"] == "tgt2src"
    assert ev["module"] == "none" and ev["model"] == "tiny" and ev["data"].startswith("dir:")
    # Independent recomputation: per language, 100 * mean(prediction == query line) from the saved files.
    by_iso3 = {}
    for iso3 in pairs:
        n_lines = len((folder / f"tatoeba.{iso3}-eng.eng").read_bytes().rstrip(b"\n").split(b"\n"))
        by_iso3[iso3] = n_lines
    assert sorted(ev["n_examples"].values()) == sorted(by_iso3.values())
    accs = {}
    for lang, scores in ev["scores"].items():
        lines = (preds_dir / "tatoeba" / f"{lang}.jsonl").read_text(encoding="utf-8").splitlines()
        recs = [json.loads(x) for x in lines]
        ids = np.array([r["id"] for r in recs])
        pred = np.array([r["prediction"] for r in recs])
        assert len(recs) == ev["n_examples"][lang]
        assert (ids == np.arange(len(recs))).all() and pred.min() >= 0 and pred.max() < len(recs)
        accs[lang] = 100.0 * float(np.mean(pred == ids))
        assert round(accs[lang], 4) == scores["accuracy"], lang
    assert abs(np.mean(list(accs.values())) - ev["average"]) < 1e-3
    # The predictions themselves, for one language: numpy cosine argmax over the library's embeddings.
    from adapterx.retrieval.data import load_tatoeba
    from adapterx.retrieval.encode import load_encoder, embed

    corpus = load_tatoeba(folder, "de")
    enc = load_encoder("none", "tiny", device="cpu")
    src = embed(enc, corpus.source).numpy().astype(np.float64)
    tgt = embed(enc, corpus.target).numpy().astype(np.float64)
    src /= np.linalg.norm(src, axis=1, keepdims=True)
    tgt /= np.linalg.norm(tgt, axis=1, keepdims=True)
    expected = (tgt @ src.T).argmax(axis=1)  # XTREME: English queries search the German side
    saved = [json.loads(x)["prediction"] for x in (preds_dir / "tatoeba" / "de.jsonl").read_text().splitlines()]
    assert np.mean(expected == np.array(saved)) > 0.99  # float32 vs float64 may flip a near-tie


def test_bucc_zh_f1_recomputes_from_predictions(tiny, shared_data: Path, tmp_path: Path) -> None:  # noqa: ANN001
    folder = shared_data / "bucc" / "bucc2018"
    gold = {tuple(line.split("\t")) for line in (folder / "zh-en.dev.gold").read_text(encoding="utf-8").splitlines()
            if line.strip()}
    preds_dir = tmp_path / "preds"
    ev = _invoke(["retrieve", "bucc", "--model", "tiny", "--module", "none", "--data-dir", str(shared_data),
                  "--json", "--save-predictions", str(preds_dir)])
    assert list(ev["scores"]) == ["zh"] and ev["metric"] == "f1"
    assert ev["n_examples"]["zh"] == len(gold) == 257
    assert ev["sizes"]["zh"] == {"source": 8624, "target": 13589}
    assert ev["mining"]["mode"] == "max" and ev["mining"]["k"] == 4 and ev["direction"] is None
    recs = [json.loads(x) for x in (preds_dir / "bucc" / "zh.jsonl").read_text(encoding="utf-8").splitlines()]
    pred = {(r["id"], r["prediction"]) for r in recs}
    assert all(r["score"] >= ev["thresholds"]["zh"] - 1e-4 for r in recs)
    correct = len(pred & gold)
    p = 100 * correct / len(pred) if pred else 0.0
    r = 100 * correct / len(gold)
    f = 2 * p * r / (p + r) if correct else 0.0
    assert ev["scores"]["zh"]["precision"] == pytest.approx(p, abs=1e-3)
    assert ev["scores"]["zh"]["recall"] == pytest.approx(r, abs=1e-3)
    assert ev["scores"]["zh"]["f1"] == pytest.approx(f, abs=1e-3)


def test_bucc_scoring_with_signal_recomputes(tiny, tmp_path: Path) -> None:  # noqa: ANN001
    """The tiny model finds nothing in the real zh-en data (F1 0 above); synthetic Finnish has signal, so the
    non-trivial case is checked here: predictions saved, F1 recomputed from them against the gold."""
    from adapterx.retrieval.encode import embed, load_encoder
    from adapterx.retrieval.corpora import synthetic_bucc
    from adapterx.retrieval.result import RetrievalResult, RetrieveRequest
    from adapterx.retrieval.scoring import score_language

    corpus = synthetic_bucc("fi", 100)
    enc = load_encoder("none", "tiny", device="cpu")
    res = score_language("bucc", corpus, embed(enc, corpus.source), embed(enc, corpus.target),
                         RetrieveRequest(task="bucc"))
    assert res.scores["f1"] > 10.0 and res.extra["threshold"] > 0
    wrapped = RetrievalResult("bucc", "f1", 1, 2, "mean", None, "none", None, "tiny", "synthetic:100", 512, "torch",
                              mining={"k": 4, "mode": "max"}, langs={"fi": res})
    wrapped.save_predictions(tmp_path)
    lines = (tmp_path / "bucc" / "fi.jsonl").read_text().splitlines()
    pred = {(r["id"], r["prediction"]) for r in map(json.loads, lines)}
    gold = set(corpus.gold_pairs)
    p, r = len(pred & gold) / len(pred), len(pred & gold) / len(gold)
    assert res.scores["f1"] == pytest.approx(100 * 2 * p * r / (p + r), abs=1e-6)
    assert wrapped.to_json()["thresholds"]["fi"] == round(res.extra["threshold"], 4)


def test_bucc_subsampling_keeps_gold(tiny) -> None:  # noqa: ANN001
    from adapterx.retrieval.corpora import subsample_bucc, synthetic_bucc

    corpus = synthetic_bucc("de", 40, seed=3)
    assert (len(corpus.source), len(corpus.target), len(corpus.gold_pairs)) == (80, 120, 40)
    sub = subsample_bucc(corpus, 60, seed=0)
    assert len(sub.source) == 60 and len(sub.target) == 60 and len(sub.gold_pairs) == 40
    assert {s for s, _ in sub.gold_pairs} <= set(sub.source_ids)
    assert {t for _, t in sub.gold_pairs} <= set(sub.target_ids)
    assert list(sub.source_ids) == [i for i in corpus.source_ids if i in set(sub.source_ids)]  # file order kept
    small = subsample_bucc(corpus, 10, seed=0)
    assert len(small.gold_pairs) == 10 and len(small.source) == 10


# ---------------------------------------------------------------------------------------------------------------
# the research question: does an STS intermediate module move zero-shot retrieval?
# ---------------------------------------------------------------------------------------------------------------


def test_sts_module_moves_retrieval_on_synthetic_parallel_data(sts_lora: Path, tmp_path: Path) -> None:
    common = ["--data", "synthetic", "--synthetic-size", "200", "--json"]
    base = _invoke(["retrieve", "tatoeba", "--model", "tiny", "--module", "none", *common])
    mod = _invoke(["retrieve", "tatoeba", "--module", str(sts_lora), "--save-predictions", str(tmp_path / "m"),
                   *common])  # the backbone comes from the run's run.json
    assert mod["model"] == "tiny" and mod["method"] == "lora" and mod["module"] == str(sts_lora)
    assert set(mod["scores"]) == set(base["scores"]) and len(base["scores"]) == 36  # the task's languages
    assert mod["data"] == base["data"] == "synthetic:200"
    # Not chance: languages that share words with English are retrieved far above 1/200 by the bare model already.
    assert max(s["accuracy"] for s in base["scores"].values()) > 5.0
    # With the STS LoRA active, the scores move (LoRA sits in the attention of every layer).
    moved = [lang for lang in base["scores"] if base["scores"][lang]["accuracy"] != mod["scores"][lang]["accuracy"]]
    assert moved, "the STS module did not change any language's retrieval accuracy"
    assert mod["average"] != base["average"]
    # ... and only through the transformer layers: layer 0 (embedding output) is untouched by LoRA on query/value.
    base0 = _invoke(["retrieve", "tatoeba", "--model", "tiny", "--module", "none", "--layer", "0", *common])
    mod0 = _invoke(["retrieve", "tatoeba", "--module", str(sts_lora), "--layer", "0", *common])
    assert mod0["scores"] == base0["scores"]


def test_layer_sweep_table_json_and_png(sts_lora: Path, tmp_path: Path) -> None:
    preds = tmp_path / "preds"
    args = ["retrieve", "tatoeba", "--module", str(sts_lora), "--data", "synthetic", "--synthetic-size", "100",
            "--langs", "de,fi,sw", "--layer-sweep", "--save-predictions", str(preds)]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, (res.output, res.exception)
    assert "none avg" in res.stdout and "delta" in res.stdout and "module helps at layers" in res.stdout
    png = preds / "tatoeba" / "layer_sweep.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000
    assert sorted(p.name for p in (preds / "tatoeba").glob("*.jsonl")) == ["de.jsonl", "fi.jsonl", "sw.jsonl"]

    plot = tmp_path / "sweep.png"
    sw = _invoke([*args[:-2], "--plot", str(plot), "--json"])
    assert plot.is_file() and sw["plot"] == str(plot)
    assert sw["layers"] == [0, 1, 2] and sw["default_layer"] == 1 and [r["layer"] for r in sw["sweep"]] == [0, 1, 2]
    for row in sw["sweep"]:
        assert set(row["module"]["scores"]) == {"de", "fi", "sw"}
        assert row["delta_average"] == pytest.approx(row["module"]["average"] - row["none"]["average"], abs=1e-3)
    assert sw["sweep"][0]["delta_average"] == 0  # embeddings: the module is not there yet
    assert sw["module_helps_at"] == [r["layer"] for r in sw["sweep"] if r["delta_average"] > 0]
    # the sweep's selected layer agrees with a plain run at that layer
    single = _invoke(["retrieve", "tatoeba", "--module", str(sts_lora), "--data", "synthetic", "--synthetic-size",
                      "100", "--langs", "de,fi,sw", "--json"])
    assert single["scores"] == sw["sweep"][1]["module"]["scores"]


# ---------------------------------------------------------------------------------------------------------------
# options and errors
# ---------------------------------------------------------------------------------------------------------------


def test_table_output_synthetic_bucc_and_src2tgt(tiny, tmp_path: Path) -> None:  # noqa: ANN001
    res = runner.invoke(app, ["retrieve", "tatoeba", "--model", "tiny", "--module", "none", "--synthetic-size", "50",
                              "--langs", "low", "--direction", "src2tgt", "--pooling", "cls"])
    assert res.exit_code == 0, res.output
    assert "src2tgt" in res.stdout and "cls pooling" in res.stdout and "low-resource" in res.stdout
    ev = _invoke(["retrieve", "bucc", "--model", "tiny", "--module", "none", "--synthetic-size", "30", "--langs", "de",
                  "--json", "--save-predictions", str(tmp_path)])
    assert list(ev["scores"]) == ["de"] and 0.0 <= ev["scores"]["de"]["f1"] <= 100.0
    assert ev["n_examples"]["de"] == 30 and ev["sizes"]["de"] == {"source": 60, "target": 90}
    for line in (tmp_path / "bucc" / "de.jsonl").read_text().splitlines():
        rec = json.loads(line)
        assert rec["id"].startswith("de-") and rec["prediction"].startswith("en-")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["retrieve", "lareqa", "--model", "tiny", "--module", "none"], "not runnable yet"),
        (["retrieve", "xnli", "--model", "tiny", "--module", "none"], "adapterx eval xnli"),
        (["retrieve", "tatoeba", "--model", "tiny", "--module", "none", "--direction", "tgt2sr"], "tgt2src"),
        (["retrieve", "tatoeba", "--model", "tiny", "--module", "none", "--pooling", "max"], "mean or cls"),
        (["retrieve", "tatoeba", "--module", "none"], "--data-dir"),  # a real backbone needs real data
        (["retrieve", "tatoeba", "--model", "tiny", "--module", "none", "--layer", "7", "--synthetic-size", "5",
          "--langs", "de"], "out of range"),
        (["retrieve", "tatoeba", "--model", "tiny", "--module", "none", "--data-dir", "/nonexistent/x"], "no such"),
        (["retrieve", "bucc", "--model", "tiny", "--module", "none", "--langs", "sw"], "not available"),
    ],
)
def test_errors_are_one_line(tiny, args: list[str], message: str) -> None:  # noqa: ANN001
    res = runner.invoke(app, args)
    assert res.exit_code == 2, res.output
    assert message in res.output and "Traceback" not in res.output
