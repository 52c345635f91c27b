"""The claims table (tspsis.lab.claims): verdicts computed from what a profile measured, paired by seed."""
from tspsis.core.stats import Stat
from tspsis.lab.claims import POST_PROCESSING_SCHEDULES, check_claims, paired_difference

SEEDS = (0, 1, 2)


class _Measured:
    """A stand-in for a notebook's Context: ``measure`` answers from {method: unseen AP per seed}; the methods
    it lacks are 'not trained' (left out, as Context.measure does)."""

    def __init__(self, aps: dict[str, tuple[float, ...]]):
        self.aps = aps

    def measure(self, methods, directions, record="unseen"):
        measured = {d: {m: {"AP": Stat(self.aps[m], SEEDS)} for m in methods if m in self.aps} for d in directions}
        return measured, {d: {} for d in directions}


def _claim5(rows):
    return {row[0]: (row[2], row[3]) for row in rows if row[0].startswith("5.")}


def test_paired_difference_pairs_by_seed():
    diff = paired_difference(Stat([3.0, 5.0, 4.0], SEEDS), Stat([1.0, 2.0, 3.0], SEEDS))
    assert diff.values == (2.0, 3.0, 1.0) and diff == 2.0 and diff.std == 1.0
    assert paired_difference(Stat([3.0, 5.0], (0, 1)), Stat([1.0, 2.0], (1, 2))).n == 1  # unpaired: the means


def test_claim5_is_checked_under_each_schedule_that_was_measured():
    warm, paper = POST_PROCESSING_SCHEDULES.values()
    aps = {warm["threshold"]: (30.0, 31.0, 32.0), warm["CRF"]: (30.5, 31.5, 31.0), warm["interact"]: (12.0, 14.0, 13.0)}
    rows = _claim5(check_claims(_Measured(aps), ["voc2nonvoc"]))
    assert list(rows) == ["5. CRF ≈ threshold ≈ interact (Table 5), with the pseudo-label warm-up"]
    assert rows[next(iter(rows))][1] == "does not hold" and "range 18.0 AP" in rows[next(iter(rows))][0]

    aps |= {paper["threshold"]: (20.0, 21.0, 22.0), paper["CRF"]: (20.5, 21.5, 21.0),
            paper["interact"]: (21.0, 20.0, 21.5)}
    rows = _claim5(check_claims(_Measured(aps), ["voc2nonvoc"]))
    assert len(rows) == 2
    measured, verdict = rows["5. CRF ≈ threshold ≈ interact (Table 5), the paper's schedule (no warm-up)"]
    assert verdict == "holds" and "range 0.2 AP" in measured  # means 21.0 / 21.0 / 20.83: within 1 AP
