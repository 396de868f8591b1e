"""Engine telemetry beside power: the engine's own metrics (running batch, KV cache, preemptions) as a timeseries.

It changes nothing that is measured, only what is recorded beside it: at its defaults it stays out
of the config identity (``config.identity``).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class EngineTelemetryConfig(BaseModel):
    """Scraping the engine's Prometheus metrics during the measured window (server mode; offline vLLM in-process)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = Field(
        True,
        description=(
            "Record the engine's metrics (vLLM's /metrics; trtllm-serve's /prometheus/metrics when it exposes them) "
            "beside the power timeseries, and summarise them over each energy window."
        ),
    )
    interval_s: float = Field(
        1.0, gt=0.0, le=60.0, description="Seconds between two reads of the metrics (about one per second is cheap)."
    )
