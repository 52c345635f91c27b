"""Where the repository is: the one definition of ``REPO_ROOT`` (configs/, notebooks/, data/, work_dirs/)."""
from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
CONFIGS = REPO_ROOT / "configs"
