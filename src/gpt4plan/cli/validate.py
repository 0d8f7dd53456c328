"""``gpt4plan validate`` (replay published measurements) and ``gpt4plan calibrate`` (fit a chip's
efficiency factors to them).
"""

from __future__ import annotations

import os
from typing import Annotated

import typer

from gpt4plan.cli.console import BadInput, ResultConsole, err_console
from gpt4plan.cli.options import Format, PerfModelOpt
from gpt4plan.cli.plotfile import need_matplotlib, write_plot_file
from gpt4plan.specs.units import plural
from gpt4plan.specs.vocabulary import PerformanceModel

VALIDATE_EPILOG = """
[bold]Examples[/bold]

  gpt4plan validate                                # the shipped development set of published measurements

  gpt4plan validate my-runs.yaml --format json

  gpt4plan validate --coverage                     # do the error bands hold with each source family left out?

The file format is that of the shipped development set, src/gpt4plan/data/measurements/validation-dev.yaml
(one record per measured run, each with its source): copy a record to start.
"""


def validate(
    file: Annotated[str | None, typer.Argument(help="Measurements YAML (default: the shipped development set).")] = None,
    fmt: Annotated[Format, typer.Option("--format", "-f", help="Output format.")] = Format.table,
    write_bands: Annotated[str | None, typer.Option("--write-bands", help="Write the per-chip error-band table (YAML) here.")] = None,
    plot: Annotated[str | None, typer.Option("--plot", help="Write predicted vs measured as a PNG (needs gpt4plan\\[plot]).")] = None,
    coverage: Annotated[bool, typer.Option("--coverage", help="Also report how often the measured value falls inside the 10-90% error band: in-sample and with each source family left out.")] = False,
    performance_model: PerfModelOpt = PerformanceModel.roofline,
):
    """Replay published measurements through the models: predicted vs measured, with the error."""
    from gpt4plan.accuracy.replay import replay_file, summarise
    from gpt4plan.report import print_validate, to_json
    from gpt4plan.specs.catalog import catalog_dir

    if file is not None and not file.strip():  # '' would otherwise replay the shipped set
        raise BadInput("FILE: empty path; give a measurements file, or omit it for the shipped development set")
    plot = need_matplotlib(plot)
    path = file or str(catalog_dir("measurements") / "validation-dev.yaml")
    if write_bands:  # a folder or a missing directory is bad input before a replay of seconds, as --plot is
        import errno
        from pathlib import Path

        from gpt4plan.specs import write_error

        target = Path(write_bands)
        if target.is_dir() or not target.parent.is_dir():
            code = errno.EISDIR if target.is_dir() else errno.ENOENT
            raise write_error(write_bands, "--write-bands", OSError(code, os.strerror(code)))
    records = replay_file(path, performance_model=performance_model.value)
    summary = summarise(records)
    if write_bands:
        from gpt4plan.accuracy import bands  # imported where used: a fast start
        source = _basename(path) + ("" if performance_model is PerformanceModel.roofline
                                    else f" with --performance-model {performance_model.value}")
        bands.write_bands(records, write_bands, source)
    if plot:
        from gpt4plan.report import plot_validation

        write_plot_file(plot, lambda tmp: plot_validation(records, str(tmp)))
    cov = None
    if coverage:
        from gpt4plan.accuracy.coverage import coverage as band_coverage

        cov = band_coverage(records)
    if fmt is Format.json:
        out = {"file": path, "performance_model": performance_model.value, "records": [r.as_dict() for r in records],
               "summary": summary}
        typer.echo(to_json(out if cov is None else {**out, "coverage": cov}))
    else:
        console = ResultConsole(highlight=False)
        print_validate(records, summary, console, path)
        if performance_model is not PerformanceModel.roofline:
            console.print(f"performance model: {performance_model.value} (--performance-model)", style="dim")
        if cov is not None:
            from gpt4plan.report import print_coverage

            print_coverage(cov, console)
    if all(r.skipped for r in records):
        err_console.print(f"gpt4plan: nothing replayed: all {plural(len(records), 'metric')} of {_basename(path)} were skipped "
                          "(reasons in the 'Not replayed' list)", markup=False)
        raise typer.Exit(1)


