"""Campaign time arithmetic: unit times from manifest stamps, gaps to come, ETA and plan estimates, in words."""

from __future__ import annotations

import pytest

from llenergymeasure.campaign.eta import (
    Countdown,
    Gaps,
    PlanEstimate,
    Step,
    by_config,
    clock_text,
    duration_s,
    duration_text,
    gaps_ahead_s,
    lanes,
    plan_estimate,
    plan_line,
    totals_text,
)
from llenergymeasure.campaign.manifest import ManifestEntry


def entry(key: str, status: str = "completed", start: str | None = None, end: str | None = None) -> ManifestEntry:
    exp, cycle = key.split("_c")
    return ManifestEntry(
        key=key,
        exp_id=exp,
        config_hash=exp * 4,
        backend="pytorch",
        service="pytorch",
        cycle=int(cycle),
        status=status,
        config_file=f"configs/{exp}.yaml",
        started_at=start,
        completed_at=end,
    )


def at(hms: str, day: int = 2) -> str:
    return f"2025-01-{day:02d}T{hms}+00:00"


# Two experiments x two cycles, interleaved: every neighbour changes experiment, the middle one the cycle too.
ORDER = [Step("a_c1", "a", 1), Step("b_c1", "b", 1), Step("a_c2", "a", 2), Step("b_c2", "b", 2)]
GAPS = Gaps(config_s=10.0, cycle_s=60.0)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0 s"),
        (44.6, "45 s"),
        (59.4, "59 s"),
        (60, "1 min 00 s"),
        (185, "3 min 05 s"),
        (3599, "59 min 59 s"),
        (3600, "1 h 00 min"),
        (3720, "1 h 02 min"),
        (3749, "1 h 02 min"),
        (3750, "1 h 03 min"),
        (26 * 3600 + 40 * 60, "26 h 40 min"),
        (-5, "0 s"),
    ],
)
def test_durations_read_to_the_second_under_an_hour_and_to_the_minute_above(seconds: float, text: str) -> None:
    assert duration_text(seconds) == text


def test_a_unit_time_needs_both_stamps_in_order() -> None:
    assert duration_s(entry("a_c1", start=at("12:00:00"), end=at("12:02:05"))) == 125.0
    assert duration_s(entry("a_c1", start=at("23:59:00", 1), end=at("00:01:00", 2))) == 120.0
    assert duration_s(entry("a_c1", "running", start=at("12:00:00"))) is None
    assert duration_s(entry("a_c1", start=at("12:00:00"), end=at("11:00:00"))) is None
    assert duration_s(entry("a_c1", start="garbage", end=at("12:00:00"))) is None
    assert duration_s(entry("a_c1", start="2025-01-02T12:00:00", end=at("12:00:01"))) == 1.0  # naive: read as UTC


def test_gaps_ahead_are_the_ones_before_units_not_yet_started() -> None:
    assert gaps_ahead_s(ORDER, (), GAPS) == 10 + 60 + 10
    assert gaps_ahead_s(ORDER, {"a_c1", "b_c1"}, GAPS) == 60 + 10
    assert gaps_ahead_s(ORDER, {"a_c1", "b_c1", "a_c2", "b_c2"}, GAPS) == 0
    same_exp = [Step("a_c1", "a", 1), Step("a_c2", "a", 2)]
    assert gaps_ahead_s(same_exp, (), Gaps(config_s=100.0, cycle_s=5.0)) == 5


def test_countdown_estimates_from_completed_units_only_and_counts_n_of_n() -> None:
    cd = Countdown(ORDER, GAPS)
    assert (cd.total, cd.done, cd.left_s(), cd.eta_text()) == (4, 0, None, "ETA after the first unit")
    assert cd.start("a_c1") == 1
    assert cd.finish(entry("a_c1", start=at("12:00:00"), end=at("12:10:00"))) == 1
    # 3 units x 600 s + gaps before b_c1, a_c2, b_c2 (10 + 60 + 10)
    assert cd.left_s() == 3 * 600 + 80
    assert cd.eta_text() == "ETA 31 min 20 s"
    assert cd.start("b_c1") == 2
    assert cd.left_s() == 3 * 600 + 70  # b_c1's gap is slept
    failed = entry("b_c1", "failed", start=at("12:10:10"), end=at("12:10:15"))
    assert cd.finish(failed) == 2
    assert cd.left_s() == 2 * 600 + 70  # a 5 s failure says nothing about a unit's time
    cd.finish(entry("a_c2", start=at("12:11:15"), end=at("12:31:15")))  # 1200 s: mean 900 s
    assert cd.left_s() == 900 + 10
    cd.reopen("a_c2")
    assert cd.done == 2
    cd.finish(entry("a_c2"))
    cd.finish(entry("b_c2"))
    assert cd.eta_text() == ""


