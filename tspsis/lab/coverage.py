"""The coverage study: does the teacher-student head still help when the seen categories do not cover the unseen
ones' shapes and appearances? (the seen splits of ``tspsis.core.splits.COVERAGE_SPECS``, all of the voc list's size).

A profile names the splits and methods (``Schedule.coverage_specs``, ``coverage_methods``); :func:`coverage_plan`
turns them into the trainings and the re-scorings they need: a method trained on a partial split trains once per
(split, seed); a method that trains on every mask (the Oracle, ``tspsis.lab.runs.trains_on_every_mask``) does not
depend on the split, so it trains once per seed on the direction's own split and its checkpoint is tested again with
each other split's manifest (``test-seen-<spec>.metrics.json`` in its work dir). ``Context.measure_coverage`` runs the
plan; :func:`split_coverage` says what each split covers (``tspsis.core.stats.seen_coverage``).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tspsis.core.io import read_json
from tspsis.core.splits import load_manifest
from tspsis.core.stats import seen_coverage
from tspsis.lab.data import SEEN_OF
from tspsis.lab.profiles import get_profile, method_seeds
from tspsis.lab.runs import resolve, trains_on_every_mask

__all__ = ["COVERAGE_DIRECTION", "CoverageCell", "CoveragePlan", "coverage_plan", "rescoring_name", "split_coverage"]

COVERAGE_DIRECTION = "voc2nonvoc"  # the coverage splits replace voc, the seen set of voc -> non-voc


def rescoring_name(spec: str) -> str:
    """The name of the test of a checkpoint with the split ``spec``'s manifest (``test-<name>.metrics.json``)."""
    return f"seen-{spec}"


@dataclass(frozen=True)
class CoverageCell:
    """One seed of one (method, split) cell: the training request (method, direction, seen, seed) whose run gives
    the number, and the split whose manifest scores it again (None: the run's own test pass)."""

    seed: int
    training: tuple[str, str, str | None, int]
    rescored_with: str | None


@dataclass(frozen=True)
class CoveragePlan:
    """What the coverage study of a profile trains and tests: ``cells`` {(method, spec): [CoverageCell per seed]};
    ``trainings``: the distinct training requests, in order (what ``Context.run_all`` trains)."""

    specs: tuple[str, ...]
    methods: tuple[str, ...]
    cells: dict[tuple[str, str], list[CoverageCell]]

    @property
    def trainings(self) -> list[tuple[str, str, str | None, int]]:
        return list(dict.fromkeys(cell.training for cells in self.cells.values() for cell in cells))

    @property
    def rescorings(self) -> list[tuple[tuple[str, str, str | None, int], str]]:
        """(training request, spec) of every test of a checkpoint with another split's manifest."""
        return [(cell.training, cell.rescored_with) for cells in self.cells.values() for cell in cells
                if cell.rescored_with is not None]


def coverage_plan(profile: str, data_root: str | Path, work_dir: str | Path, gpus: int = 0,
                  train_seeds: tuple[int, ...] | None = None, nodes: int = 1) -> CoveragePlan:
    """The profile's coverage study (``Schedule.coverage_specs`` x ``coverage_methods``, seeds: ``method_seeds``)
    resolved into trainings and re-scorings (see the module docstring); configs are parsed, nothing is trained."""
    schedule = get_profile(profile).schedule
    own = SEEN_OF[COVERAGE_DIRECTION]
    cells = {}
    for method in schedule.coverage_methods:
        split_free = trains_on_every_mask(resolve(method, COVERAGE_DIRECTION, profile=profile, data_root=data_root,
                                                  work_dir=work_dir, gpus=gpus, nodes=nodes))
        for spec in schedule.coverage_specs:
            seen = None if split_free or spec == own else spec
            rescored = spec if split_free and spec != own else None
            cells[method, spec] = [CoverageCell(seed, (method, COVERAGE_DIRECTION, seen, seed), rescored)
                                   for seed in method_seeds(profile, method, train_seeds)]
    return CoveragePlan(tuple(schedule.coverage_specs), tuple(schedule.coverage_methods), cells)


def split_coverage(data: dict, specs: tuple[str, ...] | list[str]) -> dict[str, dict]:
    """{spec: ``seen_coverage``} of the splits ``prepare_data`` wrote (``data``: its return value)."""
    categories = read_json(data["train_ann"], "annotations")["categories"]
    return {spec: seen_coverage(categories, load_manifest(data["splits"][spec]["manifest"])["seen_category_ids"])
            for spec in specs}
