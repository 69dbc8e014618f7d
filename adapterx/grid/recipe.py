"""Recipes: one YAML file describes a whole grid of experiments; this module validates it and expands it into cells.

A recipe names backbones x methods x intermediate chains (or none) x target tasks x seeds, plus the training, data and
evaluation settings shared by every cell. :func:`load_recipe` reads it (``yaml.safe_load`` only), applies ``--set``
overrides and validates it with pydantic (``extra="forbid"``, frozen): errors name their path in the file
(``methods[1].rank: ...``) and the allowed values. :func:`expand` turns it into *cells*, plain JSON-able dicts, each
identified by :func:`cell_hash`, a content hash of the fields that change its result.

The cell dict (the contract with ``adapterx.grid.cell.run_cell``; ``schema_version`` 1)::

    {
      "schema_version": 1,
      "recipe": "sts-lowres",                  # name of the recipe it came from (not hashed)
      "backbone": "xlm-roberta-base",          # backbone id as the recipe wrote it ("tiny" = the built-in tiny XLM-R)
      "method": {                              # the parameter-efficient (or full) method trained in every stage
        "name": "adapter" | "lora" | "full",
        "label": "adapter",                    # the condition's name in reports (defaults to name; unique per recipe)
        "transfer": "continue" | "stack" | "fuse" | "merge" | "sum" | "chain",
                                               # how the target stage builds on the intermediate module(s):
                                               #   continue: train the same module further (STILTs-style; full: the only one)
                                               #   stack: freeze intermediate module(s), train a new one on top (adapters, LoRA)
                                               #   fuse: AdapterFusion over the intermediate adapters + a new one (adapter)
                                               #   merge: merge the intermediate LoRA into the weights, new LoRA (lora)
                                               #   sum: intermediate LoRA frozen and active, new LoRA added (lora)
        "config": {...}                        # adapter: {"config": "seq_bn"|"double_seq_bn"|"par_bn",
                                               #           "reduction_factor": int, "non_linearity": str}
                                               # lora:    {"rank": int, "alpha": float, "dropout": float,
                                               #           "target_modules": [str, ...]}
                                               # full:    {}
      },
      "intermediate": ["stsb"],                # English intermediate tasks in training order; [] = no intermediate.
                                               # Several: full fine-tuning trains them in sequence, each stage from
                                               # the one before (X-STILTs; XTREME-R's SIQA -> COPA); adapters and
                                               # LoRA train each module on the frozen base and compose them all
      "target": "xnli",                        # the target task, trained on English, evaluated zero-shot per language
      "seed": 1,
      "training": {
        "intermediate": [{TrainingConfig}, ...],   # one per intermediate task, same order; [] when there is none
        "target": {TrainingConfig}                 # ignored by targets without training data (tatoeba, bucc)
      },                                           # TrainingConfig keys: lr, epochs, max_steps, batch_size, grad_accum,
                                                   # warmup_ratio, weight_decay, max_length, eval_every,
                                                   # early_stopping_patience, precision (fp32 | bf16 | fp16)
      "data": {"source": "auto"|"synthetic"|"xtreme"|"hf", "root": str|None,
               "max_train_examples": int|None, "max_eval_examples": int|None,   # the target's caps
               "intermediate_caps": {task: {"max_train_examples", "max_eval_examples"}}},  # only where the recipe
                                                   # sets data.per_task (cells of other recipes hash as before)
      "eval": {"split": "test"|"dev", "languages": [str]|None, "low_resource_threshold": int,
               "save_predictions": bool},
      "task_options": {task: {...}},           # free-form per-task options of the tasks in this cell (e.g. tatoeba's
                                               # {"layer": 14, "pooling": "mean"}), passed through to the task
      "intermediate_key": str | None,          # hash of what the intermediate stage depends on (backbone, method,
                                               # chain, seed, intermediate training, data): cells sharing it may reuse
                                               # one trained intermediate module, cached under
                                               # out_dir.parents[1] / "intermediates" / key (= RUN/intermediates/<key>/;
                                               # local workers run concurrently: lock or write-then-rename)
      "report_to": None | "tensorboard" | "wandb" | "mlflow"   # experiment tracker (not hashed)
    }

Method-level ``lr`` and per-task patches (``training.per_task``) are resolved into each stage's config (adapters and
LoRA want a larger learning rate than full fine-tuning; QA wants longer inputs), so a cell carries effective values
only.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal, get_args, get_origin

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from adapterx.engine.loop import TrainConfig
from adapterx.errors import ConfigError
from adapterx.methods.catalog import default_lr
from adapterx.methods.compose import transfers
from adapterx.methods.spec import method_spec_union, spec_classes
from adapterx.registry import suggest

CELL_SCHEMA_VERSION = 2  # 2: stages carry every TrainConfig key, methods the spec's own keys

# Keys of a cell that do not change its result, so not part of its hash: renaming a recipe or switching the
# experiment tracker must not rerun a finished grid.
UNHASHED_KEYS = frozenset({"recipe", "report_to", "intermediate_key"})

# Used when ``adapterx.tasks`` is absent or exposes no registry (and in tests): XTREME-R targets, the two XTREME
# tasks X-STILTs still uses, STS-B and Phang et al.'s nine intermediate tasks.
FALLBACK_TASKS: tuple[str, ...] = (
    "xnli", "xcopa", "udpos", "panx", "xquad", "mlqa", "tydiqa", "tatoeba", "mewslix", "lareqa", "bucc", "pawsx",
    "stsb", "mnli", "anli", "qqp", "sst2", "squad", "hellaswag", "cosmosqa", "commonsenseqa", "ccg", "siqa", "copa",
)
# Span-QA tasks: their score is (EM + F1) / 2 (XTREME-R convention).
QA_TASKS = frozenset({"xquad", "mlqa", "tydiqa", "squad"})
NONE_CHAIN = "none"


def known_tasks() -> tuple[str, ...]:
    """Task names a recipe may use: the ``adapterx.tasks`` registry where it exists, else :data:`FALLBACK_TASKS`.

    Imported lazily, because the task modules may pull in heavier code and recipes must load fast.
    """
    try:
        from adapterx.tasks import task_names
    except ImportError:
        return FALLBACK_TASKS
    return tuple(task_names()) or FALLBACK_TASKS


def _task_kind(name: str) -> str | None:
    try:
        from adapterx.tasks import get_task

        return str(get_task(name).kind)
    except Exception:  # noqa: BLE001 - a name outside the registry (tests patch known_tasks)
        return None


def _check_task(name: str) -> str:
    # Looked up through the module global at call time so tests can patch ``known_tasks``.
    names = known_tasks()
    if name not in names:
        raise ValueError(suggest(name, tuple(names), "task"))
    return name


TaskName = Annotated[str, AfterValidator(_check_task)]


def _check_target(name: str) -> str:
    """A target trains on English and is evaluated zero-shot (a target task), or is a retrieval task that evaluates
    the intermediate module as it is; an intermediate task as target would give an English-only "zero-shot" table,
    and every cell would fail only after its intermediates trained."""
    try:
        from adapterx.tasks import get_task

        task = get_task(name)
    except Exception:  # noqa: BLE001 - a name outside the registry (tests patch known_tasks)
        return name
    if not task.target and task.kind != "retrieval":
        raise ValueError(f"{name} is not a target task: put it under intermediates (targets are XTREME-R tasks such"
                         " as xnli, panx, tydiqa, or retrieval tasks)")
    return name


TargetName = Annotated[str, AfterValidator(_check_task), AfterValidator(_check_target)]


def _parse_chain(value: Any) -> Any:
    """``"none"`` -> (), ``"stsb"`` -> ("stsb",), ``"stsb+mnli"`` or ``[stsb, mnli]`` -> ("stsb", "mnli")."""
    if value is None or value == NONE_CHAIN:
        return ()
    if isinstance(value, str):
        return tuple(part.strip() for part in value.split("+"))
    return value


Chain = Annotated[tuple[TaskName, ...], BeforeValidator(_parse_chain)]


def chain_name(chain: Sequence[str]) -> str:
    """The chain as stored and shown: ``none``, ``stsb`` or ``stsb+mnli``."""
    return "+".join(chain) if chain else NONE_CHAIN


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


MethodSpec = method_spec_union()  # every method spec, discriminated by `name` (methods/spec.py)

# Keys of a recipe's method entry that are not the method's own (everything else is the method spec of
# adapterx.methods.spec: the same schema `--method`/`--lora-rank`/... build on the command line).
RECIPE_METHOD_KEYS = ("label", "lr", "transfer")


def _method_entry(value: Any) -> Any:
    # ``methods: [full, adapter]`` is the common case: a bare name means the method with its defaults.
    if isinstance(value, str):
        value = {"name": value}
    if not isinstance(value, dict) or "spec" in value:
        return value
    return {**{k: value[k] for k in RECIPE_METHOD_KEYS if k in value},
            "spec": {k: v for k, v in value.items() if k not in RECIPE_METHOD_KEYS}}


class MethodEntry(_Strict):
    """One method of the grid: its spec (the one schema the commands use) plus the recipe's own keys."""

    spec: MethodSpec  # type: ignore[valid-type]
    label: str | None = Field(None, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$", description="condition name in reports")
    lr: float | None = Field(None, gt=0, description="learning rate for this method in every stage")
    transfer: str = Field("continue", description="how the target stage builds on the intermediate module(s)")

    @field_validator("transfer")
    @classmethod
    def _transfer_fits(cls, value: str, info: ValidationInfo) -> str:
        spec = info.data.get("spec")
        if spec is not None and value not in transfers(spec.name, spec):
            raise ValueError(f"{value!r} is not a composition of method {spec.name}; use one of "
                             f"{', '.join(transfers(spec.name, spec))}")
        return value

    @property
    def name(self) -> str:
        return self.spec.name

    def display(self) -> str:
        return self.label or self.spec.name

    def config(self) -> dict[str, Any]:
        return self.spec.model_dump(mode="json", exclude={"name"})


Method = Annotated[MethodEntry, BeforeValidator(_method_entry)]
METHOD_CLASSES = spec_classes()

# A training stage's keys are TrainConfig's (adapterx.engine.loop: the schema the commands fill from their flags),
# less the cell's own seed and the machine's device, plus two spellings recipes have always used.
STAGE_KEYS = tuple(k for k in TrainConfig.model_fields if k not in ("seed", "device")) + ("eval_every", "precision")


def _stage_keys(value: Any) -> dict[str, Any]:
    """A stage patch as TrainConfig keys: ``eval_every`` -> ``eval_steps``, ``precision`` -> ``bf16``."""
    out = dict(value)
    if "eval_every" in out:
        if "eval_steps" in out:
            raise ValueError("eval_every and eval_steps: the same setting twice; keep one")
        out["eval_steps"] = out.pop("eval_every")
    if "precision" in out:
        precision = out.pop("precision")
        if precision not in ("fp32", "bf16"):
            # fp16 autocast needs a gradient scaler and fails on CPU; bf16 has fp32's range and needs none.
            raise ValueError(f"precision: {precision!r} is not supported; use bf16 (or fp32)")
        if "bf16" in out and bool(out["bf16"]) != (precision == "bf16"):
            raise ValueError("precision and bf16 disagree; keep one")
        out["bf16"] = precision == "bf16"
    return out


def _check_stage(value: Any) -> dict[str, Any]:
    """A stage patch: only TrainConfig keys, each value checked by TrainConfig itself (errors name the key)."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ValueError("a training stage is a mapping of hyperparameters (lr, epochs, batch_size, ...)")
    unknown = [k for k in value if k not in STAGE_KEYS]
    if unknown:
        hint = suggest(str(unknown[0]), STAGE_KEYS, "key")
        hint = hint[hint.index(" Did you"):hint.index("?") + 1] if " Did you" in hint else ""
        raise ValueError(f"{unknown[0]}: unknown key.{hint} Allowed: {', '.join(sorted(STAGE_KEYS))}.")
    try:
        TrainConfig(**_stage_keys(value))
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        raise ValueError(f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}") from None
    return dict(value)


Stage = Annotated[dict[str, Any], BeforeValidator(_check_stage)]


class Training(_Strict):
    """Stage patches over TrainConfig's defaults (batch 16, 3 epochs, ...; the learning rate of each method's
    default, adapterx.methods.spec.default_lr), plus per-task patches (``per_task: {tydiqa: {max_length: 384}}``).

    Precedence, lowest first: TrainConfig's defaults, the stage's patch, the method's ``lr``, the task's patch.
    """

    intermediate: Stage = Field(default_factory=dict)
    target: Stage = Field(default_factory=dict)
    per_task: dict[TaskName, Stage] = Field(default_factory=dict)


class DataCaps(_Strict):
    """Example caps of one task (``data.per_task.<task>``): they override the recipe-wide caps for that task."""

    max_train_examples: int | None = Field(None, ge=1, description="train on the first N training examples")
    max_eval_examples: int | None = Field(None, ge=1, description="evaluate the first N examples of each language")


class DataConfig(_Strict):
    source: Literal["auto", "synthetic", "xtreme", "hf"] = "auto"
    root: str | None = Field(None, description="folder of downloaded data (xtreme source); a relative path is read "
                                               "from the directory `adapterx run` starts in, and kept relative in "
                                               "the cells, so their hashes are the same in any clone")
    max_train_examples: int | None = Field(None, ge=1)
    max_eval_examples: int | None = Field(None, ge=1)
    per_task: dict[TaskName, DataCaps] = Field(
        default_factory=dict, description="caps per task (intermediate or target), over the recipe-wide ones")

    def caps(self, task: str) -> dict[str, int | None]:
        """The effective caps of ``task``: the recipe-wide ones, overridden by ``per_task.<task>`` where set."""
        out = {"max_train_examples": self.max_train_examples, "max_eval_examples": self.max_eval_examples}
        own = self.per_task.get(task)
        if own is not None:
            out.update({k: v for k, v in own.model_dump().items() if v is not None})
        return out


class EvalTask(_Strict):
    """Evaluation settings of one target (``eval.per_task.<task>``), over the recipe-wide ones."""

    split: Literal["test", "dev"] = Field(description="dev where the task's public test files carry no labels "
                                                      "(PAN-X's XTREME test files)")


class EvalConfig(_Strict):
    split: Literal["test", "dev"] = "test"
    per_task: dict[TaskName, EvalTask] = Field(default_factory=dict, description="per-target settings: split")
    languages: tuple[str, ...] | None = Field(
        None, min_length=1, description="evaluate only these (those a task has); None: all of the task's"
    )
    low_resource_threshold: int = Field(2, ge=0, le=5, description="Joshi class <= this counts as low-resource")
    save_predictions: bool = False


class SlurmConfig(_Strict):
    partition: str | None = None
    timeout_min: int = Field(24 * 60, ge=1)
    gpus_per_node: int = Field(1, ge=0)
    cpus_per_task: int = Field(8, ge=1)
    mem_gb: int = Field(32, ge=1)
    array_parallelism: int = Field(64, ge=1)
    additional_parameters: dict[str, str] = Field(default_factory=dict)


class ExecutionConfig(_Strict):
    """How cells run; does not change results (not hashed). ``--executor`` overrides ``executor``."""

    executor: Literal["inline", "local", "slurm"] = "inline"
    max_parallel: int | None = Field(None, ge=1, description="local: processes at once (default: cores // 2)")
    timeout_min: int = Field(24 * 60, ge=1, description="per cell, local executor")
    gpus_per_cell: int = Field(0, ge=0, description="local executor: GPUs visible to each worker (0 hides them)")
    processes_per_cell: int | None = Field(
        None, ge=1,
        description="data-parallel processes per cell, started with accelerate launch (default: the GPUs a local or"
                    " slurm worker gets, 1 inline); the batch size stays the global batch, so results do not change",
    )
    slurm: SlurmConfig = SlurmConfig()

    def processes(self, executor: str) -> int:
        """Processes per cell under ``executor``: explicit, else one per GPU the worker gets."""
        if self.processes_per_cell is not None:
            return self.processes_per_cell
        gpus = {"local": self.gpus_per_cell, "slurm": self.slurm.gpus_per_node}.get(executor, 0)
        return max(1, gpus)


# The retrieval options a recipe may set per retrieval task (RetrieveRequest fields that change the result).
RETRIEVAL_OPTIONS = ("layer", "pooling", "direction", "k", "mode", "max_length", "skip_special_tokens", "max_sentences")


def _check_task_options(value: dict[str, Any]) -> dict[str, Any]:
    unknown = [k for k in value if k not in RETRIEVAL_OPTIONS]
    if unknown:
        raise ValueError(f"{unknown[0]}: unknown option. Allowed: {', '.join(RETRIEVAL_OPTIONS)}.")
    return value


class Recipe(_Strict):
    """A grid of experiments: backbones x methods x intermediates x targets x seeds."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")
    description: str = ""
    backbones: tuple[str, ...] = Field(min_length=1)
    methods: tuple[Method, ...] = Field(min_length=1)
    intermediates: tuple[Chain, ...] = Field(((),), min_length=1, description="default: no intermediate only")
    targets: tuple[TargetName, ...] = Field(min_length=1)
    seeds: tuple[int, ...] = Field((42,), min_length=1)
    training: Training = Training()
    data: DataConfig = DataConfig()
    eval: EvalConfig = EvalConfig()
    task_options: dict[TaskName, Annotated[dict[str, Any], AfterValidator(_check_task_options)]] = Field(
        default_factory=dict, description="per-task options of retrieval targets (tatoeba, bucc): layer, pooling, ...")
    report_to: Literal["tensorboard", "wandb", "mlflow"] | None = None
    execution: ExecutionConfig = ExecutionConfig()

    @model_validator(mode="after")
    def _task_options_for_retrieval(self) -> Recipe:
        for task in self.task_options:
            if _task_kind(task) not in (None, "retrieval"):
                raise ValueError(f"task_options.{task}: only retrieval tasks (tatoeba, bucc) take options; "
                                 f"set {task}'s hyperparameters under training.per_task.{task}")
        return self

    @model_validator(mode="after")
    def _unique(self) -> Recipe:
        for field, values in (
            ("backbones", list(self.backbones)),
            ("methods", [m.display() for m in self.methods]),
            ("intermediates", [chain_name(c) for c in self.intermediates]),
            ("targets", list(self.targets)),
            ("seeds", list(self.seeds)),
        ):
            dupes = sorted({str(v) for v in values if values.count(v) > 1})
            if dupes:
                hint = " (give one of the methods a distinct `label`)" if field == "methods" else ""
                raise ValueError(f"{field}: duplicate {', '.join(dupes)}{hint}")
        return self


