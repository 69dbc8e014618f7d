"""Options shared by the commands, declared once, with where each applies and its range.

Three things live here, so that no command threads an option by hand or checks a pair of options with an ``if``:

- :data:`OPTIONS`: the typer options the commands pick (``method: str = OPTIONS["method"]``).
- :func:`training_options`: a decorator that adds one flag per :class:`adapterx.engine.loop.TrainConfig` field (and
  the data options a command names) to a command, so every training command takes every training flag. A new
  TrainConfig field is a new flag of every training command, with its ``description`` as the help.
- :func:`declare` / :meth:`Given.check`: an option's *applicability* (the task kinds, data sources, methods, ...
  it means something for) and numeric range, declared beside the option; one check refuses a given option that does
  not apply to this run, with one line saying why. TrainConfig fields declare theirs in ``json_schema_extra``.
"""

from __future__ import annotations

import functools
import inspect
import math
import re
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import typer

from adapterx.backbone import DEFAULT_MODEL
from adapterx.methods.catalog import method_help
from cli.common import DEBUG_HELP

MODEL_HELP = "Backbone: a Hub id (xlm-roberta-base, xlm-roberta-large), a local model folder, or 'tiny' (built-in)."
DATA_HELP = "Training data: 'hf' (the task's Hugging Face data set), 'synthetic', a file, or an XTREME-style folder. Default: hf; synthetic with the built-in models (--model tiny, --model minilm)."

# ---------------------------------------------------------------------------------------------------------------
# Where an option applies, and its range: declared with the option, checked in one place (Given.check).

APPLIES: dict[str, dict[str, tuple[str, ...]]] = {}
"""Parameter name -> {context key: the values it applies to}. Context keys: ``kind`` (task kinds), ``data`` (data
source: hf, file, dir, synthetic, default), ``method``, ``tasks`` (one, several), ``expands`` (yes: a task with member
tasks, as sts-all)."""

RANGES: dict[str, dict[str, float]] = {}
"""Parameter name -> bounds (gt, ge, lt, le) for options outside TrainConfig (whose fields carry their own)."""

# How the allowed values of each context key read in a message.
_ALLOWED_WORDS: dict[str, Callable[[tuple[str, ...]], str]] = {
    "kind": lambda v: f"tasks of kind {' / '.join(v)}",
    "data": lambda v: "--data " + " / ".join({"hf": "hf", "file": "FILE", "dir": "DIR", "default": "(default)",
                                               "synthetic": "synthetic"}[x] for x in v),
    "method": lambda v: f"--method {' / '.join(v)}",
    "tasks": lambda v: "several tasks (train-intermediate stsb mnli)",
    "expands": lambda v: "a task with member tasks (sts-all)",
    "command": lambda v: " / ".join(v),
    "text": lambda v: "--text with a Hugging Face data set id",
    "output": lambda v: "a run with --output (the folder of the killed run to continue)",
}


CONTEXT_KEYS = tuple(_ALLOWED_WORDS)
"""The context keys an option may declare it applies to."""


def declarations() -> dict[str, dict[str, tuple[str, ...]]]:
    """Every option's applicability: the declared options' and the TrainConfig fields' (by parameter name)."""
    out = {n: a for n in _train_fields() if (a := _train_applies(n))}
    out.update(APPLIES)
    return out


def _param_name(info: Any) -> str:
    long = next(d for d in info.param_decls if d.startswith("--"))
    return long.split("/")[0][2:].replace("-", "_")


def declare(info: Any, *, name: str | None = None, applies: dict[str, tuple[str, ...]] | None = None,
            **bounds: float) -> Any:
    """Record where option ``info`` applies and its numeric bounds (``gt``, ``ge``, ``lt``, ``le``); returns it.

    ``name`` is the parameter name (default: from the long flag, ``--lora-mode`` -> ``lora_mode``)."""
    key = name or _param_name(info)
    if applies:
        APPLIES[key] = applies
    if bounds:
        RANGES[key] = bounds
    return info


def _train_fields() -> dict[str, Any]:
    from adapterx.engine.loop import TrainConfig

    return dict(TrainConfig.model_fields)


def _train_applies(name: str) -> dict[str, tuple[str, ...]]:
    extra = _train_fields()[name].json_schema_extra
    return dict((extra or {}).get("applies", {})) if isinstance(extra, dict) else {}


