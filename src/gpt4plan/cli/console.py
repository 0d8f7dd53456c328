"""Where output goes: the results console, the stderr console, the guarded standard output, bad input,
notes printed after a run, and the ``--help`` width fix (applied when help is first drawn).
"""

from __future__ import annotations

from collections.abc import Iterable

from rich.console import Console
from typer.core import TyperCommand, TyperGroup


def _keep_option_names_whole() -> None:
    """Keep option names whole in ``--help`` at narrow terminals (80 columns).

    Typer's rich help lays options out in a table whose columns rich shrinks evenly when the terminal is
    narrow, cutting long names (``--tokens-per-s-per-u…``).  Here the options table's first column (the
    long names) never wraps or shrinks; the help text column gives the room instead, and a word too long
    for it folds onto the next line rather than ending in an ellipsis.  Typer builds the
    table with ``rich_utils.Table``: a subclass is put there.  If a later Typer builds it differently this
    does nothing (names may then be cut again; ``tests/test_surprises.py`` checks it).
    """
    try:
        import typer.rich_utils as rich_utils
        from rich.table import Table
    except ImportError:  # pragma: no cover - typer without rich
        return
    if getattr(rich_utils, "Table", None) is not Table:
        return

    class _HelpTable(Table):
        def add_row(self, *renderables, **kwargs):
            super().add_row(*renderables, **kwargs)
            if self.columns and not self.show_header:
                self.columns[0].no_wrap = True
                first = renderables[0] if renderables else ""
                width = len(str(getattr(first, "plain", first)))
                self.columns[0].min_width = max(self.columns[0].min_width or 0, width)
                self.columns[-1].overflow = "fold"  # a long word in the help text folds, never '…'

    rich_utils.Table = _HelpTable


class HelpCommand(TyperCommand):
    """A command whose ``--help`` keeps option names whole (:func:`_keep_option_names_whole`, applied when
    help is drawn: typer.rich_utils and rich.markdown are then imported only for help, a fast start)."""

    def format_help(self, ctx, formatter) -> None:
        _keep_option_names_whole()
        return super().format_help(ctx, formatter)


class HelpGroup(TyperGroup):
    """The root group, with the same help fix as :class:`HelpCommand`."""

    def format_help(self, ctx, formatter) -> None:
        _keep_option_names_whole()
        return super().format_help(ctx, formatter)


class ResultConsole(Console):
    """Rich console for results.  Writes go to ``sys.stdout`` (a :class:`GuardedStdout` while
    :func:`gpt4plan.cli.app.main` runs), so a closed pipe or a full disk never reaches rich as an exception.
    No emoji codes: a name or value like ``70B:abc:`` is printed as given, not as an emoji."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("emoji", False)
        super().__init__(*args, **kwargs)


class GuardedStdout:
    """Stand-in for ``sys.stdout`` (and ``sys.stderr``) while :func:`gpt4plan.cli.app.main` runs: a write or
    flush that fails is recorded, not raised.  A message that cannot reach stderr never changes the exit
    status either.

    A closed pipe (``gpt4plan check b.yaml | head -1``) or a full disk (``> /dev/full``) would otherwise raise
    ``OSError`` at whatever line happened to print when the reader went away, so the exit status would depend
    on timing: the planner would stop before it knew its own result.  Here the first failure is kept in
    :attr:`error`, later output is dropped, and the program runs to its end; ``main`` then returns the
    status the result deserves (broken pipe) or 3 (any other write error: "the result could not be written").
    File descriptor 1 is pointed at ``/dev/null`` on failure so that the interpreter's last flush at exit
    cannot fail again.  Every other attribute (``encoding``, ``isatty``, ``fileno``) is the real stream's.
    """

    def __init__(self, stream, name: str = "standard output") -> None:
        self._stream = stream
        self._name = name
        self.error: OSError | None = None
        #: while True, writes are dropped (stderr after stdout failed: the last line says why, alone)
        self.muted = False
        #: a guard to mute when this one fails for a reason other than a closed pipe
        self.silence_on_failure: GuardedStdout | None = None

    def write(self, text: str) -> int:
        if self._stream is None and self.error is None and text:  # closed before the run (`>&-`)
            self._fail(OSError(9, f"{self._name} is closed"))
        if self.error is None and not self.muted:
            try:
                return self._stream.write(text)
            except OSError as exc:
                self._fail(exc)
        return len(text)

    def flush(self) -> None:
        if self.error is None and self._stream is not None:
            try:
                self._stream.flush()
            except OSError as exc:
                self._fail(exc)

    def _fail(self, exc: OSError) -> None:
        import os

        self.error = exc
        if self.silence_on_failure is not None and not self.broken_pipe:
            self.silence_on_failure.muted = True
        try:
            fd = self._stream.fileno()
            os.dup2(os.open(os.devnull, os.O_WRONLY), fd)
        except (OSError, ValueError, AttributeError):  # no real descriptor (a test's capture)
            pass

    @property
    def broken_pipe(self) -> bool:
        import errno

        return isinstance(self.error, BrokenPipeError) or getattr(self.error, "errno", None) == errno.EPIPE

    def __getattr__(self, name: str):
        if self._stream is None:
            raise AttributeError(name)
        return getattr(self._stream, name)


err_console = Console(stderr=True, highlight=False, soft_wrap=True, emoji=False)


class BadInput(Exception):
    """Bad user input: printed as one line, exit code 2."""


#: Notes about the input printed on stderr after a run that did not fail on bad input (exit 2 stays one line).
_PENDING_NOTES: list[str] = []


def add_notes(lines: Iterable[str]) -> None:
    """Keep notes to print on stderr once the run is over (:func:`print_notes`)."""
    _PENDING_NOTES.extend(lines)


def clear_notes() -> None:
    """Forget notes kept by an earlier run in the same process."""
    _PENDING_NOTES.clear()


def print_notes() -> None:
    """Print the kept notes on stderr, then forget them."""
    for note in _PENDING_NOTES:
        err_console.print(note, markup=False)
    _PENDING_NOTES.clear()