# --------------------------------------------------------------------------------------------------------------
# Loading, overrides, error messages


def format_loc(loc: Sequence[Any]) -> str:
    """``("methods", 1, "lora", "rank")`` -> ``methods[1].rank``: list indices in brackets, union tags dropped."""
    out = ""
    for i, part in enumerate(loc):
        if isinstance(part, int):
            out += f"[{part}]"
        elif part in METHOD_CLASSES and i > 0 and loc[i - 1] == "spec" and loc[0] == "methods":
            continue  # the discriminated union's tag, not a key of the file
        elif part == "spec" and i > 0 and isinstance(loc[i - 1], int) and loc[0] == "methods":
            continue  # the method spec's keys sit beside label/lr/transfer in the file
        elif part == "[key]" or str(part).startswith(("function-", "tuple[", "list[")):
            continue
        else:
            out += f".{part}" if out else str(part)
    return out or "(top level)"


def _models_in(ann: Any) -> list[type[BaseModel]]:
    """The pydantic models inside an annotation (through tuple/dict/Union/Annotated)."""
    if isinstance(ann, type) and issubclass(ann, BaseModel):
        return [ann]
    found: list[type[BaseModel]] = []
    for arg in get_args(ann):
        found.extend(m for m in _models_in(arg) if m not in found)
    return found


