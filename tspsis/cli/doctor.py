"""``tspsis doctor``: is this environment able to run tspsis? One line per component, a fix for each failure."""
from __future__ import annotations

import importlib
import platform
import sys
import warnings
from dataclasses import dataclass
from typing import Callable

SETUP_FIX = "run `make setup` in the repository (creates .venv and installs the pinned stack)"


@dataclass
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""


def _version(module: str) -> str:
    mod = importlib.import_module(module)
    return getattr(mod, "__version__", "installed")


def _check_python() -> Check:
    ok = sys.version_info >= (3, 10)
    return Check("python", ok, f"{platform.python_version()} ({sys.executable})", "use Python >= 3.10")


def _check_torch() -> Check:
    import torch

    cuda = torch.cuda.is_available()
    devices = f", {torch.cuda.device_count()} GPU(s): {torch.cuda.get_device_name(0)}" if cuda else ""
    return Check("torch", True, f"{torch.__version__}, CUDA available: {cuda}{devices}")


def _check_mmcv() -> Check:
    import mmcv

    fix = "run `python scripts/install_mmcv.py` (builds mmcv 2.1.0 with ops against this torch)"
    if mmcv.__version__ != "2.1.0":
        return Check("mmcv", False, f"{mmcv.__version__} (mmdet 3.3.0 needs 2.1.0)", fix)
    try:
        from mmcv.ops import get_compiling_cuda_version
    except ImportError as err:  # mmcv-lite, or ops compiled against another torch
        return Check("mmcv", False, f"{mmcv.__version__}, ops not importable: {err}", fix)
    cuda_ops = get_compiling_cuda_version()
    kinds = "CPU" + ("" if cuda_ops == "not available" else f" + CUDA {cuda_ops}")
    return Check("mmcv", True, f"{mmcv.__version__}, ops compiled ({kinds})")


def _check_mmengine() -> Check:
    from tspsis.core.checkpoint import register_safe_globals

    version = _version("mmengine")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pkg_resources  # noqa: F401  (mmengine resolves `_base_ = 'mmdet::...'` through it)

    safe = register_safe_globals()
    return Check("mmengine", safe, f"{version}, pkg_resources present, weights-only checkpoint allowlist: {safe}")


def _check_kernel() -> Check:
    from jupyter_client.kernelspec import KernelSpecManager

    import ipykernel  # noqa: F401

    spec = KernelSpecManager().get_kernel_spec("python3")
    # jupyter_client starts a kernel whose argv[0] is "python" with the current interpreter
    exe = sys.executable if spec.argv[0].startswith("python") else spec.argv[0]
    return Check("jupyter kernel", True, f"python3 -> {exe}")


def _package(module: str) -> Callable[[], Check]:
    return lambda: Check(module.split(".")[0], True, _version(module))


CHECKS: list[tuple[str, Callable[[], Check]]] = [
    ("python", _check_python),
    ("torch", _check_torch),
    ("mmcv", _check_mmcv),
    ("mmengine", _check_mmengine),
    ("mmdet", _package("mmdet")),
    ("pycocotools", _package("pycocotools")),
    ("faster_coco_eval", _package("faster_coco_eval")),
    ("pydensecrf", _package("pydensecrf.densecrf")),
    ("papermill", _package("papermill")),
    ("jupyter kernel", _check_kernel),
]


def run_checks() -> list[Check]:
    results = []
    for name, check in CHECKS:
        try:
            results.append(check())
        except Exception as err:  # a missing or broken package is exactly what the doctor reports
            results.append(Check(name, False, f"{type(err).__name__}: {err}", SETUP_FIX))
    return results


def print_checks() -> int:
    """Run every check, print one line each and how to fix what failed; the exit status: 1 if any failed."""
    results = run_checks()
    width = max(len(r.name) for r in results)
    for r in results:
        print(f"{'ok ' if r.ok else 'BAD'} {r.name:<{width}}  {r.detail}")
    failed = [r for r in results if not r.ok]
    for r in failed:
        print(f"fix {r.name}: {r.fix or SETUP_FIX}")
    return 1 if failed else 0
