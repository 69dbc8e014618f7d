"""Method specs: one frozen pydantic model per way of training.

Validation errors name the field and the fix (``method.r: must be >= 1``). A spec's ``name`` field (a ``Literal``
with that default) is how a method dict or ``--method`` finds it: :func:`parse_method` knows every subclass of the
spec base here, so a new method's spec is usable by being defined. What a method composes with, and which backend
builds it, is its registration in :mod:`adapterx.methods.catalog`.
"""

from __future__ import annotations

import json
import re
from typing import Any, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, ValidationError, model_validator

from adapterx.errors import ConfigError
from adapterx.registry import suggest

ADAPTER_CONFIGS = {"pfeiffer": "seq_bn", "seq_bn": "seq_bn", "houlsby": "double_seq_bn", "double_seq_bn": "double_seq_bn"}
NonLinearity = Literal["relu", "gelu", "swish", "tanh"]


class MethodSpec(BaseModel):
    """The base of every method spec: frozen, unknown keys refused. A subclass with a ``name`` default is found by
    :func:`spec_classes` once its module is imported (a method module's own spec: ``adalora``, ``vera``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class AdapterSpec(MethodSpec):
    """A bottleneck adapter through the ``adapters`` library on the frozen backbone."""

    name: Literal["adapter"] = "adapter"
    config: Literal["seq_bn", "double_seq_bn"] = Field(
        "seq_bn", description="seq_bn (Pfeiffer: after the FFN) or double_seq_bn (Houlsby: after attention and FFN)"
    )
    reduction_factor: int = Field(16, ge=1, description="hidden size / bottleneck size")
    non_linearity: NonLinearity = "relu"

    def library_config(self) -> dict[str, Any]:
        return {"reduction_factor": self.reduction_factor, "non_linearity": self.non_linearity}


class ParBnSpec(MethodSpec):
    """A parallel bottleneck adapter (He et al. 2022): beside the FFN, its output scaled and added (``adapters``)."""

    name: Literal["par_bn"] = "par_bn"
    reduction_factor: int = Field(2, ge=1, description="hidden size / bottleneck size (the library's default: 2)")
    scaling: float = Field(4.0, gt=0, description="the adapter's output is multiplied by this before it is added")
    non_linearity: NonLinearity = "relu"

    def library_config(self) -> dict[str, Any]:
        return {"reduction_factor": self.reduction_factor, "scaling": self.scaling, "non_linearity": self.non_linearity}


class CompacterSpec(MethodSpec):
    """Compacter (Karimi Mahabadi et al. 2021): Houlsby-placed adapters whose projections are sums of Kronecker
    products (PHM layers, shared slow weights); ``compacter++`` is the FFN-only placement."""

    name: Literal["compacter"] = "compacter"
    # The library's default is 32; 16 keeps hidden / reduction_factor divisible by phm_dim on the tiny model (64 / 16
    # = 4) as on base and large (48, 64).
    reduction_factor: int = Field(16, ge=1, description="hidden size / bottleneck size; the bottleneck must divide by phm_dim")
    phm_dim: int = Field(4, ge=1, description="number of Kronecker summands (n in the paper)")
    non_linearity: NonLinearity = "gelu"

    def library_config(self) -> dict[str, Any]:
        return {"reduction_factor": self.reduction_factor, "phm_dim": self.phm_dim, "non_linearity": self.non_linearity}


class CompacterPPSpec(CompacterSpec):
    """Compacter++: one PHM adapter per layer, after the FFN."""

    name: Literal["compacter++"] = "compacter++"  # type: ignore[assignment]


class PrefixSpec(MethodSpec):
    """Prefix tuning (Li & Liang 2021) through ``adapters``: trained key/value prefixes in every attention layer.

    Prefixes are extra keys and values, not extra tokens: the sequence the heads see is unchanged, so QA spans and
    tags line up as without them. Trained through a reparametrising MLP (``bottleneck_size``) unless ``flat``."""

    name: Literal["prefix"] = "prefix"
    prefix_length: int = Field(30, ge=1, le=512, description="prefix vectors per layer")
    bottleneck_size: int = Field(512, ge=1, description="hidden size of the reparametrising MLP (unused with flat)")
    flat: bool = Field(False, description="train the prefixes directly, without the MLP")
    dropout: float = Field(0.0, ge=0.0, lt=1.0)

    def library_config(self) -> dict[str, Any]:
        return {"prefix_length": self.prefix_length, "bottleneck_size": self.bottleneck_size, "flat": self.flat,
                "dropout": self.dropout}


class PromptSpec(MethodSpec):
    """Prompt tuning (Lester et al. 2021) through ``adapters``: ``prompt_length`` trained embeddings put before the
    input after the embedding layer (they take no position ids, so the real tokens keep theirs).

    Token-level tasks: adapterx drops the prompt positions from the token logits (and shifts QA span labels by the
    prompt length while training), so predictions align with the input; sequence tasks read position 0, the first
    prompt vector, as the ``adapters`` heads do."""

    name: Literal["prompt"] = "prompt"
    prompt_length: int = Field(10, ge=1, le=512, description="number of soft prompt vectors")
    init: Literal["random_uniform", "from_string"] = Field("random_uniform", description="random_uniform or from_string (init_text's embeddings)")
    init_text: str | None = Field(None, description="with init=from_string: the text whose token embeddings start the prompt")

    @model_validator(mode="after")
    def _text_needs_string_init(self) -> PromptSpec:
        if (self.init == "from_string") != (self.init_text is not None):
            raise ValueError("init_text is needed with init=from_string, and only then")
        return self

    def library_config(self) -> dict[str, Any]:
        return {"prompt_length": self.prompt_length, "prompt_init": self.init, "prompt_init_text": self.init_text}


class LoRASpec(MethodSpec):
    """A LoRA module through ``peft`` on the frozen backbone; DoRA, rsLoRA and PiSSA initialisation are options."""

    name: Literal["lora"] = "lora"
    # `rank` is the recipes' spelling (recipes and commands parse into this one spec)
    r: int = Field(8, ge=1, description="LoRA rank", validation_alias=AliasChoices("r", "rank"))
    alpha: int = Field(16, ge=1, description="scaling numerator: the update is (alpha / r) * B A")
    dropout: float = Field(0.1, ge=0.0, lt=1.0)
    target_modules: tuple[str, ...] | None = Field(
        None, min_length=1,
        description="module names to adapt; None: the architecture's default from peft's per-model mapping "
                    "(query,value for BERT / XLM-R; query_proj,value_proj for DeBERTa-v2/v3; q_lin,v_lin for DistilBERT)",
    )
    dora: bool = Field(False, description="DoRA (Liu et al. 2024): a trained magnitude per output, LoRA on the direction")
    rslora: bool = Field(False, description="rank-stabilised scaling alpha / sqrt(r) instead of alpha / r")
    init: Literal["default", "gaussian", "pissa"] = Field(
        "default", description="default (B = 0), gaussian, or pissa: A, B from the top-r singular vectors of W"
    )

    @model_validator(mode="after")
    def _pissa_is_plain(self) -> LoRASpec:
        if self.init == "pissa" and self.dora:
            raise ValueError("init=pissa does not combine with dora=true (a PiSSA module is saved as the plain LoRA it "
                             "amounts to; DoRA's magnitudes have no such form): drop one")
        return self

    def stack_modes(self) -> tuple[str, ...]:
        """Compositions this LoRA can take part in (``adapterx stack --lora-mode``)."""
        if self.init == "pissa":
            # PiSSA moves the principal part of W into A, B; a module is saved as the plain LoRA it amounts to over
            # the untouched W, which adapterx computes for a single LoRA (alone, or on a merged base) only.
            return ("merge",)
        if self.dora:
            return ("sum", "merge")  # chain feeds dW_int h into the target's A: DoRA's magnitude has no such form
        return ("sum", "merge", "chain")


class IA3Spec(MethodSpec):
    """(IA)^3 (Liu et al. 2022) through ``peft``: trained vectors rescaling keys, values and the FFN's inner
    activations (the input of each layer's ``output.dense``)."""

    name: Literal["ia3"] = "ia3"
    target_modules: tuple[str, ...] = Field(("key", "value"), min_length=1, description="attention projections to rescale")
    feedforward: bool = Field(True, description="also rescale the FFN activations (the input of each layer's output.dense)")


class BitFitSpec(MethodSpec):
    """BitFit (Ben Zaken et al. 2022): only the bias terms of the backbone train (plain torch; neither library has it
    for encoders). ``which=query_mlp`` is the paper's smaller variant: query and FFN-intermediate biases only."""

    name: Literal["bitfit"] = "bitfit"
    which: Literal["all", "query_mlp"] = Field("all", description="all biases, or only query and FFN-intermediate biases")


class FullSpec(MethodSpec):
    """Full fine-tuning of every backbone weight: the baseline the research question compares against."""

    name: Literal["full"] = "full"


class SFTSpec(MethodSpec):
    """LT-SFT (Ansell et al. 2022): the module is a sparse difference of K backbone weights, chosen by a dense first
    phase (the K that moved most), then trained alone from the pretrained values (see :mod:`sft_backend`)."""

    name: Literal["sft"] = "sft"
    k: int | None = Field(None, ge=1, description="weights in the difference (default: density x the eligible weights)")
    density: float = Field(0.01, gt=0, le=1, description="K as a fraction of the eligible weights, where k is not given")
    phase1: float = Field(1.0, gt=0, le=10, description="length of the dense phase 1, relative to phase 2 (paper: 1)")
    embeddings: bool = Field(True, description="embeddings eligible for the mask (LayerNorm never is)")


# --------------------------------------------------------------------------- parsing


def parse_method(data: dict[str, Any], where: str = "method") -> BaseModel:
    """Parse a method dict (``{"name": "lora", "r": 16}``); errors name the field path and what is allowed."""
    specs = spec_classes()
    name = data.get("name")
    if not isinstance(name, str) or name not in specs:
        raise ConfigError(f"{where}.name: " + suggest(str(name), tuple(specs), "method"))
    cls = specs[name]
    try:
        return cls.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(p) for p in err["loc"])
        path = f"{where}.{loc}" if loc else where
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            others = [n for n, c in specs.items() if str(err["loc"][-1]) in c.model_fields]
            hint = f"; it is an option of {', '.join(others)}" if others else ""
            msg = f"not an option of method {name!r} (options: {', '.join(sorted(options(name)))}){hint}"
        raise ConfigError(f"{path}: {msg}") from None