def _model_at(loc: Sequence[Any]) -> type[BaseModel] | None:
    """The pydantic model whose fields sit at ``loc`` (for listing allowed keys after an unknown one)."""
    candidates: list[type[BaseModel]] = [Recipe]
    skip_key = False
    for part in loc:
        if isinstance(part, int) or part == "[key]":
            continue
        if skip_key:  # the key of a dict field (a task name in per_task)
            skip_key = False
            continue
        if len(candidates) > 1:  # a discriminated union: this part of loc is the tag
            candidates = [m for m in candidates if m is METHOD_CLASSES.get(part)]
            continue
        if not candidates:
            return None
        model = candidates[0]
        field = model.model_fields.get(part) or next(
            (f for f in model.model_fields.values() if f.alias == part), None
        )
        if field is None:
            return None
        candidates = _models_in(field.annotation)
        skip_key = get_origin(field.annotation) is dict
    return candidates[0] if len(candidates) == 1 else None


def _format_error(err: dict[str, Any]) -> str:
    loc = tuple(err.get("loc", ()))
    msg = str(err.get("msg", "invalid"))
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, "):]
    if err.get("type") == "value_error" and loc and loc[0] in ("training", "task_options"):
        key = re.match(r"^([A-Za-z_][\w.]*): (.*)$", msg, flags=re.S)
        if key:  # a stage's / task's own key: part of the path
            loc, msg = (*loc, *key.group(1).split(".")), key.group(2)
    if err.get("type") == "extra_forbidden":
        parent = _model_at(loc[:-1])
        if parent is not None:
            keys = sorted(f.alias or name for name, f in parent.model_fields.items())
            if parent in METHOD_CLASSES.values():  # a method entry: the recipe's own keys sit beside the spec's
                keys = sorted({*keys, *RECIPE_METHOD_KEYS, *("rank",) * ("r" in keys)})
            close = suggest(str(loc[-1]), keys, "key")
            hint = close[close.index(" Did you"):close.index("?") + 1] if " Did you" in close else ""
            msg = f"unknown key.{hint}"
            msg += f" Allowed: {', '.join(keys)}."
    elif err.get("type") == "union_tag_invalid":
        msg = suggest(str(err.get("input", {}).get("name")), list(METHOD_CLASSES), "method")
        loc = (*loc, "name")
    elif err.get("type") == "union_tag_not_found":
        msg = f"missing 'name'. Allowed: {', '.join(METHOD_CLASSES)}."
    return f"{format_loc(loc)}: {msg}" if loc else msg


