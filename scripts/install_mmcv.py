#!/usr/bin/env python3
"""Install mmcv 2.1.0 (with compiled ops) into the running Python environment.

mmdet 3.3.0 needs mmcv < 2.2.0, and mmcv 2.1.0 is published only as source whose ``setup.py`` compiles with
``-std=c++14``/``-std=c++17`` while torch >= 2.10 headers need C++20. Steps, each skipped when the previous
one succeeded:

1. ``mmcv.ops`` already imports at 2.1.0 (and has CUDA ops if they are wanted): nothing to do.
2. A prebuilt wheel pip can find: the local build cache, or ``--find-links``/``PIP_FIND_LINKS``.
3. Download the sdist, replace the C++ standard flags with ``-std=c++20``, build a wheel (CPU ops by default;
   CUDA ops with ``--cuda``, ``TSPSIS_MMCV_CUDA=1`` or a visible GPU, honouring ``TORCH_CUDA_ARCH_LIST`` and
   ``MAX_JOBS``), keep it in the cache (keyed by torch version and CPU/CUDA) and install it.

After installing, ``RoIAlign`` and ``nms`` are run to prove the ops work. Standard library only: it runs before
tspsis is importable. Usage: ``python scripts/install_mmcv.py [--cuda] [--force-build] [--find-links DIR]``.
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

MMCV_VERSION = "2.1.0"
CACHE_ROOT = Path(os.environ.get("TSPSIS_WHEEL_CACHE", Path.home() / ".cache" / "tspsis" / "wheels"))

VERIFY = r"""
import sys, torch, mmcv
from mmcv.ops import RoIAlign, nms, get_compiling_cuda_version
assert mmcv.__version__ == sys.argv[1], f"mmcv {mmcv.__version__} installed, {sys.argv[1]} wanted"
devices = ["cpu"] + (["cuda"] if sys.argv[2] == "1" else [])
for dev in devices:
    feats = torch.arange(16.0, device=dev).view(1, 1, 4, 4)
    rois = torch.tensor([[0.0, 0.0, 0.0, 4.0, 4.0]], device=dev)
    out = RoIAlign((2, 2), 1.0, 1, aligned=True)(feats, rois).flatten().cpu()
    assert torch.allclose(out, torch.tensor([2.5, 4.5, 10.5, 12.5])), out
    boxes = torch.tensor([[0.0, 0, 10, 10], [1.0, 1, 10, 10], [20.0, 20, 30, 30]], device=dev)
    keep = nms(boxes, torch.tensor([0.9, 0.8, 0.7], device=dev), 0.5)[1].cpu().tolist()
    assert keep == [0, 2], keep
print(f"mmcv {mmcv.__version__}: RoIAlign and nms run on {', '.join(devices)} "
      f"(CUDA ops compiled: {get_compiling_cuda_version()})")
