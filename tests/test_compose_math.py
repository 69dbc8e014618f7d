"""What each composition computes, checked against its definition on the tiny model:
- adapters Stack with a zero-initialised target equals the intermediate adapter alone;
- LoRA merge equals LoRA sum before the target trains (a fresh LoRA's B is zero), and both equal the intermediate;
- LoRA sum equals peft's ``combination_type="cat"`` merge of the two LoRAs;
- LoRA chain equals W h + dW_t(dW_i h), computed by hand on one adapted projection;
- the composition table refuses what the backends cannot run."""

from __future__ import annotations

import pytest
import torch

from adapterx.methods.compose import Fuse, ModuleRef, Stack, validate
from adapterx.data import synthetic
from adapterx.errors import ConfigError
from adapterx.methods import AdapterSpec, LoRASpec, build_module
from adapterx.methods import adapters_backend as ab
from adapterx.methods import peft_backend as pb
from adapterx.tasks import get_task
from adapterx.tasks.kinds import ops_for


@pytest.fixture(scope="module")
def inter_folders(tiny, tmp_path_factory):
    """A trained-looking (randomly perturbed) STS-B adapter and LoRA, saved."""
    root = tmp_path_factory.mktemp("inter")
    out = {}
    for spec in (AdapterSpec(), LoRASpec(r=4)):
        m = build_module(spec, tiny, get_task("stsb"), seed=0)
        with torch.no_grad():
            g = torch.Generator().manual_seed(1)
            for n, p in m.model.named_parameters():
                if p.requires_grad:
                    p.add_(0.2 * torch.randn(p.shape, generator=g))
        m.save(root / spec.name)
        out[spec.name] = root / spec.name
    return out


def _batch(tok, task="xnli"):
    t = get_task(task)
    ex = synthetic.nli("de", 6, labels=t.labels)
    feats = ops_for(t.kind).featurize(t, ex, tok, 48, 16, train=False)
    return ops_for(t.kind).collate(feats.items, tok.pad_token_id)


def _logits(model, batch):
    model.eval()
    with torch.inference_mode():
        return model(**batch).logits


def test_adapter_stack_with_zero_target_equals_the_intermediate_alone(tiny, tiny_tokenizer, inter_folders):
    from adapters.composition import Stack as AStack

    task = get_task("xnli")
    m = ab.build_composed(tiny, task, AdapterSpec(), "xnli", [("stsb", inter_folders["adapter"])])
    with torch.no_grad():
        for n, p in m.model.named_parameters():
            if "adapters.xnli." in n and "adapter_up" in n:
                p.zero_()  # the target adapter's up-projection: its residual branch adds exactly 0
    batch = _batch(tiny_tokenizer)
    stacked = _logits(m.model, batch)
    m.model.active_adapters = "stsb"
    alone = _logits(m.model, batch)
    torch.testing.assert_close(stacked, alone, rtol=0, atol=1e-6)
    m.model.active_adapters = AStack("stsb", "xnli")
    assert not torch.allclose(_logits(m.model, batch), _bare(tiny, tiny_tokenizer, m), atol=1e-4)


def _bare(tiny, tok, m):
    m.model.active_adapters = None
    out = _logits(m.model, _batch(tok))
    return out


def test_lora_merge_equals_sum_before_training_and_sum_equals_cat(tiny, tiny_tokenizer, inter_folders):
    from peft.tuners.lora import LoraLayer

    task = get_task("xnli")
    batch = _batch(tiny_tokenizer)
    torch.manual_seed(0)
    summed = pb.build_composed(tiny, task, LoRASpec(r=4), "xnli", [("stsb", inter_folders["lora"])], "sum")
    torch.manual_seed(0)
    merged = pb.build_composed(tiny, task, LoRASpec(r=4), "xnli", [("stsb", inter_folders["lora"])], "merge")
    # Same head (same seed); the fresh target LoRA adds B A h = 0: merge (W + dW_i) h == sum W h + dW_i h + 0.
    torch.testing.assert_close(_logits(merged.model, batch), _logits(summed.model, batch), rtol=0, atol=1e-5)

    # Now give the target LoRA weights and compare sum with peft's exact "cat" merge of the two LoRAs.
    pm = summed.model
    with torch.no_grad():
        g = torch.Generator().manual_seed(2)
        for n, p in pm.named_parameters():
            if ".xnli." in n and "lora_B" in n:
                p.copy_(0.3 * torch.randn(p.shape, generator=g))
    want = _logits(pm, batch)
    pm.add_weighted_adapter(["stsb", "xnli"], [1.0, 1.0], adapter_name="cat", combination_type="cat")
    for mod in pm.modules():
        if isinstance(mod, LoraLayer):
            mod.set_adapter("cat")
    torch.testing.assert_close(_logits(pm, batch), want, rtol=0, atol=1e-5)


def test_lora_chain_feeds_the_target_the_intermediate_delta(tiny, tiny_tokenizer, inter_folders):
    from peft.tuners.lora import LoraLayer

    task = get_task("xnli")
    m = pb.build_composed(tiny, task, LoRASpec(r=4), "xnli", [("stsb", inter_folders["lora"])], "chain")
    with torch.no_grad():
        for n, p in m.model.named_parameters():
            if ".xnli." in n and "lora_B" in n:
                p.normal_(0, 0.3)
    m.model.eval()
    layer = next(mod for mod in m.model.modules() if isinstance(mod, LoraLayer) and "stsb" in mod.lora_A)
    h = torch.randn(3, layer.in_features)
    with torch.inference_mode():
        got = layer(h)
        d_int = layer.lora_B["stsb"](layer.lora_A["stsb"](h)) * layer.scaling["stsb"]
        # The target's A by its weight (calling the module would run adapterx's pre-hook a second time).
        a_t = torch.nn.functional.linear(d_int, layer.lora_A["xnli"].weight)
        want = layer.base_layer(h) + layer.lora_B["xnli"](a_t) * layer.scaling["xnli"]
    torch.testing.assert_close(got, want, rtol=0, atol=1e-6)


def test_only_the_target_trains_in_every_composition(tiny, inter_folders):
    task = get_task("xnli")
    for build in (
        lambda: ab.build_composed(tiny, task, AdapterSpec(), "xnli", [("stsb", inter_folders["adapter"])]),
        lambda: ab.build_composed(tiny, task, AdapterSpec(), "xnli", [("stsb", inter_folders["adapter"])], "fuse",
                                  with_target=True),
        lambda: pb.build_composed(tiny, task, LoRASpec(r=4), "xnli", [("stsb", inter_folders["lora"])], "sum"),
        lambda: pb.build_composed(tiny, task, LoRASpec(r=4), "xnli", [("stsb", inter_folders["lora"])], "chain"),
    ):
        names = [n for n, p in build().model.named_parameters() if p.requires_grad]
        # ".stsb." is the intermediate's own weights (not the fusion layer "stsb,xnli", which trains).
        assert names and not [n for n in names if ".stsb." in n], names


def test_composition_table():
    ref = ModuleRef("stsb", "x", "0", "lora")
    with pytest.raises(ConfigError, match="AdapterFusion needs bottleneck adapters"):
        validate(Fuse((ref, ModuleRef("mnli", "y", "0", "lora")), "xnli"), "lora")
    with pytest.raises(ConfigError, match="trained with --method lora"):
        validate(Stack((ref,), "xnli"), "adapter")
    with pytest.raises(ConfigError, match="at least two adapters"):
        validate(Fuse((ModuleRef("stsb", "x", "0", "adapter"),), "xnli"), "adapter")
    validate(Stack((ref,), "xnli", "chain"), "lora")