def validate_recipe(data: Any, source: str = "recipe") -> Recipe:
    """Validate a parsed recipe mapping; errors become one :class:`ConfigError` naming every bad path."""
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: a recipe is a YAML mapping (name, backbones, methods, targets, ...)")
    try:
        return Recipe.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        # An invalid item also makes pydantic report its container "too short": only the item's error is useful.
        errors = [
            e for e in errors
            if not (e["type"] == "too_short" and any(o is not e and o["loc"][: len(e["loc"])] == e["loc"] for o in errors))
        ]
        problems = "; ".join(_format_error(e) for e in errors)  # type: ignore[arg-type]
        raise ConfigError(f"{source} is invalid: {problems}") from None


_KEY_RE = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def _parse_path(path: str) -> list[str | int]:
    """``methods[1].rank`` or ``methods.1.rank`` -> ["methods", 1, "rank"]."""
    parts: list[str | int] = []
    pos = 0
    for m in _KEY_RE.finditer(path):
        if path[pos:m.start()].strip(".") or (m.start() > pos and path[pos:m.start()] != "."):
            raise ConfigError(f"--set: cannot read the key path {path!r} (write e.g. methods[1].rank or training.target.lr)")
        pos = m.end()
        key, index = m.groups()
        parts.append(int(index) if index is not None else int(key) if key.isdigit() else key)
    if not parts or pos != len(path):
        raise ConfigError(f"--set: cannot read the key path {path!r} (write e.g. methods[1].rank or training.target.lr)")
    return parts


