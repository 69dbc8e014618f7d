"""BitFit (Ben Zaken et al. 2022) with plain torch: only the backbone's bias terms and the task head train.

Neither ``adapters`` nor ``peft`` trains bias terms alone on an encoder, so this backend freezes a ``transformers``
model by parameter name. The module is ``bitfit.safetensors``: the trained bias vectors (full values, not deltas:
the module's own backbone fingerprint is checked before loading) and the head, a few thousand numbers on the tiny
model and ~0.1M + head on XLM-R base. Load it without adapterx with
``AutoModelFor<Task>.from_pretrained(base, ...)`` + ``model.load_state_dict(load_file(path), strict=False)``.

Composition: ``chain`` (a recipe's ``continue``): the target's biases start from the intermediate's, the head is new
(as full fine-tuning's X-STILTs chain); the result is again a single self-contained module.
"""

from __future__ import annotations

from pathlib import Path

from adapterx.methods.heads import auto_class, head_kwargs
from adapterx.errors import ModelError
from adapterx.methods import Module

WEIGHTS = "bitfit.safetensors"
# BitFit's smaller variant (the paper's Table 3): the query biases and the FFN's intermediate biases only.
_QUERY_MLP = (".attention.self.query.bias", ".intermediate.dense.bias")


def head_prefixes(model) -> tuple[str, ...]:  # noqa: ANN001
    """Parameter-name prefixes of the task head (everything outside the encoder body)."""
    body = model.base_model_prefix
    return tuple({n.split(".", 1)[0] + "." for n, _ in model.named_parameters() if not n.startswith(body + ".")})


def is_trained(name: str, which: str, heads: tuple[str, ...]) -> bool:
    if name.startswith(heads):
        return True
    if which == "query_mlp":
        return name.endswith(_QUERY_MLP)
    return name.endswith(".bias")


def _freeze(model, spec) -> None:  # noqa: ANN001
    heads = head_prefixes(model)
    for n, p in model.named_parameters():
        p.requires_grad_(is_trained(n, spec.which, heads))


def build(backbone, task, spec, name: str):  # noqa: ANN201

    model = auto_class(task).from_pretrained(backbone.path, **head_kwargs(task))
    _freeze(model, spec)
    return Module(model, spec, task, name)


def save(module, folder: Path) -> None:
    from safetensors.torch import save_file

    model = module.model
    heads = head_prefixes(model)
    state = {n: p.detach().contiguous() for n, p in model.named_parameters() if is_trained(n, module.method.which, heads)}
    save_file(state, str(Path(folder) / WEIGHTS), metadata={"method": "bitfit", "which": module.method.which})


def _apply(model, folder: Path) -> None:  # noqa: ANN001
    from safetensors.torch import load_file

    _missing, unexpected = model.load_state_dict(load_file(str(Path(folder) / WEIGHTS)), strict=False)
    if unexpected:
        raise ModelError(f"{folder}: BitFit weights do not fit this backbone ({unexpected[0]} ...)")


def load(folder: Path, backbone, task, spec, name: str, comp: dict | None = None):  # noqa: ANN201

    model = auto_class(task).from_pretrained(backbone.path, **head_kwargs(task))
    _apply(model, folder)
    _freeze(model, spec)
    return Module(model, spec, task, name)


def chain_from(backbone, task, spec, name: str, folder: Path):  # noqa: ANN201
    """The ``chain`` composition: a fresh head, the biases the intermediate module trained (its head is left out)."""
    from safetensors.torch import load_file

    model = auto_class(task).from_pretrained(backbone.path, **head_kwargs(task))
    prefix = model.base_model_prefix + "."
    body = {k: v for k, v in load_file(str(Path(folder) / WEIGHTS)).items() if k.startswith(prefix)}
    model.load_state_dict(body, strict=False)
    _freeze(model, spec)
    return Module(model, spec, task, name)
