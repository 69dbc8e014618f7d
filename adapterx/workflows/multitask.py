"""Multi-task intermediate training: one shared module (adapter, LoRA or the full encoder) with a head per task.

Phang et al.'s best single X-STILTs result came from all intermediate tasks together. Training runs through the one
loop (:func:`adapterx.engine.loop.train`: resume, gradient accumulation, gradient checkpointing, data-parallel
launches, early stopping), fed by :class:`MultiTaskData`: each epoch is a shuffled sequence of one-task batches,
task ``i`` getting a share ``p_i ∝ n_i ** (1 / T)`` of them (T = 1: proportional to size, T -> inf: uniform).
Within a task examples are drawn *without* replacement: a task's shuffled order is walked through batch after batch
and reshuffled only when used up, so a small upsampled task repeats whole passes rather than random examples.
Every task's English dev metric is reported; the checkpoint with the best mean of the tasks' selection metrics is
kept.

The module folder (:mod:`adapterx.methods.multitask`) is what ``stack`` and ``retrieve`` take as an intermediate.
"""

from __future__ import annotations

import bisect
import json
import math
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from adapterx.backbone import DEFAULT_MODEL
from adapterx.data import cache as feature_cache
from adapterx.data.sources import DataOptions, load_split, start_read_log, with_model_defaults
from adapterx.engine import distributed, speed, tracking
from adapterx.engine.loop import Progress, TrainConfig, check_batch, train
from adapterx.engine.rundir import checkpoint_path, default_output, read_metrics, read_run, reserve_output
from adapterx.errors import ConfigError
from adapterx.methods.multitask import ModuleView, SharedModule
from adapterx.tasks import get_task, with_discovered_labels
from adapterx.tasks.kinds import ops_for
from adapterx.workflows.record import run_record
from adapterx.workflows.train import RunOutcome
from adapterx import backbone as bbmod
from adapterx.engine.loop import pick_device, seed_everything
from adapterx.evaluate.zero_shot import predict
from adapterx.methods import MODULE_META, quiet_transformers
from adapterx.methods import catalog
from adapterx.methods import for_backbone


@dataclass(frozen=True)
class MultiTaskRequest:
    tasks: tuple[str, ...]
    method: Any
    model: str = DEFAULT_MODEL
    revision: str | None = None
    data: DataOptions = DataOptions()
    train: TrainConfig = TrainConfig()
    temperature: float = 1.0
    output: Path | None = None
    command: str = "train-intermediate"
    report_to: str | None = None  # experiment tracker: tensorboard | wandb | mlflow (logs in RUN/tracking/)
    resume: bool = False  # continue from the checkpoint beside --output (left by a killed run)


def sampling_probabilities(sizes: list[int], temperature: float) -> list[float]:
    """p_i ∝ n_i^(1/T): T=1 proportional to size, T=2 square-root smoothing, large T ~ uniform."""
    if temperature <= 0:
        raise ConfigError("--temperature must be > 0 (1 = proportional to size; larger = closer to uniform)")
    w = [n ** (1.0 / temperature) for n in sizes]
    return [x / sum(w) for x in w]


def batch_counts(probs: list[float], total: int) -> list[int]:
    """``total`` batches shared out by ``probs`` with largest remainders (the counts add up to ``total`` exactly)."""
    raw = [p * total for p in probs]
    counts = [math.floor(r) for r in raw]
    for i in sorted(range(len(raw)), key=lambda i: raw[i] - counts[i], reverse=True)[: total - sum(counts)]:
        counts[i] += 1
    return counts


