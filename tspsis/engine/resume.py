"""What a training starts from: its own newest complete checkpoint when it resumes (``resume_checkpoint``), or
another run's weights when it is new (``fine_tune_report`` says what loading them does)."""
from __future__ import annotations

import re
from pathlib import Path

from tspsis.core.console import say
from tspsis.engine.work_dir import last_checkpoint

_CHECKPOINT_NAME = re.compile(r"(?:iter|epoch)_(\d+)\.pth")


def resume_checkpoint(work_dir: Path) -> str | None:
    """The checkpoint a resumed training starts from: the one ``last_checkpoint`` names if it is complete
    (``tspsis.core.checkpoint.check_checkpoint_file``), else the newest complete ``iter_N.pth`` / ``epoch_N.pth`` of
    ``work_dir`` (said in one line), else None (a new run)."""
    from tspsis.core.checkpoint import CorruptCheckpointError, check_checkpoint_file

    named = last_checkpoint(work_dir)
    if named:
        try:
            check_checkpoint_file(named)
            return named
        except (FileNotFoundError, CorruptCheckpointError) as err:
            problem = str(err)
    saved = sorted((p for p in work_dir.glob("*.pth") if _CHECKPOINT_NAME.fullmatch(p.name)),
                   key=lambda p: int(_CHECKPOINT_NAME.fullmatch(p.name).group(1)), reverse=True)
    for candidate in saved:
        try:
            check_checkpoint_file(candidate)
        except (FileNotFoundError, CorruptCheckpointError):
            continue
        if named:
            say(f"last_checkpoint names an unusable file ({problem}); taking the newest complete checkpoint")
        return str(candidate)
    if named:
        say(f"last_checkpoint names an unusable file ({problem}) and {work_dir} has no complete checkpoint: "
            "training from the start")
    return None


def fine_tune_report(model, weights: str) -> list[str]:
    """What loading ``weights`` into ``model`` (mmengine's ``load_checkpoint``, not strict) will do, one line per
    problem: tensors skipped for a shape mismatch (e.g. a class-agnostic head's logits into a class-specific head),
    and the counts of tensors only one side has."""
    from mmengine.model import is_model_wrapper

    from tspsis.core.checkpoint import load_checkpoint_file

    model = model.module if is_model_wrapper(model) else model
    state = load_checkpoint_file(weights, map_location="cpu")
    state = state.get("state_dict", state) if isinstance(state, dict) else {}
    state = {re.sub(r"^module\.", "", k): v for k, v in state.items()}  # mmengine's default revise_keys
    own = model.state_dict()
    mismatched = [k for k, v in state.items() if k in own and getattr(v, "shape", None) != own[k].shape]
    loaded = sum(1 for k in state if k in own) - len(mismatched)
    lines = [f"fine-tuning from {weights}: a new run from iteration 0; {loaded} of {len(own)} tensors of the model "
             "loaded"]
    lines += [f"not loaded (shape mismatch): {k}: {tuple(state[k].shape)} in the weights, {tuple(own[k].shape)} in "
              "the model" for k in mismatched]
    for what, keys in (("not in the weights (kept as initialised)", [k for k in own if k not in state]),
                       ("not in the model (ignored)", [k for k in state if k not in own])):
        if keys:
            lines.append(f"{what}: {len(keys)} tensors, e.g. {', '.join(keys[:3])}")
    return lines
