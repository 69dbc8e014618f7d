"""One readable training loop: AdamW, linear warmup and decay, gradient accumulation, evaluation every
``eval_steps`` steps with best-checkpoint selection on the English dev set, bf16 autocast and CUDA when present.

Only parameters with ``requires_grad`` reach the optimizer, so frozen backbone weights are never touched (not even by
weight decay): that is what makes "the base is bitwise unchanged" hold for adapters and LoRA.
"""

from __future__ import annotations

import contextlib
import math
import random
import re
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from adapterx.engine import batching, speed
from adapterx.errors import AdapterxError, ConfigError
from adapterx.engine import distributed
from adapterx.fsio import atomic_path


# A progress callback: receives one event dict per step, evaluation or phase (the CLI renders them).
Progress = Callable[[dict[str, Any]], None]

class TrainConfig(BaseModel):
    """Hyperparameters of one training run (recorded in run.json)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # Each field is also a flag of every training command (cli/options.py:training_options: ``--field-name``, its
    # description the help) and a key of a recipe's training stages. ``json_schema_extra={"applies": ...}`` says which
    # runs a field means something for (task kinds, ...): a flag given where it does not apply is refused.
    lr: float = Field(1e-4, gt=0, description="peak learning rate (default: the method's, 1e-4 adapter/LoRA, 2e-5 "
                      "full/sft; tiny: 3e-3, 1e-3)")
    batch_size: int = Field(16, ge=1, description="examples per optimizer step (the global batch)")
    grad_accum: int = Field(1, ge=1, description="gradient accumulation steps per optimizer step")
    epochs: float = Field(3.0, gt=0, description="passes over the training data")
    max_steps: int | None = Field(None, ge=1, description="optimizer steps; overrides epochs")
    warmup_ratio: float = Field(0.1, ge=0, lt=1, description="share of the steps with a linear warmup")
    weight_decay: float = Field(0.01, ge=0, description="AdamW weight decay (not on biases and LayerNorm weights)")
    max_grad_norm: float = Field(1.0, gt=0, description="clip the gradient norm to this")
    eval_steps: int | None = Field(None, ge=1, description="evaluate on English dev every N steps (default: once per epoch)")
    max_length: int = Field(128, ge=16, description="tokens per input (QA: per window)")
    doc_stride: int = Field(64, ge=8, description="QA: token overlap between windows",
                            json_schema_extra={"applies": {"kind": ("span_qa",)}})
    # torch, numpy and python seed from it: numpy takes 0 .. 2**32-1 (a larger one was a traceback)
    seed: int = Field(42, ge=0, le=2**32 - 1, description="random seed (0 .. 4294967295)")
    bf16: bool = Field(False, description="bf16 autocast where the hardware supports it")
    gradient_checkpointing: bool = Field(
        False, description="recompute layer activations in the backward pass: less memory, about 1.7x step time"
    )
    device: str | None = Field(None, description="cpu, cuda, cuda:N or mps (default: cuda when present)")
    early_stopping_patience: int | None = Field(
        None, ge=1, description="stop after this many dev evaluations without a better selection score (default: never)"
    )
    group_by_length: bool | None = Field(
        None, description="batches of examples of similar length (shuffled mega-batches, sorted inside: less padding);"
        " default: on where random batches would be at least 10% padding (short texts) and the length predicts the"
        " label weakly (adapterx.engine.batching)"
    )
    compile: bool = Field(
        False, description="torch.compile each transformer layer (training and evaluation); off by default: on this"
        " project's 2-core CPU its compile time is not paid back by a typical run (benchmarks/README.md)"
    )


# Settings a resumed run may change: they do not change the result (device placement; gradient checkpointing
# recomputes the same activations). Every other hyperparameter must match the checkpoint's.
RESUME_FREE = frozenset({"device", "gradient_checkpointing"})


class TrainingError(AdapterxError):
    """Training stopped on a fault (NaN loss, a data error): the message names the step."""


@dataclass
class TrainResult:
    best_step: int
    best_dev: dict[str, float]
    selection_metric: str
    loss_curve: list[tuple[int, float]] = field(default_factory=list)
    dev_curve: list[tuple[int, dict[str, float]]] = field(default_factory=list)
    steps: int = 0
    train_time_s: float = 0.0
    examples_per_s: float = 0.0
    resumed_from_step: int | None = None  # set when the run continued from a checkpoint
    stopped_early: bool = False  # early_stopping_patience evaluations passed without a better dev score
    group_by_length: bool = False  # what ran (TrainConfig.group_by_length resolved)
    compiled: bool = False

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def seed_everything(seed: int) -> None:
    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)


_DEVICE = re.compile(r"(cpu|mps|cuda)(:(\d+))?")


def check_device(name: str | None) -> None:
    """``--device`` names a device this torch can use (cpu, cuda, cuda:N, mps); :class:`ConfigError` otherwise.

    Checked before anything loads: torch's own answers are an AssertionError ("Torch not compiled with CUDA
    enabled") or a RuntimeError listing every device type it knows, after the model is built."""
    if name is None:
        return
    m = _DEVICE.fullmatch(name)
    if m is None or (m.group(1) == "cpu" and m.group(2)):
        raise ConfigError(f"--device {name!r}: use cpu, cuda, cuda:N or mps (default: cuda when present, else cpu)")
    import torch

    if m.group(1) == "cuda":
        if not torch.cuda.is_available():
            why = "this torch is a CPU-only build" if torch.version.cuda is None else "no CUDA GPU is visible"
            raise ConfigError(f"--device {name}: {why}; drop --device (cpu is used) or pass --device cpu")
        count = torch.cuda.device_count()
        if m.group(3) is not None and int(m.group(3)) >= count:
            raise ConfigError(f"--device {name}: {count} GPU(s) visible, use cuda:0 .. cuda:{count - 1}")
    if m.group(1) == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ConfigError(f"--device {name}: MPS (Apple GPU) is not available here; drop --device or pass --device cpu")


