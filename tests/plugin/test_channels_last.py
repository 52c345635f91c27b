"""CPUBF16OptimWrapper's channels-last memory: with bf16 only, once, on the optimizer's own parameters, same values."""
import pytest
import torch
from mmengine.optim import build_optim_wrapper


def _model_and_wrapper(**options) -> tuple[torch.nn.Module, object]:
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.BatchNorm2d(8), torch.nn.ReLU(),
                                torch.nn.Conv2d(8, 2, 3))  # 4-D weights with unambiguous strides
    wrapper = build_optim_wrapper(model, dict(type="CPUBF16OptimWrapper", optimizer=dict(type="SGD", lr=0.1),
                                              **options))
    return model, wrapper


def _channels_last(model: torch.nn.Module) -> list[bool]:
    return [p.is_contiguous(memory_format=torch.channels_last) and not p.is_contiguous()
            for p in model.parameters() if p.dim() == 4]


def _step(model, wrapper, x) -> torch.Tensor:
    with wrapper.optim_context(model):
        out = model(x)
        loss = out.float().square().mean()
    wrapper.update_params(loss)
    return out


@pytest.mark.parametrize("options, expected", [(dict(enabled=True), True),
                                               (dict(enabled=True, channels_last=False), False),
                                               (dict(enabled=False), False)])
def test_channels_last_with_bf16_only(options, expected):
    import tspsis.plugin  # noqa: F401  (registers the wrapper)

    model, wrapper = _model_and_wrapper(**options)
    params = list(model.parameters())
    assert not any(_channels_last(model))
    _step(model, wrapper, torch.randn(2, 3, 12, 12))
    assert _channels_last(model) == [expected, expected]
    assert all(a is b for a, b in zip(params, wrapper.optimizer.param_groups[0]["params"]))  # same objects


def test_channels_last_gives_the_same_steps():
    """Only strides change: two bf16 steps agree with the NCHW ones to float rounding (not bf16's 1e-2)."""
    import tspsis.plugin  # noqa: F401

    x = torch.randn(4, 3, 12, 12)
    runs = []
    for channels_last in (True, False):
        model, wrapper = _model_and_wrapper(enabled=True, channels_last=channels_last)
        outs = [_step(model, wrapper, x) for _ in range(2)]
        runs.append((outs, torch.cat([p.detach().flatten() for p in model.parameters()])))
    (outs_cl, params_cl), (outs, params) = runs
    for a, b in zip(outs_cl, outs):
        torch.testing.assert_close(a.float(), b.float(), rtol=1e-2, atol=1e-2)  # one bf16 ulp at most
    torch.testing.assert_close(params_cl, params, rtol=1e-4, atol=1e-5)