def test_countdown_of_a_resumed_campaign_starts_from_its_completed_units() -> None:
    entries = [
        entry("a_c1", start=at("12:00:00"), end=at("12:01:40")),
        entry("b_c1", "failed", start=at("12:01:50"), end=at("12:01:51")),
        entry("a_c2", "skipped"),
        entry("b_c2", "pending"),
    ]
    cd = Countdown.from_entries(entries, GAPS, lanes=1)
    assert [s.key for s in cd.order] == ["a_c1", "b_c1", "b_c2"]
    assert (cd.total, cd.done, cd.durations) == (3, 1, [100.0])
    assert cd.left_s() == 2 * 100 + 10 + 60  # b_c1 after a_c1; b_c2 after b_c1 (the cycle changes)


def test_lanes_divide_the_time_left() -> None:
    cd = Countdown(ORDER, GAPS, lanes=2, durations=[600.0])
    assert cd.left_s() == (4 * 600 + 80) / 2
    assert lanes(0, [1, 2]) == 1
    assert lanes(4, [1, 2]) == 2
    assert lanes(8, []) == 8
    assert lanes(1, [4]) == 1


def test_plan_estimate_uses_each_configs_earlier_time_and_their_mean_for_unknown_ones() -> None:
    earlier = [
        entry("a_c1", start=at("12:00:00"), end=at("12:01:00")),
        entry("a_c2", start=at("12:02:00"), end=at("12:05:00")),  # a: mean 120 s
        entry("z_c1", start=at("12:00:00"), end=at("13:00:00")),  # another campaign's config
        entry("b_c1", "failed", start=at("12:00:00"), end=at("12:00:01")),
    ]
    known = by_config(earlier)
    assert known == {"aaaa": [60.0, 180.0], "zzzz": [3600.0]}
    hashes = ["aaaa", "bbbb", "aaaa", "bbbb"]
    est = plan_estimate(ORDER, hashes, known, GAPS)
    assert est == PlanEstimate(total_s=4 * 120 + 80, gaps_s=80, known_configs=1, configs=2)
    assert plan_line(est) == (
        "duration: about 9 min 20 s (unit times from earlier runs of 1 of 2 configs, their mean for the rest;"
        " gaps add 1 min 20 s)"
    )
    all_known = plan_estimate(ORDER, hashes, {**known, "bbbb": [3600.0]}, Gaps())
    assert plan_line(all_known) == (
        "duration: about 2 h 04 min (unit times from earlier runs of these configs; no gaps configured)"
    )


def test_plan_says_in_one_line_when_no_unit_time_is_known() -> None:
    est = plan_estimate(ORDER, ["aaaa", "bbbb", "aaaa", "bbbb"], {"zzzz": [1.0]}, Gaps(config_s=60.0, cycle_s=120.0))
    assert est.total_s is None
    assert plan_line(est) == "duration: unknown (no earlier run of these configs); gaps alone add 4 min 00 s"
    assert plan_line(plan_estimate(ORDER, ["a"] * 4, {}, Gaps())) == (
        "duration: unknown (no earlier run of these configs); no gaps configured"
    )


def test_clock_and_totals_read_from_the_manifest_stamps() -> None:
    assert clock_text(at("12:00:05")) == "2025-01-02 12:00:05"
    assert clock_text(at("12:03:10"), at("12:00:05")) == "12:03:10"
    assert clock_text(at("00:03:10", 3), at("23:59:00")) == "2025-01-03 00:03:10"
    assert clock_text(None) == ""
    entries = [
        entry("a_c1", start=at("12:00:00"), end=at("12:10:00")),
        entry("b_c1", "failed", start=at("12:30:00"), end=at("12:30:30")),
        entry("a_c2", "running", start=at("13:00:00")),
        entry("b_c2", "pending"),
    ]
    assert totals_text(entries) == "wall 30 min 30 s (first start to last end), units 10 min 30 s (summed)"
    assert totals_text(entries[2:]) == ""
