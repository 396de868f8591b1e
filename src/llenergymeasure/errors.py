"""One exception hierarchy, so the CLI can turn any expected failure into one line and an exit code."""

from __future__ import annotations


class LlemError(Exception):
    """Base of every error the tool expects; anything else is a bug and keeps its traceback."""

    exit_code = 1


class ConfigError(LlemError):
    """A campaign or experiment file is malformed; the message names file, line, field and fix."""

    exit_code = 2


class CampaignError(LlemError):
    """The campaign cannot proceed (unwritable directory, design changed, nothing to run)."""


class CampaignBusyError(CampaignError):
    """Another ``up`` or ``resume`` holds the campaign's lock; the message names it."""

    exit_code = 3


class ConfigHashMismatchError(LlemError):
    """``llem-exp`` was given a config that does not hash to the identity the campaign planned for it."""


class ManifestError(LlemError):
    """A manifest on disk cannot be read; the campaign directory is left untouched."""


class ExecutorError(LlemError):
    """The dispatch layer (subprocess or Docker engine) failed before the experiment could run."""


class BackendError(LlemError):
    """An inference backend is unknown, not installed here, or failed while loading or generating."""


class EnergyUnavailableError(LlemError):
    """Energy cannot be measured on this machine (no NVML, no GPU); the reason is user-facing."""


class MissingDependencyError(LlemError):
    """An optional dependency is needed for this command; the message names the extra to install."""


class ServerError(LlemError):
    """An engine's server (scenario.kind: server) did not become healthy, or died during the load."""


class GpuSettingsError(LlemError):
    """A GPU setting (power limit, locked clocks) could not be read, applied or put back; names GPU and field."""
