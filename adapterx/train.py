"""One readable training loop: AdamW, linear warmup and decay, gradient accumulation, evaluation every
``eval_steps`` steps with best-checkpoint selection on the English dev set, bf16 autocast and CUDA when present.

Only parameters with ``requires_grad`` reach the optimizer, so frozen backbone weights are never touched (not even by
weight decay): that is what makes "the base is bitwise unchanged" hold for adapters and LoRA.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from adapterx.errors import AdapterxError


class TrainConfig(BaseModel):
    """Hyperparameters of one training run (recorded in run.json)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    lr: float = Field(1e-4, gt=0, description="peak learning rate (adapter/LoRA 1e-4; full fine-tuning 2e-5)")
    batch_size: int = Field(16, ge=1)
    grad_accum: int = Field(1, ge=1, description="gradient accumulation steps per optimizer step")
    epochs: float = Field(3.0, gt=0)
    max_steps: int | None = Field(None, ge=1, description="optimizer steps; overrides epochs")
    warmup_ratio: float = Field(0.1, ge=0, lt=1)
    weight_decay: float = Field(0.01, ge=0)
    max_grad_norm: float = Field(1.0, gt=0)
    eval_steps: int | None = Field(None, ge=1, description="evaluate on English dev every N steps (default: once per epoch)")
    max_length: int = Field(128, ge=16)
    doc_stride: int = Field(64, ge=8)
    seed: int = 42
    bf16: bool = False
    device: str | None = None  # "cpu", "cuda" or None for automatic


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

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def seed_everything(seed: int) -> None:
    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)


def pick_device(name: str | None) -> str:
    import torch

    if name:
        return name
    return "cuda" if torch.cuda.is_available() else "cpu"


def autocast(device: str, bf16: bool):  # noqa: ANN201
    """bf16 autocast where asked and supported; a no-op context otherwise."""
    import contextlib

    import torch

    if not bf16:
        return contextlib.nullcontext()
    if device == "cuda" and not torch.cuda.is_bf16_supported():
        return contextlib.nullcontext()
    return torch.autocast(device_type="cuda" if device == "cuda" else "cpu", dtype=torch.bfloat16)


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


def train(
    module,  # noqa: ANN001 - adapterx.methods.Module
    train_features,  # noqa: ANN001 - Features
    collate: Callable[[list[dict[str, Any]]], dict[str, Any]],
    evaluate_dev: Callable[[], dict[str, float]],
    selection_metric: str,
    cfg: TrainConfig,
    progress: Callable[[dict[str, Any]], None] | None = None,
) -> TrainResult:
    """Train ``module`` on ``train_features``; keep the trainable weights of the best dev score and restore them."""
    import torch

    seed_everything(cfg.seed)
    device = pick_device(cfg.device)
    model = module.model.to(device)
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise TrainingError("nothing to train: the module has no trainable parameters")
    n = len(train_features)
    if n == 0:
        raise TrainingError("the training set is empty")
    micro_per_epoch = math.ceil(n / cfg.batch_size)
    steps_per_epoch = max(1, micro_per_epoch // cfg.grad_accum)
    total = cfg.max_steps or max(1, int(round(cfg.epochs * steps_per_epoch)))
    eval_every = cfg.eval_steps or min(total, steps_per_epoch)
    optimizer = make_optimizer(params, cfg, device)
    scheduler = linear_schedule(optimizer, int(cfg.warmup_ratio * total), total)
    gen = torch.Generator().manual_seed(cfg.seed)

    result = TrainResult(best_step=0, best_dev={}, selection_metric=selection_metric)
    best_score, best_state = -math.inf, None
    step, micro, seen, t0 = 0, 0, 0, time.perf_counter()
    running = 0.0
    model.train()
    while step < total:
        order = torch.randperm(n, generator=gen).tolist()
        for b in range(0, n, cfg.batch_size):
            batch = collate([train_features.items[i] for i in order[b : b + cfg.batch_size]])
            batch = {k: v.to(device) for k, v in batch.items()}
            with autocast(device, cfg.bf16):
                out = model(**batch)
            loss = out.loss.float()
            if not torch.isfinite(loss):
                raise TrainingError(
                    f"loss became {loss.item()} at step {step + 1}: lower --lr, or check the labels of the training data"
                )
            (loss / cfg.grad_accum).backward()
            running += loss.item() / cfg.grad_accum
            seen += len(batch["input_ids"])
            micro += 1
            if micro % cfg.grad_accum:
                continue
            torch.nn.utils.clip_grad_norm_(params, cfg.max_grad_norm)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            step += 1
            result.loss_curve.append((step, round(running, 6)))
            elapsed = time.perf_counter() - t0
            if progress:
                progress({"step": step, "total": total, "loss": running, "examples_per_s": seen / max(elapsed, 1e-9)})
            running = 0.0
            if step % eval_every == 0 or step == total:
                model.eval()
                dev = evaluate_dev()
                model.train()
                result.dev_curve.append((step, dev))
                score = dev.get(selection_metric, -math.inf)
                if score is None or (isinstance(score, float) and math.isnan(score)):
                    score = -math.inf
                if score > best_score or best_state is None:
                    best_score, result.best_step, result.best_dev = score, step, dev
                    # Only trainable tensors change during training: a copy of them restores the best checkpoint.
                    best_state = {k: v.detach().clone() for k, v in model.named_parameters() if v.requires_grad}
                if progress:
                    progress({"step": step, "total": total, "dev": dev})
            if step >= total:
                break
    if best_state is not None:
        with torch.no_grad():
            named = dict(model.named_parameters())
            for k, v in best_state.items():
                named[k].copy_(v)
    model.eval()
    result.steps = step
    result.train_time_s = round(time.perf_counter() - t0, 3)
    result.examples_per_s = round(seen / max(result.train_time_s, 1e-9), 2)
    return result