_FLOAT_RE = re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+$")


def _yaml_value(raw: str) -> Any:
    """YAML-parse an override value; ``1e-4`` is a float (PyYAML's YAML 1.1 would keep it a string)."""
    if not raw.strip():
        return None
    if _FLOAT_RE.match(raw.strip()):
        return float(raw)
    return yaml.safe_load(raw)


def apply_overrides(data: dict[str, Any], overrides: Iterable[str]) -> dict[str, Any]:
    """Return a copy of ``data`` with each ``key.path=value`` set; values are parsed as YAML (``[1,2]``, ``1e-4``)."""
    out = copy.deepcopy(data)
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"--set {item!r}: write key=value, e.g. --set seeds=[1,2] or --set methods[1].rank=4")
        path, raw = item.split("=", 1)
        try:
            value = _yaml_value(raw)
        except yaml.YAMLError as exc:
            raise ConfigError(f"--set {item!r}: the value is not valid YAML ({exc.__class__.__name__})") from None
        keys = _parse_path(path.strip())
        node: Any = out
        for depth, key in enumerate(keys):
            last = depth == len(keys) - 1
            where = format_loc(keys[: depth + 1])
            if isinstance(key, int):
                if not isinstance(node, list):
                    raise ConfigError(f"--set {item!r}: {format_loc(keys[:depth]) or 'the recipe'} is not a list")
                if key > len(node):
                    raise ConfigError(f"--set {item!r}: {where} is past the end (the list has {len(node)} items)")
                if key == len(node):
                    node.append({} if not last else None)
                if last:
                    node[key] = value
                else:
                    if isinstance(node[key], str) and keys[0] == "methods":
                        node[key] = {"name": node[key]}  # shorthand method name -> mapping, to set a field on it
                    node = node[key]
            else:
                if not isinstance(node, dict):
                    raise ConfigError(f"--set {item!r}: {format_loc(keys[:depth]) or 'the recipe'} is not a mapping")
                if last:
                    node[key] = value
                else:
                    if node.get(key) is None:
                        node[key] = {}
                    node = node[key]
    return out


