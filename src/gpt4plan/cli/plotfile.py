"""``--plot PATH``: checked before any planning (matplotlib present, a file that can be written), then
written with :func:`gpt4plan.report.plot_frontiers`.
"""

from __future__ import annotations

from gpt4plan.cli.console import BadInput, err_console


def need_matplotlib(path: str | None) -> str | None:
    """``--plot`` checked before any planning: without matplotlib, or a path that cannot be a new file
    (a directory, a folder that does not exist, a format matplotlib cannot write), is bad input.  Returns
    the path that will really be written (``.png`` added when the name has no extension)."""
    if path is None:
        return None
    from gpt4plan.report import require_matplotlib

    try:
        plt = require_matplotlib()
    except ImportError as exc:
        raise BadInput(str(exc)) from None
    return _plot_path(path, plt)


def _plot_path(path: str, plt=None) -> str:
    """The file ``--plot PATH`` writes: PATH itself, or PATH.png when it names no format."""
    from pathlib import Path

    p = Path(path).expanduser()
    if not path.strip():
        raise BadInput("--plot: empty path; give a file name, e.g. frontier.png")
    if path.strip() == "-":
        raise BadInput("--plot: a plot cannot go to standard output; give a file name, e.g. frontier.png")
    if p.exists() and not p.is_dir() and not p.is_file():  # /dev/full, a FIFO: never add .png to it
        raise BadInput(f"--plot: {path} is not a regular file; give a file name, e.g. frontier.png")
    if p.is_dir() or path.endswith(("/", "\\")):
        raise BadInput(f"--plot: {path} is a directory; give a file name, e.g. {Path(path) / 'frontier.png'}")
    if not p.suffix:
        p = p.with_name(p.name + ".png")
    elif plt is not None:
        kinds = plt.figure().canvas.get_supported_filetypes()
        plt.close("all")
        if p.suffix[1:].lower() not in kinds:
            raise BadInput(f"--plot: cannot write {path}: matplotlib writes {', '.join(sorted(kinds))}, "
                           f"not {p.suffix[1:]!r} (or give no extension for .png)")
    parent = p.parent
    if not parent.is_dir():
        raise BadInput(f"--plot: cannot write {p}: the folder {parent} does not exist")
    return str(p)


def write_plot(series: list[dict], path: str, title: str) -> None:
    from gpt4plan.report import plot_frontiers

    write_plot_file(path, lambda tmp: plot_frontiers(series, str(tmp), title))


def write_plot_file(path: str, draw) -> None:
    """Write a plot through ``draw(tmp_path)`` atomically (a full disk leaves no empty file: exit 3; a bad
    path: exit 2), then say which file was written."""
    from gpt4plan.specs import write_atomically

    try:
        write_atomically(path, "--plot", draw)
    except ImportError as exc:
        raise BadInput(str(exc)) from None
    except ValueError as exc:  # matplotlib: a format it cannot write
        raise BadInput(f"--plot: cannot write {path}: {exc}") from None
    err_console.print(f"wrote {path}", markup=False)
