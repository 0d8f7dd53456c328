"""The Typer app: the root callback, the commands registered in their ``--help`` order, and
:func:`main`/:func:`run` with the exit codes.

Exit codes: 0 success; 1 no feasible plan (or a broken budget); 2 bad input (one line
``file:line: field: what is wrong``, no traceback); 3 the result could not be written.  A closed pipe
never changes the status (:func:`main`).
"""

from __future__ import annotations

import copy
import os
import sys
from typing import Annotated

import typer

from gpt4plan import __version__
from gpt4plan.cli import coercion
from gpt4plan.cli.catalog import hardware_cmd, models_cmd
from gpt4plan.cli.check import check
from gpt4plan.cli.compare import COMPARE_EPILOG, compare
from gpt4plan.cli.console import (
    BadInput,
    GuardedStdout,
    HelpCommand,
    HelpGroup,
    clear_notes,
    err_console,
    print_notes,
)
from gpt4plan.cli.infer import INFER_EPILOG, infer
from gpt4plan.cli.lifecycle import LIFECYCLE_EPILOG, lifecycle
from gpt4plan.cli.train import TRAIN_EPILOG, train
from gpt4plan.cli.validate import VALIDATE_EPILOG, calibrate, validate

app = typer.Typer(
    name="gpt4plan",
    help=(
        "Capacity planner for large language models: minimum chips, parallel layout (TP/PP/EP), batch and "
        "$/1k tokens under latency targets.\n\n"
        "Run 'gpt4plan infer' with no arguments to plan the seed scenario: GPT-4 (SemiAnalysis 2023 rumour: "
        "1.8T params, 16 experts top-2, MQA) on A100-40GB at reading speed."
    ),
    no_args_is_help=False,
    add_completion=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
    cls=HelpGroup,
)


coercion.install()  # plain option values without pydantic (a fast start)

#: Exit status when the result could not be written (full disk, closed or unwritable standard output).
EXIT_WRITE_FAILED = 3


@app.callback(invoke_without_command=True)
def _root(
    ctx: typer.Context,
    version: Annotated[bool, typer.Option("--version", help="Print the version and exit.")] = False,
):
    if version:
        typer.echo(f"gpt4plan {__version__}")
        raise typer.Exit(0)
    if ctx.invoked_subcommand is None:
        typer.echo(ctx.get_help())


# The commands, in the order of 'gpt4plan --help'.
app.command(epilog=INFER_EPILOG, cls=HelpCommand)(infer)
app.command(epilog=TRAIN_EPILOG, cls=HelpCommand)(train)
app.command(epilog=COMPARE_EPILOG, cls=HelpCommand)(compare)
app.command(epilog=LIFECYCLE_EPILOG, cls=HelpCommand)(lifecycle)
app.command(epilog=VALIDATE_EPILOG, cls=HelpCommand)(validate)
app.command(cls=HelpCommand)(calibrate)
app.command("models", cls=HelpCommand)(models_cmd)
app.command("hardware", cls=HelpCommand)(hardware_cmd)
app.command("check", cls=HelpCommand)(check)


def main(argv: list[str] | None = None) -> int:
    """Console entry point: runs the Typer app and returns the exit status.

    0 a plan was found (every budget holds); 1 no feasible plan (a budget broken); 2 bad input, one line on
    stderr; 3 the result could not be written (full disk, unwritable standard output), one line on stderr.
    The status never depends on how the output is consumed: a reader that closes the pipe early
    (``| head -1``) leaves the status the result deserves (see :class:`GuardedStdout`).
    """
    guard, err_guard = GuardedStdout(sys.stdout), GuardedStdout(sys.stderr, name="standard error")
    guard.silence_on_failure = err_guard  # once the result cannot be written, that is all stderr says
    sys.stdout, sys.stderr = guard, err_guard
    try:
        rc = _run_app(argv)
        guard.flush()
        err_guard.flush()
    finally:
        sys.stdout, sys.stderr = guard._stream, err_guard._stream
    if guard.error is not None and not guard.broken_pipe and rc != 2:
        reason = guard.error.strerror or str(guard.error)
        err_guard.muted = False
        sys.stderr = err_guard
        try:
            err_console.print(f"gpt4plan: error: the result could not be written to standard output: {reason}",
                              markup=False)
        finally:
            sys.stderr = err_guard._stream
        return EXIT_WRITE_FAILED
    return rc


def _run_app(argv: list[str] | None) -> int:
    """Run the Typer app: bad input becomes one line and 2; click's exits keep their codes."""
    clear_notes()
    try:
        rv = int(_app_for(sys.argv[1:] if argv is None else argv)(args=argv, standalone_mode=False) or 0)
        print_notes()
        return rv
    except KeyboardInterrupt:
        err_console.print("gpt4plan: interrupted")
        return 130
    except Exception as exc:
        return _exit_status(exc)


def _app_for(args: list[str]) -> typer.Typer:
    """The app to run ``args``: when they start with a command's name, the app with that command alone.

    Typer builds every registered command's parameters before it parses (~1.5 ms each, infer's ~3 ms);
    only the named one can run, and its help, options and errors are the same alone.  Anything else (root
    options, no command, an unknown one, shell completion) runs the whole app.
    """
    if not args or any(k.endswith("_COMPLETE") for k in os.environ):
        return app
    from typer.main import get_command_name

    named = [c for c in app.registered_commands if (c.name or get_command_name(c.callback.__name__)) == args[0]]
    if len(named) != 1:
        return app
    one = copy.copy(app)  # the same settings and root callback
    one.registered_commands = named
    return one


def _exit_status(exc: Exception) -> int:
    """The exit status of a run that raised ``exc``, after printing its one line; re-raises a bug."""
    # Typer vendors its own click: recognise its exceptions by class name, not by import.
    names = {c.__name__ for c in type(exc).__mro__}
    if "Exit" in names:
        code = int(getattr(exc, "exit_code", 0) or 0)
        if code != 2:
            print_notes()
        return code
    if "Abort" in names:
        err_console.print("gpt4plan: aborted")
        return 130
    if "ClickException" in names:  # bad option or usage: one line
        # Typer words a bad choice through pydantic ("Value error, 'fp5' is not one of ..."): drop its prefix
        text = exc.format_message().replace(": Value error, ", ": ")
        err_console.print(f"gpt4plan: error: {text}", markup=False)
        return 2
    if isinstance(exc, BadInput):
        err_console.print(f"gpt4plan: error: {exc}", markup=False)
        return 2
    # imported here, not at the top: `gpt4plan --version` then never imports pydantic (a fast start)
    from gpt4plan.specs import ResultNotWritten, SpecError

    if isinstance(exc, SpecError):  # already "file:line: field: what is wrong"; an option's: "--opt: ..."
        text = str(exc)
        err_console.print(f"gpt4plan: error: {text}" if text.startswith("-") else text, markup=False)
        return 2
    if isinstance(exc, ResultNotWritten):  # a result file on a full disk: not the user's input
        err_console.print(f"gpt4plan: error: {exc.strerror}", markup=False)
        return EXIT_WRITE_FAILED
    raise exc


def run() -> None:  # pragma: no cover - console script
    # numpy's OpenBLAS starts a thread per core as it loads (~20 ms of a 0.25 s start on two cores); the
    # planners never call BLAS (elementwise numpy only), so one is enough.  A user's own setting stands.
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    sys.exit(main())
