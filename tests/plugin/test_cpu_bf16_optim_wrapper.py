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
