"""``llem``: the host-side CLI. Commands live one per module and import their work lazily."""

from __future__ import annotations

import sys
from typing import Any

import click

from llenergymeasure import __version__


class LlemGroup(click.Group):
    """Turns every expected error into one line and an exit code; tracebacks only with --debug."""

    def invoke(self, ctx: click.Context) -> Any:
        """Run the command; LlemError becomes ``error: ...`` on stderr and its exit code."""
        from llenergymeasure.errors import LlemError

        try:
            return super().invoke(ctx)
        except LlemError as exc:
            if ctx.meta.get("llem.debug"):
                raise
            click.echo(f"error: {exc}", err=True)
            sys.exit(exc.exit_code)
        except KeyboardInterrupt:
            click.echo("interrupted; `llem campaign resume` finishes what is left", err=True)
            sys.exit(130)


@click.group(cls=LlemGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--debug", is_flag=True, help="Verbose logs and full tracebacks.")
@click.version_option(__version__, prog_name="llem")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """Measure the energy efficiency of LLM inference."""
    from llenergymeasure import logs

    ctx.meta["llem.debug"] = debug
    logs.configure("DEBUG" if debug else "INFO")


@cli.group(cls=LlemGroup)
def campaign() -> None:
    """Plan, run, resume and inspect campaigns."""


def _register() -> None:
    from llenergymeasure.cli import (
        campaign_plan,
        campaign_resume,
        campaign_status,
        campaign_up,
        doctor,
        report,
        results,
    )

    campaign.add_command(campaign_plan.plan)
    campaign.add_command(campaign_up.up)
    campaign.add_command(campaign_resume.resume)
    campaign.add_command(campaign_status.status)
    cli.add_command(doctor.doctor)
    cli.add_command(results.results)
    cli.add_command(report.report)


_register()


def main() -> None:
    """Console-script entry."""
    cli()


if __name__ == "__main__":  # pragma: no cover
    main()
