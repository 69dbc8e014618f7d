"""The multi-task module: one encoder (shared adapter, shared LoRA or the full encoder) with one head per task.

Built and loaded here, in the methods layer; the training workflow is :mod:`adapterx.workflows.multitask`.
Folder layout: adapter: ``save_adapter`` folder of the shared adapter (without head) + ``heads/<task>/``; lora: a
peft folder of the shared LoRA (task_type None) + ``heads.safetensors``; full: ``save_pretrained`` of the first
task's model + ``heads.safetensors`` (keys ``<task>.<param>``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from adapterx.tasks import get_task
from adapterx.methods import adapters_backend as ab
from adapterx.methods import peft_backend
from adapterx.methods.heads import auto_class, head_kwargs
from adapterx.methods.module import Module
from adapterx.methods.spec import parse_method

HEADS_FILE = "heads.safetensors"


class SharedModule:
    """One encoder with one head per task; ``model(task)`` is what a forward for that task goes through."""

    def __init__(self, method, backbone, tasks: list) -> None:  # noqa: ANN001
        self.method, self.tasks = method, tasks
        self.name = "_".join(t.name for t in tasks)
        if method.name == "adapter":
            am = ab.new_model(backbone)
            am.add_adapter(self.name, config=ab.adapter_config(method))
            for t in tasks:
                ab.add_head(am, t, t.name)
            am.train_adapter(self.name)  # freezes the base; every head stays trainable
            self.am, self.models = am, None
            return

        models = [auto_class(t).from_pretrained(backbone.path, **head_kwargs(t)) for t in tasks]
        body = models[0].base_model_prefix  # "roberta", "bert", "deberta", ...: the encoder's attribute
        for m in models[1:]:
            setattr(m, body, getattr(models[0], body))  # one encoder object: every head reads (and trains) it
        self.peft = None
        if method.name == "lora":
            self.peft = peft_backend.inject_shared_lora(models[0], method)  # LoRA into the shared encoder, in place
            for m in models:
                for n, p in m.named_parameters():
                    p.requires_grad_("lora_" in n or not n.startswith(body + "."))
        self.models = models

    def members(self) -> list:
        """The HF models that hold the parameters (one adapters model, or one model per task sharing the encoder)."""
        return [self.am] if self.models is None else list(self.models)

    def as_module(self):  # noqa: ANN201
        """The one ``torch.nn.Module`` the training loop trains: ``forward(task=i, **batch)`` runs task i's model.
        Its ``named_parameters`` lists the shared encoder once."""
        import torch

        shared = self

        class MultiHead(torch.nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.members = torch.nn.ModuleList(shared.members())

            def forward(self, task, **batch):  # noqa: ANN001, ANN003, ANN202
                return shared.model(shared.tasks[int(task)])(**batch)

            def gradient_checkpointing_enable(self, **kwargs) -> None:  # noqa: ANN003
                for m in self.members:
                    m.gradient_checkpointing_enable(**kwargs)

        return MultiHead()

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


class ModuleView:
    """The minimal Module face ``predict`` needs (``.model``)."""

    def __init__(self, model) -> None:  # noqa: ANN001
        self.model = model


def load_multitask(folder: Path, backbone, meta: dict[str, Any]):  # noqa: ANN001, ANN201
    """A multi-task module as a Module of its first task (the shared encoder with that task's head): enough to
    evaluate that task, retrieve with the encoder, or inspect it."""
    from dataclasses import replace

    spec = parse_method(meta["method"])
    first = meta["multitask"][0]
    task = get_task(first)
    if not task.labels and meta.get("labels", {}).get(first):
        task = replace(task, labels=tuple(meta["labels"][first]))
    if spec.name == "adapter":
        model = ab.new_model(backbone)
        model.load_adapter(str(folder), load_as=meta["name"], with_head=False, use_safetensors=True, set_active=True)
        for t in meta["multitask"]:
            model.load_head(str(Path(folder) / "heads" / t), load_as=t, use_safetensors=True)
        model.active_head = first
        return Module(model, spec, task, first)

    if spec.name == "full":
        return Module(auto_class(task).from_pretrained(folder), spec, task, first)
    from safetensors.torch import load_file

    base = auto_class(task).from_pretrained(backbone.path, **head_kwargs(task))
    heads = {k[len(first) + 1 :]: v for k, v in load_file(str(Path(folder) / HEADS_FILE)).items() if k.startswith(first + ".")}
    base.load_state_dict(heads, strict=False)
    return peft_backend.load_pretrained(base, folder, spec, task, first)
