"""The model card (``README.md``): the Hub's YAML front matter plus a body generated from run.json and metrics.json.

The card is for people and for the Hub's search: ``library_name`` / ``base_model`` / ``tags`` / ``language`` make the
module findable with ``list_models`` filters (``adapterx hub search --hub hf`` relies on the tags). Nothing secret
or machine-local goes in: no tokens (the card never sees one) and no local paths (a local data source shows only
its base name).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from string import Template
from pathlib import Path, PurePosixPath
from typing import Any

from adapterx.hub.ids import slug
from adapterx.errors import AdapterxError
from adapterx.methods import catalog
from adapterx.tasks import get_task
from adapterx.tasks.kinds import ops_for

# The library that loads a method's module without adapterx (the catalogue's; BitFit's and LT-SFT's torch files load
# into a transformers model, which is what the Hub's library_name can say).
LIBRARY_BY_METHOD = {n: "transformers" if catalog.get(n).library == "torch" else catalog.get(n).library
                     for n in catalog.names()}
# peft task types and HF architecture suffixes -> the Auto class that rebuilds the right head.
_AUTO_BY_PEFT_TASK = {
    "SEQ_CLS": "AutoModelForSequenceClassification",
    "TOKEN_CLS": "AutoModelForTokenClassification",
    "QUESTION_ANS": "AutoModelForQuestionAnswering",
    "FEATURE_EXTRACTION": "AutoModel",
}
_AUTO_BY_ARCH_SUFFIX = {
    "ForSequenceClassification": "AutoModelForSequenceClassification",
    "ForTokenClassification": "AutoModelForTokenClassification",
    "ForQuestionAnswering": "AutoModelForQuestionAnswering",
    "ForMultipleChoice": "AutoModelForMultipleChoice",
}
_HUB_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)?")
# Backbones that exist only locally (adapterx.backbone's built-in tiny model): never Hub metadata.
_LOCAL_BACKBONES = frozenset({"tiny", "unknown"})
# Built-in names of real checkpoints (adapterx.backbone): their Hub id in metadata.
_HUB_NAMES = {"minilm": "sentence-transformers/all-MiniLM-L6-v2"}


@dataclass
class ModuleLayout:
    """What the ``module/`` folder holds, read from its file names and small config files."""

    library: str
    adapters: list[str] = field(default_factory=list)  # folders with adapter_config.json (method "adapter")
    fusions: list[str] = field(default_factory=list)  # folders with adapter_fusion_config.json
    native_setup: bool = False  # adapters' own save_adapter_setup layout (adapter_setup.json)
    flat_adapter: bool = False  # module/ is one save_adapter folder (adapter_config.json at its top, with its head)
    method: str = "unknown"
    auto_class: str = "AutoModel"
    num_labels: int | None = None  # classification/regression heads: what from_pretrained needs to fit the head
    peft_composition: str | None = None  # "sum" | "chain" | "merge": a peft composition (docs/internals.md)
    peft_target: str | None = None  # sum / chain: the target module's folder under module/peft/
    intermediates: list[str] = field(default_factory=list)  # peft compositions: module/intermediates/<name>/
    parts: list[str] = field(default_factory=list)  # folders under module/ holding the method's weight file, in order


def method_name(run: dict[str, Any]) -> str:
    method = run.get("method") or {}
    return str(method.get("name", "unknown")) if isinstance(method, dict) else str(method)


def composition_kind(run: dict[str, Any]) -> str | None:
    comp = run.get("composition")
    return str(comp["kind"]) if isinstance(comp, dict) and comp.get("kind") else None


def hub_id_or_none(value: str) -> str | None:
    """``value`` if it can be a Hub model/dataset id; None for local paths (the Hub rejects invalid ids in
    ``base_model``, and a path would leak the author's filesystem)."""
    if value in _HUB_NAMES:
        return _HUB_NAMES[value]
    if not value or value in _LOCAL_BACKBONES or not _HUB_ID.fullmatch(value) or Path(value).exists():
        return None
    return value


def public_name(value: str) -> str:
    """How a possibly-local id appears in the card body: Hub ids as they are, local paths by their last part."""
    return value if hub_id_or_none(value) else PurePosixPath(value.replace("\\", "/")).name or value


def backbone_id(run: dict[str, Any]) -> str:
    backbone = run.get("backbone") or {}
    return str(backbone.get("id", "unknown")) if isinstance(backbone, dict) else str(backbone)


def chain_of(run: dict[str, Any]) -> list[str]:
    chain = run.get("chain") or []
    task = run.get("task")
    out = [str(t) for t in chain] if isinstance(chain, list) else []
    return out or ([str(task)] if task else [])


def languages_of(run: dict[str, Any], metrics: dict[str, Any] | None) -> list[str]:
    """Languages of the run: run.json ``languages`` plus every language scored in metrics.json ``eval``."""
    langs = [str(x) for x in run.get("languages") or []]
    for report in ((metrics or {}).get("eval") or {}).values():
        if isinstance(report, dict):
            langs.extend(str(x) for x in (report.get("scores") or {}))
    return sorted(dict.fromkeys(langs))


def default_repo_name(run: dict[str, Any]) -> str:
    """``TASK[-from-INTERMEDIATES][-KIND]-METHOD-BACKBONE``, e.g. ``stsb-adapter-xlm-roberta-base``."""
    task = str(run.get("task") or "module")
    parts = [task]
    intermediates = [t for t in chain_of(run) if t != task]
    if intermediates:
        parts.append("from-" + "-".join(intermediates))
    kind = composition_kind(run)
    if kind:
        parts.append(kind)
    parts += [method_name(run), backbone_id(run)]
    name = "-".join(s for s in (slug(p) for p in parts) if s)
    return name[:96].rstrip(".-") or "module"


def card_tags(run: dict[str, Any]) -> list[str]:
    """Hub tags: adapterx, the task, the method, composition kind, and the intermediate-task chain."""
    chain = chain_of(run)
    tags = ["adapterx", str(run.get("task") or ""), method_name(run), composition_kind(run) or "", *chain]
    if len(chain) > 1:
        tags += ["intermediate-task-transfer", "chain-" + "-".join(chain)]
    return [t for t in dict.fromkeys(slug(t) for t in tags) if t]


def metric_names(metrics: dict[str, Any] | None) -> list[str]:
    names: list[str] = list(((metrics or {}).get("dev") or {}).keys())
    for report in ((metrics or {}).get("eval") or {}).values():
        if isinstance(report, dict) and report.get("metric"):
            names.append(str(report["metric"]))
    return list(dict.fromkeys(names))


def front_matter(run: dict[str, Any], metrics: dict[str, Any] | None) -> dict[str, Any]:
    """The Hub's card metadata (YAML front matter), built from run.json / metrics.json only. A run trained on
    synthetic data publishes no metric (a smoke test's numbers are no result)."""
    if trained_on_synthetic(run):
        metrics = None
    meta: dict[str, Any] = {"library_name": LIBRARY_BY_METHOD.get(method_name(run), "transformers")}
    base = hub_id_or_none(backbone_id(run))
    if base:
        meta["base_model"] = base
    meta["tags"] = card_tags(run)
    langs = languages_of(run, metrics)
    if langs:
        meta["language"] = langs
    source = str(((run.get("data") or {}).get("source")) or "")
    # Only ids that look like Hub datasets go in the metadata; a local path would leak the author's filesystem.
    # Synthetic data (the built-in models' default) is no dataset of the Hub's, though its name would pass as an id.
    if hub_id_or_none(source) and not source.startswith("synthetic"):
        meta["datasets"] = [source]
    names = metric_names(metrics)
    if names:
        meta["metrics"] = names
    # Our own block: `hub search --hub hf` reads it back from list_models(cardData=True) to fill its table.
    evals = {
        str(t): {k: r.get(k) for k in ("metric", "average", "low_resource_average")}
        for t, r in ((metrics or {}).get("eval") or {}).items()
        if isinstance(r, dict)
    }
    meta["adapterx"] = {
        "task": run.get("task"),
        "chain": chain_of(run),
        "method": method_name(run),
        "composition": composition_kind(run),
        "eval": evals,
    }
    return meta


def describe_module(files: dict[str, Path], run: dict[str, Any]) -> ModuleLayout:
    """Inspect ``module/`` (file names, adapter_config.json / config.json) to write working load snippets."""
    library = LIBRARY_BY_METHOD.get(method_name(run), "transformers")
    layout = ModuleLayout(library=library, method=method_name(run))
    for name in sorted(files):
        p = PurePosixPath(name)
        if p.parts[0] != "module":
            continue
        if len(p.parts) == 3 and p.name == "adapter_config.json":
            layout.adapters.append(p.parts[1])
        if len(p.parts) == 3 and p.name == "adapter_fusion_config.json":
            layout.fusions.append(p.parts[1])
        if name == "module/adapter_setup.json":
            layout.native_setup = True
    # What training writes for a single adapter (docs/internals.md): save_adapter's files directly in module/.
    layout.flat_adapter = library == "adapters" and "module/adapter_config.json" in files and not layout.native_setup
    chain = chain_of(run)
    # Chain order (intermediate first) when folder names are task names: that is the order a Stack needs.
    layout.adapters.sort(key=lambda a: (chain.index(a) if a in chain else len(chain), a))
    if library == "peft" and "module/adapter_config.json" in files:
        task_type = _read_json(files["module/adapter_config.json"]).get("task_type")
        layout.auto_class = _AUTO_BY_PEFT_TASK.get(str(task_type), "AutoModelForSequenceClassification")
        labels = run.get("labels")
        if isinstance(labels, list) and str(task_type) in ("SEQ_CLS", "TOKEN_CLS"):
            # No labels on a sequence head means regression (one output), as adapterx trains it; the head's weights
            # only load into a model whose head has the trained shape.
            layout.num_labels = len(labels) or (1 if str(task_type) == "SEQ_CLS" else None)
    if library == "peft" and composition_kind(run) in ("sum", "chain", "merge"):
        layout.peft_composition = composition_kind(run)
        for name in sorted(files):
            p = PurePosixPath(name)
            if len(p.parts) == 4 and p.name == "adapter_config.json" and p.parts[1] == "intermediates":
                layout.intermediates.append(p.parts[2])
            if len(p.parts) == 4 and p.name == "adapter_config.json" and p.parts[1] == "peft":
                layout.peft_target = p.parts[2]
        layout.intermediates.sort(key=lambda a: (chain.index(a) if a in chain else len(chain), a))
        if layout.peft_target is not None:  # the target module has no task type: its head is module/head.safetensors
            layout.auto_class, layout.num_labels = _composed_head(run)
    info = _method_info(layout.method)
    if info is not None and info.native_files:
        layout.parts = _parts_in_order(files, run, info.native_files[-1])
        if info.library == "torch":  # torch files (BitFit, LT-SFT) name no head: the task does
            layout.auto_class, layout.num_labels = _composed_head(run)
    if library == "transformers" and "module/config.json" in files:
        for arch in _read_json(files["module/config.json"]).get("architectures") or []:
            for suffix, auto in _AUTO_BY_ARCH_SUFFIX.items():
                if str(arch).endswith(suffix):
                    layout.auto_class = auto
    return layout


def _method_info(name: str) -> catalog.MethodInfo | None:
    """The registration of method ``name``; None for a run record naming no registered method."""
    return catalog.get(name) if name in catalog.names() else None


def _parts_in_order(files: dict[str, Path], run: dict[str, Any], weight_file: str) -> list[str]:
    """The folders holding ``weight_file`` in the order a summed module applies them (LT-SFT's differences): a
    language's (English's), the intermediates' (an intermediate's own intermediates before it), then the module's."""
    chain = chain_of(run)
    folders = [str(PurePosixPath(n).parent) for n in files if n.startswith("module/") and n.endswith("/" + weight_file)]
    langs = [f for f in folders if f == "module/languages/en"]
    inters = [f for f in folders if f.startswith("module/intermediates/")]
    top = lambda f: PurePosixPath(f).parts[2]  # noqa: E731
    inters.sort(key=lambda f: (chain.index(top(f)) if top(f) in chain else len(chain), -len(PurePosixPath(f).parts), f))
    return langs + inters + (["module"] if "module" in folders else [])


def _composed_head(run: dict[str, Any]) -> tuple[str, int | None]:
    """The Auto class and head size of the run's task, where no module file names them (a peft composition's
    target carries no task type; BitFit's and LT-SFT's torch files none at all)."""
    try:
        task = get_task(str(run.get("task")))
    except AdapterxError:
        return "AutoModelForSequenceClassification", None
    labels = run.get("labels") if isinstance(run.get("labels"), list) else []
    sizes = {"regression": 1, "span_qa": 2, "classification": len(labels), "tagging": len(labels)}
    return ops_for(task.kind).auto_class, sizes.get(task.kind) or None


def _weights_filter(layout: ModuleLayout) -> str:
    """A python expression keeping the method's own tensors of ``weights`` (its registration's ``param_prefixes``):
    an intermediate's task head is not part of the composed model (what peft_backend._module_weights keeps)."""
    info = _method_info(layout.method)
    prefixes = list(info.param_prefixes) if info is not None else [""]  # an unregistered method: every tensor
    return f"{{k: v for k, v in weights.items() if any(p in k for p in {json.dumps(prefixes)})}}"


def _intermediate_lines(layout: ModuleLayout, attach: str) -> list[str]:
    """Plain-peft lines that add each intermediate module (``attach``: the line that adds ``cfg`` as ``name``) with
    its own weights only: the bare config of peft_backend._bare_config, whatever the method's config class."""
    return [
        f"for name in {json.dumps(layout.intermediates)}:  # the intermediate module(s), without their own task heads",
        '    cfg = PeftConfig.from_pretrained(f"{path}/module/intermediates/{name}")  # its own class: IA3Config, ...',
        "    cfg.task_type, cfg.modules_to_save, cfg.inference_mode, cfg.base_model_name_or_path = None, None, True, None",
        f"    {attach}",
        '    weights = load_file(f"{path}/module/intermediates/{name}/adapter_model.safetensors")',
        f"    set_peft_model_state_dict(model, {_weights_filter(layout)}, adapter_name=name)",
    ]


def _peft_composition_snippet(layout: ModuleLayout, base: str, fetch: str) -> str:
    """Plain-peft lines for a composition of peft modules (``merge`` for every peft method; ``sum`` / ``chain``,
    LoRA's): the intermediates from module/intermediates/, the target on top."""
    head = (f'base = {layout.auto_class}.from_pretrained("{base}", num_labels={layout.num_labels})'
            if layout.num_labels else f'base = {layout.auto_class}.from_pretrained("{base}")')
    imports = ["from peft import PeftConfig, PeftModel, get_peft_model, set_peft_model_state_dict",
               "from safetensors.torch import load_file", f"from transformers import {layout.auto_class}", ""]
    if layout.peft_composition == "merge":
        return "\n".join([fetch, "", *imports, head,
                          "# merge: each intermediate is folded into the base weights first (LoRA: W <- W + (alpha/r) B A)",
                          *_intermediate_lines(layout, "model = get_peft_model(base, cfg, adapter_name=name)"),
                          "    base = model.merge_and_unload()",
                          f'model = PeftModel.from_pretrained(base, f"{{path}}/module")  # the target {layout.method} and its head'])
    target = layout.peft_target
    lines = [fetch, "", *imports, head,
             f'model = PeftModel.from_pretrained(base, f"{{path}}/module/peft/{target}", adapter_name="{target}")',
             *_intermediate_lines(layout, "model.add_adapter(name, cfg)"),
             f"model.base_model.set_adapter({json.dumps(layout.intermediates + [target])})"
             "  # sum: W h + the deltas of every module",
             'base.load_state_dict(load_file(f"{path}/module/head.safetensors"), strict=False)  # the target\'s head']
    if layout.peft_composition == "chain":
        lines.insert(2, "# chain: the target LoRA reads the intermediates' deltas (dW_t(dW_i h)) through a forward hook\n"
                        "# that peft has no setting for; these lines load the weights as a *sum* -- use adapterx's\n"
                        "# load_module (below) for the chain itself.")
    return "\n".join(lines)


def plain_load_snippet(layout: ModuleLayout, base: str) -> str | None:
    """The registration's plain-library load lines (``MethodInfo.plain_load``) for this module, placeholders filled;
    None where the method has none."""
    info = _method_info(layout.method)
    if info is None or not info.plain_load:
        return None
    parts = "[" + ", ".join(f'f"{{path}}/{p}"' for p in layout.parts) + "]"
    return Template(info.plain_load).substitute(
        base=base, auto_class=layout.auto_class, parts=parts,
        head_args=f", num_labels={layout.num_labels}" if layout.num_labels else "").strip("\n")


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _cell(value: Any) -> str:
    """A markdown table cell: numbers rounded, JSON for structures, pipes and newlines escaped."""
    if value is None:
        return "n/a"
    if isinstance(value, float):
        text = f"{value:.4g}" if abs(value) < 1e-3 or abs(value) >= 1e5 else f"{value:.2f}".rstrip("0").rstrip(".")
    elif isinstance(value, (dict, list)):
        text = json.dumps(value, ensure_ascii=False)
    else:
        text = str(value)
    return text.replace("|", "\\|").replace("\n", " ")


def _table(header: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


SYNTHETIC_RESULTS = ("## Results\n\nNot published: this module was trained and evaluated on synthetic data (a smoke "
                     "test), whose scores say nothing about the task.")


def trained_on_synthetic(run: dict[str, Any]) -> bool:
    """Whether run.json says the run read synthetic data (the built-in models' default): its scores never reach a
    card's results (issue 27, 5)."""
    data = run.get("data") or {}
    parts = [data, *(v for v in data.values() if isinstance(v, dict))]  # multi-task: one entry per task
    return any(str(d.get("source") or "").startswith("synthetic") for d in parts)


def _results_section(metrics: dict[str, Any] | None) -> str:
    if not metrics:
        return "## Results\n\nNo metrics.json was published with this module."
    out = ["## Results"]
    dev = metrics.get("dev") or {}
    if dev:
        best = f" (best step {metrics['best_step']})" if metrics.get("best_step") is not None else ""
        out.append(f"Development set{best}:\n\n" + _table(["metric", "value"], [[k, v] for k, v in dev.items()]))
    for target, report in (metrics.get("eval") or {}).items():
        if not isinstance(report, dict):
            continue
        scores: dict[str, dict[str, Any]] = report.get("scores") or {}
        cols = list(dict.fromkeys(m for s in scores.values() for m in (s or {})))
        rows = [[lang, *[(s or {}).get(m) for m in cols]] for lang, s in sorted(scores.items())]
        text = f"### Zero-shot evaluation: {target} ({report.get('metric', '?')}, 0-100)\n\n"
        if rows:
            text += _table(["language", *cols], rows) + "\n\n"
        avg = [
            ["all languages", report.get("average")],
            ["low-resource languages", report.get("low_resource_average")],
            ["high-resource languages", report.get("high_resource_average")],
        ]
        text += _table(["average over", "value"], avg)
        if any(v is None for _, v in avg):
            text += "\n\nn/a: the group holds no evaluated language."
        out.append(text)
    if len(out) == 1:
        out.append("No evaluation results were recorded in metrics.json.")
    return "\n\n".join(out)


def _training_section(run: dict[str, Any]) -> str:
    chain = chain_of(run)
    backbone = run.get("backbone") or {}
    data = run.get("data") or {}
    source = str(data.get("source") or "n/a")
    if Path(source).is_absolute() or source.startswith(("~", ".")) or "\\" in source or Path(source).exists():
        source = PurePosixPath(source.replace("\\", "/")).name  # a local path: keep only its name
    rows: list[list[Any]] = [
        ["task", run.get("task")],
        ["intermediate-task chain", " -> ".join(chain) if chain else None],
        ["method", method_name(run)],
        ["composition", _composition(run.get("composition"))],
        [
            "backbone",
            f"{public_name(backbone_id(run))} @ {backbone.get('revision') if isinstance(backbone, dict) else '?'}",
        ],
        ["data", f"{source} (train {data.get('train_size')}, dev {data.get('dev_size')})"],
        ["seed", run.get("seed")],
        ["wall time (s)", run.get("wall_time_s")],
        ["trainable / total parameters", _params(run.get("params"))],
        ["command", run.get("command")],
        ["adapterx version", run.get("adapterx_version")],
        ["created", run.get("created")],
    ]
    method: dict[str, Any] = run["method"] if isinstance(run.get("method"), dict) else {}
    method_rows = [[k, v] for k, v in method.items() if k != "name"]
    hyper_rows = [[k, v] for k, v in (run.get("hyperparameters") or {}).items()]
    out = "## Training\n\n" + _table(["", ""], [r for r in rows if r[1] is not None])
    if method_rows:
        out += "\n\nMethod configuration:\n\n" + _table(["option", "value"], method_rows)
    if hyper_rows:
        out += "\n\nHyperparameters:\n\n" + _table(["hyperparameter", "value"], hyper_rows)
    return out


def _composition(comp: Any) -> str | None:
    """``stack of stsb (sha256 1a2b3c4d...) + tydiqa``; module run paths are left out (they are local paths)."""
    if not isinstance(comp, dict):
        return None
    parts = []
    for mod in comp.get("modules") or []:
        if isinstance(mod, dict):
            sha = f" (sha256 {str(mod['sha256'])[:12]}...)" if mod.get("sha256") else ""
            parts.append(f"{mod.get('task', '?')}{sha}")
    return f"{comp.get('kind', '?')}" + (f" of {' + '.join(parts)}" if parts else "")


def _params(params: Any) -> str | None:
    if not isinstance(params, dict):
        return None
    trainable, total = params.get("trainable"), params.get("total")
    if isinstance(trainable, int) and isinstance(total, int) and total:
        return f"{trainable:,} / {total:,} ({100 * trainable / total:.2f}%)"
    return f"{trainable} / {total}"


_LIBRARY_LINKS = {
    "adapters": "[`adapters`](https://github.com/adapter-hub/adapters)",
    "peft": "[`peft`](https://github.com/huggingface/peft)",
    "transformers": "[`transformers`](https://github.com/huggingface/transformers)",
}


def _adapters_composition_snippet(run: dict[str, Any], layout: ModuleLayout, base: str, fetch: str) -> str:
    """Plain-adapters lines for a module of several adapter folders (a Stack / Fuse, multi-task heads) or adapters'
    own setup layout."""
    kind = composition_kind(run)
    block = {"stack": "Stack", "fuse": "Fuse"}.get(kind or "") if len(layout.adapters) > 1 else None
    lines = [fetch, "", "from adapters import AutoAdapterModel"]
    if block and not layout.native_setup:
        lines.append(f"from adapters.composition import {block}")
    lines += ["", f'model = AutoAdapterModel.from_pretrained("{base}")']
    if layout.native_setup:
        lines.append('setup, _ = model.load_adapter_setup(f"{path}/module", use_safetensors=True, set_active=True)')
        return "\n".join(lines)
    for name in layout.adapters:
        lines.append(f'model.load_adapter(f"{{path}}/module/{name}", load_as="{name}", use_safetensors=True)  # + head')
    for name in layout.fusions:
        # A fusion must be loaded after its adapters, else it stays half-registered.
        lines.append(f'model.load_adapter_fusion(f"{{path}}/module/{name}", use_safetensors=True)')
    names = ", ".join(f'"{a}"' for a in layout.adapters)
    if block:
        lines.append(f"model.set_active_adapters({block}({names}))  # see module/setup.json")
    elif layout.adapters:
        lines.append(f"model.set_active_adapters({names})")
    return "\n".join(lines)


def _usage_section(run: dict[str, Any], layout: ModuleLayout, ref: str, hf_repo_id: str | None) -> str:
    base = public_name(backbone_id(run))
    if hf_repo_id:
        rev = ref.split("@", 1)[1] if "@" in ref else None
        rev_arg = f', revision="{rev}"' if rev else ""
        fetch = f'from huggingface_hub import snapshot_download\n\npath = snapshot_download("{hf_repo_id}"{rev_arg})'
    else:
        fetch = f'path = "{ref}"  # this repository\'s folder'
    lib = _LIBRARY_LINKS.get(layout.library, _LIBRARY_LINKS["transformers"])
    info = _method_info(layout.method)
    if info is not None and info.library == "torch":
        lib += " and torch"
    if layout.library == "peft" and layout.peft_composition and (layout.peft_target or layout.peft_composition == "merge"):
        plain = _peft_composition_snippet(layout, base, fetch)
    elif layout.library == "adapters" and not layout.flat_adapter:
        plain = _adapters_composition_snippet(run, layout, base, fetch)
    else:  # a single module: its registration's lines
        own = plain_load_snippet(layout, base)
        plain = "\n".join([fetch, "", own or f"# {layout.method}: no plain-library load is registered for this method"])
    ax_id = ref
    adapterx = "\n".join(["adapterx pull " + ax_id + "   # verified copy in the local cache, prints its folder"])
    py = "\n".join(
        [
            "from adapterx.hub import resolve_module",
            "",
            f'run_dir = resolve_module("{ax_id}")  # run.json, metrics.json, module/',
        ]
    )
    return (
        "## How to use\n\n"
        f"Weights are safetensors only. With plain {lib}:\n\n```python\n{plain}\n```\n\n"
        "With adapterx (every command that takes a module accepts this id; the download is checked against "
        "`manifest.json`):\n\n"
        f"```bash\n{adapterx}\n```\n\n```python\n{py}\n```"
    )


def _citation(run: dict[str, Any], layout: ModuleLayout) -> str:
    year = str(run.get("created") or "")[:4]
    year = year if year.isdigit() else "2026"
    version = run.get("adapterx_version") or "unknown"
    lib = {
        "adapters": "the `adapters` library (Poth et al., 2023)",
        "peft": "the `peft` library (Mangrulkar et al., 2022)",
    }.get(layout.library, "the `transformers` library (Wolf et al., 2020)")
    backbone = public_name(backbone_id(run))
    upstream = f"the backbone (`{backbone}`)"
    if "xlm-roberta" in backbone.lower() or str((run.get("backbone") or {}).get("model_type")) == "xlm-roberta":
        upstream = f"the backbone (`{backbone}`: Conneau et al., 2020)"
    return (
        "## Citation\n\n"
        f"If you use this module, please cite adapterx, {upstream} and {lib}.\n\n"
        "```bibtex\n"
        "@software{adapterx,\n"
        "  title   = {adapterx: parameter-efficient intermediate-task transfer experiments across languages},\n"
        f"  version = {{{version}}},\n"
        f"  year    = {{{year}}},\n"
        "}\n```"
    )


def at_repo_root(snippet: str) -> str:
    """The load snippets name the run dir's files (``{path}/module/X``); a published repository holds the module at
    its root (folder.py), so there they are ``{path}/X``. adapterx's own lines (a pulled copy is a run dir) keep
    ``module/``."""
    snippet = re.sub(r"\{path\}/module(?=[/\"])", "{path}", snippet)
    return snippet.replace("see module/setup.json", "see setup.json").replace("from module/languages/", "from languages/")


def render_card(
    run: dict[str, Any],
    metrics: dict[str, Any] | None,
    files: dict[str, Path],
    ref: str,
    hf_repo_id: str | None = None,
) -> str:
    """The full ``README.md``: YAML front matter, then what / training / results / usage / citation.

    ``files`` maps names in the repository to local paths (to inspect module configs); ``ref`` is the id the module
    is published under; ``hf_repo_id`` (``USER/REPO``) switches the snippets to ``snapshot_download``.
    """
    # huggingface_hub's own card types (imported here to keep `import adapterx.hub` light): ModelCardData checks the
    # metadata and writes its YAML in the order front_matter gives, so the card reads as the hand-built one did.
    from huggingface_hub import ModelCard, ModelCardData

    synthetic = trained_on_synthetic(run)
    if synthetic:  # a smoke test's numbers are no result: neither the metadata nor the body publishes them
        metrics = None
    fields = front_matter(run, metrics)
    meta = ModelCardData(**fields).to_yaml(original_order=list(fields))
    layout = describe_module(files, run)
    name = PurePosixPath(hf_repo_id).name if hf_repo_id else PurePosixPath(ref.replace("\\", "/")).name
    chain = chain_of(run)
    kind = composition_kind(run)
    info = _method_info(layout.method)
    if layout.library == "adapters" or info is None:
        what = "an adapter (with its prediction head)" if layout.library == "adapters" else "a module"
    else:  # the registration's one-line summary ("LoRA (options: ...)", "VeRA: ...")
        what = f"a `{layout.method}` module ({info.summary})"
    if kind:
        what = f"a {kind} composition of adapter modules" if layout.library == "adapters" else f"{what} ({kind})"
    base = public_name(backbone_id(run))
    intro = f"This is {what} for **{run.get('task', '?')}** on top of `{base}`, trained with adapterx."
    if len(chain) > 1:
        intro += (
            f" It is the last step of the intermediate-task chain {' -> '.join(chain)}: the intermediate task(s) "
            "were trained first, then the target task on top of them."
        )
    langs = languages_of(run, metrics)
    if langs:
        intro += f" Evaluated on: {', '.join(langs)}."
    body = "\n\n".join(
        [
            f"# {name}",
            intro,
            _training_section(run),
            SYNTHETIC_RESULTS if synthetic else _results_section(metrics),
            at_repo_root(_usage_section(run, layout, ref, hf_repo_id)),
            _citation(run, layout),
        ]
    )
    return ModelCard(f"---\n{meta}\n---\n\n{body}\n").content