@dataclass(frozen=True)
class Context:
    """What a run is, as far as option applicability goes: each key a set of facts and how they read."""

    facts: dict[str, tuple[frozenset[str], str]] = field(default_factory=dict)

    @staticmethod
    def of(command: str, tasks: list[str] | tuple[str, ...], *, method: str | None = None, data: Any = None,
           extra: dict[str, tuple[set[str], str]] | None = None) -> Context:
        """The context of ``command`` training ``tasks`` (task names; 'mlm' for masked language modelling)."""
        from adapterx.tasks import get_task

        kinds, shown, expands = set(), [], set()
        for name in tasks:
            if name == "mlm":
                kinds.add("mlm")
                shown.append("masked language modelling")
                continue
            t = get_task(name)
            kinds.add(t.kind)
            shown.append(f"{name} (kind {t.kind})")
            if t.members:
                expands.add("yes")
        facts: dict[str, tuple[frozenset[str], str]] = {
            "command": (frozenset({command}), command),
            "kind": (frozenset(kinds), " and ".join(shown)),
            "tasks": (frozenset({"several" if len(tasks) > 1 else "one"}), f"one task ({', '.join(tasks)})"),
            "expands": (frozenset(expands), f"{', '.join(tasks)}, which {'has' if len(tasks) == 1 else 'have'} no member tasks"),
        }
        if method is not None:
            name = method.partition(":")[0].strip()
            facts["method"] = (frozenset({name}), f"--method {name}")
        src = _data_source(data)
        facts["data"] = (frozenset({src}), f"--data {data}" if data is not None else "the default data")
        for k, (vals, words) in (extra or {}).items():
            facts[k] = (frozenset(vals), words)
        return Context(facts)


def _data_source(data: Any) -> str:
    if data is None:
        return "default"
    if str(data) in ("hf", "synthetic"):
        return str(data)
    return "dir" if Path(str(data)).is_dir() else "file"


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _check_range(name: str, value: Any, bounds: dict[str, float]) -> None:
    from adapterx.errors import ConfigError

    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"{_flag(name)} {value}: must be a finite number")
    words = {"gt": ">", "ge": ">=", "lt": "<", "le": "<="}
    ok = {"gt": value > bounds.get("gt", -math.inf), "ge": value >= bounds.get("ge", -math.inf),
          "lt": value < bounds.get("lt", math.inf), "le": value <= bounds.get("le", math.inf)}
    bad = [k for k in bounds if not ok[k]]
    if bad:
        rule = " and ".join(f"{words[k]} {bounds[k]:g}" for k in bounds)
        raise ConfigError(f"{_flag(name)} {value}: must be {rule}")


def _resume_note(output: Path) -> None:
    """--resume where no killed run left a checkpoint: say so (one line) and train from the start; a requeued job
    may pass --resume on its first start too."""
    from adapterx.engine.rundir import checkpoint_path

    ckpt = checkpoint_path(output)
    if not ckpt.is_file():
        typer.echo(f"note: --resume: no checkpoint of a killed run at {ckpt.parent}; training {output} from the start",
                   err=True)


# ---------------------------------------------------------------------------------------------------------------
# The options.


def method_spec(method, adapter_config, reduction_factor, lora_rank, lora_alpha, lora_dropout, lora_targets, sft_k=None):  # noqa: ANN001, ANN201
    """The method flags as a validated method spec. A key given twice (``lora:r=4,r=8``, or ``lora:r=4`` with
    ``--lora-rank 8``) is refused: which value was meant is not ours to guess."""
    from adapterx.errors import ConfigError
    from adapterx.methods.spec import method_from_options

    flags = {"reduction_factor": ("--reduction-factor", reduction_factor), "r": ("--lora-rank", lora_rank),
             "alpha": ("--lora-alpha", lora_alpha), "dropout": ("--lora-dropout", lora_dropout),
             "target_modules": ("--lora-targets", lora_targets), "config": ("--adapter-config", adapter_config),
             "k": ("--sft-k", sft_k)}
    seen: set[str] = set()
    rest = method.partition(":")[2]
    for item in filter(None, (p.strip() for p in re.split(r",(?=\s*[A-Za-z_][\w-]*\s*=)", rest))):
        key = item.partition("=")[0].strip().replace("-", "_")
        if key in seen:
            raise ConfigError(f"--method {method!r}: {key} is given twice; give it once")
        seen.add(key)
        flag, value = flags.get(key, (None, None))
        if value is not None:
            raise ConfigError(f"--method {method!r} and {flag} {value} both set {key}; give it once")
    return method_from_options(
        method, adapter_config=adapter_config, reduction_factor=reduction_factor, lora_rank=lora_rank,
        lora_alpha=lora_alpha, lora_dropout=lora_dropout, lora_targets=lora_targets, sft_k=sft_k,
    )