def pick_device(name: str | None) -> str:
    import torch

    if name:
        check_device(name)
        return name
    return "cuda" if torch.cuda.is_available() else "cpu"


def autocast(device: str, bf16: bool):  # noqa: ANN201
    """bf16 autocast where asked and supported; a no-op context otherwise (``device``: cpu, cuda or cuda:N)."""
    import torch

    if not bf16:
        return contextlib.nullcontext()
    cuda = str(device).startswith("cuda")
    if cuda and not torch.cuda.is_bf16_supported():
        return contextlib.nullcontext()
    return torch.autocast(device_type="cuda" if cuda else "cpu", dtype=torch.bfloat16)


def check_batch(batch_size: int, world: int) -> None:
    """The batch size is the global batch: N data-parallel processes must split it evenly."""
    if batch_size % world:
        lower = batch_size - batch_size % world
        raise TrainingError(f"--batch-size {batch_size} is the global batch and must divide by the {world} processes:"
                            f" use {lower or world} or {lower + world}")


def make_optimizer(params: list, cfg: TrainConfig, device: str):  # noqa: ANN201
    """AdamW over the trainable parameters, no decay on biases and LayerNorm weights (1-d tensors).

    ``foreach``/``fused`` kernels update all tensors in a few launches instead of one loop step per tensor; fused
    AdamW is measured 1.3x faster for full fine-tuning on this CPU (library notes: 3.9 -> 3.0 s/step).
    """
    import torch

    decay = [p for p in params if p.ndim > 1]
    no_decay = [p for p in params if p.ndim <= 1]
    groups = [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    try:
        return torch.optim.AdamW(groups, lr=cfg.lr, fused=True)
    except (RuntimeError, TypeError):  # fused not supported for this device/dtype
        return torch.optim.AdamW(groups, lr=cfg.lr, foreach=True)


def linear_schedule(optimizer, warmup: int, total: int):  # noqa: ANN001, ANN201
    """Linear warmup from 0 over ``warmup`` steps, then linear decay to 0 at ``total`` steps."""
    import torch

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / max(1, warmup)
        return max(0.0, (total - step) / max(1, total - warmup))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


class SingleTaskData:
    """One task's training features: each epoch is a fresh random permutation of the examples, or, where
    ``cfg.group_by_length`` says so (auto: :func:`adapterx.engine.batching.resolve_group_by_length`), batches of
    similar lengths in random order."""

    def __init__(self, features, collate: Callable[[list[dict[str, Any]]], dict[str, Any]],  # noqa: ANN001
                 cfg: TrainConfig | None = None) -> None:
        self.features, self.collate = features, collate
        self.batch_size = cfg.batch_size if cfg else 1
        setting = cfg.group_by_length if cfg else False
        self.lengths = batching.item_lengths(features.items) if setting is not False else []
        labels = batching.item_labels(features.items) if setting is None else None
        self.grouped = batching.resolve_group_by_length(setting, self.lengths, self.batch_size, labels)

    def __len__(self) -> int:
        return len(self.features)

    def epoch_order(self, gen) -> list[int]:  # noqa: ANN001 - torch.Generator
        import torch

        if self.grouped:
            return batching.length_grouped_order(self.lengths, self.batch_size, gen)
        return torch.randperm(len(self.features), generator=gen).tolist()

    def batch(self, idx: list[int]) -> dict[str, Any]:
        return self.collate([self.features.items[i] for i in idx])

    def state(self) -> dict[str, Any]:
        return {}

    def load_state(self, state: dict[str, Any]) -> None:
        pass


def train(
    module,  # noqa: ANN001 - adapterx.methods.Module
    train_features,  # noqa: ANN001 - Features, or a data object (SingleTaskData's interface: multi-task training)
    collate: Callable[[list[dict[str, Any]]], dict[str, Any]] | None,
    evaluate_dev: Callable[[], dict[str, Any]],
    selection_metric: str | Callable[[dict[str, Any]], float],
    cfg: TrainConfig,
    progress: Callable[[dict[str, Any]], None] | None = None,
    checkpoint: Path | None = None,
    resume: bool = False,
    identity: dict[str, Any] | None = None,
) -> TrainResult:
    """Train ``module`` on ``train_features``; keep the trainable weights of the best dev score and restore them.

    With ``checkpoint`` (a file path), the full training state is written there at every evaluation: trainable
    weights, optimizer, scheduler, every RNG, the data order and position, the curves and the best weights. With
    ``resume`` a run killed at any point continues from that state, and on CPU with the same seed ends with exactly
    the metrics of an uninterrupted run. A fault (NaN loss) leaves the last good checkpoint in place.

    ``train_features`` with ``collate`` is one task; a data object instead (``collate`` None) decides each epoch's
    example order and builds batches itself (:class:`adapterx.workflows.multitask.MultiTaskData`: every batch from one
    task). ``selection_metric`` names the dev score to maximise, or computes it from the dev dict. With
    ``cfg.early_stopping_patience`` training stops after that many evaluations without a better score.

    ``identity`` (task, method, backbone, data, hyperparameters: whatever decides the result) is stored in the
    checkpoint; ``resume`` refuses a checkpoint whose identity differs, naming the fields, so that a run is never
    continued under other settings and recorded as if it had used them throughout.

    The method's hooks (``module.hooks``, :class:`adapterx.methods.protocol.Hooks`) run at fixed points: its prelude
    first, ``before_train`` with the step count, ``after_step`` after every optimizer step (before ``zero_grad``), and
    its ``state`` goes into every checkpoint and with the best weights (``load_state`` restores it).
    """
    import torch

    hooks = getattr(module, "hooks", None)  # a multi-task module has none
    prelude = getattr(hooks, "prelude", None)
    if prelude is not None:  # a method's own first phase (LT-SFT: the dense phase that picks the mask), same loop
        hooks.prelude = None  # it runs once: the phase's own train() call must not run it again
        prelude(lambda cfg1, ckpt1: train(module, train_features, collate, evaluate_dev, selection_metric, cfg1,
                                          progress, ckpt1, resume), cfg, checkpoint)
    after_step, method_state, load_method_state = (getattr(hooks, h, None) for h in ("after_step", "state", "load_state"))
    seed_everything(cfg.seed)
    check_batch(cfg.batch_size, distributed.world_size())
    dist = distributed.setup(cfg.device)
    world, rank = (dist.world_size, dist.rank) if dist else (1, 0)
    device = dist.device if dist else pick_device(cfg.device)
    model = module.model.to(device)
    if cfg.gradient_checkpointing:
        # Non-reentrant checkpointing works with a frozen base (no input needs grad) and restores the RNG state, so
        # dropout masks, and the result, are those of a run without it. Measured at XLM-R base size, adapter:
        # peak RSS 2.74 -> 1.95 GB, step 3.1 -> 5.3 s (benchmarks/README.md).
        target = model.get_base_model() if hasattr(model, "get_base_model") else model
        target.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    # Data-parallel: `ddp` runs forward/backward and averages gradients; `model` (unwrapped) is what evaluates and
    # what the caller saves. Without a launch they are the same object.
    if cfg.compile:
        speed.compile_layers(model)
    # A multi-task model leaves the other tasks' heads out of each step: DDP must look for unused parameters.
    ddp = distributed.wrap(model, dist, find_unused=bool(getattr(module, "find_unused_parameters", False)))
    data = train_features if collate is None else SingleTaskData(train_features, collate, cfg)
    select = selection_metric if callable(selection_metric) else (lambda dev: dev.get(selection_metric, -math.inf))
    selection_name = getattr(selection_metric, "__name__", "selection") if callable(selection_metric) else selection_metric
    named = {k: p for k, p in model.named_parameters() if p.requires_grad}
    params = list(named.values())
    if not params:
        raise TrainingError("nothing to train: the module has no trainable parameters")
    n = len(data)
    if n == 0:
        raise TrainingError("the training set is empty")
    micro_per_epoch = math.ceil(n / cfg.batch_size)
    steps_per_epoch = max(1, micro_per_epoch // cfg.grad_accum)
    total = cfg.max_steps or max(1, int(round(cfg.epochs * steps_per_epoch)))
    eval_every = cfg.eval_steps or min(total, steps_per_epoch)
    optimizer = make_optimizer(params, cfg, device)
    scheduler = linear_schedule(optimizer, int(cfg.warmup_ratio * total), total)
    gen = torch.Generator().manual_seed(cfg.seed)
    if getattr(hooks, "before_train", None) is not None:
        hooks.before_train(total)

    result = TrainResult(best_step=0, best_dev={}, selection_metric=selection_name,
                         group_by_length=bool(getattr(data, "grouped", False)), compiled=cfg.compile)
    since_best = 0  # evaluations without a better score (early stopping)
    best_score, best_state = -math.inf, None
    best_method = None  # the method's hook state at the best evaluation (restored with the best weights)
    step, micro, seen, t0 = 0, 0, 0, time.perf_counter()
    order: list[int] | None = None  # this epoch's example order; None = draw a new one
    pos = 0  # the next example of `order`
    running = 0.0
    if resume and checkpoint is not None and checkpoint.is_file():
        state = load_checkpoint(checkpoint, device)
        differ = identity_diff(state.get("identity"), identity)
        if differ:
            raise TrainingError(f"--resume: {checkpoint} was written with {differ[0]}; this command gives {differ[1]}."
                                f" Resume with the same settings, or remove {checkpoint.parent} to start over")
        if state["total"] != total or set(state["weights"]) != set(named):
            raise TrainingError(f"--resume: {checkpoint} was written by a run with other settings; resume with the"
                                f" same settings, or remove {checkpoint.parent} to start over")
        with torch.no_grad():
            for k, v in state["weights"].items():
                named[k].copy_(v)
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        _set_rng(state["rng"], gen)
        step, micro, seen, order, pos = state["step"], state["micro"], state["seen"], state["order"], state["pos"]
        best_score, best_state = state["best_score"], state["best_state"]
        best_method = state.get("best_method_state")
        if load_method_state is not None and state.get("method_state") is not None:
            load_method_state(state["method_state"])
        result.best_step, result.best_dev = state["best_step"], state["best_dev"]
        result.loss_curve, result.dev_curve = state["loss_curve"], state["dev_curve"]
        result.resumed_from_step = step
        since_best = state.get("since_best", 0)
        data.load_state(state.get("data", {}))
        if progress:
            progress({"phase": "resume", "step": step, "total": total})
    if rank != 0:  # rank 0 alone prints, logs to trackers and writes checkpoints
        progress, checkpoint = None, None
    model.train()
    while step < total:
        if order is None:
            order, pos = data.epoch_order(gen), 0
        while pos < len(order) and step < total:
            # One global batch of `batch_size` examples; with N processes this rank takes its 1/N of it.
            idx = distributed.shard(order[pos : pos + cfg.batch_size], order, rank, world)
            pos += cfg.batch_size
            batch = {k: v.to(device) for k, v in data.batch(idx).items()}
            sync = (micro + 1) % cfg.grad_accum == 0  # DDP all-reduces gradients only on the last micro-batch
            with contextlib.nullcontext() if sync or ddp is model else ddp.no_sync():
                with autocast(device, cfg.bf16):
                    out = ddp(**batch)
                loss = out.loss.float()
                logged = distributed.mean_across(loss)
                if not torch.isfinite(logged):
                    kept = f"; the last good checkpoint is kept in {checkpoint.parent}" if checkpoint and checkpoint.is_file() else ""
                    raise TrainingError(
                        f"loss became {logged.item()} at step {step + 1}: lower --lr, or check the labels of the training data{kept}"
                    )
                (loss / cfg.grad_accum).backward()
            running += logged.item() / cfg.grad_accum
            seen += len(batch["input_ids"]) * world
            micro += 1
            if micro % cfg.grad_accum:
                continue
            torch.nn.utils.clip_grad_norm_(params, cfg.max_grad_norm)
            optimizer.step()
            if after_step is not None:  # the gradients are still there (AdaLoRA's importance scores read them)
                after_step(step + 1)
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            step += 1
            result.loss_curve.append((step, round(running, 6)))
            elapsed = time.perf_counter() - t0
            if progress:
                event = {"step": step, "total": total, "loss": running, "examples_per_s": seen / max(elapsed, 1e-9)}
                tag = getattr(data, "last_task", None)  # multi-task: the task of this step's (last) batch
                progress({**event, "task": tag} if tag else event)
            running = 0.0
            if step % eval_every == 0 or step == total:
                model.eval()
                # Rank 0 scores the dev set; the others wait for its score so all keep the same best weights.
                dev = distributed.broadcast_object(evaluate_dev() if rank == 0 else None)
                model.train()
                result.dev_curve.append((step, dev))
                score = select(dev)
                if score is None or (isinstance(score, float) and math.isnan(score)):
                    score = -math.inf
                if score > best_score or best_state is None:
                    best_score, result.best_step, result.best_dev = score, step, dev
                    # Only trainable tensors change during training: a copy of them restores the best checkpoint.
                    best_state = {k: v.detach().clone() for k, v in named.items()}
                    best_method = method_state() if method_state is not None else None
                    since_best = 0
                else:
                    since_best += 1
                if progress:
                    progress({"step": step, "total": total, "dev": dev})
                if checkpoint is not None and step < total:
                    _save_checkpoint(checkpoint, {
                        "identity": identity, "total": total, "step": step, "micro": micro, "seen": seen, "order": order, "pos": pos,
                        "weights": {k: v.detach().clone() for k, v in named.items()},
                        "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(), "rng": _get_rng(gen),
                        "best_score": best_score, "best_state": best_state, "best_step": result.best_step,
                        "best_dev": result.best_dev, "loss_curve": result.loss_curve, "dev_curve": result.dev_curve,
                        "since_best": since_best, "data": data.state(),
                        "method_state": method_state() if method_state is not None else None,
                        "best_method_state": best_method,
                    })
                if cfg.early_stopping_patience is not None and since_best >= cfg.early_stopping_patience:
                    result.stopped_early = True
                    total = step  # ends both loops; the schedule was planned for the full length, as HF's callback
        if pos >= len(order):
            order = None
    if best_state is not None:
        with torch.no_grad():
            for k, v in best_state.items():
                named[k].copy_(v)
        if best_method is not None and load_method_state is not None:
            load_method_state(best_method)
    model.eval()
    result.steps = step
    result.train_time_s = round(time.perf_counter() - t0, 3)
    result.examples_per_s = round(seen / max(result.train_time_s, 1e-9), 2)
    return result


def _get_rng(gen) -> dict[str, Any]:  # noqa: ANN001
    import numpy as np
    import torch

    return {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state(),
            "generator": gen.get_state(), "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None}


def _set_rng(state: dict[str, Any], gen) -> None:  # noqa: ANN001
    import numpy as np
    import torch

    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    gen.set_state(state["generator"])
    if state.get("cuda") and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


_STATE_KEYS = ("total", "step", "micro", "seen", "order", "pos", "weights", "optimizer", "scheduler", "rng",
               "best_score", "best_state", "best_step", "best_dev", "loss_curve", "dev_curve")


def load_checkpoint(path: Path, device: str = "cpu") -> dict[str, Any]:
    """The training state :func:`train` wrote; :class:`TrainingError` naming the file when it is cut or not one."""
    import torch

    try:
        state = torch.load(path, map_location=device, weights_only=False)  # our own file, never a download
    except Exception as exc:  # noqa: BLE001 - a cut file raises OSError, EOFError, RuntimeError, UnpicklingError...
        why = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise TrainingError(f"--resume: {path} is damaged ({why}); remove {path.parent} and run the command without"
                            " --resume to start over") from None
    if not isinstance(state, dict) or any(k not in state for k in _STATE_KEYS):
        raise TrainingError(f"--resume: {path} is not a training checkpoint of adapterx; remove {path.parent} and"
                            " run the command without --resume to start over")
    return state


def _flat(obj: Any, prefix: str = "") -> dict[str, Any]:
    if not isinstance(obj, dict):
        return {prefix: obj}
    out: dict[str, Any] = {}
    for k, v in obj.items():
        out.update(_flat(v, f"{prefix}.{k}" if prefix else str(k)))
    return out


def identity_diff(stored: dict[str, Any] | None, given: dict[str, Any] | None) -> tuple[str, str] | None:
    """``("lr=0.003", "lr=0.01")``: the fields on which a checkpoint's identity and this run's differ (None: same,
    or either side unknown, as with a checkpoint of an adapterx that stored none)."""
    if stored is None or given is None:
        return None
    a, b = _flat(stored), _flat(given)
    keys = [k for k in dict.fromkeys([*a, *b]) if a.get(k) != b.get(k)]
    # Another method altogether: its name says it, the options of either method would only add noise.
    renamed = {k[: -len(".name")] for k in keys if k.endswith(".name")}
    keys = [k for k in keys if k.endswith(".name") or k.rsplit(".", 1)[0] not in renamed]
    if not keys:
        return None
    return ", ".join(f"{k}={a.get(k)}" for k in keys), ", ".join(f"{k}={b.get(k)}" for k in keys)


def _save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    """Write-then-rename: a kill during the write leaves the previous checkpoint intact."""
    import torch

    with atomic_path(path) as tmp:
        torch.save(state, tmp)
