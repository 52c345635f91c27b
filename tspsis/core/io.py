"""Small file helpers shared by the library: atomic writes (a killed process, or a machine that loses power,
never leaves half a file) and JSON reading with errors that name the file; the key of a notebook's finished
``metrics.json`` (written by the viz layer, read by the lab's notebook runner)."""
from __future__ import annotations

import json
import os
import uuid
from pathlib import Path
from typing import Any

__all__ = ["NOTEBOOK_COMPLETE_KEY", "fsync_replace", "read_json", "write_bytes_atomic", "write_json_atomic"]

# True in a notebook's metrics.json once the notebook finished (tspsis.viz.output.NotebookOutput.finish writes the
# file atomically, this key with it); `tspsis run-notebooks` resumes by skipping the notebooks that have it.
NOTEBOOK_COMPLETE_KEY = "complete"


def fsync_replace(src: str | os.PathLike, dst: str | os.PathLike) -> None:
    """Rename the complete file ``src`` to ``dst``, its bytes on disk first and the rename after (both fsynced:
    otherwise a crash may keep the new name with data that never reached the disk)."""
    with open(src, "rb") as f:
        os.fsync(f.fileno())
    os.replace(src, dst)
    folder = os.open(Path(dst).parent, os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary sibling file and ``fsync_replace``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # a unique sibling name opened exclusively (unlike mkstemp it keeps the umask's permissions)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        with open(tmp, "xb") as f:
            f.write(data)
        fsync_replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_json_atomic(path: str | os.PathLike, obj: Any, *, indent: int | None = None) -> None:
    """JSON written atomically. ``indent=None`` is compact and key-order preserving (same object -> same
    bytes); NaN is refused, so every file is strict JSON."""
    separators = (",", ":") if indent is None else None
    text = json.dumps(obj, indent=indent, separators=separators, allow_nan=False) + "\n"
    write_bytes_atomic(path, text.encode("utf-8"))


def read_json(path: str | os.PathLike, what: str = "JSON") -> Any:
    """Parsed JSON; a missing file or invalid JSON raises with the file's name (and line/column)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{what} file not found: {path}")
    try:
        with open(path, "rb") as f:
            return json.load(f)
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: not valid JSON ({err})") from err