class MultiTaskData:
    """The training data of several tasks for the one loop: indices ``offset[i] + j`` name example j of task i; an
    epoch's order is a sequence of ``batch_size``-long runs of one task each (so every global batch, and every
    rank's share of it, holds one task). An epoch has as many batches as the tasks' separate epochs together
    (sum of ceil(n_i / batch_size)), shared out by the sampling probabilities."""

    def __init__(self, tasks: list, features: list, collates: list, probs: list[float], batch_size: int) -> None:
        self.tasks, self.features, self.collates, self.probs, self.bs = tasks, features, collates, probs, batch_size
        self.offsets = [0]
        for f in features[:-1]:
            self.offsets.append(self.offsets[-1] + len(f))
        # Per task: its current shuffled order and the next position in it (carried across epochs and checkpoints).
        self.streams: list[tuple[list[int], int]] = [([], 0) for _ in tasks]
        self.batches = [0] * len(tasks)  # batches drawn per task (reported as steps_per_task)
        self.last_task: str | None = None

    def __len__(self) -> int:
        return sum(len(f) for f in self.features)

    def _take(self, i: int, k: int, gen) -> list[int]:  # noqa: ANN001
        import torch

        out: list[int] = []
        perm, pos = self.streams[i]
        while len(out) < k:
            if pos >= len(perm):
                perm, pos = torch.randperm(len(self.features[i]), generator=gen).tolist(), 0
            take = perm[pos : pos + k - len(out)]
            out += take
            pos += len(take)
        self.streams[i] = (perm, pos)
        return out

    def epoch_order(self, gen) -> list[int]:  # noqa: ANN001
        import torch

        per_epoch = sum(math.ceil(len(f) / self.bs) for f in self.features)
        plan = [i for i, c in enumerate(batch_counts(self.probs, per_epoch)) for _ in range(c)]
        order: list[int] = []
        for b in torch.randperm(len(plan), generator=gen).tolist():
            i = plan[b]
            order += [self.offsets[i] + j for j in self._take(i, self.bs, gen)]
        return order

    def batch(self, idx: list[int]) -> dict[str, Any]:
        import torch

        i = bisect.bisect_right(self.offsets, idx[0]) - 1
        items = [self.features[i].items[j - self.offsets[i]] for j in idx]
        if any(bisect.bisect_right(self.offsets, j) - 1 != i for j in idx):  # cannot happen with epoch_order's runs
            raise RuntimeError("a multi-task batch mixes tasks")
        self.batches[i] += 1
        self.last_task = self.tasks[i].name  # the loop reports it with the step's loss (trackers: train/loss/<task>)
        return {**self.collates[i](items), "task": torch.tensor(i)}

    def state(self) -> dict[str, Any]:
        return {"streams": self.streams, "batches": self.batches}

    def load_state(self, state: dict[str, Any]) -> None:
        if state:
            self.streams = [(list(p), int(q)) for p, q in state["streams"]]
            self.batches = list(state["batches"])


class _Trainable:
    """What the loop needs of a module: ``.model`` (one nn.Module) and whether DDP must look for unused parameters
    (each step trains one task's head)."""

    find_unused_parameters = True

    def __init__(self, shared: SharedModule) -> None:
        self.model = shared.as_module()


