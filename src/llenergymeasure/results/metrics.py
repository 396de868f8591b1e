"""The one table of summarised metrics: name, unit, direction, interval, decimals. Pure.

Every view of results (terminal, ``--json``, CSV/Markdown/LaTeX exports, the HTML report and its
plots) takes a metric's human name, unit and rounding from here, and the statistics take its
direction and interval: a metric added here appears everywhere alike.

``positive``: strictly positive by construction, so its interval is ``log-t`` around the geometric
mean (results/stats.py); otherwise the plain ``t`` around the mean. ``serving``: measured in server
mode (its own table). ``short``: the column header where space is tight (terminal, exports).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

SIG_FIGS = 4  # significant figures of every number the views print


@dataclass(frozen=True)
class MetricSpec:
    """One summarised metric: how it is named, ranked, bounded and printed."""

    key: str
    name: str
    unit: str
    lower_better: bool
    positive: bool
    short: str
    serving: bool = False

    @property
    def label(self) -> str:
        """``Name (unit)``: axis labels and table headers."""
        return f"{self.name} ({self.unit})"

    @property
    def phrase(self) -> str:
        """``output throughput (tokens/s)``: the label inside a sentence."""
        return f"{self.name[:1].lower()}{self.name[1:]} ({self.unit})"

    @property
    def interval(self) -> str:
        """The interval this metric gets from two or more cycles (its values permitting)."""
        return "log-t" if self.positive else "t"

    @property
    def direction(self) -> str:
        """``lower is better`` or ``higher is better``."""
        return "lower is better" if self.lower_better else "higher is better"


def _m(key: str, name: str, unit: str, lower: bool, positive: bool, short: str) -> MetricSpec:
    return MetricSpec(key, name, unit, lower, positive, short, serving=key.startswith("serving."))


# Display order: offline first, then server mode.
SPECS: tuple[MetricSpec, ...] = (
    _m("energy.energy_per_output_token_j", "Energy per output token", "J", True, True, "J/tok"),
    # Total minus idle baseline: zero or negative when the load drew no more than idle (t interval).
    _m(
        "energy.adjusted_energy_per_output_token_j",
        "Energy per output token above idle",
        "J",
        True,
        False,
        "J/tok above idle",
    ),
    _m("energy.energy_per_request_j", "Energy per request", "J", True, True, "J/req"),
    _m("energy.energy_per_decode_token_j", "Energy per decode token", "J", True, False, "J/decode tok"),
    _m("energy.co2e_g_per_1k_tokens", "Carbon per 1000 output tokens", "gCO2e", True, True, "gCO2e/1k tok"),
    _m("metrics.output_tokens_per_s", "Output throughput", "tokens/s", False, True, "tok/s"),
    _m("metrics.decode_tokens_per_s", "Decode throughput", "tokens/s", False, True, "decode tok/s"),
    _m("metrics.latency_s.mean", "Mean request latency", "s", True, True, "latency s"),
    _m("metrics.ttft_s.mean", "Mean time to first token", "s", True, True, "TTFT s"),
    _m("metrics.itl_s.mean", "Mean inter-token latency", "s", True, True, "ITL s"),
    _m("serving.ttft_ms.p50", "p50 time to first token", "ms", True, True, "p50 TTFT ms"),
    _m("serving.ttft_ms.p90", "p90 time to first token", "ms", True, True, "p90 TTFT ms"),
    _m("serving.ttft_ms.p99", "p99 time to first token", "ms", True, True, "p99 TTFT ms"),
    _m("serving.itl_ms.p50", "p50 inter-token latency", "ms", True, True, "p50 ITL ms"),
    _m("serving.itl_ms.p90", "p90 inter-token latency", "ms", True, True, "p90 ITL ms"),
    _m("serving.itl_ms.p99", "p99 inter-token latency", "ms", True, True, "p99 ITL ms"),
    _m("serving.tpot_ms.p50", "p50 time per output token", "ms", True, True, "p50 TPOT ms"),
    _m("serving.tpot_ms.p90", "p90 time per output token", "ms", True, True, "p90 TPOT ms"),
    _m("serving.e2e_ms.p90", "p90 end-to-end latency", "ms", True, True, "p90 E2E ms"),
    _m("serving.whole_run.requests_per_s", "Served requests", "requests/s", False, True, "req/s"),
    _m("serving.whole_run.output_tokens_per_s", "Served output throughput", "tokens/s", False, True, "served tok/s"),
    _m("serving.request_goodput_per_s", "Request goodput", "requests/s", False, True, "goodput req/s"),
    _m("serving.goodput_output_tokens_per_s", "Goodput", "tokens/s", False, True, "goodput tok/s"),
    _m(
        "serving.whole_run.energy_per_output_token_j",
        "Energy per output token, whole load",
        "J",
        True,
        True,
        "whole-run J/tok",
    ),
    _m(
        "serving.steady_state.energy_per_output_token_j",
        "Energy per output token, steady state",
        "J",
        True,
        True,
        "steady J/tok",
    ),
    _m(
        "serving.steady_state.energy_per_request_j", "Energy per request, steady state", "J", True, True, "steady J/req"
    ),
    _m("serving.energy_per_goodput_token_j", "Energy per goodput token", "J", True, True, "J/goodput tok"),
    _m(
        "serving.steady_state.energy_per_goodput_token_j",
        "Energy per goodput token, steady state",
        "J",
        True,
        True,
        "steady J/goodput tok",
    ),
    # A saturation sweep's verdict (scenario.saturation): the highest offered rate the server kept up with.
    _m(
        "serving.saturation.max_sustained_rate_per_s",
        "Highest sustained rate",
        "requests/s",
        False,
        True,
        "max sustained req/s",
    ),
    # Send minus due time: can be 0 (or a timer's resolution below it), so the t interval.
    _m("serving.send_lateness_ms.p50", "p50 send lateness", "ms", True, False, "p50 lateness ms"),
    _m("serving.send_lateness_ms.p99", "p99 send lateness", "ms", True, False, "p99 lateness ms"),
)
BY_KEY: dict[str, MetricSpec] = {s.key: s for s in SPECS}

# The serving table's columns (terminal, exports, HTML): the figures a serving comparison reads first.
SERVING_SHOWN: tuple[str, ...] = (
    "serving.ttft_ms.p50",
    "serving.ttft_ms.p90",
    "serving.itl_ms.p90",
    "serving.tpot_ms.p90",
    "serving.e2e_ms.p90",
    "serving.whole_run.output_tokens_per_s",
    "serving.request_goodput_per_s",
    "serving.goodput_output_tokens_per_s",
    "serving.send_lateness_ms.p99",
    "serving.saturation.max_sustained_rate_per_s",
    "serving.steady_state.energy_per_output_token_j",
    "serving.whole_run.energy_per_output_token_j",
    "serving.energy_per_goodput_token_j",
    "serving.steady_state.energy_per_goodput_token_j",
)


def spec(key: str) -> MetricSpec:
    """The spec of ``key``; a column not in the table gets a neutral one named by the column."""
    return BY_KEY.get(key) or MetricSpec(key, key, "", True, False, key)


def label(key: str) -> str:
    """``Name (unit)`` of ``key``; the column name when it is not a summarised metric."""
    s = BY_KEY.get(key)
    return s.label if s else key


def sig(value: float | None, figures: int = SIG_FIGS) -> str:
    """``value`` to ``figures`` significant figures, trailing zeros kept, never in e-notation between 1e-4 and 1e6.

    Every number of a table shares one rule, so 464 / 69.43 / 613.3 print as 464.0 / 69.43 / 613.3,
    and a column can be read down. Beyond that range: ``1.234e+07``. None or NaN: ``-``.
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if value == 0:
        return "0." + "0" * (figures - 1) if figures > 1 else "0"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    exponent = math.floor(math.log10(abs(value)))
    if not -4 <= exponent < 6:
        return f"{value:.{figures - 1}e}"
    decimals = max(figures - 1 - exponent, 0)
    text = f"{value:.{decimals}f}"
    # Rounding can carry into a new digit (999.95 -> 1000.0): drop the figure that adds.
    if len(text.replace("-", "").replace(".", "").lstrip("0")) > figures and decimals > 0:
        text = f"{value:.{decimals - 1}f}"
    return text


# What a comparison of campaigns shows per config: the figures a before/after question asks first.
HEADLINE: tuple[str, ...] = (
    "energy.energy_per_output_token_j",
    "energy.adjusted_energy_per_output_token_j",
    "metrics.output_tokens_per_s",
    "metrics.latency_s.mean",
    "metrics.ttft_s.mean",
    "serving.steady_state.energy_per_output_token_j",
    "serving.whole_run.output_tokens_per_s",
    "serving.ttft_ms.p90",
    "serving.tpot_ms.p90",
)
