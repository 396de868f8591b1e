"""How long a campaign takes and has left: per-unit estimates, gaps to come, durations in words.

Pure arithmetic on manifest timestamps (``started_at``/``completed_at``, ISO-8601) and the
configured gaps; no clock is read here, so every figure is reproducible from the manifest alone.
A unit's time is taken from completed units only: a unit that failed in seconds says nothing
about how long a measured one takes, and the units still to run are expected to succeed.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from itertools import pairwise
from typing import Protocol

from llenergymeasure.campaign.manifest import ManifestEntry


@dataclass(frozen=True)
class Step:
    """One unit in run order: enough to know which gap comes before it."""

    key: str
    exp_id: str
    cycle: int


class Placed(Protocol):
    """A unit as the gap rule sees it (a planned ``Step`` or a manifest entry)."""

    @property
    def exp_id(self) -> str:
        """The unit's experiment."""
        ...

    @property
    def cycle(self) -> int:
        """The unit's cycle."""
        ...


@dataclass(frozen=True)
class Gaps:
    """The configured pauses: what the scheduler waits between two units, and what an estimate adds."""

    config_s: float = 0.0
    cycle_s: float = 0.0

    def between(self, prev: Placed, nxt: Placed) -> float:
        """Config gap when the experiment changes, cycle gap when the cycle changes; the larger if both."""
        gaps = [0.0]
        if prev.exp_id != nxt.exp_id:
            gaps.append(self.config_s)
        if prev.cycle != nxt.cycle:
            gaps.append(self.cycle_s)
        return max(gaps)


def parse_time(stamp: str | None) -> datetime | None:
    """A manifest timestamp as an aware datetime in UTC; None when absent or unreadable (an adopted unit's odd stamp).

    A stamp without a zone is read as UTC (what llem writes), so stamps of either kind compare.
    """
    if not stamp:
        return None
    try:
        t = datetime.fromisoformat(stamp)
    except ValueError:
        return None
    return t.replace(tzinfo=timezone.utc) if t.tzinfo is None else t.astimezone(timezone.utc)


def duration_s(entry: ManifestEntry) -> float | None:
    """Seconds from a unit's start to its end; None unless both are known and in order."""
    start, end = parse_time(entry.started_at), parse_time(entry.completed_at)
    if start is None or end is None:
        return None
    try:
        seconds = (end - start).total_seconds()
    except TypeError:  # one stamp with a zone, one without
        return None
    return seconds if seconds >= 0 else None


def completed_durations(entries: Iterable[ManifestEntry]) -> list[float]:
    """Durations of the completed units whose both timestamps are known, in manifest order."""
    return [d for e in entries if e.status == "completed" and (d := duration_s(e)) is not None]


def mean_s(durations: Sequence[float]) -> float | None:
    """The per-unit estimate: the mean, so that remaining x estimate is the expected total; None if empty."""
    return sum(durations) / len(durations) if durations else None


def gaps_ahead_s(order: Sequence[Step], started: Collection[str], gaps: Gaps) -> float:
    """Gaps still to be slept: the one before each unit of ``order`` (after the first) not yet started."""
    return sum(gaps.between(prev, nxt) for prev, nxt in pairwise(order) if nxt.key not in started)


def remaining_s(units_left: int, per_unit_s: float, gaps_s: float, lanes: int = 1) -> float:
    """Time left when ``lanes`` units run at once (GPU slots), each lane sleeping its share of the gaps."""
    return (units_left * per_unit_s + gaps_s) / max(1, lanes)


def by_config(entries: Iterable[ManifestEntry]) -> dict[str, list[float]]:
    """Completed units' durations per config hash (from any number of earlier manifests)."""
    known: dict[str, list[float]] = {}
    for e in entries:
        if e.status == "completed" and (d := duration_s(e)) is not None:
            known.setdefault(e.config_hash, []).append(d)
    return known


@dataclass(frozen=True)
class PlanEstimate:
    """A planned campaign's duration: ``total_s`` None when no unit time is known."""

    total_s: float | None
    gaps_s: float
    known_configs: int  # configs of the plan with a unit time from an earlier run
    configs: int


def plan_estimate(
    order: Sequence[Step], hashes: Sequence[str], known: Mapping[str, Sequence[float]], gaps: Gaps
) -> PlanEstimate:
    """Sum of each unit's time (its config's earlier mean, else the mean over the plan's known units) and the gaps.

    ``hashes[i]`` is the config hash of ``order[i]``. Serial: one unit at a time, as ``up`` runs
    without --gpus.
    """
    gaps_s = gaps_ahead_s(order, (), gaps)
    configs = set(hashes)
    seen = [d for h in configs for d in known.get(h, ())]
    fallback = mean_s(seen)
    if fallback is None:
        return PlanEstimate(None, gaps_s, 0, len(configs))
    units_s = sum(mean_s(known.get(h, ())) or fallback for h in hashes)
    return PlanEstimate(units_s + gaps_s, gaps_s, sum(1 for h in configs if known.get(h)), len(configs))


