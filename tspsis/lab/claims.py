"""The paper's five claims, each checked against what a profile measured (notebook 09, the README's claims table).

Every check reads the cached runs of the other notebooks through ``Context.measure`` and reports the measured
quantity with its spread over training seeds and whether the claim holds here. A difference of two methods is
paired by training seed (ours of seed s minus the baseline of seed s) when both have the same seeds; it "holds"
only when its mean exceeds its seed std (with one seed: when it is positive, flagged as a single run).

1. Fig. 2: the class-agnostic baseline's unseen mask AP falls as the overlap O grows.
2. Table 1: + ours > the baseline on unseen mask AP, in each direction.
3. Table 2: the gain is larger on overlapped objects (O >= 0.3) than on all of them (the paper's own AP50 gain
   is; its AP gain is not: +1.1 vs +2.4).
4. Table 3: a deeper teacher (12 convs) helps.
5. Table 5: CRF ~ threshold ~ interact (the three r differ by less than the seed spread or 1 AP), under the
   project's pseudo-label warm-up and under the paper's schedule (``POST_PROCESSING_SCHEDULES``).
"""
from __future__ import annotations

from collections.abc import Sequence

from tspsis.core.stats import Stat
from tspsis.viz.tables import fmt, markdown_table

__all__ = ["MIN_BIN_OBJECTS", "POST_PROCESSING_SCHEDULES", "check_claims", "claims_table", "paired_difference"]

MIN_BIN_OBJECTS = 30  # an overlap bin with fewer unseen objects is too small to compare (claim 1)
BASELINE, OURS = "Mask R-CNN", "Mask R-CNN + ours"


# Claim 5's rows r = threshold / CRF / interact under the two schedules of the student's pseudo labels: the
# project's warm-up (unseen objects train the student from half-way through; the "+ ours" rows of the CPU profiles)
# and the paper's (from the first iteration)
POST_PROCESSING_SCHEDULES = {
    "with the pseudo-label warm-up": {"threshold": OURS, "CRF": "ts: CRF", "interact": "ts: interact"},
    "the paper's schedule (no warm-up)": {"threshold": "ts: no warm-up", "CRF": "ts: CRF, no warm-up",
                                          "interact": "ts: interact, no warm-up"},
}


def _values(x) -> tuple[tuple[float, ...], tuple | None]:
    if isinstance(x, Stat):
        return x.values, x.seeds
    return (float(x),), None


def paired_difference(a, b) -> Stat:
    """a - b over training seeds: per seed when both were measured on the same seeds, else of the means."""
    (va, sa), (vb, sb) = _values(a), _values(b)
    if sa is not None and sa == sb:
        return Stat([x - y for x, y in zip(va, vb)], sa)
    return Stat([float(a) - float(b)])


def _verdict(diff: Stat, larger_is_claimed: bool = True) -> str:
    mean = float(diff) if larger_is_claimed else -float(diff)
    if diff.std is None:
        return "holds (one seed)" if mean > 0 else "does not hold (one seed)"
    return "holds" if mean > diff.std else ("does not hold" if mean < -diff.std else "within the seed spread")


def _cell(x) -> str:
    return fmt(x) if isinstance(x, (int, float)) else str(x)


