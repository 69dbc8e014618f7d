"""What a grid costs on this machine: a short calibration of the backbone's speed here, and per-stage estimates.

The calibration (:func:`calibrate`) builds each method's module on a random-weights copy of the backbone's
architecture (speed depends on shapes, not weights, so ``xlm-roberta-base`` calibrates without its download), and
times, after one warm-up, training steps and inference forwards at two token counts each. What a stage costs
besides its model (data, featurization, collation, decoding, scoring, files) is probed with real one-step stages on
the tiny model, since it does not depend on the model's size. Step time is then a line,
``a + b x tokens`` (``a``: per-step overheads, the optimizer step of full fine-tuning; ``b``: the matmuls), and so is a
forward. It also times building and saving the module, and featurizing examples. The result is cached under
``<adapterx cache>/calibration/<key>.json``; the key covers the architecture, methods, torch version and threads,
device and host, so another machine or thread count calibrates anew.

:func:`estimate_grid` turns a plan's cells into seconds per stage:

- ``intermediate``: training each intermediate module once per ``intermediate_key`` (cells share it);
- ``target``: training each cell's target stage (module build, featurization, steps, English dev evaluations, save);
- ``zero_shot``: evaluating every evaluation language (examples / 32 forwards of 32 examples each).

Token counts per example come from featurizing a sample of the data with the backbone's tokenizer where the cell
reads local files (:mod:`adapterx.grid.data_shape`: also the sizes and the evaluation languages the folder holds) or
synthetic data; otherwise (a Hub data set) from the task kind's typical lengths for real text (``TYPICAL_TOKENS``,
XLM-R SentencePiece). Grouped batches
(the default for short texts) pad to about the mean length; span QA windows are full.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import platform
import socket
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from adapterx import backbone as bbmod
from adapterx.errors import ConfigError
from adapterx.paths import cache_dir
from adapterx.data import synthetic
from adapterx.data.sources import DataOptions
from adapterx.engine.batching import item_lengths
from adapterx.engine.loop import TrainConfig
from adapterx.engine.loop import make_optimizer
from adapterx.engine.loop import pick_device
from adapterx.fsio import atomic_write_json
from adapterx.grid import data_shape
from adapterx.grid.recipe import stage_data
from adapterx.grid.run_cell import data_options
from adapterx.methods import build_module
from adapterx.methods.spec import method_from_options
from adapterx.tasks import get_task
from adapterx.tasks.kinds import ops_for
from adapterx.workflows.eval import zero_shot
from adapterx.workflows.train import TrainRequest, train_run

CALIBRATION_VERSION = 6
# Architectures of Hub backbones a grid names without having them here (config.json of the released checkpoints).
KNOWN_SHAPES: dict[str, dict[str, Any]] = {
    "xlm-roberta-base": {"model_type": "xlm-roberta", "hidden_size": 768, "num_hidden_layers": 12,
                         "num_attention_heads": 12, "intermediate_size": 3072, "vocab_size": 250002},
    "xlm-roberta-large": {"model_type": "xlm-roberta", "hidden_size": 1024, "num_hidden_layers": 24,
                          "num_attention_heads": 16, "intermediate_size": 4096, "vocab_size": 250002},
}
KNOWN_SHAPES["FacebookAI/xlm-roberta-base"] = KNOWN_SHAPES["xlm-roberta-base"]
KNOWN_SHAPES["FacebookAI/xlm-roberta-large"] = KNOWN_SHAPES["xlm-roberta-large"]
_SHAPE_KEYS = ("model_type", "hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size",
               "vocab_size", "max_position_embeddings", "type_vocab_size")
# Mean tokens per training example of real text by task (XLM-R SentencePiece, English; measured on the real files
# of ../shared/data where there are some: STS-B pairs ~30, XNLI pairs ~45); choice counts every option.
TYPICAL_TOKENS: dict[str, int] = {
    "regression": 32, "classification": 48, "multiple_choice": 64, "tagging": 32, "span_qa": 10_000, "retrieval": 24,
}
# English dev examples used for checkpoint selection, and test examples per evaluation language (rounded; a cost
# estimate needs magnitudes). Tasks missing here: 2,000.
# Examples per evaluation language where a task record gives no dev / test size (TaskSpec.dev_size, test_size).
DEFAULT_EVAL_SIZE = 2_000
EVAL_BATCH = 32
# Two token counts per measurement, at batch 8: enough to fit the line a + b x tokens.
_CAL_BATCH = 8
_CAL_LENGTHS = (16, 128)
_CAL_REPS = 2  # timed repetitions after one warm-up (base-size full fine-tuning steps take seconds each)


def cache_folder() -> Path:
    return cache_dir() / "calibration"


def backbone_shape(model: str) -> dict[str, Any] | None:
    """The architecture of ``model`` from its config.json (tiny, a local folder, a cached Hub model), or the known
    shape of a released checkpoint; None when neither is available."""
    if model in KNOWN_SHAPES:
        return dict(KNOWN_SHAPES[model])
    try:
        bb = bbmod.resolve(model)
    except Exception:  # noqa: BLE001 - an unknown or offline Hub id: no calibration, the rough estimate stands
        return None
    cfg = json.loads((Path(bb.path) / "config.json").read_text())
    return {k: cfg[k] for k in _SHAPE_KEYS if k in cfg}


def _threads() -> int:
    import torch

    return int(torch.get_num_threads())


def calibration_key(model: str, shape: dict[str, Any], methods: list[str], device: str,
                    targets: list[str] | tuple[str, ...] = ()) -> str:
    import torch

    parts = {"v": CALIBRATION_VERSION, "shape": shape, "methods": sorted(methods), "targets": sorted(targets),
             "torch": torch.__version__,
             "threads": _threads(), "device": device, "host": socket.gethostname(), "model": model}
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:16]


def cached_calibration(model: str, methods: list[str], device: str | None = None,
                       targets: list[str] | tuple[str, ...] = ()) -> dict[str, Any] | None:
    """The cached calibration of ``model`` for ``methods`` on this machine, or None."""
    shape = backbone_shape(model)
    if shape is None:
        return None
    path = cache_folder() / f"{calibration_key(model, shape, methods, pick_device(device), targets)}.json"
    if path.is_file():
        try:
            return json.loads(path.read_text())
        except ValueError:
            return None
    return None


def calibrate(model: str, methods: list[str], device: str | None = None, *, targets: list[str] | tuple[str, ...] = (),
              refresh: bool = False) -> dict[str, Any]:
    """Measure (or read from the cache) this machine's speed for ``model``'s architecture under each method, and
    the evaluation cost per example of each target task in ``targets``."""
    device = pick_device(device)
    shape = backbone_shape(model)
    if shape is None:
        raise ConfigError(f"cannot calibrate {model!r}: its config is not here (offline?) and it is not one of "
                          f"{', '.join(sorted(KNOWN_SHAPES))}; pass a local model folder")
    path = cache_folder() / f"{calibration_key(model, shape, methods, device, targets)}.json"
    if path.is_file() and not refresh:
        return json.loads(path.read_text())
    t0 = time.perf_counter()
    import adapters  # noqa: F401 - imported before timing: a first import is not a build cost of every stage
    import peft  # noqa: F401

    with tempfile.TemporaryDirectory(prefix="adapterx-calibrate-") as tmp:
        bb = _random_backbone(model, shape, Path(tmp))
        rates = {m: _measure_method(bb, m, device, Path(tmp)) for m in methods}
        # What a stage costs besides its model (data, featurization, collation, decoding, scoring, files) does not
        # depend on the model's size: it is probed on the tiny model, whose own steps and forwards are subtracted.
        probe_bb = bb if model == bbmod.TINY else bbmod.resolve(bbmod.TINY)
        probe_rates = rates[methods[0]] if probe_bb is bb else _measure_method(probe_bb, methods[0], device, Path(tmp))
        featurize_s = _measure_featurize(bb)
        overheads = _measure_overheads(probe_bb, methods[0], probe_rates, device, Path(tmp))
        per_task = {t: _measure_eval(probe_bb, methods[0], t, probe_rates, device, Path(tmp)) for t in targets}
        overheads["eval_example_overhead_by_task"] = {t: v for t, v in per_task.items() if v is not None}
        overheads["startup_s"] = _measure_startup()
    cal = {"version": CALIBRATION_VERSION, "model": model, "shape": shape, "device": device, "threads": _threads(),
           "host": socket.gethostname(), "platform": platform.platform(), "load": os.getloadavg()[0],
           "created": time.strftime("%Y-%m-%dT%H:%M:%S"), "featurize_s_per_example": featurize_s, "methods": rates,
           **overheads,
           "seconds": round(time.perf_counter() - t0, 1)}
    atomic_write_json(path, cal)
    return cal


def _random_backbone(model: str, shape: dict[str, Any], tmp: Path):  # noqa: ANN202
    """A Backbone of ``model``'s architecture: the model itself where it is here (tiny, a local folder), else random
    weights of the known shape with the tiny tokenizer beside them (calibration feeds random token ids)."""
    if model not in KNOWN_SHAPES:
        return bbmod.resolve(model)
    import shutil

    import torch
    from transformers import AutoConfig, AutoModel

    tiny = bbmod.tiny_path()
    folder = tmp / "backbone"
    cfg = AutoConfig.for_model(shape["model_type"], **{k: v for k, v in shape.items() if k != "model_type"},
                               pad_token_id=1, bos_token_id=0, eos_token_id=2, max_position_embeddings=514,
                               type_vocab_size=1)
    torch.manual_seed(0)
    AutoModel.from_config(cfg).save_pretrained(folder, safe_serialization=True)
    for f in tiny.iterdir():
        if f.is_file() and f.name != "config.json" and f.suffix not in {".safetensors", ".bin"}:
            shutil.copy(f, folder / f.name)
    return bbmod.Backbone(id=model, path=str(folder), revision=None, sha256=None, model_type=shape["model_type"],
                          hidden_size=shape["hidden_size"], num_layers=shape["num_hidden_layers"],
                          vocab_size=shape["vocab_size"])


def _fit(points: list[tuple[int, float]]) -> tuple[float, float]:
    """``a + b x tokens`` through two (tokens, seconds) points; never negative."""
    (x0, y0), (x1, y1) = points
    b = max(0.0, (y1 - y0) / (x1 - x0))
    return max(0.0, y0 - b * x0), b


def _measure_method(bb, method: str, device: str, tmp: Path) -> dict[str, Any]:  # noqa: ANN001
    import torch

    task = get_task("stsb")
    t = time.perf_counter()
    module = build_module(method_from_options(method), bb, task, seed=0)
    build_s = time.perf_counter() - t
    model = module.model.to(device)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = make_optimizer(params, TrainConfig(), device)
    gen = torch.Generator().manual_seed(0)
    vocab = min(bb.vocab_size, 1000)

    def batch(n: int, length: int) -> dict[str, Any]:
        ids = torch.randint(5, vocab, (n, length), generator=gen)
        ids[:, 0], ids[:, -1] = 0, 2
        return {"input_ids": ids.to(device), "attention_mask": torch.ones_like(ids).to(device),
                "labels": (torch.rand(n, generator=gen) * 5).to(device)}

    def sync() -> None:
        if device.startswith("cuda"):
            torch.cuda.synchronize()

    def train_step(b: dict[str, Any]) -> float:
        sync()
        t = time.perf_counter()
        out = model(**b)
        out.loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        sync()
        return time.perf_counter() - t

    def forward(b: dict[str, Any]) -> float:
        sync()
        t = time.perf_counter()
        with torch.inference_mode():
            model(input_ids=b["input_ids"], attention_mask=b["attention_mask"])
        sync()
        return time.perf_counter() - t

    model.train()
    train_pts, infer_pts = [], []
    for length in _CAL_LENGTHS:
        b = batch(_CAL_BATCH, length)
        train_step(b)  # warm-up: first-call allocations, kernel selection
        train_pts.append((_CAL_BATCH * length, statistics.median(train_step(b) for _ in range(_CAL_REPS))))
    model.eval()
    for length in _CAL_LENGTHS:
        b = batch(EVAL_BATCH, length)
        forward(b)
        infer_pts.append((EVAL_BATCH * length, statistics.median(forward(b) for _ in range(_CAL_REPS))))
    t = time.perf_counter()
    module.save(tmp / f"module-{method}")
    save_s = time.perf_counter() - t
    ta, tb = _fit(train_pts)
    ia, ib = _fit(infer_pts)
    return {"build_s": round(build_s, 3), "save_s": round(save_s, 3), "train_a": ta, "train_b": tb,
            "infer_a": ia, "infer_b": ib, "train_points": train_pts, "infer_points": infer_pts}


_PROBE_LANGS = (("de", "es"), ("de", "es", "fr", "ru", "zh", "ar"))
_PROBE_STEPS = 9
_PROBE_EVAL = 64  # examples per evaluated language in the probes


def _measure_overheads(bb, method: str, rates: dict[str, Any], device: str, tmp: Path) -> dict[str, float]:  # noqa: ANN001
    """What a stage costs besides the model's own steps and forwards, from three real ``train_run`` stages on a few
    synthetic XNLI examples: 1 step evaluating 2 languages, 1 step evaluating 6, and 9 steps evaluating 2. The second
    minus the first is the cost of a language (data, featurization, scoring, prediction files); the third minus the
    first, per step, less the model's step time, is the loop's own cost per step (collation, logging); the rest of the
    first, less the module's build and save, is a stage's fixed cost."""
    walls = []
    for i, (steps, langs) in enumerate(((1, _PROBE_LANGS[0]), (1, _PROBE_LANGS[1]), (_PROBE_STEPS, _PROBE_LANGS[0]))):
        cfg = TrainConfig(max_steps=steps, batch_size=_CAL_BATCH, eval_steps=1000, seed=0, device=device)
        req = TrainRequest(task="xnli", method=method_from_options(method), model=bb.path, train=cfg,
                           data=DataOptions(data="synthetic", max_train_examples=_CAL_BATCH * _PROBE_STEPS,
                                            max_eval_examples=_PROBE_EVAL),
                           output=tmp / f"probe-{i}", langs=",".join(langs), evaluate=True, command="calibrate")
        t = time.perf_counter()
        train_run(req)
        walls.append(time.perf_counter() - t)
    per_lang = max(0.0, (walls[1] - walls[0]) / (len(_PROBE_LANGS[1]) - len(_PROBE_LANGS[0])))
    step_real = max(0.0, (walls[2] - walls[0]) / (_PROBE_STEPS - 1))

    tok = _synthetic_tokens_with(get_task("xnli"), bbmod.load_tokenizer(bb), 128)
    step_model = rates["train_a"] + rates["train_b"] * _CAL_BATCH * tok
    stage = max(0.0, walls[0] - len(_PROBE_LANGS[0]) * per_lang - rates["build_s"] - rates["save_s"] - step_real)
    # A language's cost less its forwards is its data, featurization, decoding, scoring and prediction files:
    # about proportional to its examples.
    per_example = max(0.0, per_lang - _forward_s(rates, _PROBE_EVAL, tok)) / _PROBE_EVAL
    return {"stage_overhead_s": round(stage, 3), "language_overhead_s": round(per_lang, 3),
            "eval_example_overhead_s": per_example,
            "loop_step_overhead_s": round(max(0.0, step_real - step_model), 4), "probe_walls": walls}


def _measure_eval(bb, method: str, target: str, rates: dict[str, Any], device: str, tmp: Path) -> float | None:  # noqa: ANN001
    """Seconds per example that evaluating ``target`` costs besides its forwards (data, featurization, decoding,
    scoring, prediction files), from synthetic data: 1 language against 4."""
    task = get_task(target)
    langs = [lang for lang in task.languages if lang != "en"]
    if task.kind == "retrieval" or task.synthetic is None or len(langs) < 2:
        return None
    big = langs[: min(4, len(langs))]
    module = build_module(method_from_options(method), bb, task, seed=0)
    tok = bbmod.load_tokenizer(bb)
    cfg = TrainConfig(device=device)
    opts = DataOptions(data="synthetic", max_eval_examples=_PROBE_EVAL)
    walls = []
    for i, chosen in enumerate((big[:1], big)):
        t = time.perf_counter()
        report = zero_shot(module, task, tok, chosen, opts, cfg, EVAL_BATCH, None, _PROBE_EVAL)
        report.save_predictions(tmp / f"eval-{target}-{i}")
        json.dumps(report.per_example())
        walls.append(time.perf_counter() - t)
    per_lang = max(0.0, (walls[1] - walls[0]) / (len(big) - 1))
    forward = _forward_s(rates, _PROBE_EVAL, _synthetic_tokens_with(task, tok, 128))
    return max(0.0, per_lang - forward) / _PROBE_EVAL


def _measure_startup() -> float:
    """Seconds a fresh process takes to import what a grid run imports (paid once per inline grid)."""
    import subprocess
    import sys

    walls = []
    for _ in range(2):  # the second with a warm page cache, as a grid's own process finds it
        t = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import torch, transformers, adapters, peft, adapterx.grid.run_cell"],
                       capture_output=True, check=False)
        walls.append(time.perf_counter() - t)
    return round(walls[-1], 3)


def _measure_featurize(bb) -> float:  # noqa: ANN001
    """Seconds per example to featurize synthetic XNLI pairs with the backbone's tokenizer."""
    tok = bbmod.load_tokenizer(bb)
    ex = synthetic.nli("en", 512, seed=0)
    task = get_task("xnli")
    t = time.perf_counter()
    ops_for(task.kind).featurize(task, ex, tok, 128, 32, train=True)
    return (time.perf_counter() - t) / len(ex)