def train_config(**kw):  # noqa: ANN003, ANN201
    """The hyperparameter flags as a TrainConfig (with the per-method default learning rate)."""
    from pydantic import ValidationError

    from adapterx.engine.loop import TrainConfig
    from adapterx.errors import ConfigError
    from adapterx.methods.catalog import default_lr

    method, model = kw.pop("_method").partition(":")[0], kw.pop("_model")
    if kw.get("lr") is None:
        kw["lr"] = default_lr(method, model)
    try:
        return TrainConfig(**{k: v for k, v in kw.items() if v is not None})
    except ValidationError as exc:
        err = exc.errors()[0]
        name = str(err["loc"][-1])
        raise ConfigError(f"{_flag(name)} {kw.get(name)}: {err['msg']}") from None


def eval_files(items: list[str] | None):  # noqa: ANN201
    """--eval-file LANG=PATH items as (lang, path) pairs."""
    from adapterx.errors import ConfigError

    out = []
    for it in items or []:
        if "=" not in it:
            raise ConfigError(f"--eval-file {it!r}: use LANG=PATH, e.g. --eval-file sw=dev-sw.tsv")
        lang, path = it.split("=", 1)
        out.append((lang.strip(), Path(path)))
    seen = [lang for lang, _ in out]
    twice = sorted({lang for lang in seen if seen.count(lang) > 1})
    if twice:
        raise ConfigError(f"--eval-file: language {twice[0]!r} is given twice; give one file per language")
    return tuple(out)


_NOT_SYNTHETIC = ("hf", "file", "dir", "default")