def _folder_given(path: Path) -> str:
    """What to do when RECIPE is a folder: a grid's run folder (it keeps the recipe it ran), or one of recipes."""
    if (path / "recipe.yaml").is_file() and ((path / "results.sqlite").exists() or (path / "cells").is_dir()):
        return (f"{path} is the run folder of a grid, not a recipe: continue it with `adapterx run {path / 'recipe.yaml'}"
                f" --run-dir {path}`, or report it with `adapterx report {path}`")
    found = sorted(p.name for p in path.glob("*.y*ml"))[:3]
    hint = f", e.g. {path / found[0]}" if found else ""
    return f"recipe {path} is a folder: give a recipe YAML file{hint}"


def read_recipe_data(path: Path) -> dict[str, Any]:
    """Parse a recipe file with ``yaml.safe_load`` (never the unsafe loader: recipes are shared files)."""
    if path.is_dir():
        raise ConfigError(_folder_given(path))
    if not path.is_file():
        raise ConfigError(f"recipe {path} does not exist (recipes ship in recipes/, e.g. recipes/smoke-tiny.yaml)")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f":{mark.line + 1}:{mark.column + 1}" if mark is not None else ""
        raise ConfigError(f"{path}{where}: not valid YAML: {exc.problem}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text (byte {exc.start}); save the recipe as UTF-8") from None
    if data is None:
        raise ConfigError(f"{path} is empty")
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a recipe is a YAML mapping (name, backbones, methods, targets, ...)")
    return data


