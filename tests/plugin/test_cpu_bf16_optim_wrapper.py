"""CPUBF16OptimWrapper: bf16 autocast inside optim_context only, fp32 weights and gradients, detection of the CPU."""
from pathlib import Path

import pytest
import torch
from mmengine.optim import build_optim_wrapper

from tspsis.plugin.optim_wrappers.cpu_bf16_optim_wrapper import CPUBF16OptimWrapper, bf16_support


def _cpuinfo(tmp_path: Path, flags: str) -> str:
    path = tmp_path / "cpuinfo"
    path.write_text(f"processor\t: 0\nmodel name\t: test\nflags\t\t: fpu sse2 {flags}\n\nprocessor\t: 1\n")
    return str(path)


def test_bf16_support_reads_the_cpu_flags(tmp_path):
    bf16_support.cache_clear()
    assert bf16_support(_cpuinfo(tmp_path, "avx512f avx512_bf16")) == (True, "avx512_bf16")
    assert bf16_support(_cpuinfo(tmp_path / "..", "amx_tile amx_bf16")) == (True, "amx_bf16")
    supported, why = bf16_support(_cpuinfo(tmp_path, "avx2 avx512f"))
    assert not supported and "avx512_bf16" in why
    supported, why = bf16_support(str(tmp_path / "missing"))
    assert not supported and "cannot read" in why
    bf16_support.cache_clear()


def _wrapper(enabled) -> tuple[torch.nn.Module, CPUBF16OptimWrapper]:
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.ReLU(), torch.nn.Conv2d(8, 1, 1))
    wrapper = build_optim_wrapper(model, dict(type="CPUBF16OptimWrapper", enabled=enabled,
                                              optimizer=dict(type="SGD", lr=0.1)))
    return model, wrapper


@pytest.mark.parametrize("enabled", [True, False])
def test_forward_in_bf16_only_inside_the_context_and_weights_stay_fp32(enabled):
    model, wrapper = _wrapper(enabled)
    x = torch.randn(2, 3, 12, 12)
    with wrapper.optim_context(model):
        out = model(x)
        loss = torch.nn.functional.binary_cross_entropy_with_logits(out, torch.ones_like(out))
    assert out.dtype == (torch.bfloat16 if enabled else torch.float32)
    assert loss.dtype == torch.float32  # autocast keeps losses in fp32
    assert model(x).dtype == torch.float32  # outside the context: plain fp32
    before = [p.detach().clone() for p in model.parameters()]
    wrapper.backward(loss)
    assert all(p.dtype == p.grad.dtype == torch.float32 for p in model.parameters())  # fp32 master weights
    wrapper.step()
    assert all(not torch.equal(p, old) for p, old in zip(model.parameters(), before))  # the step happened


def test_bf16_step_is_close_to_fp32_but_not_equal():
    """The same step in both precisions: bf16 keeps ~3 significant digits, so the updates agree to ~1e-2."""
    x = torch.randn(4, 3, 12, 12)
    results = []
    for enabled in (True, False):
        model, wrapper = _wrapper(enabled)
        with wrapper.optim_context(model):
            loss = model(x).float().square().mean()
        wrapper.update_params(loss)
        results.append(torch.cat([p.detach().flatten() for p in model.parameters()]))
    assert not torch.equal(*results)
    torch.testing.assert_close(*results, rtol=2e-2, atol=2e-2)


def test_auto_follows_the_cpu(monkeypatch):
    from tspsis.plugin.optim_wrappers import cpu_bf16_optim_wrapper

    monkeypatch.setattr(cpu_bf16_optim_wrapper, "bf16_support", lambda: (False, "the CPU lacks avx512_bf16 and amx_bf16"))
    assert not _wrapper("auto")[1].bf16
    monkeypatch.setattr(cpu_bf16_optim_wrapper, "bf16_support", lambda: (True, "avx512_bf16"))
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert _wrapper("auto")[1].bf16


def test_enabled_must_be_auto_or_a_bool():
    with pytest.raises(ValueError, match="enabled"):
        _wrapper("yes")


_DETECTOR_SIZING = "_base_/schedules/detector-cpu_1xb16.py"  # the detector track's CPU sizing: bf16 fast path


def _detector_step(build_model, load_config, partial_batch, decode_in_fp32: bool) -> tuple[dict, set[str]]:
    """One training step of the detector track's class-agnostic baseline on its CPU sizing, bf16 forced; with
    ``decode_in_fp32=False`` the wrapper skips its fp32 decoding (as it was before it had one)."""
    cfg = load_config("mask_rcnn/psis-mask-rcnn_r18-scratch_fpn_synth-voc2nonvoc.py", [_DETECTOR_SIZING])
    model = build_model(cfg).train()
    optim_wrapper = build_optim_wrapper(model, dict(cfg.optim_wrapper, enabled=True))
    optim_wrapper.fp32_decoding_pending = decode_in_fp32
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    log_vars = model.train_step(partial_batch(), optim_wrapper)
    return log_vars, {name for name, p in model.named_parameters() if not torch.equal(before[name], p)}


def test_the_detector_track_trains_under_bf16_with_proposals_decoded_in_fp32(
        build_model, load_config, partial_batch, single_thread):
    """Under bf16 autocast the RPN's scores reach mmcv's nms in bf16 beside fp32 boxes, which it refuses; the
    wrapper decodes every dense head's detections in fp32 (decode_in_fp32) and the whole step trains."""
    with pytest.raises(RuntimeError, match="expected scalar type Float but found BFloat16"):
        _detector_step(build_model, load_config, partial_batch, decode_in_fp32=False)
    log_vars, changed = _detector_step(build_model, load_config, partial_batch, decode_in_fp32=True)
    assert all(torch.isfinite(torch.as_tensor(v)).all() for v in log_vars.values())
    assert {"loss_rpn_cls", "loss_cls", "loss_mask"} <= set(log_vars)
    assert any(name.startswith("rpn_head.") for name in changed) and any("mask_head" in n for n in changed)


def test_decode_in_fp32_casts_the_inputs_and_leaves_autocast_for_the_call():
    from mmdet.models.dense_heads import RPNHead

    from tspsis.plugin.optim_wrappers.cpu_bf16_optim_wrapper import decode_in_fp32

    head = RPNHead(in_channels=4, feat_channels=4, anchor_generator=dict(
        type='AnchorGenerator', scales=[8], ratios=[1.0], strides=[4]))
    seen = {}

    def predict_by_feat(scores, boxes, cfg=None):
        seen.update(dtypes={scores[0].dtype, boxes.dtype}, autocast=torch.is_autocast_cpu_enabled(), cfg=cfg)
        return scores[0] @ scores[0].T  # a matmul: bf16 under autocast, fp32 outside

    head.predict_by_feat = predict_by_feat
    model = torch.nn.Sequential(head)
    assert decode_in_fp32(model) == 1 and decode_in_fp32(model) == 1  # idempotent: wrapped once
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = head.predict_by_feat([torch.ones(2, 2, dtype=torch.bfloat16)], torch.ones(2, dtype=torch.bfloat16),
                                   cfg="kept")
    assert seen == dict(dtypes={torch.float32}, autocast=False, cfg="kept") and out.dtype == torch.float32
