"""Prefill versus decode: splitting a window's energy and time with a prefill-only window. Pure.

The prefill-only window runs the same prompts in the same batches with one output token each,
so it does the window's prefill work (and the first token) and nothing else; per pass it is
scaled to the main window's pass count. Decode is the rest. Both windows are measured with the
same counter, so each figure's resolution bound adds up: decode's bound is the sum of the main
window's and the scaled prefill one's.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PhaseSplit:
    """Prefill and decode shares of the main window (energy in J, time in s)."""

    prefill_energy_j: float
    decode_energy_j: float
    prefill_time_s: float
    decode_time_s: float
    decode_tokens: int
    prefill_uncertainty_j: float | None
    decode_uncertainty_j: float | None
    notes: tuple[str, ...]

    @property
    def energy_per_decode_token_j(self) -> float | None:
        """Decode energy per token generated after the first (None when only one token per request)."""
        return self.decode_energy_j / self.decode_tokens if self.decode_tokens > 0 else None

    @property
    def decode_tokens_per_s(self) -> float | None:
        """Decode throughput over decode time alone (None without decode tokens or time)."""
        if self.decode_tokens <= 0 or self.decode_time_s <= 0:
            return None
        return self.decode_tokens / self.decode_time_s


def split_phases(
    *,
    total_energy_j: float,
    total_uncertainty_j: float | None,
    wall_s: float,
    n_passes: int,
    output_tokens: int,
    n_requests: int,
    prefill_energy_j: float,
    prefill_uncertainty_j: float | None,
    prefill_wall_s: float,
    prefill_passes: int,
) -> PhaseSplit:
    """Split the main window (``n_passes`` passes) using a prefill-only window of ``prefill_passes``."""
    scale = n_passes / prefill_passes
    pre_j = prefill_energy_j * scale
    pre_s = prefill_wall_s * scale
    pre_unc = prefill_uncertainty_j * scale if prefill_uncertainty_j is not None else None
    dec_unc = total_uncertainty_j + pre_unc if total_uncertainty_j is not None and pre_unc is not None else None
    decode_j = total_energy_j - pre_j
    decode_s = wall_s - pre_s
    notes = []
    if decode_j < 0 or decode_s < 0:
        notes.append(
            f"prefill-only passes took {pre_j:.4g} J and {pre_s:.4g} s, more than the whole window"
            f" ({total_energy_j:.4g} J, {wall_s:.4g} s): decode share negative, within noise of a short window;"
            " lengthen energy.min_window_s"
        )
    return PhaseSplit(
        prefill_energy_j=pre_j,
        decode_energy_j=decode_j,
        prefill_time_s=pre_s,
        decode_time_s=decode_s,
        decode_tokens=output_tokens - n_requests,
        prefill_uncertainty_j=pre_unc,
        decode_uncertainty_j=dec_unc,
        notes=tuple(notes),
    )
