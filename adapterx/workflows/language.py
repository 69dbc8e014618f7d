"""MAD-X language adapters: an invertible bottleneck adapter (``seq_bn_inv``) trained with masked language modelling
on unlabelled text of one language, the backbone frozen (Pfeiffer et al. 2020); or, with ``--method sft``, a language
SFT: LT-SFT with the same MLM objective, the module a sparse difference of the body (Ansell et al. 2022).

``adapterx train-language sw --text FILE|DATASET_ID|synthetic`` writes a run directory whose ``module/`` is an
``adapters`` folder (no head). ``stack`` and ``fuse`` take them with ``--lang-adapters en=RUN,sw=RUN``: training
runs through ``Stack(lang_en, intermediates..., target)``; zero-shot evaluation swaps in each language's own adapter
where one exists (the English one stays for the others, and the report says which languages had their own).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from adapterx.backbone import DEFAULT_MODEL
from adapterx.errors import ConfigError, DataError
from adapterx.engine import speed
from adapterx.engine.loop import TrainConfig
from adapterx.workflows.record import run_record
from adapterx import backbone as bbmod
from adapterx.data import synthetic
from adapterx.data.readers import read_lines
from adapterx.engine import distributed
from adapterx.engine.loop import seed_everything, train
from adapterx.engine.rundir import RunWriter, checkpoint_path, default_output
from adapterx.languages import get_language
from adapterx.methods import AdapterSpec, Module, quiet_transformers
from adapterx.methods import adapters_backend as ab
from adapterx.tasks.kinds import Features, pad_batch
from adapterx.workflows.train import RunOutcome
from adapterx.methods import sft_backend

MLM_PROBABILITY = 0.15  # BERT/XLM-R: 15% of tokens; of those 80% <mask>, 10% a random token, 10% unchanged
PREFIX = "lang_"  # adapter names of language adapters inside a composition: lang_en, lang_sw


@dataclass(frozen=True)
class LanguageRequest:
    lang: str
    text: str = "synthetic"  # a text file (one sentence or paragraph per line), a HF datasets id, or "synthetic"
    text_config: str | None = None  # HF datasets configuration (e.g. "sw" for a multilingual corpus)
    model: str = DEFAULT_MODEL
    reduction_factor: int = 2  # MAD-X language adapters: bottleneck hidden/2
    method: Any = None  # None: a MAD-X language adapter; an SFTSpec: a language SFT (LT-SFT with MLM, Ansell et al.)
    train: TrainConfig = field(default_factory=lambda: TrainConfig(lr=1e-4, max_length=128))
    max_lines: int | None = None
    output: Path | None = None


def read_text(req: LanguageRequest) -> tuple[list[str], str]:
    """Unlabelled lines for MLM and where they came from."""
    if req.text == "synthetic":
        return synthetic.corpus(req.lang, req.max_lines or 2000, seed=0), "synthetic"
    path = Path(req.text).expanduser()
    if path.is_file():
        lines = [x.strip() for x in read_lines(path) if x.strip()]
        if not lines:
            raise DataError(f"{path}: no text lines in this file")
        return lines[: req.max_lines] if req.max_lines else lines, f"file:{path}"
    if path.is_dir():
        raise DataError(f"--text {req.text} is a folder: give one text file (one sentence or paragraph a line)")
    if path.exists() or "/" not in req.text:
        raise DataError(f"--text {req.text}: no such file (or pass a Hugging Face data set id, or 'synthetic')")
    try:
        import datasets

        ds = datasets.load_dataset(req.text, req.text_config, split="train")
    except Exception as exc:  # offline, unknown id
        raise DataError(f"cannot load the data set {req.text} ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__}); "
                        "pass a text file or 'synthetic'") from None
    column = "text" if "text" in ds.column_names else ds.column_names[0]
    lines = [x.strip() for x in ds[column][: req.max_lines or len(ds)] if x and x.strip()]
    return lines, f"hf:{req.text}{'/' + req.text_config if req.text_config else ''}"


def mask_tokens(input_ids, tokenizer, generator=None):  # noqa: ANN001, ANN201
    """BERT masking: labels are the original ids at the chosen 15% positions (-100 elsewhere); of the chosen, 80%
    become <mask>, 10% a random token, 10% stay. Special tokens and padding are never chosen."""
    import torch

    labels = input_ids.clone()
    special = (input_ids == tokenizer.pad_token_id) | (input_ids == tokenizer.cls_token_id) | (input_ids == tokenizer.sep_token_id)
    prob = torch.full(labels.shape, MLM_PROBABILITY)
    prob.masked_fill_(special, 0.0)
    chosen = torch.bernoulli(prob, generator=generator).bool()
    labels[~chosen] = -100
    ids = input_ids.clone()
    to_mask = torch.bernoulli(torch.full(labels.shape, 0.8), generator=generator).bool() & chosen
    ids[to_mask] = tokenizer.mask_token_id
    to_random = torch.bernoulli(torch.full(labels.shape, 0.5), generator=generator).bool() & chosen & ~to_mask
    ids[to_random] = torch.randint(len(tokenizer), labels.shape, generator=generator)[to_random]
    return ids, labels


def train_language(req: LanguageRequest, progress: Any = None):  # noqa: ANN201
    """Train a language adapter with MLM; returns a RunOutcome."""
    distributed.refuse("train-language")  # its run directory is not rank-aware; MLM on one GPU is quick anyway
    import torch
    from adapters import SeqBnInvConfig

    code = get_language(req.lang).code
    cfg = req.train
    t0 = time.perf_counter()
    sft = req.method is not None and req.method.name == "sft"
    writer = RunWriter(req.output or default_output(f"lang-{code}", "sft" if sft else "adapter"))
    try:
        lines, source = read_text(req)
        if len(lines) < 20:
            raise DataError(f"--text {req.text}: {len(lines)} lines; a language adapter needs at least 20")
        bb = bbmod.resolve(req.model)
        tok = bbmod.load_tokenizer(bb)
        n_dev = max(10, len(lines) // 20)  # 5% held out for masked-token accuracy
        dev_lines, train_lines = lines[:n_dev], lines[n_dev:]
        enc = tok(train_lines, truncation=True, max_length=cfg.max_length)
        feats = Features([{"input_ids": i, "attention_mask": m} for i, m in zip(enc["input_ids"], enc["attention_mask"])],
                         list(range(len(train_lines))))
        quiet_transformers()
        seed_everything(cfg.seed)
        name = PREFIX + code
        if sft:  # the body's sparse difference, learned with an MLM head that is not kept

            module = sft_backend.build_language(bb, req.method, name)
        else:
            model = ab.new_model(bb)
            model.add_adapter(name, config=SeqBnInvConfig(reduction_factor=req.reduction_factor))
            model.add_masked_lm_head(name)
            model.train_adapter(name)
            model.active_head = name
            # The MLM head's decoder is tied to the word embeddings: train the head's transform, never the embeddings.
            emb = model.get_input_embeddings().weight
            for p in model.heads[name].parameters():
                p.requires_grad_(p is not emb)
            emb.requires_grad_(False)
            module = Module(model, AdapterSpec(config="seq_bn", reduction_factor=req.reduction_factor), None, name)

        def collate(items):  # noqa: ANN001, ANN202
            batch = pad_batch(items, tok.pad_token_id)
            batch["input_ids"], batch["labels"] = mask_tokens(batch["input_ids"], tok)
            return batch

        # The dev masks are drawn once, with their own generator: every evaluation scores the same positions.
        g = torch.Generator().manual_seed(cfg.seed)
        denc = tok(dev_lines, truncation=True, max_length=cfg.max_length)
        dev_batches = []
        for b in range(0, len(dev_lines), 32):
            batch = pad_batch([{"input_ids": i, "attention_mask": m} for i, m in
                               zip(denc["input_ids"][b : b + 32], denc["attention_mask"][b : b + 32])], tok.pad_token_id)
            batch["input_ids"], batch["labels"] = mask_tokens(batch["input_ids"], tok, g)
            dev_batches.append(batch)

        def dev_eval() -> dict[str, float]:
            hit = total = 0
            loss = 0.0
            model = module.model  # LT-SFT's phase 1 trains (and is scored on) a dense copy
            device = next(model.parameters()).device
            with torch.inference_mode():
                for batch in dev_batches:
                    out = model(**{k: v.to(device) for k, v in batch.items()})
                    m = batch["labels"] != -100
                    hit += int((out.logits.argmax(-1).cpu()[m] == batch["labels"][m]).sum())
                    total += int(m.sum())
                    loss += float(out.loss)
            return {"mlm_accuracy": 100.0 * hit / max(total, 1), "mlm_loss": loss / len(dev_batches)}

        result = train(module, feats, collate, dev_eval, "mlm_accuracy", cfg, progress, checkpoint=checkpoint_path(writer.output))
        folder = writer.path("module")
        folder.mkdir()
        import json

        if sft:
            sft_backend.save(module, folder)
            meta = {"method": req.method.model_dump(mode="json"), "task": "mlm", "name": name, "language": code,
                    "sft": module.meta["sft"]}
        else:
            module.model.save_adapter(str(folder), name, with_head=False, use_safetensors=True)
            meta = {"method": {"name": "adapter", "config": "seq_bn_inv", "reduction_factor": req.reduction_factor},
                    "task": "mlm", "name": name, "language": code}
        (folder / "adapterx_module.json").write_text(json.dumps(meta, indent=2))
        counts = module.parameter_counts()
        run = run_record(
            command="train-language", task="mlm", chain=[f"mlm-{code}"], method=meta["method"], backbone=bb.record(),
            data={"source": source, "train_size": len(train_lines), "dev_size": len(dev_lines)}, cfg=cfg, started=t0,
            params=counts, languages=[code],
            extra={"language": code, "speed": speed.record(module.model, result), **({"sft": meta["sft"]} if sft else {})},
        )
        metrics = {"dev": result.best_dev, **result.to_json()}
        writer.write_json("run.json", run)
        writer.write_json("metrics.json", metrics)
        out = writer.commit()
        import shutil

        shutil.rmtree(checkpoint_path(out).parent, ignore_errors=True)
    except BaseException:
        writer.abort()
        raise
    return RunOutcome(out, run, metrics)


def parse_lang_adapters(spec: str | None) -> dict[str, str]:
    """``en=PATH,sw=PATH`` -> {"en": PATH, "sw": PATH}; the English (source) adapter is required."""
    if not spec:
        return {}
    out: dict[str, str] = {}
    for part in spec.split(","):
        if "=" not in part:
            raise ConfigError(f"--lang-adapters {spec!r}: use LANG=PATH pairs, e.g. en=runs/lang-en,sw=runs/lang-sw")
        k, v = part.split("=", 1)

        out[get_language(k.strip()).code] = v.strip()
    if "en" not in out:
        raise ConfigError("--lang-adapters needs en=PATH: the English language adapter sits under the target during training")
    return out
