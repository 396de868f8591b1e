"""Settle a unit: completed or failed, decided from its exit code and its result file alone.

The host is the only writer of the manifest. A unit is completed only when its executor reports
exit code 0 *and* a valid result file for that exact unit exists; anything else is a failure with
a reason (from the unit's error file, ``results.errorfile.UnitError``, when it left one).
"""

from __future__ import annotations

from llenergymeasure.campaign import manifest as mf
from llenergymeasure.campaign.layout import CampaignLayout
from llenergymeasure.campaign.manifest import ManifestEntry
from llenergymeasure.dispatch.base import JobOutcome, UnitJob, describe_stop
from llenergymeasure.results.errorfile import UnitError
from llenergymeasure.results.reader import IdentityMismatchError, InvalidResultError, read_result


def settle(layout: CampaignLayout, entry: ManifestEntry, job: UnitJob, outcome: JobOutcome) -> ManifestEntry:
    """Decide completed or failed from the exit code and the result file alone."""
    result_path = layout.result(job.stem)
    if outcome.exit_code == 0 and outcome.stopped is None:
        try:
            read_result(result_path, job.config_hash, job.cycle)
            return mf.complete(entry, result_path.name)
        except IdentityMismatchError as exc:
            return mf.fail(entry, "IdentityMismatch", str(exc))
        except InvalidResultError as exc:
            return mf.fail(entry, "InvalidResult", str(exc))
    if outcome.stopped in ("timeout", "idle"):
        return mf.fail(entry, "Timeout" if outcome.stopped == "timeout" else "Hung", describe_stop(outcome, job))
    if outcome.stopped == "launch":
        return mf.fail(entry, "LaunchError", outcome.message)
    if outcome.exit_code is None and outcome.stopped is None:  # ended, but nobody can say how (Slurm forgot it)
        try:
            read_result(result_path, job.config_hash, job.cycle)
            return mf.complete(entry, result_path.name)
        except InvalidResultError:
            pass
    error = UnitError.read(layout.error(job.stem))
    fallback = outcome.message or f"llem-exp exited with code {outcome.exit_code}{last_output(job)}"
    return mf.fail(entry, error.error_type if error else "ExitCode", error.error_message if error else fallback)


def last_output(job: UnitJob) -> str:
    """``; last output: LINE``, the unit log's last line (an engine's own error), for a unit that left no error file."""
    try:
        with open(job.log_file, "rb") as f:
            f.seek(max(0, f.seek(0, 2) - 4096))
            lines = f.read().decode(errors="replace").strip().splitlines()
    except OSError:
        return ""
    return f"; last output: {lines[-1].strip()[:300]}" if lines else ""