def check_claims(ctx, directions: Sequence[str]) -> list[list[str]]:
    """Rows (claim, paper's evidence, measured here, verdict) for the profile of ``ctx`` (a
    ``tspsis.lab.context.Context``); runs not in the profile's schedule are reported as not measured."""
    rows = []
    bins, _ = ctx.measure([BASELINE], ["voc2nonvoc"], "unseen_overlap_bins")
    per_bin = bins["voc2nonvoc"].get(BASELINE) or {}
    populated = [b for b, r in per_bin.items() if (r.get("num_gt") or 0) >= MIN_BIN_OBJECTS and r.get("AP") is not None]
    if len(populated) >= 2:
        first, last = per_bin[populated[0]]["AP"], per_bin[populated[-1]]["AP"]
        drop = paired_difference(first, last)
        rows.append(["1. class-agnostic AP falls as O grows (Fig. 2)", "Fig. 2",
                     f"voc→non-voc, bin {populated[0]}: {_cell(first)}, bin {populated[-1]}: {_cell(last)} "
                     f"(bins with ≥ {MIN_BIN_OBJECTS} unseen objects)", _verdict(drop)])
    measured, _ = ctx.measure([BASELINE, OURS], directions, "unseen")
    overlapped, _ = ctx.measure([BASELINE, OURS], directions, "unseen_overlapped")
    for direction in directions:
        got = measured[direction]
        if BASELINE in got and OURS in got:
            gain = paired_difference(got[OURS]["AP"], got[BASELINE]["AP"])
            paper_gain = {"voc2nonvoc": "+2.4", "nonvoc2voc": "+1.2"}.get(direction, "")
            rows.append([f"2. + ours > baseline, unseen AP ({direction})", f"Table 1: {paper_gain} AP",
                         f"{_cell(got[OURS]['AP'])} vs {_cell(got[BASELINE]['AP'])}: {_cell(gain)}",
                         _verdict(gain)])
    for direction in directions:  # the paper's Table 2 is voc -> non-voc only
        got_all, got_o = measured[direction], overlapped[direction]
        if all(m in got_all and m in got_o for m in (BASELINE, OURS)):
            gain_all = paired_difference(got_all[OURS]["AP"], got_all[BASELINE]["AP"])
            gain_o = paired_difference(got_o[OURS]["AP"], got_o[BASELINE]["AP"])
            paper = ("Tables 2 vs 1: AP +1.1 vs +2.4, AP50 +12.9 vs +0.7" if direction == "voc2nonvoc" else
                     "not reported (Table 2: voc → non-voc only)")
            rows.append([f"3. the gain is larger on O ≥ 0.3 ({direction})", paper,
                         f"gain O ≥ 0.3: {_cell(gain_o)}; all: {_cell(gain_all)}",
                         _verdict(paired_difference(gain_o, gain_all))])
    teachers, notes = ctx.measure([OURS, "ts: deeper teacher"], ["voc2nonvoc"], "unseen")
    got = teachers["voc2nonvoc"]
    if "ts: deeper teacher" in got:
        gain = paired_difference(got["ts: deeper teacher"]["AP"], got[OURS]["AP"])
        rows.append(["4. a deeper teacher helps (Table 3)", "Table 3: +4.7 / +4.3 AP",
                     f"{_cell(got['ts: deeper teacher']['AP'])} vs {_cell(got[OURS]['AP'])}: {_cell(gain)}",
                     _verdict(gain)])
    for schedule, variants in POST_PROCESSING_SCHEDULES.items():
        post, _ = ctx.measure(list(variants.values()), ["voc2nonvoc"], "unseen")
        got = post["voc2nonvoc"]
        if all(m in got for m in variants.values()):
            aps = {name: got[m]["AP"] for name, m in variants.items()}
            spread = max(map(float, aps.values())) - min(map(float, aps.values()))
            noise = max([1.0] + [a.std for a in aps.values() if isinstance(a, Stat) and a.std is not None])
            rows.append([f"5. CRF ≈ threshold ≈ interact (Table 5), {schedule}",
                         "Table 5: 31.4 / 31.1 / 31.4 AP (BoxInst)",
                         ", ".join(f"{k} {_cell(v)}" for k, v in aps.items()) + f"; range {spread:.1f} AP",
                         "holds" if spread <= noise else "does not hold"])
    return rows


def claims_table(rows: list[list[str]], note: str) -> str:
    """The claims as a markdown table with a caption saying what 'holds' means."""
    caption = ("**The paper's claims, measured** (" + note + "). A claimed difference *holds* when its mean exceeds "
               "its std over training seeds (paired by seed), *does not hold* when it is below minus that std, "
               "and is *within the seed spread* otherwise; with one seed, the sign alone decides (flagged).")
    if not rows:
        return caption + "\n\nNo claim could be checked: the runs are not in this profile's schedule."
    return caption + "\n\n" + markdown_table(["claim", "paper", "measured here", "verdict"], rows)