# --------------------------------------------------------------------------------------------------------------
# Estimates


def _or_default(size: int | None) -> int:
    return DEFAULT_EVAL_SIZE if size is None else size


def _train_size(task, data: dict[str, Any]) -> int:  # noqa: ANN001

    size = task.synthetic.train_size if data.get("source") == "synthetic" and task.synthetic else task.train_size
    if data.get("max_train_examples"):
        size = min(size, int(data["max_train_examples"]))
    return size


def _dev_size(task, data: dict[str, Any]) -> int:  # noqa: ANN001
    size = task.synthetic.dev_size if data.get("source") == "synthetic" and task.synthetic else _or_default(task.dev_size)
    return min(size, int(data["max_eval_examples"])) if data.get("max_eval_examples") else size


def _test_size(task, data: dict[str, Any]) -> int:  # noqa: ANN001
    size = task.synthetic.test_size if data.get("source") == "synthetic" and task.synthetic else _or_default(task.test_size)
    return min(size, int(data["max_eval_examples"])) if data.get("max_eval_examples") else size


_SYNTH_TOKENS: dict[tuple[str, str, int], float] = {}


def _tokens(task, data: dict[str, Any], max_length: int, backbone: str) -> float:  # noqa: ANN001
    """Padded tokens per example (all options of a choice example): the mean length, grouped batches pad little."""
    if data.get("source") == "synthetic" and task.synthetic:
        key = (task.name, backbone, max_length)
        if key not in _SYNTH_TOKENS:
            _SYNTH_TOKENS[key] = _synthetic_tokens(task, backbone, max_length)
        return _SYNTH_TOKENS[key]
    typical = TYPICAL_TOKENS.get(str(task.kind), 48)
    n_opts = 2 if task.kind == "multiple_choice" else 1
    return float(min(typical, max_length * n_opts)) * 1.05