def _options() -> dict[str, Any]:
    """The options shared by the commands, declared once (with where they apply)."""
    return dict(
        method=typer.Option("adapter", "--method", "-m", help=method_help()),
        model=typer.Option(DEFAULT_MODEL, "--model", help=MODEL_HELP),
        data=typer.Option(None, "--data", help=DATA_HELP, rich_help_panel="Data"),
        # A training file with --data synthetic trained on the file and evaluated on synthetic dev data; with
        # --data FILE it names the training file a second time.
        train_file=declare(typer.Option(None, "--train-file", help="English training file in the task's official format.", rich_help_panel="Data"),
                           applies={"data": ("hf", "dir", "default")}),
        dev_file=declare(typer.Option(None, "--dev-file", help="English dev file (checkpoint selection).", rich_help_panel="Data"),
                         applies={"data": _NOT_SYNTHETIC}),
        data_dir=typer.Option(None, "--data-dir", help="XTREME-style download folder for the evaluation languages.", rich_help_panel="Data"),
        eval_file=typer.Option(None, "--eval-file", help="LANG=PATH evaluation file; repeat for more languages.", rich_help_panel="Data"),
        data_revision=declare(typer.Option(None, "--data-revision", help="Read the Hugging Face data at this revision instead of the pinned one: REV, or OWNER/NAME=REV for one repository (repeatable).", rich_help_panel="Data"),
                              applies={"data": _NOT_SYNTHETIC}),
        output=typer.Option(None, "--output", "-o", help="Run directory (default runs/<task>-<method>-<timestamp>)."),
        langs=typer.Option("all", "--langs", help="Zero-shot languages: all, low, high, or a list like sw,te."),
        save_predictions=typer.Option(None, "--save-predictions", help="Also write DIR/<task>/<lang>.jsonl predictions."),
        xtreme_out=typer.Option(None, "--xtreme-out", help="Also write the predictions as XTREME(-R)'s submission folder: DIR/<task>/test-<lang>.<ext>."),
        seed=typer.Option(42, "--seed"),
        max_length=typer.Option(128, "--max-length", help="Tokens per input (QA: per window)."),
        doc_stride=typer.Option(64, "--doc-stride", help="QA: token overlap between windows."),
        bf16=typer.Option(False, "--bf16", help="bf16 autocast where the hardware supports it."),
        report_to=typer.Option(None, "--report-to", help="Experiment tracker: tensorboard, wandb or mlflow (logs in RUN/tracking/)."),
        device=typer.Option(None, "--device", help="cpu, cuda, cuda:N or mps (default: cuda when present)."),
        compile=typer.Option(False, "--compile", help="torch.compile each transformer layer (training and evaluation); slower on CPU for typical runs: see benchmarks."),
        adapter_config=declare(typer.Option(None, "--adapter-config", help="adapter: seq_bn (pfeiffer, default) or houlsby (double_seq_bn)."),
                               applies={"method": ("adapter",)}),
        reduction_factor=typer.Option(None, "--reduction-factor", help="adapter, par_bn, compacter(++): hidden size / bottleneck size (default 16; par_bn 2)."),
        lora_rank=declare(typer.Option(None, "--lora-rank", help="lora: rank r (default 8)."), applies={"method": ("lora",)}),
        lora_alpha=declare(typer.Option(None, "--lora-alpha", help="lora: alpha (default 16)."), applies={"method": ("lora",)}),
        lora_dropout=declare(typer.Option(None, "--lora-dropout", help="lora: dropout (default 0.1)."), applies={"method": ("lora",)}),
        lora_targets=declare(typer.Option(None, "--lora-targets", help="lora: comma-separated module names (default: the architecture's, from peft: query,value for XLM-R / BERT)."),
                             applies={"method": ("lora",)}),
        sft_k=declare(typer.Option(None, "--sft-k", help="sft: weights in the sparse difference, K (default 1% of the eligible weights)."),
                      applies={"method": ("sft",)}),
        as_json=typer.Option(False, "--json", help="Print one JSON object instead of tables."),
        quiet=typer.Option(False, "--quiet", "-q", help="No progress bar."),
        resume=declare(typer.Option(False, "--resume", help="Continue a killed run from the checkpoint beside --output (same command, same --output)."),
                       applies={"output": ("given",)}),
        allow_backbone_mismatch=typer.Option(False, "--allow-backbone-mismatch", help="Use a module trained on other backbone weights of the same shape (another sha256); the run records it."),
        # train-intermediate: one module over several tasks.
        multi_task=declare(typer.Option(False, "--multi-task", help="sts-all: train its members as separate heads of one module (default: their union as one task)."),
                           applies={"expands": ("yes",)}),
        temperature=declare(typer.Option(None, "--temperature", help="Multi-task: sample tasks with p ∝ size^(1/T) (1 = by size; larger = more uniform). Default 1."),
                            applies={"tasks": ("several",)}, gt=0),
        # stack / fuse
        lora_mode=declare(typer.Option(None, "--lora-mode", help="lora: sum (intermediate LoRA frozen and active: W h + dW_i h + dW_t h; default), merge (intermediate merged into the base), or chain (W h + dW_t(dW_i h), as adapters' LoRA Stack)."),
                          applies={"method": ("lora",)}),
        intermediate_steps=declare(typer.Option(None, "--intermediate-steps", help="Max steps for intermediates trained here (default: as the target)."),
                                   ge=1),
        debug=typer.Option(False, "--debug", help=DEBUG_HELP),
    )


OPTIONS = _options()

DATA_OPTIONS = ("data", "train_file", "dev_file", "data_dir", "eval_file", "data_revision")
"""The data options, in the order commands show them; :func:`training_options` adds those a command names."""

_DATA_TYPES: dict[str, Any] = {
    "data": Optional[str], "train_file": Optional[Path], "dev_file": Optional[Path], "data_dir": Optional[Path],
    "eval_file": Optional[list[str]], "data_revision": Optional[list[str]],
}

# Flags of TrainConfig fields whose names differ from ``--field-name`` (a flag name is a contract: keep each one).
_TRAIN_FLAGS: dict[str, str] = {"group_by_length": "--group-by-length/--no-group-by-length"}


def _base_type(annotation: Any) -> Any:
    args = [a for a in getattr(annotation, "__args__", ()) if a is not type(None)]
    return args[0] if args else annotation


def _train_option(name: str, info: Any, default: Any = None, help_text: str | None = None) -> tuple[Any, Any]:
    """(annotation, typer option) of TrainConfig field ``name``: default None, so a flag not given is told apart
    from one given with the default value (applicability is checked on given flags only)."""
    text = help_text or (info.description or "").rstrip(".")
    shown = default if default is not None else info.default
    if shown is not None and shown is not False and help_text is None and "default" not in text:
        text += f" (default {shown})"
    text = text[:1].upper() + text[1:] + ("." if text else "")
    opt = typer.Option(default, _TRAIN_FLAGS.get(name, _flag(name)), help=text, rich_help_panel="Training")
    return Optional[_base_type(info.annotation)], opt