def plan_line(est: PlanEstimate) -> str:
    """The one line of ``llem campaign plan`` about how long the campaign takes."""
    gaps = f"gaps add {duration_text(est.gaps_s)}" if est.gaps_s else "no gaps configured"
    if est.total_s is None:
        tail = f"gaps alone add {duration_text(est.gaps_s)}" if est.gaps_s else "no gaps configured"
        return f"duration: unknown (no earlier run of these configs); {tail}"
    if est.known_configs == est.configs:
        source = "unit times from earlier runs of these configs"
    else:
        source = (
            f"unit times from earlier runs of {est.known_configs} of {est.configs} configs, their mean for the rest"
        )
    return f"duration: about {duration_text(est.total_s)} ({source}; {gaps})"


def duration_text(seconds: float) -> str:
    """``45 s``, ``3 min 05 s``, ``1 h 02 min``: to the second under an hour, to the minute above."""
    s = int(max(0.0, seconds) + 0.5)  # half a second up, as below for minutes
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    m = (s + 30) // 60  # half a minute rounds up (round() would go to the even minute)
    return f"{m // 60} h {m % 60:02d} min"


def clock_text(stamp: str | None, day_of: str | None = None) -> str:
    """``2025-01-02 12:00:05`` (the manifest's UTC); the time alone when on the same day as ``day_of``."""
    t = parse_time(stamp)
    if t is None:
        return stamp or ""
    ref = parse_time(day_of)
    return t.strftime("%H:%M:%S" if ref is not None and ref.date() == t.date() else "%Y-%m-%d %H:%M:%S")


def totals_text(entries: Sequence[ManifestEntry]) -> str:
    """``wall 1 h 02 min (first start to last end), units 58 min 10 s (summed)``; "" before any unit ended."""
    timed = [e for e in entries if duration_s(e) is not None]
    if not timed:
        return ""
    starts = [t for e in timed if (t := parse_time(e.started_at)) is not None]
    ends = [t for e in timed if (t := parse_time(e.completed_at)) is not None]
    wall = (max(ends) - min(starts)).total_seconds()
    summed = sum(d for e in timed if (d := duration_s(e)) is not None)
    return f"wall {duration_text(wall)} (first start to last end), units {duration_text(summed)} (summed)"


@dataclass
class Countdown:
    """Units finished and running in this campaign, and the time left: fed by the progress events.

    ``order``: the units to run, in run order (skipped ones left out); ``finished``: those already
    done when the run starts; ``durations``: completed units' times so far (an earlier run's too).
    """

    order: Sequence[Step]
    gaps: Gaps = Gaps()
    lanes: int = 1
    finished: set[str] = field(default_factory=set)
    durations: list[float] = field(default_factory=list)
    running: set[str] = field(default_factory=set)

    @classmethod
    def from_entries(cls, entries: Sequence[ManifestEntry], gaps: Gaps, lanes: int = 1) -> Countdown:
        """A resumed campaign: completed units are done, their times the first estimate."""
        order = [Step(e.key, e.exp_id, e.cycle) for e in entries if e.status != "skipped"]
        done = {e.key for e in entries if e.status == "completed"}
        return cls(order, gaps, lanes, done, completed_durations(entries))

    @property
    def total(self) -> int:
        """Units this campaign runs."""
        return len(self.order)

    @property
    def done(self) -> int:
        """Units finished (completed or failed), the ``n`` of ``[n/N]`` on finish lines."""
        return len(self.finished)

    def start(self, key: str) -> int:
        """``key`` started; its ordinal: finished units plus the running ones, itself included."""
        self.running.add(key)
        return self.done + len(self.running)

    def finish(self, entry: ManifestEntry) -> int:
        """``entry`` ended (completed or failed); units finished so far."""
        self.running.discard(entry.key)
        self.finished.add(entry.key)
        if entry.status == "completed" and (d := duration_s(entry)) is not None:
            self.durations.append(d)
        return self.done

    def reopen(self, key: str) -> None:
        """``key`` must run again (its result vanished)."""
        self.finished.discard(key)

    def left_s(self) -> float | None:
        """Time left: units not finished x the mean unit time, plus the gaps to come; None with no time known."""
        per_unit = mean_s(self.durations)
        if per_unit is None:
            return None
        left = sum(1 for s in self.order if s.key not in self.finished)
        started = self.finished | self.running
        return remaining_s(left, per_unit, gaps_ahead_s(self.order, started, self.gaps), self.lanes)

    def eta_text(self) -> str:
        """``ETA 12 min 05 s``; ``ETA after the first unit`` before any unit time is known; "" when all done."""
        if self.done >= self.total:
            return ""
        left = self.left_s()
        return "ETA after the first unit" if left is None else f"ETA {duration_text(left)}"


def lanes(n_gpus: int, sizes: Iterable[int]) -> int:
    """How many units run at once on ``n_gpus`` GPU slots (0: one at a time) when units take ``sizes`` GPUs.

    The largest unit bounds it, so the ETA errs long rather than short. Slurm places units itself;
    its estimate stays serial, an upper bound.
    """
    return max(1, n_gpus // max([1, *sizes])) if n_gpus else 1
