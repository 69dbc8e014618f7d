"""Method specs: one frozen pydantic model per way of training (bottleneck adapter, LoRA, full fine-tuning).

Validation errors name the field and the fix (``method.rank: must be >= 1``). The ``name`` field discriminates the
union, so a recipe's ``method: {name: lora, r: 16}`` parses to :class:`LoRASpec`.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Union

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from adapterx.errors import ConfigError
from adapterx.registry import suggest

METHODS = ("adapter", "lora", "full", "sft")
ADAPTER_CONFIGS = {"pfeiffer": "seq_bn", "seq_bn": "seq_bn", "houlsby": "double_seq_bn", "double_seq_bn": "double_seq_bn"}


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AdapterSpec(_Spec):
    """A bottleneck adapter through the ``adapters`` library on the frozen backbone."""

    name: Literal["adapter"] = "adapter"
    config: Literal["seq_bn", "double_seq_bn"] = Field(
        "seq_bn", description="seq_bn (Pfeiffer: after the FFN) or double_seq_bn (Houlsby: after attention and FFN)"
    )
    reduction_factor: int = Field(16, ge=1, description="hidden size / bottleneck size")
    non_linearity: Literal["relu", "gelu", "swish", "tanh"] = "relu"

    def library_config(self) -> dict[str, Any]:
        return {"reduction_factor": self.reduction_factor, "non_linearity": self.non_linearity}


class LoRASpec(_Spec):
    """A LoRA module through ``peft`` on the frozen backbone."""

    name: Literal["lora"] = "lora"
    # `rank` is the recipes' spelling (recipes and commands parse into this one spec)
    r: int = Field(8, ge=1, description="LoRA rank", validation_alias=AliasChoices("r", "rank"))
    alpha: int = Field(16, ge=1, description="scaling numerator: the update is (alpha / r) * B A")
    dropout: float = Field(0.1, ge=0.0, lt=1.0)
    target_modules: tuple[str, ...] = Field(("query", "value"), min_length=1, description="module names to adapt")


class FullSpec(_Spec):
    """Full fine-tuning of every backbone weight: the baseline the research question compares against."""

    name: Literal["full"] = "full"


class SFTSpec(_Spec):
    """LT-SFT (Ansell et al. 2022): the module is a sparse difference of K backbone weights, chosen by a dense first
    phase (the K that moved most), then trained alone from the pretrained values (see :mod:`sft_backend`)."""

    name: Literal["sft"] = "sft"
    k: int | None = Field(None, ge=1, description="weights in the difference (default: density x the eligible weights)")
    density: float = Field(0.01, gt=0, le=1, description="K as a fraction of the eligible weights, where k is not given")
    phase1: float = Field(1.0, gt=0, le=10, description="length of the dense phase 1, relative to phase 2 (paper: 1)")
    embeddings: bool = Field(True, description="embeddings eligible for the mask (LayerNorm never is)")


MethodSpec = Annotated[Union[AdapterSpec, LoRASpec, FullSpec, SFTSpec], Field(discriminator="name")]
_ADAPTER = TypeAdapter(MethodSpec)


def parse_method(data: dict[str, Any], where: str = "method") -> AdapterSpec | LoRASpec | FullSpec | SFTSpec:
    """Parse a method dict (``{"name": "lora", "r": 16}``); errors name the field path and what is allowed."""
    try:
        return _ADAPTER.validate_python(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(p) for p in err["loc"] if p not in METHODS)
        path = f"{where}.{loc}" if loc else where
        msg = err["msg"]
        if err["type"] == "union_tag_invalid" or err["type"] == "union_tag_not_found":
            msg = f"name must be one of {', '.join(METHODS)}"
        elif err["type"] == "extra_forbidden":
            name = data.get("name", "?")
            allowed = sorted(_fields(name))
            msg = f"not an option of method {name!r} (options: {', '.join(allowed)})"
        raise ConfigError(f"{path}: {msg}") from None


SPEC_CLASSES: dict[str, type[BaseModel]] = {"adapter": AdapterSpec, "lora": LoRASpec, "full": FullSpec, "sft": SFTSpec}


def _fields(name: str) -> set[str]:
    cls = SPEC_CLASSES.get(name, _Spec)
    return set(cls.model_fields)


def default_lr(method: str, model: str) -> float:
    """The peak learning rate a method trains with unless told otherwise (the commands and recipes alike).

    Real backbones: the usual 1e-4 for modules on a frozen base, 2e-5 for full fine-tuning. The tiny model is random,
    not pretrained: measured on synthetic STS-B (10 epochs), 1e-4 barely moves it, 3e-3 / 1e-3 learn.
    """
    # LT-SFT's first phase is full fine-tuning: its learning rate (the paper's 2e-5) serves both phases.
    dense = method in ("full", "sft")
    if model == "tiny":
        return 1e-3 if dense else 3e-3
    return 2e-5 if dense else 1e-4


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
) -> AdapterSpec | LoRASpec | FullSpec | SFTSpec:
    """Build a spec from CLI options; an option that does not fit the method is an error naming the fix."""
    if method not in METHODS:
        raise ConfigError(suggest(method, METHODS, "method"))
    given = {
        "--adapter-config": adapter_config, "--reduction-factor": reduction_factor,
        "--lora-rank": lora_rank, "--lora-alpha": lora_alpha, "--lora-dropout": lora_dropout, "--lora-targets": lora_targets,
        "--sft-k": sft_k,
    }
    owner = {"--adapter-config": "adapter", "--reduction-factor": "adapter", "--sft-k": "sft"}
    for opt, val in given.items():
        if val is not None and owner.get(opt, "lora") != method:
            raise ConfigError(f"{opt} applies to --method {owner.get(opt, 'lora')}, not --method {method}: drop it or change --method")
    data: dict[str, Any] = {"name": method}
    if adapter_config is not None:
        if adapter_config not in ADAPTER_CONFIGS:
            raise ConfigError(f"--adapter-config {adapter_config!r}: use one of {', '.join(ADAPTER_CONFIGS)}")
        data["config"] = ADAPTER_CONFIGS[adapter_config]
    for key, val in (("reduction_factor", reduction_factor), ("r", lora_rank), ("alpha", lora_alpha), ("dropout", lora_dropout),
                     ("k", sft_k)):
        if val is not None:
            data[key] = val
    if lora_targets is not None:
        data["target_modules"] = tuple(t.strip() for t in lora_targets.split(",") if t.strip())
    flag = {"reduction_factor": "--reduction-factor", "r": "--lora-rank", "alpha": "--lora-alpha", "dropout": "--lora-dropout",
            "target_modules": "--lora-targets", "config": "--adapter-config", "k": "--sft-k"}
    try:
        return _ADAPTER.validate_python(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = str(err["loc"][-1])
        raise ConfigError(f"{flag.get(field, field)}: {err['msg']}") from None
