"""Resume under torch's weights-only default, and fail closed on anything else (tspsis.core.checkpoint)."""
import os
import pickle

import pytest
import torch
from torch import nn
from torch.utils.data import Dataset

import tspsis  # noqa: F401  (importing tspsis registers the allowlist)
from tspsis.core.checkpoint import UnsafeCheckpointError, install_mmengine_loader, load_checkpoint_file

mmengine = pytest.importorskip("mmengine")
from mmengine.logging.history_buffer import HistoryBuffer  # noqa: E402
from mmengine.model import BaseModel  # noqa: E402
from mmengine.runner import Runner  # noqa: E402
from mmengine.runner.checkpoint import _load_checkpoint  # noqa: E402


class _Regression(BaseModel):
    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(2, 1)

    def forward(self, x, y, mode="tensor"):
        out = self.linear(x)
        return {"loss": ((out - y) ** 2).mean()} if mode == "loss" else out


class _Points(Dataset):
    metainfo = dict(classes=("a", "b"))

    def __len__(self):
        return 16

    def __getitem__(self, i):
        x = torch.randn(2, generator=torch.Generator().manual_seed(i))
        return dict(x=x, y=x.sum(0, keepdim=True))


def _train(work_dir, max_epochs, resume=False):
    runner = Runner(
        model=_Regression(), work_dir=str(work_dir), resume=resume, randomness=dict(seed=0),
        train_dataloader=dict(dataset=_Points(), sampler=dict(type="DefaultSampler", shuffle=True), batch_size=4,
                              collate_fn=dict(type="default_collate")),
        train_cfg=dict(by_epoch=True, max_epochs=max_epochs),
        optim_wrapper=dict(optimizer=dict(type="SGD", lr=0.01, momentum=0.9)),
        param_scheduler=[dict(type="LinearLR", start_factor=0.1, by_epoch=False, begin=0, end=3)],
        default_hooks=dict(checkpoint=dict(type="CheckpointHook", interval=1)))
    runner.train()
    return runner


@pytest.mark.slow  # trains
def test_mmengine_checkpoint_resumes_with_weights_only(tmp_path):
    _train(tmp_path, 1)
    ckpt = torch.load(tmp_path / "epoch_1.pth", weights_only=True)  # the default, made explicit
    assert isinstance(ckpt["message_hub"]["log_scalars"]["train/loss"], HistoryBuffer)
    resumed = _train(tmp_path, 2, resume=True)
    assert resumed.iter == 8 and resumed.epoch == 2
    assert (tmp_path / "epoch_2.pth").is_file()


class _Payload:
    """Unpickling this would run a shell command; it must never get that far."""

    def __init__(self, sentinel):
        self.sentinel = sentinel

    def __reduce__(self):
        return (os.system, (f"touch {self.sentinel}",))


def test_smuggled_global_is_refused(tmp_path):
    sentinel = tmp_path / "pwned"
    path = tmp_path / "evil.pth"
    torch.save({"state_dict": {"w": torch.zeros(1)}, "meta": _Payload(sentinel)}, path)
    install_mmengine_loader()
    with pytest.raises(UnsafeCheckpointError, match=r"evil\.pth.*(system|posix)"):
        _load_checkpoint(str(path))
    with pytest.raises(pickle.UnpicklingError):
        torch.load(path)  # torch's own default stays closed too
    assert not sentinel.exists()


def test_restricted_getattr_reaches_only_statistics_methods(tmp_path):
    class _Reach:
        def __reduce__(self):
            return (getattr, (HistoryBuffer, "__init__"))

    path = tmp_path / "reach.pth"
    torch.save({"meta": _Reach()}, path)
    with pytest.raises(UnsafeCheckpointError, match="__init__"):
        load_checkpoint_file(str(path))
