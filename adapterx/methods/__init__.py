"""Methods: how a task module is attached to the backbone, trained, saved and loaded.

Every call into ``adapters`` goes through :mod:`adapters_backend`, every call into ``peft`` through
:mod:`peft_backend`, full fine-tuning through :mod:`hf_backend` (plain ``transformers``) and BitFit through
:mod:`bitfit_backend` (plain torch), so a library upgrade touches one place; :mod:`catalog` says which backend builds
which method and what each composes with. :class:`Module` is what the rest of adapterx holds: the model plus how to
save it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from adapterx.errors import ConfigError, ModelError
from adapterx.methods import catalog
from adapterx.methods.compose import trains_in_sequence
from adapterx.methods.module import MODULE_META, Module, backend_for, quiet_transformers
from adapterx.methods.spec import AdapterSpec, FullSpec, LoRASpec, SFTSpec, method_from_options, parse_method
from adapterx.methods.multitask import load_multitask
from adapterx.tasks import get_task

backend_of = backend_for  # the name the method families' code uses

def for_backbone(method: Any, backbone, task=None, composition: str | None = None):  # noqa: ANN001, ANN201
    """``method`` made concrete for ``backbone``'s architecture, checked before any data loads.

    Architecture defaults are filled in (LoRA's target modules from peft's per-model mapping), so run.json records
    what trained. A method, head or composition the architecture cannot serve is one :class:`ModelError` naming the
    architecture and what works instead. Each backend says what it can serve (its ``for_backbone``)."""
    check = getattr(backend_for(method.name), "for_backbone", None)
    return check(method, backbone, task, composition) if check is not None else method


def build_module(method: Any, backbone, task, seed: int, name: str | None = None) -> Module:
    """Attach a fresh ``method`` module and a fresh head for ``task`` to ``backbone``; only they are trainable."""
    quiet_transformers()
    import torch

    torch.manual_seed(seed)  # head and module initialisation follow the run's seed
    try:
        return backend_for(method.name).build(backbone, task, method, name or task.name)
    except ValueError as exc:  # the library refuses the method's options (e.g. LoRA targets the model lacks)
        why = (str(exc).splitlines()[0] if str(exc) else type(exc).__name__).rstrip(".")
        targets = getattr(method, "target_modules", None)
        hint = (f" --lora-targets {','.join(targets)}: name modules of {backbone.id} (query,key,value,dense)"
                if targets else "")
        raise ConfigError(f"cannot attach a {method.name} module to {backbone.id}: {why}.{hint}") from None


def build_composed(method: AdapterSpec | LoRASpec | FullSpec, backbone, task, intermediates: list[tuple[str, Path]],  # noqa: ANN001
                   mode: str, seed: int, *, with_target: bool = False,
                   lang_adapters: list[tuple[str, Path]] | None = None, name: str | None = None) -> Module:
    """A fresh ``method`` module for ``task`` on frozen intermediate modules (``(task, folder)`` pairs), composed as
    ``mode`` says (adapter: stack | fuse; lora: sum | merge | chain; full: chain, i.e. continue from the last one).
    The composition was validated against the table (:mod:`adapterx.methods.compose`) before anything trained."""
    quiet_transformers()
    import torch

    torch.manual_seed(seed)  # head and module initialisation follow the run's seed
    backend = backend_for(method.name)
    try:
        if mode == "chain" and trains_in_sequence(method.name):  # one set of weights: the last stage holds the chain
            return backend.chain_from(backbone, task, method, name or task.name, intermediates[-1][1])
        return backend.build_composed(backbone, task, method, name or task.name, intermediates, mode,
                                      with_target=with_target, lang_adapters=lang_adapters)
    except (OSError, ValueError, KeyError, RuntimeError) as exc:
        # The folders were verified before (verify_module_folder); what the library still refuses is one line.
        why = (str(exc).splitlines()[0] if str(exc) else type(exc).__name__).rstrip(".")
        raise ModelError(f"cannot compose {', '.join(str(f) for _, f in intermediates)}: {why}. Re-train or pull"
                         " the module again") from None


def load_module(folder: Path, backbone, task=None) -> Module:
    """Load a module that :meth:`Module.save` wrote (or a native folder of the library, where recognisable).

    Damage is reported as one :class:`ModelError` naming the file: a truncated safetensors file (checked from its
    header before any library reads it), a missing config, or whatever else the library refuses."""
    quiet_transformers()
    folder = Path(folder)
    verify_module_folder(folder)
    try:
        return _load_module(folder, backbone, task)
    except ModelError:
        raise
    except (OSError, ValueError, KeyError, RuntimeError) as exc:
        missing = [n for n in _expected_files(folder) if not (folder / n).is_file()]
        why = f"{missing[0]} is missing" if missing else (str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
        raise ModelError(f"{folder}: cannot load the module: {why}. Re-train it, or pull it again from its hub") from None


def verify_module_folder(folder: Path) -> None:
    """Every safetensors file whole, and the files the module's library needs present: checked before a library
    reads the folder, so damage is one line naming the file (not the library's traceback)."""
    folder = Path(folder)
    for path in sorted(folder.rglob("*.safetensors")):
        check_safetensors(path)
    for name in _expected_files(folder):
        if not (folder / name).is_file():
            raise ModelError(f"{folder / name} is missing: the module folder is incomplete; re-train or pull it again")
    for path in missing_weights(folder):
        raise ModelError(f"{path} is missing: the module folder has its config but not its weights; re-train or pull"
                         " it again")


# A config file and the weights the library loads beside it (safetensors first; the pickle names count as present,
# the hub's pickle policy decides about them): with the weights gone, the libraries name other files
# ("No file pytorch_adapter.bin or no file adapter_config.json").
_WEIGHTS_OF = {
    "adapters": ("adapter.safetensors", "pytorch_adapter.bin"),
    "peft": ("adapter_model.safetensors", "adapter_model.bin"),
    "head": ("model_head.safetensors", "pytorch_model_head.bin"),
    "model": ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin", "pytorch_model.bin.index.json"),
}


def missing_weights(folder: Path) -> list[Path]:
    """The weight files missing beside the configs anywhere under ``folder`` (each named by its first choice)."""
    import json as _json

    missing = []
    for cfg in sorted(Path(folder).rglob("*.json")):
        if cfg.name == "head_config.json":
            kind = "head"
        elif cfg.name in ("adapter_config.json", "config.json"):
            try:
                data = _json.loads(cfg.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue  # the loader names an unreadable config itself
            if not isinstance(data, dict):
                continue
            if cfg.name == "config.json":
                kind = "model" if "model_type" in data else ""
            else:
                kind = "peft" if "peft_type" in data else "adapters"
        else:
            continue
        names = _WEIGHTS_OF.get(kind, ())
        if names and not any((cfg.parent / n).is_file() for n in names):
            missing.append(cfg.parent / names[0])
    return missing


def _expected_files(folder: Path) -> list[str]:
    meta = read_meta(folder)
    if meta.get("composition") or meta.get("multitask"):
        return []
    name = meta["method"]["name"]
    return list(catalog.get(name).native_files) if name in catalog.METHODS else []


def check_safetensors(path: Path) -> None:
    """A safetensors file is an 8-byte little-endian header length, a JSON header with each tensor's byte range, and
    the data: the file must be exactly 8 + header + the last range's end bytes long, else it was cut or padded."""
    import json as _json
    import struct

    size = path.stat().st_size
    with path.open("rb") as f:
        head = f.read(8)
        if len(head) < 8:
            raise ModelError(f"{path}: truncated safetensors file ({size} bytes); re-train or pull the module again")
        n = struct.unpack("<Q", head)[0]
        if n > size - 8:
            raise ModelError(f"{path}: truncated safetensors file (header says {n} bytes, file has {size})")
        try:
            header = _json.loads(f.read(n))
        except ValueError:
            raise ModelError(f"{path}: damaged safetensors header; re-train or pull the module again") from None
    end = max((v["data_offsets"][1] for k, v in header.items() if k != "__metadata__"), default=0)
    if size != 8 + n + end:
        raise ModelError(f"{path}: truncated or damaged safetensors file ({size} bytes, expected {8 + n + end})")


def _load_module(folder: Path, backbone, task=None) -> Module:
    meta = read_meta(folder)
    if meta.get("multitask"):
        return load_multitask(Path(folder), backbone, meta)
    method = parse_method(meta["method"])
    if task is None:
        task = get_task(meta["task"])
        if meta.get("labels") and not task.labels:
            from dataclasses import replace

            task = replace(task, labels=tuple(meta["labels"]))
    comp = meta.get("composition")
    if method.name == "full":  # a full fine-tune from an intermediate checkpoint loads as any full model
        comp = None
    return backend_for(method.name).load(folder, backbone, task, method, meta.get("name", task.name), comp)


def read_meta(folder: Path) -> dict[str, Any]:
    path = Path(folder) / MODULE_META
    if path.is_file():
        return json.loads(path.read_text())
    # A folder another tool wrote in a library's native layout.
    if (Path(folder) / "adapter_config.json").is_file() and (Path(folder) / "adapter_model.safetensors").is_file():
        raise ModelError(f"{folder}: a peft folder without {MODULE_META}; pass --task so adapterx knows its head")
    raise ModelError(f"{folder}: no {MODULE_META} here. Is this the module/ folder of an adapterx run?")


__all__ = ["MODULE_META", "AdapterSpec", "FullSpec", "LoRASpec", "Module", "SFTSpec", "backend_for", "backend_of",
           "build_composed", "build_module", "for_backbone", "load_module", "method_from_options", "parse_method",
           "quiet_transformers"]
