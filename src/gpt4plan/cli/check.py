"""``gpt4plan check BUDGETS.yaml``: the cost-budget gate for CI (registered in :mod:`gpt4plan.cli.app`).

Loading and evaluation live in :mod:`gpt4plan.budgets`, rendering in :mod:`gpt4plan.report`.
Bad options raise :class:`SpecError` (``--option: what is wrong``), like the catalog does, so that
``main`` prints one line and exits 2 however the module was started.  Exit codes: 0 every scenario within budget; 1 a limit broken, a regression beyond
``--max-regression`` or a scenario without a feasible plan; 2 bad input (``file:line: field: ...``).
"""

from __future__ import annotations

import os
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from gpt4plan.cli.console import BadInput, ResultConsole, err_console


class CheckFormat(str, Enum):
    table = "table"
    json = "json"
    markdown = "markdown"


def _write(path: str, text: str, option: str) -> None:
    from gpt4plan.specs import write_atomically, write_error
    p = Path(path)
    try:
        if p.parent and not p.parent.exists():
            p.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise write_error(path, option, exc) from None
    write_atomically(p, option, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def _append_step_summary(md: str) -> None:
    """Append the Markdown summary to the file GITHUB_STEP_SUMMARY names (a warning if it cannot be written)."""
    summary_file = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary_file:
        try:
            with open(summary_file, "a", encoding="utf-8") as fh:
                fh.write(md + "\n")
        except OSError as exc:
            err_console.print(f"gpt4plan: warning: cannot append to GITHUB_STEP_SUMMARY ({summary_file}): "
                              f"{exc.strerror or exc}", markup=False)


def check(
    budgets: Annotated[str, typer.Argument(metavar="BUDGETS.yaml", show_default=False,
                                           help="Budgets file: a 'budgets:' list of scenarios with max:/min: limits.")],
    fmt: Annotated[CheckFormat, typer.Option("--format", "-f", help="Output on stdout.")] = CheckFormat.table,
    junit: Annotated[str | None, typer.Option("--junit", metavar="PATH",
                                              help="Also write JUnit XML (one testcase per scenario and limit).")] = None,
    markdown: Annotated[str | None, typer.Option("--markdown", metavar="PATH",
                                                 help="Also write a Markdown summary (pull-request comment).")] = None,
    baseline: Annotated[str | None, typer.Option("--baseline", metavar="OLD.json",
                                                 help="A previous 'check --format json' output: show each value's change.")] = None,
    max_regression: Annotated[str | None, typer.Option("--max-regression", metavar="PCT",
                                                       help="With --baseline: fail a value that worsened by more than this (10%, 0.1), even within its limit.")] = None,
):
    """Check cost budgets in CI: plan every scenario of a budgets file and fail when a limit breaks.

    Prints scenario, limit, planned value, headroom and PASS/FAIL, failures first. Exit 0 when every
    scenario passes, 1 when a limit breaks (or regresses beyond --max-regression vs --baseline, or a
    scenario has no feasible plan), 2 on bad input. When GITHUB_STEP_SUMMARY is set, the Markdown
    summary is appended to it.

    Example: gpt4plan check examples/budgets.yaml --junit reports/budgets.xml --markdown reports/budgets.md
    """
    # Long only in its signature and help text (Typer reads one parameter per option); the body is short.
    from gpt4plan.budgets import apply_baseline, check_budgets, load_baseline, parse_regression
    from gpt4plan.report import check_json, check_junit, check_markdown, print_check, to_json
    from gpt4plan.specs import SpecError

    if not budgets.strip():  # Path('') is '.', a directory: say what is really wrong
        raise BadInput("BUDGETS.yaml: empty path; give a budgets file")
    mr = None
    if max_regression is not None:
        if baseline is None:
            raise SpecError("--max-regression", None, None, "needs --baseline OLD.json (the values to compare against)")
        try:
            mr = parse_regression(max_regression)
        except ValueError as exc:
            raise SpecError("--max-regression", None, None, str(exc)) from None
    base = load_baseline(baseline) if baseline is not None else None
    report = check_budgets(budgets)
    if base is not None:
        apply_baseline(report, base, mr, baseline)
    md = check_markdown(report)
    if junit:
        _write(junit, check_junit(report), "--junit")
    if markdown:
        _write(markdown, md, "--markdown")
    _append_step_summary(md)
    if fmt is CheckFormat.json:
        typer.echo(to_json(check_json(report)))
    elif fmt is CheckFormat.markdown:
        typer.echo(md, nl=False)
    else:
        print_check(report, ResultConsole(highlight=False, soft_wrap=False))
    if not report.passed:
        if fmt is CheckFormat.table:
            n, f = len(report.scenarios), len(report.failed)
            err_console.print(f"gpt4plan: check failed: {f} of {n} scenario{'s' if n != 1 else ''} over budget "
                              "or infeasible", markup=False)
        raise typer.Exit(1)