def calibrate(
    file: Annotated[str | None, typer.Argument(help="Measurements YAML (default: the shipped development set).")] = None,
    hardware: Annotated[str | None, typer.Option("--hardware", "-H", help="Catalog hardware name whose factors to fit (required), e.g. h100-sxm.")] = None,
    output: Annotated[str | None, typer.Option("--output", "-o", help="Write the calibrated spec here (default: NAME.calibrated.yaml in the current directory).")] = None,
    factors: Annotated[str, typer.Option("--factors", help="Comma-separated factors to fit.")] = "compute,memory,network",
):
    """Fit a chip's efficiency factors (compute, memory, network) to its measurements (10-60 s).

    Writes the chip's spec with the fitted values to NAME.calibrated.yaml in the current directory (or
    --output)."""
    from gpt4plan.specs import SpecError
    from gpt4plan.specs.catalog import catalog_dir

    if hardware is None:
        raise BadInput("--hardware: name the chip whose factors to fit, e.g. --hardware h100-sxm "
                       "(see 'gpt4plan hardware'); the spec is written to NAME.calibrated.yaml here unless --output")
    if file is not None and not file.strip():  # '' would otherwise fit the shipped set
        raise BadInput("FILE: empty path; give a measurements file, or omit it for the shipped development set")
    from gpt4plan.accuracy.calibrate import calibrate as fit
    from gpt4plan.accuracy.calibrate import write_calibrated_spec

    path = file or str(catalog_dir("measurements") / "validation-dev.yaml")
    wanted = tuple(f.strip() for f in factors.split(",") if f.strip())
    unknown = [f for f in wanted if f not in ("compute", "memory", "network")]
    if unknown or not wanted:
        raise BadInput(f"--factors: choose from compute, memory, network (got {factors!r})")
    _check_output(output or f"{hardware}.calibrated.yaml")
    try:
        with err_console.status(f"fitting {hardware}'s {', '.join(wanted)} factors to {_basename(path)} "
                                "(a coordinate search; 10-60 s)"):
            res = fit(path, hardware, wanted)
    except SpecError:  # a bad measurements file or --hardware: already "file:line: ..." / "--hardware: ..."
        raise
    except ValueError as exc:
        raise BadInput(str(exc)) from None
    out = write_calibrated_spec(hardware, res["fitted"], _basename(path), res["records"],
                                output or f"{hardware}.calibrated.yaml")
    b, a = res["summary_before"], res["summary_after"]
    typer.echo(f"{hardware}: fitted {res['fitted']} on {plural(res['records'], 'metric')}; mean squared log error "
               f"{res['before']:.4f} -> {res['after']:.4f}")
    for kind in ("train", "infer"):
        if b[kind]["count"]:
            typer.echo(f"  {kind}: median |error| {b[kind]['median_abs_error']:.1%} -> {a[kind]['median_abs_error']:.1%}, "
                       f"p90 {b[kind]['p90_abs_error']:.1%} -> {a[kind]['p90_abs_error']:.1%}")
    typer.echo(f"wrote {out}")


def _basename(path: str) -> str:
    from pathlib import Path

    return Path(path).name


def _check_output(path: str) -> None:
    """The calibrated spec's path, checked before the fit (10-60 s): a folder, a missing folder or one
    that cannot be written is bad input now, not after the work."""
    import os
    from pathlib import Path

    p = Path(path)
    if p.is_dir():
        raise BadInput(f"--output: {path} is a directory; give a file name, e.g. {p / 'chip.calibrated.yaml'}")
    folder = p.parent
    if not folder.is_dir():
        raise BadInput(f"--output: cannot write {path}: the folder {folder} does not exist")
    if not os.access(folder, os.W_OK):
        raise BadInput(f"--output: cannot write {path}: the folder {folder} is not writable")
