"""The pipeline really trains: after a short training on synthetic STS data, English dev Spearman is clearly above
the untrained model's (same seed, same head initialisation, zero steps)."""

from __future__ import annotations

import pytest

from adapterx.data.sources import DataOptions
from adapterx.methods import AdapterSpec, FullSpec, LoRASpec
from adapterx.workflows.train import TrainRequest, train_run
from adapterx.engine.loop import TrainConfig


def _dev_spearman(tmp_path, method, steps, lr):
    cfg = TrainConfig(lr=lr, batch_size=16, max_steps=steps, eval_steps=max(1, steps // 4), seed=3)
    req = TrainRequest(task="stsb", method=method, model="tiny", data=DataOptions(data="synthetic"), train=cfg,
                       output=tmp_path / f"{method.name}-{steps}")
    return train_run(req).metrics["dev"]["spearman"]


@pytest.mark.parametrize(("method", "lr"), [(LoRASpec(), 3e-3), (FullSpec(), 1e-3), (AdapterSpec(reduction_factor=2), 3e-3)])
def test_short_training_beats_the_untrained_model(method, lr, tmp_path):
    # One step at a vanishing learning rate is the untrained model (the best-checkpoint logic needs one step).
    untrained = _dev_spearman(tmp_path, method, 1, 1e-12)
    trained = _dev_spearman(tmp_path, method, 160, lr)
    # Measured on this machine: lora ~40, full ~55, adapter(rf 2) ~40 against |untrained| < 10.
    assert trained > untrained + 15, (untrained, trained)
