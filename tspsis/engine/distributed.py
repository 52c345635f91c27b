"""The runner process's side of distributed training without GPUs (tests, CPU clusters), and slurm's variables as
torch's. The launching side (torchrun's nodes) is :mod:`tspsis.engine.launch`."""
from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping

DEFAULT_MASTER_PORT = 29500  # torch.distributed's, and mmengine's for slurm when MASTER_PORT is not set


def slurm_environment(env: Mapping[str, str]) -> dict[str, str]:
    """torch's ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR`` and ``MASTER_PORT`` for the slurm task whose
    variables are ``env``, as mmengine's ``_init_dist_slurm`` sets them: the master is ``MASTER_ADDR`` if set, else
    the first host of ``SLURM_NODELIST`` (``scontrol show hostname``); the port ``MASTER_PORT``, else 29500."""
    addr = env.get("MASTER_ADDR") or subprocess.run(
        ["scontrol", "show", "hostname", env["SLURM_NODELIST"]], capture_output=True, text=True,
        check=True).stdout.split()[0]
    return dict(RANK=env["SLURM_PROCID"], WORLD_SIZE=env["SLURM_NTASKS"], LOCAL_RANK=env.get("SLURM_LOCALID", "0"),
                MASTER_ADDR=addr, MASTER_PORT=env.get("MASTER_PORT", str(DEFAULT_MASTER_PORT)))


def init_cpu_distributed(cfg, launcher: str) -> None:
    """torchrun or srun without GPUs (tests, CPU clusters): gloo, and DDP without device ids.

    mmengine's ``init_dist`` calls ``torch.cuda.set_device``; initialising the process group first makes the
    Runner skip it. ``launcher`` ``slurm``: the task's SLURM_* variables become torch's (``slurm_environment``).
    """
    if launcher == "slurm":
        os.environ.update(slurm_environment(os.environ))
    import torch

    torch.distributed.init_process_group(backend="gloo")
    cfg.model_wrapper_cfg = dict(type="MMDistributedDataParallel", broadcast_buffers=False, device_ids=None)
