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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from adapterx.data import cache as feature_cache
from adapterx import __version__
from adapterx.data.sources import DataOptions, load_split
from adapterx.errors import ConfigError
from adapterx.pipeline import Progress, RunOutcome, _data_opts, _with_discovered_labels
from adapterx.train import TrainConfig, TrainingError, autocast, linear_schedule, make_optimizer, pick_device, seed_everything

HEADS_FILE = "heads.safetensors"


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


class _Shared:
    """One encoder with one head per task; ``model(task)`` is what a forward for that task goes through."""

    def __init__(self, method, backbone, tasks: list) -> None:  # noqa: ANN001
        self.method, self.tasks = method, tasks
        self.name = "_".join(t.name for t in tasks)
        if method.name == "adapter":
            from adapterx.methods import adapters_backend as ab

            am = ab.new_model(backbone)
            am.add_adapter(self.name, config=ab.adapter_config(method))
            for t in tasks:
                ab.add_head(am, t, t.name)
            am.train_adapter(self.name)  # freezes the base; every head stays trainable
            self.am, self.models = am, None
            return
        from adapterx.methods.heads import auto_class, head_kwargs

        models = [auto_class(t).from_pretrained(backbone.path, **head_kwargs(t)) for t in tasks]
        for m in models[1:]:
            m.roberta = models[0].roberta  # one encoder object: every head reads (and trains) the same body
        self.peft = None
        if method.name == "lora":
            from peft import LoraConfig, get_peft_model

            cfg = LoraConfig(r=method.r, lora_alpha=method.alpha, lora_dropout=method.dropout,
                             target_modules=list(method.target_modules))
            self.peft = get_peft_model(models[0], cfg)  # injects LoRA into the shared encoder in place
            for m in models:
                for n, p in m.named_parameters():
                    p.requires_grad_("lora_" in n or not n.startswith("roberta."))
        self.models = models

    def model(self, task):  # noqa: ANN001, ANN201
        if self.models is None:
            self.am.active_head = task.name
            return self.am
        return self.models[self.tasks.index(task)]

    def parameters(self) -> list:
        seen, out = set(), []
        mods = [self.am] if self.models is None else self.models
        for m in mods:
            for p in m.parameters():
                if id(p) not in seen:
                    seen.add(id(p))
                    out.append(p)
        return out

    def train(self, mode: bool = True) -> None:
        for m in [self.am] if self.models is None else self.models:
            m.train(mode)

    def save(self, folder: Path) -> None:
        from safetensors.torch import save_file

        folder.mkdir(parents=True, exist_ok=True)
        if self.models is None:
            self.am.save_adapter(str(folder), self.name, with_head=False, use_safetensors=True)
            for t in self.tasks:
                (folder / "heads" / t.name).mkdir(parents=True, exist_ok=True)
                self.am.save_head(str(folder / "heads" / t.name), t.name, use_safetensors=True)
            return
        if self.peft is not None:
            self.peft.save_pretrained(str(folder), safe_serialization=True)
        else:
            self.models[0].save_pretrained(folder, safe_serialization=True)
        heads = {}
        for t, m in zip(self.tasks, self.models):
            for k, v in m.state_dict().items():
                if not k.startswith("roberta.") and not k.startswith("base_model."):
                    heads[f"{t.name}.{k}"] = v.detach().contiguous()
        save_file(heads, str(folder / HEADS_FILE))