def load_recipe(path: str | Path, overrides: Iterable[str] = ()) -> Recipe:
    """Read, override and validate a recipe file."""
    path = Path(path)
    return validate_recipe(apply_overrides(read_recipe_data(path), overrides), source=str(path))


def recipe_to_yaml(recipe: Recipe) -> str:
    """The resolved recipe as YAML (what a run folder keeps next to its results)."""
    data = recipe.model_dump(mode="json", by_alias=True)
    data["intermediates"] = [chain_name(c) for c in recipe.intermediates]
    data["methods"] = [{"name": m.name, **m.config(), **{k: getattr(m, k) for k in RECIPE_METHOD_KEYS
                                                         if getattr(m, k) is not None}} for m in recipe.methods]
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


# --------------------------------------------------------------------------------------------------------------
# Grid expansion and hashing


def _digest(obj: Any) -> str:
    # Canonical JSON: sorted keys, no whitespace, so equal specs hash equally whatever the recipe's key order.
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def cell_hash(cell: dict[str, Any]) -> str:
    """16 hex digits of sha256 over the cell's result-relevant content (every key but :data:`UNHASHED_KEYS`)."""
    return _digest({k: v for k, v in cell.items() if k not in UNHASHED_KEYS})


def condition_id(cell: dict[str, Any]) -> str:
    """``backbone/method-label/chain``: what a report compares (one condition spans targets and seeds)."""
    return f"{cell['backbone']}/{cell['method']['label']}/{chain_name(cell['intermediate'])}"


