"""``llem``: the host-side CLI. Commands live one per module and import their work lazily."""

from __future__ import annotations

import sys

import click

from llenergymeasure import __version__

DEBUG_HELP = "Debug logs and full tracebacks."
VERBOSE_HELP = "Stream the units' engine output (vLLM's logs, warnings) to the terminal too; logs/ keeps it always."


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--debug", is_flag=True, help=DEBUG_HELP)
@click.option("--verbose", "-v", is_flag=True, help=VERBOSE_HELP)
@click.version_option(__version__, prog_name="llem")
@click.pass_context
def cli(ctx: click.Context, debug: bool, verbose: bool) -> None:
    """Measure the energy efficiency of LLM inference."""
    from llenergymeasure import logs

    ctx.meta["llem.debug"] = debug
    logs.configure("DEBUG" if debug else "INFO")
    logs.stream_engine_output(verbose)


def _set_debug(ctx: click.Context, _: click.Parameter, value: bool) -> None:
    """``--debug`` given after the subcommand (``llem campaign up x.yaml --debug``)."""
    if value:
        from llenergymeasure import logs

        ctx.meta["llem.debug"] = True
        logs.configure("DEBUG")


def _set_verbose(_: click.Context, __: click.Parameter, value: bool) -> None:
    """``--verbose`` given after the subcommand."""
    if value:
        from llenergymeasure import logs

        logs.stream_engine_output(True)


def _global_options(command: click.Command, verbose: bool) -> click.Command:
    """Accept ``llem``'s own ``--debug`` (and ``--verbose`` where units run) after the subcommand too."""
    command.params.append(
        click.Option(["--debug"], is_flag=True, expose_value=False, callback=_set_debug, help=DEBUG_HELP)
    )
    if verbose:
        command.params.append(
            click.Option(
                ["--verbose", "-v"], is_flag=True, expose_value=False, callback=_set_verbose, help=VERBOSE_HELP
            )
        )
    return command


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
        gpu,
        report,
        results,
    )

    campaign.add_command(_global_options(campaign_plan.plan, verbose=False))
    campaign.add_command(_global_options(campaign_up.up, verbose=True))
    campaign.add_command(_global_options(campaign_resume.resume, verbose=True))
    campaign.add_command(_global_options(campaign_status.status, verbose=False))
    cli.add_command(_global_options(doctor.doctor, verbose=False))
    cli.add_command(_global_options(results.results, verbose=False))
    cli.add_command(_global_options(report.report, verbose=False))
    gpu.gpu.add_command(_global_options(gpu.restore, verbose=False))
    cli.add_command(gpu.gpu)


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
    except (click.Abort, KeyboardInterrupt):  # `up` and `resume` say which campaign to resume themselves
        _fail("interrupted", 130)
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