def train_multitask(req: MultiTaskRequest, progress: Progress | None = None) -> RunOutcome:
    """Train one shared module on several English intermediate tasks; write a run directory.

    ``progress`` gets ``{"step", "total", "loss", "examples_per_s", "task"}`` per step and ``{"step", "total",
    "dev": {"<task>/<metric>": value}}`` per evaluation; ``req.report_to`` forwards both to a tracker."""
    import json
    import random

    import torch

    from adapterx import backbone as bbmod
    from adapterx import tracking
    from adapterx.evaluate.zero_shot import predict
    from adapterx.methods import MODULE_META, quiet_transformers
    from adapterx.rundir import RunWriter, default_output, now_iso
    from adapterx.tasks import get_task
    from adapterx.tasks.kinds import ops_for

    t_start = time.perf_counter()
    tasks = [get_task(n) for n in req.tasks]
    for t in tasks:
        if t.kind == "retrieval":
            raise ConfigError(f"{t.name} has no training data (retrieval)")
    if len({t.name for t in tasks}) != len(tasks):
        raise ConfigError(f"a task appears twice: {' '.join(req.tasks)}")
    cfg, opts = req.train, _data_opts(req.data, req.model)
    from adapterx import distributed

    distributed.refuse("multi-task training")  # its loop samples a task per step on one process
    if cfg.grad_accum > 1 or cfg.gradient_checkpointing:
        raise ConfigError("multi-task training does not support grad_accum > 1 or gradient_checkpointing yet")
    tracking.check(req.report_to)  # before the output folder is reserved and anything loads
    chain_name = "+".join(t.name for t in tasks)
    writer = RunWriter(req.output or default_output(chain_name.replace("+", "-"), req.method.name))
    tracker = None
    try:
        bb = bbmod.resolve(req.model, req.revision)
        tok = bbmod.load_tokenizer(bb)
        data, sources = {}, {}
        for i, t in enumerate(tasks):
            tr, tp = load_split(t, "train", "en", opts)
            dv, dp = load_split(t, "dev", "en", opts)
            tasks[i] = t = _with_discovered_labels(t, tr)
            ops = ops_for(t.kind)
            data[t.name] = (feature_cache.featurize(ops, t, tr, tok, cfg.max_length, cfg.doc_stride, train=True), dv,
                            feature_cache.featurize(ops, t, dv, tok, cfg.max_length, cfg.doc_stride, train=False))
            sources[t.name] = {"source": tp.source, "train_size": tp.size, "dev_size": dp.size}
        quiet_transformers()
        seed_everything(cfg.seed)
        shared = _Shared(req.method, bb, tasks)
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
                preds = predict(_ModuleView(shared.model(t)), t, dv, tok, batch_size=32, device=device, bf16=cfg.bf16, features=dfe)
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


class _ModuleView:
    """The minimal Module face ``predict`` needs (``.model``)."""

    def __init__(self, model) -> None:  # noqa: ANN001
        self.model = model


def load(folder: Path, backbone, meta: dict[str, Any]):  # noqa: ANN001, ANN201
    """A multi-task module as a Module of its first task (the shared encoder with that task's head): enough to
    evaluate that task, retrieve with the encoder, or inspect it."""
    from dataclasses import replace

    from adapterx.methods import Module, parse_method
    from adapterx.tasks import get_task

    spec = parse_method(meta["method"])
    first = meta["multitask"][0]
    task = get_task(first)
    if not task.labels and meta.get("labels", {}).get(first):
        task = replace(task, labels=tuple(meta["labels"][first]))
    if spec.name == "adapter":
        from adapterx.methods import adapters_backend as ab

        model = ab.new_model(backbone)
        model.load_adapter(str(folder), load_as=meta["name"], with_head=False, use_safetensors=True, set_active=True)
        for t in meta["multitask"]:
            model.load_head(str(Path(folder) / "heads" / t), load_as=t, use_safetensors=True)
        model.active_head = first
        return Module(model, spec, task, first)
    from adapterx.methods.heads import auto_class, head_kwargs

    if spec.name == "full":
        return Module(auto_class(task).from_pretrained(folder), spec, task, first)
    from peft import PeftModel
    from safetensors.torch import load_file

    base = auto_class(task).from_pretrained(backbone.path, **head_kwargs(task))
    heads = {k[len(first) + 1 :]: v for k, v in load_file(str(Path(folder) / HEADS_FILE)).items() if k.startswith(first + ".")}
    base.load_state_dict(heads, strict=False)
    return Module(PeftModel.from_pretrained(base, str(folder)), spec, task, first)