def _stage(recipe: Recipe, patch: dict[str, Any], method: MethodEntry, task: str, backbone: str) -> dict[str, Any]:
    """The effective hyperparameters of one stage: every TrainConfig key but seed and device (the cell's seed is
    its own key; the device is the machine's), so a cell carries no default that a code change could move."""
    merged: dict[str, Any] = {"lr": default_lr(method.name, backbone), **_stage_keys(patch)}
    if method.lr is not None:
        merged["lr"] = method.lr
    merged.update(_stage_keys(recipe.training.per_task.get(task, {})))
    if "doc_stride" not in merged:
        # QA windows overlap by doc_stride tokens; where the recipe sets none it follows the window: a quarter of it,
        # at most 64 (128 -> 32, 384 -> 64), at least 8, which leaves room for the question (kinds.qa.max_query_tokens).
        merged["doc_stride"] = max(8, min(64, merged.get("max_length", 128) // 4))
    return TrainConfig(**merged).model_dump(mode="json", exclude={"seed", "device"})


def expand(recipe: Recipe) -> list[dict[str, Any]]:
    """All cells of the grid, ordered backbone, method, intermediate, target, seed.

    That order keeps cells sharing an intermediate module next to each other, so a cache of it stays warm.
    """
    cells: list[dict[str, Any]] = []
    # A recipe without per-task caps expands to the cells it always did (same hashes); with them, a cell's "data"
    # carries its target's caps and, under "intermediate_caps", each intermediate's (data_options(cell, task)).
    data = recipe.data.model_dump(mode="json", exclude={"per_task"})
    per_task = bool(recipe.data.per_task)
    evaluation = recipe.eval.model_dump(mode="json", exclude={"per_task"})
    for backbone in recipe.backbones:
        for method in recipe.methods:
            mdict = {"name": method.name, "label": method.display(), "transfer": method.transfer, "config": method.config()}
            for chain in recipe.intermediates:
                inter_cfg = [_stage(recipe, recipe.training.intermediate, method, t, backbone) for t in chain]
                for target in recipe.targets:
                    for seed in recipe.seeds:
                        tasks = [*chain, target]
                        cell: dict[str, Any] = {
                            "schema_version": CELL_SCHEMA_VERSION,
                            "recipe": recipe.name,
                            "backbone": backbone,
                            "method": copy.deepcopy(mdict),
                            "intermediate": list(chain),
                            "target": target,
                            "seed": seed,
                            "training": {"intermediate": copy.deepcopy(inter_cfg),
                                         "target": _stage(recipe, recipe.training.target, method, target, backbone)},
                            "data": _cell_data(recipe, data, chain, target) if per_task else dict(data),
                            "eval": {**evaluation, **(recipe.eval.per_task[target].model_dump(mode="json")
                                                      if target in recipe.eval.per_task else {})},
                            "task_options": {t: dict(recipe.task_options[t]) for t in tasks if t in recipe.task_options},
                            "intermediate_key": None,
                            "report_to": recipe.report_to,
                        }
                        if chain:
                            cell["intermediate_key"] = _digest({
                                "backbone": backbone, "method": mdict, "intermediate": list(chain), "seed": seed,
                                "training": inter_cfg,
                                "data": ({**data, **{"max_train_examples": None, "max_eval_examples": None},
                                          "intermediate_caps": {t: recipe.data.caps(t) for t in chain}}
                                         if per_task else data),
                                "task_options": {t: recipe.task_options[t] for t in chain if t in recipe.task_options},
                            })
                        cells.append(cell)
    return cells


def _cell_data(recipe: Recipe, data: dict[str, Any], chain: Sequence[str], target: str) -> dict[str, Any]:
    """A cell's data section where the recipe caps tasks one by one: the target's caps at the top (as without
    per-task caps) and every intermediate's under ``intermediate_caps``."""
    out = {**data, **recipe.data.caps(target)}
    if chain:
        out["intermediate_caps"] = {t: recipe.data.caps(t) for t in chain}
    return out


def stage_data(cell: dict[str, Any], task: str) -> dict[str, Any]:
    """The data section that applies to ``task``'s stage of a cell: the cell's, with an intermediate's own caps."""
    data = dict(cell.get("data") or {})
    own = (data.pop("intermediate_caps", None) or {}).get(task) if task != cell.get("target") else None
    return {**data, **own} if own else data
