"""bf16 autocast on CPUs that compute bf16 natively: the fast path of the CPU sizing.

mmengine's ``AmpOptimWrapper`` asserts a GPU (it builds ``torch.cuda.amp.GradScaler``). bf16 needs no loss scaling
(it keeps fp32's exponent range), so a CPU wrapper only has to run forward + loss under
``torch.autocast('cpu', dtype=torch.bfloat16)``: the weights, their gradients and the SGD state stay fp32 (the
"master weights"), and autocast casts each convolution's / matmul's inputs to bf16 and keeps the ops it lists as
fp32-only (losses, softmax, normalisation reductions) in fp32. The backward of an autocast op runs in the dtype of
its forward, so convolutions are bf16 both ways.

With bf16 the wrapper also moves the model to channels-last memory (``channels_last=True``, once, at the first
step): oneDNN's bf16 convolutions run 2-3x faster on NHWC tensors than on NCHW ones (AMX/AVX-512 blocks over
channels), while in fp32 channels-last is no faster for these small layers, so fp32 keeps NCHW. The values are
the same; only strides change (parameters stay the same objects, so the optimizer is unaffected).

Detections are decoded in fp32 (:func:`decode_in_fp32`, at the first step): a dense head's ``predict_by_feat``
(the RPN's proposals in a two-stage detector's training step: box decoding, NMS) runs outside autocast on fp32
copies of its inputs. Under autocast its scores would reach mmcv's ``nms`` in bf16 beside fp32 boxes, which it
refuses ("expected scalar type Float but found BFloat16"); and proposals rounded to bf16's 8 bits of mantissa
would move box corners by up to ~0.4 % of their coordinate (0.6 px at 160 px) before assignment and box coding.

Only worth it where the processor has bf16 arithmetic (AVX-512 ``avx512_bf16`` or AMX ``amx_bf16``): elsewhere bf16
is emulated and slower than fp32, so the wrapper falls back to fp32 and says so in one line (:func:`bf16_support`).
Config (the CPU sizing mixin, ``configs/_base_/schedules/box-cpu_1xb16.py``)::

    optim_wrapper = dict(type='CPUBF16OptimWrapper', enabled='auto', channels_last=True)  # enabled: 'auto'|True|False
"""
from __future__ import annotations

import contextlib
import functools
from functools import lru_cache
from pathlib import Path

import torch
from mmengine.logging import print_log
from mmengine.optim import OptimWrapper
from mmengine.registry import OPTIM_WRAPPERS
from torch.utils._pytree import tree_map

__all__ = ['BF16_CPU_FLAGS', 'CPUBF16OptimWrapper', 'bf16_support', 'decode_in_fp32']

BF16_CPU_FLAGS = ('avx512_bf16', 'amx_bf16')  # /proc/cpuinfo flags of native bf16 dot products


@lru_cache(maxsize=1)
def bf16_support(cpuinfo: str = '/proc/cpuinfo') -> tuple[bool, str]:
    """(True, flag) if the CPU advertises native bf16 arithmetic (``BF16_CPU_FLAGS``), else (False, why)."""
    try:
        flags = set(next((line.split(':', 1)[1].split() for line in Path(cpuinfo).read_text().splitlines()
                          if line.startswith('flags')), []))
    except OSError as error:
        return False, f'cannot read {cpuinfo} ({error.strerror})'
    for flag in BF16_CPU_FLAGS:
        if flag in flags:
            return True, flag
    return False, f'the CPU lacks {" and ".join(BF16_CPU_FLAGS)}'


def _in_fp32(method):
    """``method`` run outside autocast with every floating-point tensor of its arguments cast to fp32."""
    @functools.wraps(method)
    def fp32_method(*args, **kwargs):
        args, kwargs = tree_map(lambda x: x.float() if torch.is_tensor(x) and x.is_floating_point() else x,
                                (args, kwargs))
        with torch.autocast('cpu', enabled=False):
            return method(*args, **kwargs)
    fp32_method.in_fp32 = True
    return fp32_method


def decode_in_fp32(model: torch.nn.Module) -> int:
    """Make every dense head of ``model`` (mmdet ``BaseDenseHead``: RPN, FCOS, ...) decode its detections
    (``predict_by_feat``: scores, box decoding, NMS) in fp32 under an autocast region; returns how many heads.
    Idempotent; the network (convolutions, losses) keeps the autocast dtype."""
    from mmdet.models.dense_heads.base_dense_head import BaseDenseHead

    heads = [m for m in model.modules() if isinstance(m, BaseDenseHead)]
    for head in heads:
        if not getattr(head.predict_by_feat, 'in_fp32', False):
            head.predict_by_feat = _in_fp32(head.predict_by_feat)
    return len(heads)


@OPTIM_WRAPPERS.register_module()
class CPUBF16OptimWrapper(OptimWrapper):
    """``OptimWrapper`` whose ``optim_context`` (forward + loss in mmengine's ``train_step``) runs under CPU bf16
    autocast; backward, gradient clipping and the optimizer step are the plain wrapper's, on fp32 weights.

    Args:
        enabled: ``'auto'`` (default): bf16 where :func:`bf16_support` finds native bf16 on the CPU and the model
            is not on a GPU, fp32 otherwise (one log line says which and why); True forces bf16, False fp32.
        channels_last: with bf16, convert the model's 4-D parameters and buffers to channels-last memory at the
            first step (default True); ignored in fp32.
        **kwargs: ``OptimWrapper``'s (``optimizer``, ``clip_grad``, ``accumulative_counts``).
    """

    def __init__(self, *args, enabled: bool | str = 'auto', channels_last: bool = True, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if enabled not in ('auto', True, False):
            raise ValueError(f"CPUBF16OptimWrapper: `enabled` must be 'auto', True or False, got {enabled!r}")
        if enabled == 'auto':
            supported, why = bf16_support()
            enabled = supported and not torch.cuda.is_available()
            reason = why if not supported else ('a GPU is visible: use AmpOptimWrapper there' if not enabled else
                                                f'the CPU has {why}')
            print_log(f'CPUBF16OptimWrapper: {"bf16 autocast" if enabled else "fp32"} training ({reason})',
                      logger='current')
        self.bf16 = bool(enabled)
        self.channels_last = self.bf16 and channels_last  # still to do at the first step
        self.fp32_decoding_pending = self.bf16  # decode_in_fp32, at the first step

    @contextlib.contextmanager
    def optim_context(self, model: torch.nn.Module):
        if self.channels_last:
            model.to(memory_format=torch.channels_last)
            self.channels_last = False
        if self.fp32_decoding_pending:
            decode_in_fp32(model)
            self.fp32_decoding_pending = False
        with super().optim_context(model):
            with torch.autocast('cpu', dtype=torch.bfloat16, enabled=self.bf16):
                yield