def _synthetic_tokens(task, backbone: str, max_length: int) -> float:  # noqa: ANN001
    try:
        tok = bbmod.load_tokenizer(bbmod.resolve(backbone))
    except Exception:  # noqa: BLE001 - no tokenizer here: the typical length of real text
        return float(min(TYPICAL_TOKENS.get(str(task.kind), 48), max_length))
    return _synthetic_tokens_with(task, tok, max_length)


def _synthetic_tokens_with(task, tok, max_length: int) -> float:  # noqa: ANN001

    ex = synthetic.generate(task.synthetic, "en", "train", seed=0)[:128]
    feats = ops_for(task.kind).featurize(task, ex, tok, max_length, max(8, min(64, max_length // 4)), train=True)
    lengths = item_lengths(feats.items)
    return 1.05 * sum(lengths) / max(1, len(ex))


def _stage_train(task, cfg: dict[str, Any], data: dict[str, Any], backbone: str, rates: dict[str, Any],  # noqa: ANN001
                 featurize_s: float, stage_overhead_s: float = 0.0, loop_step_s: float = 0.0,
                 opts: DataOptions | None = None) -> tuple[float, int]:
    """Seconds and optimizer steps of one training stage; ``opts``: the stage's data options, whose local files (if
    any) give the real lengths and sizes (:mod:`adapterx.grid.data_shape`)."""
    max_length, stride = int(cfg["max_length"]), int(cfg.get("doc_stride") or 64)
    train = data_shape.measure(task, "train", "en", opts, backbone, max_length, stride) if opts else None
    dev = data_shape.measure(task, "dev", "en", opts, backbone, max_length, stride) if opts else None
    n = train.examples if train else _train_size(task, data)
    if n == 0:
        return 0.0, 0
    per_step = int(cfg["batch_size"]) * int(cfg.get("grad_accum") or 1)
    steps = int(cfg["max_steps"]) if cfg.get("max_steps") else math.ceil(float(cfg["epochs"]) * n / per_step)
    tok = train.tokens if train else _tokens(task, data, max_length, backbone)
    # QA: about two windows per example unless measured
    n_train_feats = n * (train.features_per_example if train else 1 if task.kind != "span_qa" else 2)
    micro = int(cfg["batch_size"])
    step_s = (int(cfg.get("grad_accum") or 1)) * (rates["train_a"] + rates["train_b"] * micro * tok + loop_step_s)
    steps_per_epoch = max(1, math.ceil(n_train_feats / micro) // int(cfg.get("grad_accum") or 1))
    n_evals = max(1, math.ceil(steps / int(cfg.get("eval_every") or steps_per_epoch)))
    if dev:
        dev_n, dev_feats, dev_tok = dev.examples, dev.examples * dev.features_per_example, dev.tokens
    else:
        dev_n = _dev_size(task, data)
        dev_feats, dev_tok = dev_n, tok
    dev_s = n_evals * _forward_s(rates, math.ceil(dev_feats), dev_tok)
    overhead = rates["build_s"] + rates["save_s"] + featurize_s * (n_train_feats + dev_n) + stage_overhead_s
    return overhead + steps * step_s + dev_s, steps


def _forward_s(rates: dict[str, Any], n_examples: int, tok: float) -> float:
    batches = math.ceil(n_examples / EVAL_BATCH)
    return batches * rates["infer_a"] + rates["infer_b"] * n_examples * tok


def _eval_languages(task, cell: dict[str, Any]) -> list[str]:  # noqa: ANN001
    wanted = (cell.get("eval") or {}).get("languages") or []
    langs = [lang for lang in wanted if lang in task.languages]
    return langs or list(task.languages)


def _local(opts: DataOptions) -> DataOptions | None:
    return opts if data_shape.local_options(opts) else None


def _measured_zero_shot(task, cell: dict[str, Any], opts: DataOptions | None, backbone: str,  # noqa: ANN001
                        rates: dict[str, Any], post: float) -> float | None:
    """Seconds to evaluate the languages the cell's local data folder holds, each at its measured size and length;
    None where the data is not local or a language's file cannot be read here."""
    if opts is None:
        return None
    cfg = cell["training"]["target"]
    chosen = data_shape.eval_languages(task, opts, list((cell.get("eval") or {}).get("languages") or []),
                                       int((cell.get("eval") or {}).get("low_resource_threshold", 2)))
    if chosen is None:
        return None
    split, langs = chosen
    total = 0.0
    for lang in langs:
        shape = data_shape.measure(task, split, lang, opts, backbone, int(cfg["max_length"]),
                                   int(cfg.get("doc_stride") or 64), for_eval=True)
        if shape is None:
            return None
        total += _forward_s(rates, math.ceil(shape.examples * shape.features_per_example), shape.tokens)
        total += post * shape.examples
    return total


def estimate_grid(cells: list[dict[str, Any]], calibrations: dict[tuple[str, str], dict[str, Any]]) -> dict[str, Any]:
    """Seconds per stage for ``cells`` from per-(backbone, method) calibrations; cells without one are left out and
    counted in ``uncalibrated``."""
    stages = {"intermediate": 0.0, "target": 0.0, "zero_shot": 0.0}
    steps = 0
    seen: set[str] = set()
    uncalibrated = 0
    for cell in cells:
        bb, method, data = cell["backbone"], cell["method"]["name"], cell.get("data") or {}
        cal = calibrations.get((bb, method))
        if cal is None:
            uncalibrated += 1
            continue
        rates, feat = cal["methods"][method], cal["featurize_s_per_example"]
        fixed = cal.get("stage_overhead_s", 0.0)  # a language's own cost is in its per-example overhead
        loop = cal.get("loop_step_overhead_s", 0.0)
        if cell["intermediate"] and cell["intermediate_key"] not in seen:
            seen.add(cell["intermediate_key"])
            for name, cfg in zip(cell["intermediate"], cell["training"]["intermediate"]):
                s, n = _stage_train(get_task(name), cfg, stage_data(cell, name), bb, rates, feat, fixed, loop,
                                    _local(data_options(cell, name)))
                stages["intermediate"] += s
                steps += n
        target = get_task(cell["target"])
        langs = _eval_languages(target, cell)
        opts = _local(data_options(cell))
        if target.kind != "retrieval":
            s, n = _stage_train(target, cell["training"]["target"], data, bb, rates, feat, fixed, loop, opts)
            stages["target"] += s
            steps += n
            tok = _tokens(target, data, int(cell["training"]["target"]["max_length"]), bb)
            n_test = _test_size(target, data) * (2 if target.kind == "span_qa" else 1)
        else:  # retrieval encodes both sides of every pair
            tok = float(TYPICAL_TOKENS["retrieval"])
            n_test = 2 * _test_size(target, data)
        post = (cal.get("eval_example_overhead_by_task") or {}).get(target.name, cal.get("eval_example_overhead_s", feat))
        measured = _measured_zero_shot(target, cell, opts, bb, rates, post) if target.kind != "retrieval" else None
        stages["zero_shot"] += measured if measured is not None else len(langs) * (_forward_s(rates, n_test, tok)
                                                                                  + post * n_test)
    startup = max((c.get("startup_s", 0.0) for c in calibrations.values()), default=0.0) if cells else 0.0
    total = sum(stages.values()) + startup
    return {"seconds": {k: round(v, 1) for k, v in stages.items()}, "startup_seconds": startup,
            "total_seconds": round(total, 1),
            "optimizer_steps": steps, "intermediate_trainings": len(seen), "uncalibrated_cells": uncalibrated,
            "dominant_stage": max(stages, key=stages.get) if total > 0 else None}


def calibrate_cells(cells: list[dict[str, Any]], *, measure: bool = True,
                    on_start: Any = None) -> dict[tuple[str, str], dict[str, Any]]:
    """A calibration per (backbone, method) the cells use: cached ones, and with ``measure`` the missing ones
    measured now (``on_start(backbone, methods)`` is called before each measurement)."""
    by_backbone: dict[str, set[str]] = {}
    targets: dict[str, set[str]] = {}
    for cell in cells:
        by_backbone.setdefault(cell["backbone"], set()).add(cell["method"]["name"])
        targets.setdefault(cell["backbone"], set()).add(cell["target"])
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for bb, methods in by_backbone.items():
        ms, ts = sorted(methods), sorted(targets[bb])
        cal = cached_calibration(bb, ms, targets=ts)
        if cal is None and measure and backbone_shape(bb) is not None:
            if on_start:
                on_start(bb, ms)
            cal = calibrate(bb, ms, targets=ts)
        if cal is not None:
            for m in ms:
                out[(bb, m)] = cal
    return out


def grid_cost(cells: list[dict[str, Any]], *, measure: bool = True, on_start: Any = None) -> dict[str, Any] | None:
    """``--dry-run``'s measured estimate of ``cells``: seconds per stage on this machine, from the cached calibration
    (measured now where missing and ``measure``); None when no backbone of the cells could be calibrated."""
    cals = calibrate_cells(cells, measure=measure, on_start=on_start)
    if not cals:
        return None
    est = estimate_grid(cells, cals)
    first = next(iter(cals.values()))
    est["calibration"] = {"device": first["device"], "threads": first["threads"], "load": first["load"],
                          "created": first["created"], "seconds": first["seconds"],
                          "backbones": sorted({bb for bb, _ in cals})}
    return est
