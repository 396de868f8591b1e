"""The ``--slurm-*`` options of ``up`` and ``resume``: override the campaign's ``execution.slurm`` for this run."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click

if TYPE_CHECKING:
    from llenergymeasure.config.campaign import SlurmConfig

F = TypeVar("F", bound=Callable[..., Any])


def slurm_options(fn: F) -> F:
    """``--slurm-partition``, ``--slurm-account``, ``--slurm-arg`` (repeatable), used with ``--executor slurm``."""
    fn = click.option(
        "--slurm-arg",
        "slurm_args",
        multiple=True,
        metavar="ARG",
        help="One more sbatch argument (repeat: --slurm-arg=--qos --slurm-arg=high); after execution.slurm.extra_args.",
    )(fn)
    fn = click.option("--slurm-account", default=None, help="sbatch --account; overrides execution.slurm.account.")(fn)
    return click.option(
        "--slurm-partition", default=None, help="sbatch --partition; overrides execution.slurm.partition."
    )(fn)


def with_overrides(cfg: SlurmConfig, partition: str | None, account: str | None, args: tuple[str, ...]) -> SlurmConfig:
    """``cfg`` with what the command line gave replacing (partition, account) or extending (arguments) it."""
    update: dict[str, Any] = {"extra_args": [*cfg.extra_args, *args]}
    if partition:
        update["partition"] = partition
    if account:
        update["account"] = account
    return cfg.model_copy(update=update)
