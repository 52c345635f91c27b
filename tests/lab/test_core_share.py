"""tspsis.lab.context.CoreShare and Context.run_all on a CPU: the cores split between the runs that train at once,
every core for what runs alone (the shared pre-training first, a call's lone run)."""
import threading
from pathlib import Path
from types import SimpleNamespace

from tspsis.lab import context as context_module
from tspsis.lab.context import Context, CoreShare


def test_threads_split_between_the_runs_that_train_at_once():
    cores = CoreShare(cpu_count=2, parallel=2, to_train=3)
    assert cores.threads() == 1  # 3 to train, 2 at a time: one core each
    cores.unfinished = 1
    assert cores.threads() == 2  # the last one alone: both cores
    assert CoreShare(cpu_count=2, parallel=2, to_train=1).threads() == 2
    assert CoreShare(cpu_count=16, parallel=2, to_train=5).threads() == 8
    assert CoreShare(cpu_count=2, parallel=2, to_train=0).threads() == 2  # nothing counted: never a division by 0


class _FakeExperiment:
    """What run_all reads of an Experiment: work_dir, pretrained and train(threads=...)."""

    def __init__(self, name: str, done: bool = False, pretrained=None):
        self.work_dir, self.done, self.pretrained, self.threads = Path(name), done, pretrained, None

    def train(self, force: bool = False, threads: int | None = None):
        if not self.done:  # as Experiment.train: a finished run returns at once
            self.threads, self.done = threads, True
        return SimpleNamespace(name=str(self.work_dir))


def _run_all(monkeypatch, experiments, cpu_count=2):
    done = {e.work_dir: e for e in experiments} | {e.pretrained.work_dir: e.pretrained for e in experiments
                                                   if e.pretrained}
    monkeypatch.setattr(context_module, "completed_run",
                        lambda work_dir: SimpleNamespace(name=str(work_dir)) if done[Path(work_dir)].done else None)
    plan = iter(experiments)
    monkeypatch.setattr(context_module, "resolve", lambda *a, **k: next(plan))
    monkeypatch.setattr(context_module, "print_plan", lambda *a: None)
    monkeypatch.setattr(context_module.os, "cpu_count", lambda: cpu_count)
    ctx = Context("nb", "demo", Path("data"), Path("work"), Path("out"), gpus=0, seed=0, data={})
    return ctx.run_all([("Oracle", "voc2nonvoc", None, seed) for seed in range(len(experiments))])


def test_run_all_trains_the_pretraining_alone_on_every_core_then_the_rows_on_one_each(monkeypatch):
    together = threading.Barrier(2, timeout=5)

    class Concurrent(_FakeExperiment):
        def train(self, force=False, threads=None):
            if not self.done and self.pretrained is not None:
                together.wait()  # both rows train at once, as 500-iteration runs do
            return super().train(force, threads)

    shared = Concurrent("pretrained")
    rows = [Concurrent(f"row{i}", pretrained=shared) for i in range(2)]
    _run_all(monkeypatch, [*rows, _FakeExperiment("cached", done=True, pretrained=shared)])
    assert shared.threads == 2
    assert [r.threads for r in rows] == [1, 1]  # two train at once (the cached one counts for nothing)


def test_run_all_gives_a_lone_run_every_core_and_the_cached_pretraining_is_not_retrained(monkeypatch):
    shared = _FakeExperiment("pretrained", done=True)
    lone = _FakeExperiment("lone", pretrained=shared)
    _run_all(monkeypatch, [lone, _FakeExperiment("cached", done=True)])
    assert lone.threads == 2 and shared.threads is None


def test_the_last_of_an_odd_number_starts_on_one_core_while_another_still_trains(monkeypatch):
    release = threading.Event()

    class Slow(_FakeExperiment):
        def train(self, force=False, threads=None):
            if self.work_dir.name == "row0":
                release.wait(5)  # row0 trains throughout
            elif self.work_dir.name == "row2":
                release.set()
            return super().train(force, threads)

    rows = [Slow(f"row{i}") for i in range(3)]
    _run_all(monkeypatch, rows)
    assert [r.threads for r in rows] == [1, 1, 1]


def test_run_all_leaves_a_missing_pretraining_alone_when_every_row_it_feeds_is_cached(monkeypatch):
    shared = _FakeExperiment("pretrained")  # e.g. DATA_ROOT/pretrained deleted to free disk
    _run_all(monkeypatch, [_FakeExperiment("cached", done=True, pretrained=shared)])
    assert shared.threads is None and not shared.done
