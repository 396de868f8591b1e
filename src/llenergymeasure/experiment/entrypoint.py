"""``llem-exp CONFIG --out DIR``: run exactly one experiment and talk back only through files.

Exit 0 with ``{stem}.json`` written, or non-zero with ``{stem}.error.json`` holding the traceback.
A CONFIG that is missing, unreadable or a campaign file is the caller's mistake, not a failed
experiment: one ``error:`` line, exit 2, and nothing written (not even the output folder).

A CONFIG that does not hash to ``--config-hash`` (this llem's defaults differ from the planning
host's, or the unit config was edited) is refused with an error file before anything is measured.
SIGTERM (a timeout, an idle timeout, Ctrl-C on the host) is a clean stop: every ``finally`` runs,
the engine server is stopped, and the error file says so; the exit status is 143.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import traceback
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import FrameType

import click


class Terminated(BaseException):
    """SIGTERM arrived: unwinds the unit like KeyboardInterrupt, past any ``except Exception``."""

    exit_code = 128 + signal.SIGTERM


def _on_sigterm(signum: int, _frame: FrameType | None) -> None:
    # Once: a second SIGTERM must not cut short the cleanup the first one started.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise Terminated(f"stopped by {signal.Signals(signum).name} before the unit finished")


@contextlib.contextmanager
def sigterm_unwinds() -> Iterator[None]:
    """While inside, SIGTERM raises ``Terminated``; the previous handler comes back after (in-process callers)."""
    if threading.current_thread() is not threading.main_thread():  # signal handlers live on the main thread
        yield
        return
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("config_file", type=click.Path(path_type=Path))
@click.option(
    "--out",
    "out_dir",
    type=click.Path(path_type=Path),
    default=Path("results"),
    show_default=True,
    envvar="LLEM_RESULTS_DIR",
    help="Folder the result files are written to [env: LLEM_RESULTS_DIR].",
)
@click.option("--cycle", type=click.IntRange(min=1), default=1, show_default=True, help="Cycle number.")
@click.option("--config-hash", default=None, help="Identity assigned by the campaign (default: hash of CONFIG).")
@click.option("--stem", default=None, help="Result file name without extension (default: derived).")
@click.option("--debug", is_flag=True, help="Verbose logging.")
def main(config_file: Path, out_dir: Path, cycle: int, config_hash: str | None, stem: str | None, debug: bool) -> None:
    """Run one experiment described by CONFIG_FILE and write its result to --out."""
    from llenergymeasure import logs

    logs.configure("DEBUG" if debug else "INFO", unit=stem or config_file.stem)
    # CUDA then numbers GPUs in PCI bus order, as NVML does, so an index in CUDA_VISIBLE_DEVICES
    # names the same GPU to the engine and to the energy meter (energy.scope). Set before any
    # CUDA context exists in this process (a warm-start server never creates one).
    os.environ["CUDA_DEVICE_ORDER"] = "PCI_BUS_ID"
    if not debug:
        logs.quiet_progress_bars()
    from llenergymeasure.config.loader import check_experiment_file
    from llenergymeasure.errors import ConfigError

    try:
        check_experiment_file(config_file)
    except ConfigError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(exc.exit_code)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        click.echo(f"error: {out_dir}: cannot create output folder ({exc.strerror})", err=True)
        sys.exit(2)
    # From here a SIGTERM unwinds through every `finally` and leaves an error file; before, it just ends us.
    with sigterm_unwinds():
        _run(config_file, out_dir, cycle, config_hash, stem, debug)


def _run(config_file: Path, out_dir: Path, cycle: int, config_hash: str | None, stem: str | None, debug: bool) -> None:
    from llenergymeasure.errors import ConfigHashMismatchError, LlemError
    from llenergymeasure.results.errorfile import UnitError

    error_stem = stem or config_file.stem
    try:
        from llenergymeasure.config.identity import config_hash as hash_of
        from llenergymeasure.config.loader import load_experiment
        from llenergymeasure.experiment.runner import run_experiment
        from llenergymeasure.results.naming import result_stem

        config = load_experiment(config_file)
        derived = hash_of(config)
        chash = config_hash or derived
        error_stem = stem or result_stem(config, chash, cycle)
        if chash != derived:
            raise ConfigHashMismatchError(
                f"{config_file}: this llem hashes the config to {derived}, but the campaign planned it as {chash} "
                "(the image runs another llem version with other defaults, or the unit config was edited); "
                "nothing was measured"
            )
        outcome = run_experiment(config, out_dir, error_stem, chash, cycle)
    except (Exception, Terminated) as exc:
        expected = isinstance(exc, (LlemError, Terminated))
        message = str(exc) if expected else f"{type(exc).__name__}: {exc}"
        error_file = out_dir / f"{error_stem}.error.json"
        try:
            UnitError.from_exception(exc, message).write(error_file)
        except OSError as write_exc:  # a full disk: the host still learns of the failure from the exit code
            reason = write_exc.strerror or write_exc
            click.echo(f"error: {error_file}: cannot write the error file ({reason})", err=True)
        for line in message.splitlines() or [""]:
            click.echo(f"error: {line}", err=True)
        if debug or not expected:
            traceback.print_exc()
        sys.exit(exc.exit_code if isinstance(exc, (LlemError, Terminated)) else 1)
    click.echo(host_path(outcome.result_path, os.environ))


def host_path(path: Path, environ: Mapping[str, str]) -> str:
    """``path`` as the host names it, for the line printed after ``docker compose run``.

    Under ``LLEM_RESULTS_DIR`` (the container's mount), ``LLEM_HOST_RESULTS`` (the host folder
    mounted there, set by docker-compose.yml) takes its place; any other path is printed as is.

    >>> host_path(Path("/results/a.json"), {"LLEM_RESULTS_DIR": "/results", "LLEM_HOST_RESULTS": "./results"})
    './results/a.json'
    """
    mount, host = environ.get("LLEM_RESULTS_DIR"), environ.get("LLEM_HOST_RESULTS")
    if not mount or not host:
        return str(path)
    try:
        rel = Path(path).relative_to(mount)
    except ValueError:
        return str(path)
    return f"{host.rstrip('/')}/{rel.as_posix()}"


def run_argv(argv: list[str]) -> int:
    """Run ``llem-exp ARGV`` in this process (a warm-start server's forked child); its exit status."""
    main.main(args=argv, prog_name="llem-exp")
    return 0


if __name__ == "__main__":  # pragma: no cover - the local executor runs `python -m` this module
    main()