@dataclass(frozen=True)
class Given:
    """The options of one command invocation (None: not given), and the checks and objects built from them."""

    values: dict[str, Any]
    train_names: tuple[str, ...]
    data_names: tuple[str, ...]

    @property
    def train(self) -> dict[str, Any]:
        """The TrainConfig flags as given (None: not given)."""
        return {k: self.values[k] for k in self.train_names}

    def check(self, ctx: Context) -> None:
        """Refuse, in one line, a given option that does not apply to this run or is out of range."""
        from adapterx.errors import ConfigError

        facts = dict(ctx.facts)
        if "output" in self.values:  # without --output a run gets a new timestamped folder: nothing to continue
            facts["output"] = (frozenset({"given" if self.values["output"] else "none"}),
                               "a run without --output (each gets a new, timestamped folder)")
        for name, value in self.values.items():
            if value is None or value is False or value == [] or value == ():
                continue
            applies = APPLIES.get(name) or (_train_applies(name) if name in self.train_names else {})
            for key, allowed in applies.items():
                if key not in facts:
                    continue
                have, words = facts[key]
                if not have & set(allowed):
                    raise ConfigError(f"{_flag(name)} applies to {_ALLOWED_WORDS[key](tuple(allowed))} only, "
                                      f"not {words}: drop it")
            if name in RANGES and isinstance(value, (int, float)) and not isinstance(value, bool):
                _check_range(name, value, RANGES[name])
        if self.values.get("resume") and self.values.get("output"):
            _resume_note(Path(self.values["output"]))

    def train_config(self, method: str, model: str, **override: Any):  # noqa: ANN201
        """The TrainConfig of the given flags (TrainConfig's defaults, the method's learning rate)."""
        return train_config(_method=method, _model=model, **{**self.train, **override})

    def data_options(self):  # noqa: ANN201
        """The DataOptions of the given data flags."""
        from adapterx.data.sources import DataOptions

        v = {k: self.values.get(k) for k in DATA_OPTIONS}
        return DataOptions(data=v["data"], data_dir=v["data_dir"], train_file=v["train_file"], dev_file=v["dev_file"],
                           eval_files=eval_files(v["eval_file"]), data_revisions=tuple(v["data_revision"] or ()))


def training_options(*, data: tuple[str, ...] = DATA_OPTIONS, defaults: dict[str, Any] | None = None,
                     help: dict[str, str] | None = None) -> Callable[[Callable[..., Any]], Callable[..., Any]]:  # noqa: A002
    """Add a flag per TrainConfig field and the ``data`` options to a command; it receives them as ``given``.

    The command declares its own parameters (arguments, method flags, ...) and a ``given`` parameter; every option
    it receives (its own included) is in ``given.values``, where :meth:`Given.check` can refuse one that does not
    apply. ``defaults``/``help`` override a field's default and help for this command (train-language's --lr)."""
    defaults, help = defaults or {}, help or {}

    def deco(fn: Callable[..., Any]) -> Callable[..., Any]:
        sig = inspect.signature(fn)
        own = [p for p in sig.parameters.values() if p.name != "given"]
        fields = _train_fields()
        train_names = tuple(n for n in fields if n not in {p.name for p in own})
        added: dict[str, tuple[Any, Any]] = {n: (_DATA_TYPES[n], OPTIONS[n]) for n in data}
        for n in train_names:
            added[n] = _train_option(n, fields[n], defaults.get(n), help.get(n))
        kw_only = inspect.Parameter.KEYWORD_ONLY
        hints = typing.get_type_hints(fn)  # resolved in fn's module (its annotations are strings)
        params = [p.replace(kind=kw_only, annotation=hints.get(p.name, p.annotation)) for p in own if p.name != "debug"]
        params += [inspect.Parameter(n, kw_only, default=opt, annotation=ann) for n, (ann, opt) in added.items()]
        params += [p.replace(kind=kw_only, annotation=hints.get(p.name, p.annotation)) for p in own if p.name == "debug"]

        @functools.wraps(fn)
        def wrapper(**kwargs: Any) -> Any:
            values = dict(kwargs)
            given = Given(values, train_names, tuple(data))
            for n in added:
                kwargs.pop(n)
            return fn(given=given, **kwargs)

        del wrapper.__wrapped__  # typer reads the signature below, not fn's
        wrapper.__signature__ = sig.replace(parameters=params)  # type: ignore[attr-defined]
        wrapper.__annotations__ = {p.name: p.annotation for p in params}
        return wrapper

    return deco