"""


def say(msg: str) -> None:
    print(f"[install_mmcv] {msg}", flush=True)


def run(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, text=True, **kw)


def verify(want_cuda: bool) -> tuple[bool, str]:
    res = run([sys.executable, "-c", VERIFY, MMCV_VERSION, "1" if want_cuda else "0"], capture_output=True)
    out = (res.stdout + res.stderr).strip().splitlines()
    return res.returncode == 0, (out[-1] if out else "")


def torch_info() -> tuple[str, bool]:
    res = run([sys.executable, "-c", "import torch; print(torch.__version__, torch.cuda.is_available())"],
              capture_output=True)
    if res.returncode != 0:
        sys.exit("[install_mmcv] torch is not importable in this environment; install torch==2.14.1 first "
                 "(`make setup` does it).")
    version, cuda = res.stdout.split()
    return version, cuda == "True"


def pip(*args: str) -> int:
    return run([sys.executable, "-m", "pip", *args]).returncode


def install_mmcv(requirement: str, links: list[str]) -> bool:
    """Reinstall mmcv itself from ``requirement`` (binary only), then add whichever of its dependencies
    (addict, yapf, ...) are missing without touching the ones already there."""
    link_args = [arg for link in links for arg in ("--find-links", link)]
    for extra in (["--force-reinstall", "--no-deps"], []):
        res = run([sys.executable, "-m", "pip", "install", "-q", "--only-binary", "mmcv", *extra, *link_args,
                   requirement], capture_output=True)
        if res.returncode != 0:
            return False
    return True


def patch_setup(setup_py: Path) -> int:
    """Replace every ``-std=c++14``/``-std=c++17`` flag by ``-std=c++20`` (torch >= 2.10 headers need it)."""
    text = setup_py.read_text()
    patched, count = re.subn(r"-std=c\+\+1[47]", "-std=c++20", text)
    setup_py.write_text(patched)
    return count


def build_wheel(cache: Path, want_cuda: bool) -> Path:
    with tempfile.TemporaryDirectory(prefix="mmcv-build-") as tmp:
        tmp = Path(tmp)
        say(f"downloading the mmcv {MMCV_VERSION} source distribution ...")
        if pip("download", "--no-deps", "--no-binary", "mmcv", "--no-build-isolation", "-q", "-d", str(tmp),
               f"mmcv=={MMCV_VERSION}") != 0:
            sys.exit("[install_mmcv] could not download the mmcv sdist: check that PyPI is reachable, or put a "
                     "prebuilt wheel in a folder and pass --find-links DIR.")
        (sdist,) = tmp.glob("mmcv-*.tar.gz")
        with tarfile.open(sdist) as tar:
            tar.extractall(tmp, filter="data")
        src = tmp / f"mmcv-{MMCV_VERSION}"
        say(f"patched {patch_setup(src / 'setup.py')} C++ standard flags to -std=c++20 in setup.py")
        env = dict(os.environ, MMCV_WITH_OPS="1", FORCE_CUDA="1" if want_cuda else "0")
        env.setdefault("MAX_JOBS", str(os.cpu_count() or 1))
        kind = f"CUDA ops (TORCH_CUDA_ARCH_LIST={env.get('TORCH_CUDA_ARCH_LIST', 'auto')})" if want_cuda else "CPU ops"
        say(f"building mmcv {MMCV_VERSION} with {kind}, MAX_JOBS={env['MAX_JOBS']} "
            "(about 30 minutes on 2 cores for CPU ops) ...")
        start = time.time()
        res = run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-w", str(tmp / "dist"),
                   str(src)], env=env, capture_output=True)
        if res.returncode != 0:
            log = cache / "last-build.log"
            log.write_text(res.stdout + res.stderr)
            tail = "\n".join((res.stdout + res.stderr).strip().splitlines()[-15:])
            sys.exit(f"[install_mmcv] the mmcv build failed; full log: {log}\n{tail}\n"
                     "Check that a C++20 compiler (gcc >= 10) and the Python headers are installed; for CUDA ops "
                     "also nvcc matching torch's CUDA. Without CUDA, retry without --cuda.")
        (wheel,) = (tmp / "dist").glob("mmcv-*.whl")
        target = cache / wheel.name
        shutil.copy2(wheel, target.with_suffix(".part"))
        os.replace(target.with_suffix(".part"), target)  # atomic: a killed build never leaves half a wheel
        say(f"built {target.name} in {time.time() - start:.0f} s, cached in {cache}")
        return target


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cuda", action="store_true", help="build/require CUDA ops (default: only if a GPU is visible)")
    ap.add_argument("--force-build", action="store_true", help="build from source even if a wheel is available")
    ap.add_argument("--find-links", action="append", default=[], help="folder with prebuilt wheels (repeatable)")
    args = ap.parse_args(argv)

    torch_version, gpu = torch_info()
    want_cuda = args.cuda or gpu or os.environ.get("TSPSIS_MMCV_CUDA") == "1"
    cache = CACHE_ROOT / f"torch-{torch_version.replace('+', '_')}-{'cuda' if want_cuda else 'cpu'}"
    cache.mkdir(parents=True, exist_ok=True)

    if not args.force_build:
        ok, msg = verify(want_cuda)
        if ok:
            say(f"already installed: {msg}")
            return 0
        say("mmcv with ops not usable yet; looking for a prebuilt wheel (cache, --find-links, PIP_FIND_LINKS) ...")
        if install_mmcv(f"mmcv=={MMCV_VERSION}", [str(cache), *args.find_links]):
            ok, msg = verify(want_cuda)
            if ok:
                say(f"installed a prebuilt wheel: {msg}")
                return 0
            say(f"the prebuilt wheel does not work with torch {torch_version} ({msg}); building from source")
        else:
            say(f"no prebuilt mmcv {MMCV_VERSION} wheel in {cache}, --find-links or PIP_FIND_LINKS")
    wheel = build_wheel(cache, want_cuda)
    if not install_mmcv(str(wheel), []):
        sys.exit(f"[install_mmcv] pip could not install {wheel}")
    ok, msg = verify(want_cuda)
    if not ok:
        sys.exit(f"[install_mmcv] built and installed, but the ops check failed: {msg}")
    say(f"done: {msg}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
