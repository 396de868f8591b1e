"""Prefill versus decode: a differential split of a window's energy and time. Pure.

Two windows run prompt sets of the same dataset through the same harness, one with the config's
output length (the main window) and one shorter. Per input token of a window's prompts, its
energy is taken as

    e = a + b * x        (x: decode tokens per input token; decode tokens are the output tokens
                          after each request's first)

so the decode energy per token is the slope ``b = (e_long - e_short) / (x_long - x_short)`` and the
prefill energy per input token is the intercept ``a``: the energy of the window's work with no
decode tokens, which prefills every prompt and emits each first token. Normalising by input tokens
rather than by passes keeps the two windows comparable when their passes ran different prompt sets
(the short window runs more passes, over sets the main one never reached, and prompt lengths
differ); with equal input tokens per pass it is the per-pass line. Nothing here assumes static
batches: under continuous batching prefill and decode share engine steps, and the model holds as
long as the energy of the work grows linearly with the tokens generated. (A one-token window is
the special case ``x_short = 0``; under continuous batching it runs prefill-only steps the real
window never runs, which is why the short window keeps a share of the decode.)

Bounds: each window's energy bound ``U`` per input token is ``u = U / input_tokens``; the two
windows' bounds are independent worst cases, so

    u_b = (u_long + u_short) / (x_long - x_short)
    u_a = (x_long * u_short + x_short * u_long) / (x_long - x_short)

(``a = (x_long e_short - x_short e_long) / (x_long - x_short)`` and each term's bound adds up).
Prefill energy and its bound are ``a`` and ``u_a`` times the main window's input tokens. Time is
split the same way, from the windows' wall time. Energy here is total (idle power included), as
``total_energy_j`` is.
"""

from __future__ import annotations

from dataclasses import dataclass

METHOD = "differential"


@dataclass(frozen=True)
class SplitWindow:
    """One window of the split, whole-window figures: wall time, input and decode tokens, energy, bound."""

    wall_s: float
    input_tokens: int
    decode_tokens: int
    energy_j: float | None
    uncertainty_j: float | None

    def per_input(self, value: float) -> float:
        """A whole-window figure per input token of the window's prompts."""
        return value / self.input_tokens


@dataclass(frozen=True)
class PhaseSplit:
    """Prefill and decode shares of the main window (energy in J, time in s) and the per-token slope."""

    prefill_energy_j: float
    decode_energy_j: float
    prefill_time_s: float
    decode_time_s: float
    decode_tokens: int
    prefill_uncertainty_j: float | None
    decode_uncertainty_j: float | None
    energy_per_decode_token_j: float | None
    energy_per_decode_token_uncertainty_j: float | None
    notes: tuple[str, ...]
    method: str = METHOD

    @property
    def decode_tokens_per_s(self) -> float | None:
        """Decode throughput over decode time alone (None without decode tokens or time)."""
        if self.decode_tokens <= 0 or self.decode_time_s <= 0:
            return None
        return self.decode_tokens / self.decode_time_s


def _intercept(x_long: float, x_short: float, y_long: float, y_short: float) -> tuple[float, float]:
    """Slope and intercept of the line through (x_short, y_short) and (x_long, y_long)."""
    slope = (y_long - y_short) / (x_long - x_short)
    return slope, y_short - slope * x_short


def differential_split(main: SplitWindow, short: SplitWindow) -> PhaseSplit | None:
    """Split ``main`` using ``short`` (fewer output tokens); None when the two have equal decode work per input token.

    Energy figures are 0 (and bounds None) when the windows carry no energy.
    """
    x_long, x_short = main.per_input(main.decode_tokens), short.per_input(short.decode_tokens)
    if x_long <= x_short:
        return None
    dx = x_long - x_short
    t_slope, t_pre = _intercept(x_long, x_short, main.per_input(main.wall_s), short.per_input(short.wall_s))
    notes: list[str] = []
    pre_j = dec_j = 0.0
    per_tok = pre_unc = dec_unc = per_tok_unc = None
    if main.energy_j is not None and short.energy_j is not None:
        e_slope, e_pre = _intercept(x_long, x_short, main.per_input(main.energy_j), short.per_input(short.energy_j))
        pre_j = e_pre * main.input_tokens
        dec_j = main.energy_j - pre_j
        per_tok = e_slope
        if main.uncertainty_j is not None and short.uncertainty_j is not None:
            u_long, u_short = main.per_input(main.uncertainty_j), short.per_input(short.uncertainty_j)
            per_tok_unc = (u_long + u_short) / dx
            pre_unc = (x_long * u_short + x_short * u_long) / dx * main.input_tokens
            dec_unc = per_tok_unc * main.decode_tokens
        if e_slope < 0 or e_pre < 0:
            notes.append(
                f"prefill/decode split out of range (prefill {pre_j:.4g} J, decode {per_tok:.4g} J/token): "
                "within the noise of short windows; lengthen energy.min_window_s"
            )
    prefill_s = t_pre * main.input_tokens
    if t_slope < 0 or t_pre < 0:
        notes.append(
            f"prefill/decode time split out of range (prefill {prefill_s:.4g} s of {main.wall_s:.4g} s): "
            "within the noise of short windows; lengthen energy.min_window_s"
        )
    return PhaseSplit(
        prefill_energy_j=pre_j,
        decode_energy_j=dec_j,
        prefill_time_s=prefill_s,
        decode_time_s=main.wall_s - prefill_s,
        decode_tokens=main.decode_tokens,
        prefill_uncertainty_j=pre_unc,
        decode_uncertainty_j=dec_unc,
        energy_per_decode_token_j=per_tok,
        energy_per_decode_token_uncertainty_j=per_tok_unc,
        notes=tuple(notes),
    )
