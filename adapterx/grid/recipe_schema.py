"""The recipe's schema: frozen pydantic models (``extra="forbid"``) of a grid of experiments, and the resolvers its
fields validate with (task names, chains, methods, training stages).

What a recipe means and the cell dict it expands into are documented in :mod:`adapterx.grid.recipe`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Annotated, Any, Literal

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
from adapterx.languages import normalize_code
from adapterx.methods.compose import transfers
from adapterx.methods.spec import method_spec_union, spec_classes
from adapterx.registry import suggest

NONE_CHAIN = "none"
MAX_SEED = 2**32 - 1  # numpy's seed range: a larger seed fails in the cell, after its intermediate trained
MAX_CELLS = 10_000
"""The most cells one recipe may expand to (3 backbones x 5 methods x 4 chains x 12 targets x 5 seeds is 3,600),
checked from the grid's factors before anything is expanded."""


def known_tasks() -> tuple[str, ...]:
    """Task names a recipe may use: the ``adapterx.tasks`` registry.

    Imported lazily, because the task modules may pull in heavier code and recipes must load fast.
    """
    from adapterx.tasks import task_names

    return tuple(task_names())


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


class StrictModel(BaseModel):
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


class MethodEntry(StrictModel):
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


def stage_keys(value: Any) -> dict[str, Any]:
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
        TrainConfig(**stage_keys(value))
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        raise ValueError(f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}") from None
    return dict(value)


Stage = Annotated[dict[str, Any], BeforeValidator(_check_stage)]


class Training(StrictModel):
    """Stage patches over TrainConfig's defaults (batch 16, 3 epochs, ...; the learning rate of each method's
    default, adapterx.methods.spec.default_lr), plus per-task patches (``per_task: {tydiqa: {max_length: 384}}``).

    Precedence, lowest first: TrainConfig's defaults, the stage's patch, the method's ``lr``, the task's patch.
    """

    intermediate: Stage = Field(default_factory=dict)
    target: Stage = Field(default_factory=dict)
    per_task: dict[TaskName, Stage] = Field(default_factory=dict)


class DataCaps(StrictModel):
    """Example caps of one task (``data.per_task.<task>``): they override the recipe-wide caps for that task."""

    max_train_examples: int | None = Field(None, ge=1, description="train on the first N training examples")
    max_eval_examples: int | None = Field(None, ge=1, description="evaluate the first N examples of each language")


class DataConfig(StrictModel):
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

    @model_validator(mode="after")
    def _root_for_xtreme(self) -> DataConfig:
        if self.source == "xtreme" and not self.root:
            raise ValueError("root: the XTREME download folder is needed with data.source: xtreme")
        return self


def _language_codes(value: Any) -> Any:
    """Each language in any form the commands accept (``sw``, ``swh``, ``Swahili``) as its ISO 639-1 code, so a
    cell filters its target's languages by code: a name no resolver knows is refused with a did-you-mean."""
    if not isinstance(value, (list, tuple)):
        return value
    out = []
    for i, item in enumerate(value):
        try:
            out.append(normalize_code(str(item)))
        except ConfigError as exc:
            raise ValueError(f"{i}: {exc}") from None
    return tuple(dict.fromkeys(out))  # Swahili and swh are one language


class EvalTask(StrictModel):
    """Evaluation settings of one target (``eval.per_task.<task>``), over the recipe-wide ones."""

    split: Literal["test", "dev"] = Field(description="dev where the task's public test files carry no labels "
                                                      "(PAN-X's XTREME test files)")


class EvalConfig(StrictModel):
    split: Literal["test", "dev"] = "test"
    per_task: dict[TaskName, EvalTask] = Field(default_factory=dict, description="per-target settings: split")
    languages: Annotated[tuple[str, ...] | None, BeforeValidator(_language_codes)] = Field(
        None, min_length=1, description="evaluate only these (those a task has); None: all of the task's"
    )
    low_resource_threshold: int = Field(2, ge=0, le=5, description="Joshi class <= this counts as low-resource")
    save_predictions: bool = False


class SlurmConfig(StrictModel):
    partition: str | None = None
    timeout_min: int = Field(24 * 60, ge=1)
    gpus_per_node: int = Field(1, ge=0)
    cpus_per_task: int = Field(8, ge=1)
    mem_gb: int = Field(32, ge=1)
    array_parallelism: int = Field(64, ge=1)
    additional_parameters: dict[str, str] = Field(default_factory=dict)


class ExecutionConfig(StrictModel):
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


class Recipe(StrictModel):
    """A grid of experiments: backbones x methods x intermediates x targets x seeds."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")
    description: str = ""
    backbones: tuple[str, ...] = Field(min_length=1)
    methods: tuple[Method, ...] = Field(min_length=1)
    intermediates: tuple[Chain, ...] = Field(((),), min_length=1, description="default: no intermediate only")
    targets: tuple[TargetName, ...] = Field(min_length=1)
    seeds: tuple[Annotated[int, Field(ge=0, le=MAX_SEED)], ...] = Field((42,), min_length=1)
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
    def _grid_size(self) -> Recipe:
        n = math.prod(len(x) for x in (self.backbones, self.methods, self.intermediates, self.targets, self.seeds))
        if n > MAX_CELLS:
            raise ValueError(
                f"the grid has {n:,} cells (backbones {len(self.backbones)} x methods {len(self.methods)} x "
                f"intermediates {len(self.intermediates)} x targets {len(self.targets)} x seeds {len(self.seeds)}), "
                f"over the limit of {MAX_CELLS:,}; split it into several recipes")
        return self

    @model_validator(mode="after")
    def _languages_of_targets(self) -> Recipe:
        if not self.eval.languages:
            return self
        have: set[str] = set()
        for target in self.targets:
            try:
                from adapterx.tasks import get_task

                have.update(get_task(target).languages)
            except Exception:  # noqa: BLE001 - a name outside the registry (tests patch known_tasks)
                return self
        for i, lang in enumerate(self.eval.languages):
            if lang not in have:
                raise ValueError(f"eval.languages[{i}]: {lang} is not a language of any target "
                                 f"({', '.join(self.targets)}); they have {', '.join(sorted(have))}")
        return self

    @model_validator(mode="after")
    def _per_task_names_grid_tasks(self) -> Recipe:
        # A per-task setting of a task the grid never trains or evaluates would be accepted and then ignored.
        trained = {t for chain in self.intermediates for t in chain} | set(self.targets)
        for where, keys, allowed in (("training.per_task", self.training.per_task, trained),
                                     ("data.per_task", self.data.per_task, trained),
                                     ("eval.per_task", self.eval.per_task, set(self.targets))):
            stray = sorted(set(keys) - allowed)
            if stray:
                kind = "targets" if where == "eval.per_task" else "intermediates or targets"
                raise ValueError(f"{where}.{stray[0]}: {stray[0]} is not among the grid's {kind} "
                                 f"({', '.join(sorted(allowed))}): a setting nothing would read")
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
