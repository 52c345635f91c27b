"""Checkpoints that are never half there: :class:`AtomicCheckpointHook`, mmengine's ``CheckpointHook`` with a
crash-safe order of writes (``default_hooks.checkpoint`` of ``configs/_base_/default_runtime.py``).

mmengine 0.10.7 deletes the oldest kept checkpoint, then writes the new one in place, then ``last_checkpoint``: a
kill during the save leaves a half-written file, or (``max_keep_ckpts=1``) no checkpoint at all and a
``last_checkpoint`` naming a deleted file, and in a distributed run the other ranks go on while rank 0 still
writes. Here rank 0 writes ``.<name>.partial``, flushes it to disk, renames it to ``<name>``, then replaces
``last_checkpoint`` the same way, and only then removes the checkpoints past ``max_keep_ckpts``; every rank waits
at a barrier until that is done. A kill at any moment leaves the previous checkpoint and a ``last_checkpoint`` that
names a complete file (or the new one, complete). Local folders only (the work dir).
"""
from __future__ import annotations

import os
import signal
from pathlib import Path

from mmengine.dist import barrier, is_main_process
from mmengine.hooks import CheckpointHook
from mmengine.registry import HOOKS

from tspsis.core.io import fsync_replace, write_bytes_atomic

__all__ = ["AtomicCheckpointHook", "FAULT_ENV", "PARTIAL_PREFIX", "PARTIAL_SUFFIX"]

PARTIAL_PREFIX, PARTIAL_SUFFIX = ".", ".partial"  # a checkpoint being written: .iter_12.pth.partial
# Fault injection for the tests (never set in normal use): "kill:STEP" SIGKILLs rank 0 between writing the
# checkpoint of iteration (or epoch) STEP and renaming it.
FAULT_ENV = "TSPSIS_FAULT_IN_SAVE"


def _inject_fault(step: int) -> None:
    if os.environ.get(FAULT_ENV) == f"kill:{step}":
        os.kill(os.getpid(), signal.SIGKILL)


@HOOKS.register_module()
class AtomicCheckpointHook(CheckpointHook):
    """``CheckpointHook`` whose checkpoints and ``last_checkpoint`` appear only complete (module docstring).
    Same arguments as mmengine's."""

    def before_train(self, runner) -> None:
        super().before_train(runner)
        if is_main_process():  # what a kill during a save left behind
            for partial in Path(self.out_dir).glob(f"{PARTIAL_PREFIX}*{PARTIAL_SUFFIX}"):
                partial.unlink(missing_ok=True)

    def _save_checkpoint_with_step(self, runner, step, meta) -> None:
        filename = self.filename_tmpl.format(step)
        outdated = []
        # the kept ids go into the checkpoint (message hub), so they are updated before it is written; the files
        # they drop are removed only once the new checkpoint is in place
        if self.max_keep_ckpts > 0 and not (self.keep_ckpt_ids and self.keep_ckpt_ids[-1] == step):
            if len(self.keep_ckpt_ids) == self.max_keep_ckpts:
                outdated.append(self.keep_ckpt_ids.popleft())
            self.keep_ckpt_ids.append(step)
            runner.message_hub.update_info("keep_ckpt_ids", list(self.keep_ckpt_ids))
        self.last_ckpt = os.path.join(self.out_dir, filename)
        runner.message_hub.update_info("last_ckpt", self.last_ckpt)

        partial = f"{PARTIAL_PREFIX}{filename}{PARTIAL_SUFFIX}"
        runner.save_checkpoint(self.out_dir, partial, self.file_client_args, save_optimizer=self.save_optimizer,
                               save_param_scheduler=self.save_param_scheduler, meta=meta, by_epoch=self.by_epoch,
                               backend_args=self.backend_args, **self.args)  # rank 0 writes (mmengine's master_only)
        if is_main_process():
            _inject_fault(step)
            fsync_replace(os.path.join(self.out_dir, partial), self.last_ckpt)
            write_bytes_atomic(os.path.join(runner.work_dir, "last_checkpoint"), self.last_ckpt.encode())
            for old in outdated:
                Path(self.out_dir, self.filename_tmpl.format(old)).unlink(missing_ok=True)
        barrier()  # no rank reads the work dir's checkpoints before rank 0 has finished this one
