"""Multi-task intermediate training: one shared module (adapter, LoRA or the full encoder) with a head per task.

Phang et al.'s best single X-STILTs result came from all intermediate tasks together. Each optimizer step draws one
task with probability proportional to ``size ** (1 / T)`` (temperature-scaled; T = 1: proportional to size, T -> inf:
uniform), then one batch of it. Every task's English dev metric is reported; the checkpoint with the best mean of the
tasks' selection metrics is kept.

The module folder is what ``stack`` and ``retrieve`` take as an intermediate, in each library's native layout:
adapter: ``save_adapter`` folder of the shared adapter (without head) + ``heads/<task>/``; lora: a peft folder of the
shared LoRA (task_type None) + ``heads.safetensors``; full: ``save_pretrained`` of the first task's model + heads.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from adapterx.data import cache as feature_cache
from adapterx import __version__
from adapterx.data.sources import DataOptions, load_split
from adapterx.errors import ConfigError
from adapterx.data.sources import with_model_defaults
from adapterx.engine.loop import Progress
from adapterx.tasks import with_discovered_labels
from adapterx.methods.multitask import ModuleView, SharedModule
from adapterx.workflows.train import RunOutcome
from adapterx.engine.loop import TrainConfig, TrainingError, autocast, linear_schedule, make_optimizer, pick_device, seed_everything

@dataclass(frozen=True)
class MultiTaskRequest:
    tasks: tuple[str, ...]
    method: Any
    model: str = "xlm-roberta-base"
    revision: str | None = None
    data: DataOptions = DataOptions()
    train: TrainConfig = TrainConfig()
    temperature: float = 1.0
    output: Path | None = None
    command: str = "train-intermediate"
    report_to: str | None = None  # experiment tracker: tensorboard | wandb | mlflow (logs in RUN/tracking/)


def sampling_probabilities(sizes: list[int], temperature: float) -> list[float]:
    """p_i ∝ n_i^(1/T): T=1 proportional to size, T=2 square-root smoothing, large T ~ uniform."""
    if temperature <= 0:
        raise ConfigError("--temperature must be > 0 (1 = proportional to size; larger = closer to uniform)")
    w = [n ** (1.0 / temperature) for n in sizes]
    return [x / sum(w) for x in w]


def train_multitask(req: MultiTaskRequest, progress: Progress | None = None) -> RunOutcome:
    """Train one shared module on several English intermediate tasks; write a run directory.

    ``progress`` gets ``{"step", "total", "loss", "examples_per_s", "task"}`` per step and ``{"step", "total",
    "dev": {"<task>/<metric>": value}}`` per evaluation; ``req.report_to`` forwards both to a tracker."""
    import json
    import random

    import torch

    from adapterx import backbone as bbmod
    from adapterx.engine import tracking
    from adapterx.evaluate.zero_shot import predict
    from adapterx.methods import MODULE_META, quiet_transformers
    from adapterx.engine.rundir import RunWriter, default_output, now_iso
    from adapterx.tasks import get_task
    from adapterx.tasks.kinds import ops_for

    t_start = time.perf_counter()
    tasks = [get_task(n) for n in req.tasks]
    for t in tasks:
        if t.kind == "retrieval":
            raise ConfigError(f"{t.name} has no training data (retrieval)")
    if len({t.name for t in tasks}) != len(tasks):
        raise ConfigError(f"a task appears twice: {' '.join(req.tasks)}")
    cfg, opts = req.train, with_model_defaults(req.data, req.model)
    from adapterx.engine import distributed

    distributed.refuse("multi-task training")  # its loop samples a task per step on one process
    if cfg.grad_accum > 1 or cfg.gradient_checkpointing:
        raise ConfigError("multi-task training does not support grad_accum > 1 or gradient_checkpointing yet")
    tracking.check(req.report_to)  # before the output folder is reserved and anything loads
    chain_name = "+".join(t.name for t in tasks)
    writer = RunWriter(req.output or default_output(chain_name.replace("+", "-"), req.method.name))
    tracker = None
    try:
        bb = bbmod.resolve(req.model, req.revision)
        from adapterx.methods import for_backbone

        req = replace(req, method=for_backbone(req.method, bb))  # refused before data loads; defaults filled in
        tok = bbmod.load_tokenizer(bb)
        data, sources = {}, {}
        for i, t in enumerate(tasks):
            tr, tp = load_split(t, "train", "en", opts)
            dv, dp = load_split(t, "dev", "en", opts)
            tasks[i] = t = with_discovered_labels(t, tr)
            ops = ops_for(t.kind)
            data[t.name] = (feature_cache.featurize(ops, t, tr, tok, cfg.max_length, cfg.doc_stride, train=True), dv,
                            feature_cache.featurize(ops, t, dv, tok, cfg.max_length, cfg.doc_stride, train=False))
            sources[t.name] = {"source": tp.source, "train_size": tp.size, "dev_size": dp.size}
        quiet_transformers()
        seed_everything(cfg.seed)
        shared = SharedModule(req.method, bb, tasks)
        device = pick_device(cfg.device)
        for m in ([shared.am] if shared.models is None else shared.models):
            m.to(device)
        params = [p for p in shared.parameters() if p.requires_grad]
        probs = sampling_probabilities([len(data[t.name][0]) for t in tasks], req.temperature)
        total = cfg.max_steps or max(1, int(cfg.epochs * sum(len(data[t.name][0]) for t in tasks) / cfg.batch_size))
        eval_every = cfg.eval_steps or max(1, total // 3)
        opt = make_optimizer(params, cfg, device)
        sched = linear_schedule(opt, int(cfg.warmup_ratio * total), total)
        rng = random.Random(cfg.seed)
        gen = torch.Generator().manual_seed(cfg.seed)
        curve, dev_curve, best, best_state, best_step = [], [], -math.inf, None, 0
        counts = dict.fromkeys((t.name for t in tasks), 0)

        def dev_eval() -> dict[str, dict[str, float]]:
            out = {}
            for t in tasks:
                feats, dv, dfe = data[t.name]
                preds = predict(ModuleView(shared.model(t)), t, dv, tok, batch_size=32, device=device, bf16=cfg.bf16, features=dfe)
                out[t.name] = ops_for(t.kind).score(t, preds, dv, "en")[0]
            return out

        if req.report_to:
            tracker = tracking.Tracker(req.report_to, writer.path("tracking"), writer.output.name,
                                       {"task": chain_name, "method": req.method.name, "backbone": bb.id,
                                        "temperature": req.temperature, **cfg.model_dump()})
        report = tracking.chain(progress, tracker)
        seen, t_loop = 0, time.perf_counter()
        shared.train()
        for step in range(1, total + 1):
            t = rng.choices(tasks, weights=probs)[0]
            counts[t.name] += 1
            feats = data[t.name][0]
            idx = torch.randint(len(feats), (min(cfg.batch_size, len(feats)),), generator=gen).tolist()
            ops = ops_for(t.kind)
            batch = {k: v.to(device) for k, v in ops.collate([feats.items[i] for i in idx], tok.pad_token_id).items()}
            with autocast(device, cfg.bf16):
                loss = shared.model(t)(**batch).loss.float()
            if not torch.isfinite(loss):
                raise TrainingError(f"loss of {t.name} became {loss.item()} at step {step}: lower --lr")
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, cfg.max_grad_norm)
            opt.step()
            sched.step()
            opt.zero_grad(set_to_none=True)
            curve.append((step, t.name, round(loss.item(), 6)))
            seen += len(idx)
            if report:
                report({"step": step, "total": total, "loss": loss.item(), "task": t.name,
                        "examples_per_s": seen / max(time.perf_counter() - t_loop, 1e-9)})
            if step % eval_every == 0 or step == total:
                shared.train(False)
                dev = dev_eval()
                shared.train()
                dev_curve.append((step, dev))
                if report:  # one flat dict, as single-task training reports it: the progress bar prints it too
                    report({"step": step, "total": total,
                            "dev": {f"{name}/{k}": v for name, d in dev.items() for k, v in d.items()}})
                score = sum(d[ops_for(tt.kind).selection_metric(tt)] for tt, d in zip(tasks, dev.values())) / len(tasks)
                if score > best or best_state is None:
                    best, best_step, best_dev = score, step, dev
                    best_state = [p.detach().clone() for p in params]
        if tracker is not None:
            tracker.close()
        with torch.no_grad():
            for p, v in zip(params, best_state):
                p.copy_(v)
        shared.train(False)
        shared.save(writer.path("module"))
        meta = {"method": req.method.model_dump(mode="json"), "task": chain_name, "name": shared.name,
                "multitask": [t.name for t in tasks], "labels": {t.name: list(t.labels) for t in tasks}}
        (writer.path("module") / MODULE_META).write_text(json.dumps(meta, indent=2))
        n_train = sum(p.numel() for p in params)
        n_total = sum(p.numel() for p in shared.parameters())
        run = {
            "adapterx_version": __version__, "command": req.command, "created": now_iso(), "task": chain_name,
            "chain": [chain_name], "multitask": {"tasks": [t.name for t in tasks], "temperature": req.temperature,
                                                  "probabilities": dict(zip((t.name for t in tasks), probs)),
                                                  "steps_per_task": counts},
            "method": req.method.model_dump(mode="json"), "composition": None, "backbone": bb.record(),
            "data": sources, "seed": cfg.seed, "hyperparameters": cfg.model_dump(mode="json"),
            "wall_time_s": round(time.perf_counter() - t_start, 3), "params": {"trainable": n_train, "total": n_total},
            "languages": [],
        }
        metrics = {"dev": best_dev, "best_step": best_step, "steps": total, "loss_curve": curve, "dev_curve": dev_curve,
                   "selection": "mean of each task's selection metric"}
        writer.write_json("run.json", run)
        writer.write_json("metrics.json", metrics)
        out = writer.commit()
    except BaseException:
        try:
            if tracker is not None:
                tracker.close(failed=True)  # no-op where training had finished and closed it
        finally:
            writer.abort()
        raise
    return RunOutcome(out, run, metrics)
