"""Data-parallel training under ``accelerate launch``: one process per GPU, each on a slice of every batch.

How it is used:

- ``accelerate launch --multi_gpu --num_processes 4 $(which adapterx) train-target xnli ...`` runs any training
  command on 4 GPUs; a recipe with ``execution.processes_per_cell: 4`` starts every cell that way
  (:func:`launch_command`, used by :mod:`adapterx.grid.runner`).
- The recipe's / command's ``batch_size`` is the *global* batch: N processes take ``batch_size / N`` examples each
  from one shared example order, and DDP averages their gradients, so 1 GPU and 4 GPUs make the same optimizer
  steps over the same examples -- up to dropout masks, summation order, and two small weightings: a batch that does
  not split evenly (an epoch's last) weighs the examples of the smaller shards a little more, and token-averaged
  losses (tagging) are averaged per rank before they are averaged across ranks. Results stay comparable across
  machines, and a grid's cell hash does not depend on how many processes ran it.
- Rank 0 does everything with side effects: dev evaluation during training (the others wait for its score),
  checkpoints, the run directory, the zero-shot evaluation. Every rank leaves :func:`adapterx.workflows.train.train_run`
  only after rank 0 committed the run directory, so a chain's next stage finds its intermediate module on disk.

The process group is set up by accelerate (``PartialState``): NCCL on GPUs, gloo on CPU. ``accelerate launch --cpu``
starts several processes only through MPI, so adapterx launches with ``--multi_gpu`` (accelerate's torchrun path)
and picks gloo itself when there is no GPU: that is how the tests run two processes on a laptop CPU.
"""

from __future__ import annotations

import datetime
import os
import socket
import sys
from dataclasses import dataclass
from typing import Any

from adapterx.errors import ConfigError
from adapterx.errors import AdapterxError

# Rank 0 evaluates (dev during training, every language after) while the others wait in a collective; NCCL's default
# 10-minute timeout would kill a long zero-shot evaluation of 40 languages, so the group waits up to 12 hours.
GROUP_TIMEOUT = datetime.timedelta(hours=12)


@dataclass(frozen=True)
class DistInfo:
    rank: int
    world_size: int
    local_rank: int
    backend: str
    device: str

    def record(self) -> dict[str, Any]:
        """What run.json records of the launch."""
        return {"world_size": self.world_size, "backend": self.backend, "launcher": "accelerate"}


_INFO: list[DistInfo] = []


def world_size() -> int:
    """Processes in this launch (1 when not launched by accelerate / torchrun)."""
    try:
        return max(1, int(os.environ.get("WORLD_SIZE", "1")))
    except ValueError:
        return 1


def launched() -> bool:
    """True inside a multi-process launch."""
    return world_size() > 1


def rank() -> int:
    try:
        return int(os.environ.get("RANK", "0"))
    except ValueError:
        return 0


def is_main() -> bool:
    """Rank 0, or the only process: the one that writes files, evaluates and prints."""
    return rank() == 0


def setup(device: str | None = None) -> DistInfo | None:
    """Join the process group once (None when not launched). ``device="cpu"`` forces gloo on a GPU machine."""
    if not launched():
        return None
    if _INFO:
        return _INFO[0]
    import torch
    from accelerate import PartialState

    cpu = device == "cpu" or not torch.cuda.is_available()
    state = PartialState(cpu=cpu, timeout=GROUP_TIMEOUT)
    dev = "cpu" if cpu else f"cuda:{state.local_process_index}"
    info = DistInfo(state.process_index, state.num_processes, state.local_process_index, str(state.backend), dev)
    _INFO.append(info)
    return info


def shutdown() -> None:
    """Leave the process group together and tear it down before the interpreter exits: a gloo group left to the
    interpreter's exit can abort the process ("terminate called without an active exception", seen on this CPU)
    after its work was done."""
    if not _INFO:
        return
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        try:
            dist.barrier()
        finally:
            dist.destroy_process_group()
    _INFO.clear()


def refuse(what: str) -> None:
    """Stop with a clear error where a code path is not data-parallel (yet) and would otherwise hang or race."""
    if launched():
        raise ConfigError(f"{what} does not run data-parallel: start it without accelerate launch"
                          " (or with --num_processes 1)")


