"""``llem``: the host-side CLI. Commands live one per module and import their work lazily."""

from __future__ import annotations

import sys

import click

from llenergymeasure import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--debug", is_flag=True, help="Verbose logs and full tracebacks.")
@click.version_option(__version__, prog_name="llem")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """Measure the energy efficiency of LLM inference."""
    from llenergymeasure import logs

    ctx.meta["llem.debug"] = debug
    logs.configure("DEBUG" if debug else "INFO")


@cli.group()
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


def main(argv: list[str] | None = None) -> None:
    """Console-script entry: every expected failure is one ``error:`` line and an exit code.

    Tracebacks are shown only with ``--debug``; anything not anticipated keeps its traceback.
    """
    from llenergymeasure.errors import LlemError

    args = sys.argv[1:] if argv is None else argv
    debug = "--debug" in args
    try:
        code = cli.main(args=args, prog_name="llem", standalone_mode=False)
    except click.UsageError as exc:
        where = f" (see '{exc.ctx.command_path} --help')" if exc.ctx else ""
        _fail(f"{exc.format_message()}{where}", 2)
    except click.ClickException as exc:
        _fail(exc.format_message(), exc.exit_code)
    except (click.Abort, KeyboardInterrupt):
        _fail("interrupted; `llem campaign resume` finishes what is left", 130)
    except LlemError as exc:
        if debug:
            raise
        _fail(str(exc), exc.exit_code)
    except OSError as exc:  # disk full, permissions: name the file, never a traceback
        if debug:
            raise
        target = f"{exc.filename}: " if exc.filename else ""
        _fail(f"{target}{exc.strerror or exc}", 1)
    sys.exit(code if isinstance(code, int) else 0)


def _fail(message: str, code: int) -> None:
    """One ``error:`` line per problem (a config file with several problems reports them all)."""
    for line in message.splitlines() or [""]:
        click.echo(f"error: {line}", err=True)
    sys.exit(code)


if __name__ == "__main__":  # pragma: no cover
    main()
