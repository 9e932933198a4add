"""torchrun environment -> process group, and the few collectives the trainer needs."""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistributedEnv:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def is_distributed(self) -> bool:
        return self.world_size > 1


class DeviceError(ValueError):
    """A device setting this machine cannot honour (the CLI prints it as one line)."""


def init_distributed(device: str = "auto") -> DistributedEnv:
    """Read torchrun's RANK / WORLD_SIZE / LOCAL_RANK; join the process group (nccl on GPUs, gloo on CPUs)."""
    rank = int(os.environ.get("RANK", 0))
    world_size = int(os.environ.get("WORLD_SIZE", 1))
    local_rank = int(os.environ.get("LOCAL_RANK", 0))
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda":
        # Each process takes the GPU of its local rank; NCCL refuses two ranks on one GPU, so more
        # processes per node than GPUs would otherwise end in a CUDA traceback on rank 1.
        gpus = torch.cuda.device_count()
        if local_rank >= gpus:
            raise DeviceError(f"local rank {local_rank} needs GPU {local_rank}, but this machine has {gpus}: run at most "
                              f"{gpus} process(es) per node (torchrun --nproc-per-node), or train on the CPU with "
                              "--set device=cpu")
        torch.cuda.set_device(local_rank)
        target = torch.device("cuda", local_rank)
    else:
        target = torch.device(device)
    if world_size > 1 and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if target.type == "cuda" else "gloo")
    return DistributedEnv(rank, world_size, local_rank, target)


def all_reduce_sum(tensor: torch.Tensor, env: DistributedEnv) -> torch.Tensor:
    """Sum over ranks, in place; a no-op for a single process."""
    if env.is_distributed:
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor


def barrier(env: DistributedEnv) -> None:
    if env.is_distributed:
        dist.barrier()


def shutdown(env: DistributedEnv) -> None:
    if env.is_distributed and dist.is_initialized():
        dist.destroy_process_group()