def broadcast_object(obj: Any) -> Any:
    """Rank 0's ``obj`` on every rank (dev scores, so every rank keeps the same best checkpoint)."""
    if not (launched() and _INFO):
        return obj
    import torch.distributed as dist

    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def settle(error: BaseException | None = None) -> None:
    """Make rank 0's outcome of a step only it performs (reserving the output folder; saving, evaluating and
    committing the run) every rank's: the others raise what it raised -- a ConfigError stays a ConfigError -- so all
    ranks leave by the same path. Without this, a caller that catches rank 0's error (a recipe cell whose shared
    intermediate another worker finished first) would go on to its next collective while the others wait in this
    one, until the group's 12-hour timeout. Every rank must call it at the same point; rank 0 passes its error."""
    if not (launched() and _INFO):
        return

    payload = None if error is None else (isinstance(error, ConfigError), str(error) or type(error).__name__)
    got = broadcast_object(payload if is_main() else None)
    if got is not None and not is_main():
        is_config, msg = got
        raise ConfigError(msg) if is_config else AdapterxError(f"rank 0 failed: {msg}")


def gather_parts(part: Any) -> list[Any]:
    """Every rank's ``part``, in rank order, on every rank (one all-gather of pickled objects)."""
    if not (launched() and _INFO):
        return [part]
    import torch.distributed as dist

    parts: list[Any] = [None] * world_size()
    dist.all_gather_object(parts, part)
    return parts


def mean_across(value):  # noqa: ANN001, ANN201 - a 0-d tensor in, the same mean on every rank out
    """The mean of a scalar tensor over all ranks (the logged loss; NaN on one rank is NaN on all, so all stop)."""
    if not (launched() and _INFO):
        return value
    import torch.distributed as dist

    t = value.detach().float().clone()
    dist.all_reduce(t)
    return t / world_size()


def shard(chunk: list[int], order: list[int], rank: int, world: int) -> list[int]:
    """This rank's examples of one global batch ``chunk`` (indices into the data, taken from ``order``).

    Strided, so the N slices differ in size by at most one and together are the chunk. A last chunk smaller than
    the world is topped up from the start of the epoch's order, so no rank gets an empty batch (DDP needs every
    rank in every step): with 10 examples, batch 4 and 4 ranks the third chunk [8, 9] becomes [8, 9, o0, o1].
    """
    if world <= 1:
        return list(chunk)
    if len(chunk) < world:
        chunk = list(chunk) + [order[i % len(order)] for i in range(world - len(chunk))]
    return list(chunk[rank::world])


def wrap(model, info: DistInfo | None, find_unused: bool = False):  # noqa: ANN001, ANN201
    """The DDP wrapper for training (the unwrapped model stays what is evaluated and saved)."""
    if info is None:
        return model
    from torch.nn.parallel import DistributedDataParallel

    ids = [info.local_rank] if info.device.startswith("cuda") else None
    # find_unused_parameters=False: every trainable tensor of every method and composition takes part in each step
    # (heads skip the pooler, which stays frozen; fusion, chain hooks and stacked adapters all run), checked by
    # training each as a 2-process cell. A future module that leaves one out fails at its second step with DDP's
    # "Expected to have finished reduction" -- switch this on for it rather than for all (it walks the graph).
    # Multi-task training is that case (each step trains one task's head): its module asks for it.
    return DistributedDataParallel(model, device_ids=ids, find_unused_parameters=find_unused)


def free_port() -> int:
    """A free TCP port on this host for one launch's rendezvous (parallel cells must not share one)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def launch_command(num_processes: int, module: str, args: list[str], port: int | None = None) -> list[str]:
    """``accelerate launch`` of ``python -m module args`` on ``num_processes`` processes of this host.

    Every setting is passed explicitly so a user's accelerate config file (mixed precision, DeepSpeed) cannot change
    what a recipe asked for; precision is the training config's own ``bf16``.
    """
    if num_processes < 2:
        raise ConfigError("processes_per_cell: accelerate launch is for 2 or more processes")
    return [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", str(num_processes),
            "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
            "--main_process_port", str(port or free_port()), "-m", module, *args]
