from pathlib import Path

import pytest

from llenergymeasure.results.reader import InvalidResultError, read_result
from llenergymeasure.results.schema import distribution


def test_distribution_nearest_rank() -> None:
    d = distribution([float(i) for i in range(1, 101)])
    assert (d.mean, d.p50, d.p90, d.p99, d.min, d.max) == (50.5, 50.0, 90.0, 99.0, 1.0, 100.0)
    assert distribution([2.0]).p99 == 2.0


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "no result file"),
        ("{trunc", "not JSON"),
        ('{"schema_version": "0"}', "result schema '0', expected '1'"),
        ('{"schema_version": "1", "cycle": 1}', "invalid at"),
    ],
)
def test_damaged_results_are_named(tmp_path: Path, content: str | None, message: str) -> None:
    p = tmp_path / "r.json"
    if content is not None:
        p.write_text(content)
    with pytest.raises(InvalidResultError, match=message):
        read_result(p)


def test_throttled_is_unknown_without_energy() -> None:
    from llenergymeasure.experiment.result import build_energy
    from llenergymeasure.results.schema import Metrics

    d = distribution([1.0])
    metrics = Metrics(
        n_requests=1,
        input_tokens=2,
        output_tokens=3,
        wall_time_s=1.0,
        output_tokens_per_s=3.0,
        total_tokens_per_s=5.0,
        requests_per_s=1.0,
        latency_s=d,
    )
    energy = build_energy(None, "no NVML (test)", metrics, None, None)
    assert (energy.available, energy.reason, energy.throttled) == (False, "no NVML (test)", None)
    assert energy.model_dump()["throttled"] is None


def test_distribution_says_how_many_distinct_values_it_rests_on() -> None:
    from llenergymeasure.results.schema import distribution

    # 6 requests in 2 static batches: two latencies, repeated.
    d = distribution([2.0, 2.0, 2.0, 4.0, 4.0, 4.0])
    assert (d.n, d.n_distinct) == (6, 2)
    assert (d.mean, d.p50, d.p90, d.min, d.max) == (3.0, 2.0, 4.0, 2.0, 4.0)
    assert d.std == pytest.approx(1.0954451150103321)
    assert distribution([5.0]).std is None