def train_multitask(req: MultiTaskRequest, progress: Progress | None = None) -> RunOutcome:
    """Train one shared module on several English intermediate tasks; write a run directory.

    ``progress`` gets the loop's events (``{"step", "total", "loss", "examples_per_s"}`` per step, ``{"step",
    "total", "dev": {"<task>/<metric>": value}}`` per evaluation); ``req.report_to`` forwards both to a tracker."""
    t_start = time.perf_counter()
    tasks = [get_task(n) for n in req.tasks]
    for t in tasks:
        if t.kind == "retrieval":
            raise ConfigError(f"{t.name} has no training data (retrieval)")
    if len({t.name for t in tasks}) != len(tasks):
        raise ConfigError(f"a task appears twice: {' '.join(req.tasks)}")

    if not catalog.get(req.method.name).multitask:
        shared = [n for n in catalog.names() if catalog.get(n).multitask]
        raise ConfigError(f"multi-task training (one module, a head per task) is not available for --method "
                          f"{req.method.name}: use --method {' / '.join(shared)}, or train the tasks one by one")
    cfg, opts = req.train, with_model_defaults(req.data, req.model)
    sampling_probabilities([1], req.temperature)  # a bad temperature fails before anything loads
    tracking.check(req.report_to)  # before the output folder is reserved and anything loads
    check_batch(cfg.batch_size, distributed.world_size())
    dist = distributed.setup(cfg.device)
    main = distributed.is_main()
    chain_name = "+".join(t.name for t in tasks)
    writer = reserve_output(req.output or default_output(chain_name.replace("+", "-"), req.method.name))

    tracker = None
    trained = False
    try:
        bb = bbmod.resolve(req.model, req.revision)

        req = replace(req, method=for_backbone(req.method, bb))  # refused before data loads; defaults filled in
        tok = bbmod.load_tokenizer(bb)
        feats, devs, sources = [], [], {}
        reads = start_read_log()  # run.json data_reads: each split read, with its data revision and fingerprint
        for i, t in enumerate(tasks):
            tr, tp = load_split(t, "train", "en", opts)
            dv, dp = load_split(t, "dev", "en", opts)
            tr = tr[: opts.max_train_examples] if opts.max_train_examples else tr
            dv = dv[: opts.max_eval_examples] if opts.max_eval_examples else dv
            tasks[i] = t = with_discovered_labels(t, tr)
            ops = ops_for(t.kind)
            feats.append(feature_cache.featurize(ops, t, tr, tok, cfg.max_length, cfg.doc_stride, train=True))
            devs.append((dv, feature_cache.featurize(ops, t, dv, tok, cfg.max_length, cfg.doc_stride, train=False)))
            sources[t.name] = {"source": tp.source, "train_size": len(tr), "dev_size": len(dv)}
        quiet_transformers()

        seed_everything(cfg.seed)  # the heads' initialisation, as a single-task run seeds before building
        shared = SharedModule(req.method, bb, tasks)
        probs = sampling_probabilities([len(f) for f in feats], req.temperature)
        data = MultiTaskData(tasks, feats, [_collate(ops_for(t.kind), tok) for t in tasks], probs, cfg.batch_size)
        device = dist.device if dist else pick_device(cfg.device)

        def dev_eval() -> dict[str, float]:
            flat = {}
            for t, (dv, dfe) in zip(tasks, devs):
                preds = predict(ModuleView(shared.model(t)), t, dv, tok, batch_size=32, device=device, bf16=cfg.bf16,
                                features=dfe)
                flat.update({f"{t.name}/{k}": v for k, v in ops_for(t.kind).score(t, preds, dv, "en")[0].items()})
            return flat

        def mean_task_selection(dev: dict[str, float]) -> float:
            return sum(dev[f"{t.name}/{ops_for(t.kind).selection_metric(t)}"] for t in tasks) / len(tasks)

        if req.report_to and main:
            tracker = tracking.Tracker(req.report_to, writer.path("tracking"), writer.output.name,
                                       {"task": chain_name, "method": req.method.name, "backbone": bb.id,
                                        "temperature": req.temperature, **cfg.model_dump()})
        try:
            result = train(_Trainable(shared), data, None, dev_eval, mean_task_selection, cfg,
                           tracking.chain(progress, tracker), checkpoint=checkpoint_path(writer.output),
                           resume=req.resume)
        finally:
            if tracker is not None:
                tracker.close()
        trained = True
        if not main:
            writer.abort()
            distributed.settle()
            return RunOutcome(writer.output, read_run(writer.output), read_metrics(writer.output))
        shared.train(False)
        shared.save(writer.path("module"))
        meta = {"method": req.method.model_dump(mode="json"), "task": chain_name, "name": shared.name,
                "multitask": [t.name for t in tasks], "labels": {t.name: list(t.labels) for t in tasks}}
        (writer.path("module") / MODULE_META).write_text(json.dumps(meta, indent=2))
        trainable = [p for p in shared.parameters() if p.requires_grad]
        extra: dict[str, Any] = {"speed": speed.record(shared.members()[0], result), "multitask": {
            "tasks": [t.name for t in tasks], "temperature": req.temperature, "probabilities": dict(zip(req.tasks, probs)),
            "steps_per_task": dict(zip((t.name for t in tasks), data.batches)), "sampling": "without replacement",
        }}
        if dist is not None:
            extra["distributed"] = {**dist.record(), "per_process_batch": cfg.batch_size // dist.world_size}
        run = run_record(
            command=req.command, task=chain_name, chain=[chain_name], method=req.method.model_dump(mode="json"),
            backbone=bb.record(), data=sources, cfg=cfg, started=t_start,
            params={"trainable": sum(p.numel() for p in trainable),
                    "total": sum(p.numel() for p in shared.parameters())},
            languages=[], data_reads=reads, extra=extra,
        )
        metrics = {**result.to_json(), "dev": _nested(result.best_dev),
                   "dev_curve": [(s, _nested(d)) for s, d in result.dev_curve],
                   "selection": "mean of each task's selection metric"}
        writer.write_json("run.json", run)
        writer.write_json("metrics.json", metrics)
        out = writer.commit()
        import shutil

        shutil.rmtree(checkpoint_path(out).parent, ignore_errors=True)
    except BaseException as exc:
        writer.abort()
        if trained and main:  # the other ranks wait in settle() for the outcome of rank 0's part
            distributed.settle(exc)
        raise
    distributed.settle()
    return RunOutcome(out, run, metrics)


def _collate(ops, tok):  # noqa: ANN001, ANN202
    return lambda items: ops.collate(items, tok.pad_token_id)


def _nested(flat: dict[str, float]) -> dict[str, dict[str, float]]:
    """``{"stsb/spearman": v}`` -> ``{"stsb": {"spearman": v}}`` (metrics.json keeps the per-task shape)."""
    out: dict[str, dict[str, float]] = {}
    for key, value in flat.items():
        task, _, metric = key.partition("/")
        out.setdefault(task, {})[metric] = value
    return out