def options(name: str) -> set[str]:
    """The option names of method ``name`` (its spec's fields but ``name``)."""
    return {k for k in spec_classes()[name].model_fields if k != "name"}


def spec_classes() -> dict[str, type[MethodSpec]]:
    """Every method spec by name: the subclasses of the spec base (a spec subclassing another, as compacter++ does
    compacter, has a name of its own)."""
    out: dict[str, type[MethodSpec]] = {}
    todo = list(MethodSpec.__subclasses__())
    while todo:
        cls = todo.pop(0)
        todo.extend(cls.__subclasses__())
        default = cls.model_fields["name"].default if "name" in cls.model_fields else None
        if isinstance(default, str):
            out.setdefault(default, cls)
    return out


def _value(text: str) -> Any:
    """``--method NAME:KEY=VALUE`` values: JSON where it parses (true, 4, 0.1, "x"), else the plain string."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def method_from_options(
    method: str,
    *,
    adapter_config: str | None = None,
    reduction_factor: int | None = None,
    lora_rank: int | None = None,
    lora_alpha: int | None = None,
    lora_dropout: float | None = None,
    lora_targets: str | None = None,
    sft_k: int | None = None,
) -> BaseModel:
    """Build a spec from CLI options; an option that does not fit the method is an error naming the fix.

    ``method`` is ``NAME`` or ``NAME:KEY=VALUE,KEY=VALUE`` (``lora:dora=true``, ``prompt:prompt_length=20``): any
    option of the method's spec, validated like a recipe's ``method:`` mapping."""
    specs = spec_classes()
    name, _, rest = method.partition(":")
    name = name.strip()
    if name not in specs:
        raise ConfigError("--method: " + suggest(name, tuple(specs), "method"))
    data: dict[str, Any] = {"name": name}
    # Items split at commas that start the next KEY=, so a list value may hold commas (target_modules=query,key).
    for item in filter(None, (p.strip() for p in re.split(r",(?=\s*[A-Za-z_][\w-]*\s*=)", rest))):
        key, eq, val = item.partition("=")
        if not eq:
            raise ConfigError(f"--method {method!r}: {item!r} is not KEY=VALUE (e.g. --method lora:dora=true)")
        key = key.strip().replace("-", "_")
        value = _value(val.strip())
        default = specs[name].model_fields[key].default if key in specs[name].model_fields else None
        if isinstance(default, tuple) and isinstance(value, str):
            value = tuple(v.strip() for v in value.split(",") if v.strip())
        data[key] = value
    bottleneck = tuple(n for n, c in specs.items() if "reduction_factor" in c.model_fields)
    given = {
        "--adapter-config": (adapter_config, ("adapter",)), "--reduction-factor": (reduction_factor, bottleneck),
        "--lora-rank": (lora_rank, ("lora",)), "--lora-alpha": (lora_alpha, ("lora",)),
        "--lora-dropout": (lora_dropout, ("lora",)), "--lora-targets": (lora_targets, ("lora",)),
        "--sft-k": (sft_k, ("sft",)),
    }
    for opt, (val, owners) in given.items():
        if val is not None and name not in owners:
            raise ConfigError(f"{opt} applies to --method {' / '.join(owners)}, not --method {name}: drop it or change --method")
    if adapter_config is not None:
        if adapter_config not in ADAPTER_CONFIGS:
            raise ConfigError(f"--adapter-config {adapter_config!r}: use one of {', '.join(ADAPTER_CONFIGS)}")
        data["config"] = ADAPTER_CONFIGS[adapter_config]
    for key, val in (("reduction_factor", reduction_factor), ("r", lora_rank), ("alpha", lora_alpha),
                     ("dropout", lora_dropout), ("k", sft_k)):
        if val is not None:
            data[key] = val
    if lora_targets is not None:
        data["target_modules"] = tuple(t.strip() for t in lora_targets.split(",") if t.strip())
    flag = {"reduction_factor": "--reduction-factor", "r": "--lora-rank", "k": "--sft-k", "alpha": "--lora-alpha", "dropout": "--lora-dropout",
            "target_modules": "--lora-targets", "config": "--adapter-config"}
    try:
        return specs[name].model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        field_ = str(err["loc"][-1]) if err["loc"] else ""
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            others = [n for n, c in specs.items() if field_ in c.model_fields]
            hint = f"; it is an option of --method {' / '.join(others)}" if others else ""
            msg = f"not an option of --method {name} (options: {', '.join(sorted(options(name)))}){hint}"
            raise ConfigError(f"--method {method!r}: {field_}: {msg}") from None
        if field_ in flag and f"{field_}=" not in rest:
            where = flag[field_]  # the value came from its own flag
        else:
            where = f"--method {name}:{field_}" if field_ else f"--method {method!r}"
        raise ConfigError(f"{where}: {msg}") from None


def method_spec_union() -> Any:
    """Every method spec as one pydantic discriminated union on ``name`` (what a recipe's method entry validates
    against, so its errors name the field of the method it names)."""
    from typing import Annotated, Union

    return Annotated[Union[tuple(spec_classes().values())], Field(discriminator="name")]
