"""``--demand-profile FILE|h0,h1,...``: a demand over time read at the command line's boundary, and the
autoscaling options beside it (``--min-replicas``, ``--scale-up-lag``, ``--idle-value``).

Two forms (README, "Daily demand"):

* an inline list of output tokens/s, one value per hour (``--demand-profile 2k,1k,...,8k``; 24 values make
  a day; count suffixes as ``--demand`` takes them);
* a CSV file with two columns, time and demand (a header row is optional): time in hours (``0``, ``0.25``,
  ``13.5``) or ``HH:MM``, increasing in equal steps; demand in output tokens/s.  The step is the spacing of
  the times (one hour for a single row).

A bad value is one line: ``FILE:LINE: column: why`` for the file, ``--demand-profile: hour H: why`` for
the list; exit 2.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from gpt4plan.cli.console import BadInput

#: At most this many steps (a week in minutes is 10,080) and this many bytes of CSV.
MAX_STEPS = 100_000
MAX_FILE_BYTES = 4 * 1024 * 1024
#: Largest demand taken (output tokens/s), as ``--demand``.
MAX_DEMAND = 1e12


@dataclass(frozen=True)
class DemandProfile:
    """Output tokens/s per step (``values``), the step in seconds, a label per step and where it came from."""

    values: list[float]
    step_s: float
    labels: list[str]
    source: str


def read_demand_profile(text: str) -> DemandProfile:
    """``--demand-profile``'s value: a CSV file when a file of that name exists, else an inline list."""
    if not text.strip():
        raise BadInput("--demand-profile: empty; give a CSV file (time,demand) or a list h0,h1,...,h23")
    p = Path(text).expanduser()
    try:
        is_file, is_dir = p.is_file(), p.is_dir()
    except OSError:  # a name too long for a path: a list
        is_file = is_dir = False
    if is_file:
        return _read_csv(p)
    if is_dir:
        raise BadInput(f"--demand-profile: {text} is a directory; give a CSV file (time,demand) or h0,h1,...,h23")
    if p.suffix.lower() in (".csv", ".txt") or "/" in text:
        raise BadInput(f"--demand-profile: no file {text}; give a CSV file (time,demand) or a list h0,h1,...,h23")
    parts = text.split(",")
    values = [_demand(v, f"--demand-profile: hour {h}") for h, v in enumerate(parts)]
    _check(values, "--demand-profile")
    return DemandProfile(values, 3600.0, [f"{h:02d}:00" if h < 24 else f"h{h}" for h in range(len(values))],
                         "inline")


def _demand(value: str, where: str) -> float:
    """One demand value (output tokens/s, count suffixes taken): finite, >= 0, at most :data:`MAX_DEMAND`."""
    from gpt4plan.specs.units import UnitError, parse_count

    v = value.strip()
    if not v:
        raise BadInput(f"{where}: empty; give output tokens/s (0 or more), e.g. 5000 or 5k")
    try:
        x = parse_count(v)
    except UnitError as exc:
        raise BadInput(f"{where}: {exc}") from None
    if x < 0:
        raise BadInput(f"{where}: {v} is negative; demand is output tokens/s, 0 or more")
    if 0 < x < 1e-9:
        raise BadInput(f"{where}: {v} is below 1e-09 output tokens/s; give 0 or more (as --demand)")
    if x > MAX_DEMAND:
        raise BadInput(f"{where}: {v} is beyond any real fleet (max {MAX_DEMAND:g} output tokens/s)")
    return x


def _check(values: list[float], where: str) -> None:
    if len(values) > MAX_STEPS:
        raise BadInput(f"{where}: {len(values):,} steps; at most {MAX_STEPS:,}")
    if not any(v > 0 for v in values):
        raise BadInput(f"{where}: every step is 0: nothing to serve")


def _time_h(value: str) -> float | None:
    """A time in hours: a number (``13.5``) or a clock time ``HH:MM`` (``13:30``, 00:00 to 23:59); None when
    it is neither."""
    v = value.strip()
    if ":" in v:
        hh, _, mm = v.partition(":")
        if hh.isdigit() and mm.isdigit() and len(mm) == 2 and int(mm) < 60 and int(hh) < 24:
            return int(hh) + int(mm) / 60.0
        return None
    try:
        x = float(v)
    except ValueError:
        return None
    return x if math.isfinite(x) else None


def _rows(path: Path) -> list[tuple[int, list[str]]]:
    """The file's non-empty rows with their line numbers (UTF-8, a BOM allowed, at most 4 MiB)."""
    import csv

    if path.stat().st_size > MAX_FILE_BYTES:
        raise BadInput(f"{path}: over {MAX_FILE_BYTES // (1024 * 1024)} MiB; a demand profile is a few rows")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise BadInput(f"{path}: not UTF-8 text (byte {exc.start})") from None
    except OSError as exc:
        raise BadInput(f"{path}: cannot read: {exc.strerror or exc}") from None
    reader = csv.reader(text.splitlines())
    return [(reader.line_num, row) for row in reader if any(c.strip() for c in row)]


def _read_csv(path: Path) -> DemandProfile:
    """A CSV of (time, demand) rows: times increasing in equal steps."""
    rows = _rows(path)
    if rows and _time_h(rows[0][1][0]) is None:  # a header row
        rows = rows[1:]
    if not rows:
        raise BadInput(f"{path}: no rows; give time,demand rows, e.g. 0,5000")
    times, values, labels = [], [], []
    for line, row in rows:
        if len(row) != 2:
            raise BadInput(f"{path}:{line}: row: {len(row)} columns; give two, time,demand")
        t = _time_h(row[0])
        if t is None or not (0 <= t <= 1e6):
            raise BadInput(f"{path}:{line}: time: cannot read {row[0].strip()!r} as hours (13.5) or HH:MM (13:30)")
        times.append(t)
        values.append(_demand(row[1], f"{path}:{line}: demand"))
        labels.append(row[0].strip())
    step_h = times[1] - times[0] if len(times) > 1 else 1.0
    for (line, _), a, b in zip(rows[1:], times, times[1:], strict=False):
        if b <= a:
            raise BadInput(f"{path}:{line}: time: {b:g} h does not follow {a:g} h; times must increase")
        if not math.isclose(b - a, step_h, rel_tol=1e-6, abs_tol=1e-9):
            raise BadInput(f"{path}:{line}: time: a step of {b - a:g} h after steps of {step_h:g} h; "
                           "give equal steps")
    _check(values, str(path))
    return DemandProfile(values, step_h * 3600.0, labels, str(path))


def scale_up_lag_s(value: str | None) -> float | None:
    """``--scale-up-lag``: a time (``10min``, ``90s``, ``0``; a bare number is seconds), 0 to 1 day."""
    if value is None:
        return None
    from gpt4plan.specs.units import UnitError, parse_quantity

    try:
        x = parse_quantity(value, "seconds")
    except UnitError as exc:
        raise BadInput(f"--scale-up-lag: {exc}") from None
    if not (0 <= x <= 86400):
        raise BadInput(f"--scale-up-lag: must be between 0 and 1 day, got {value!r}")
    return x


def idle_value(value: float | None) -> float | None:
    """``--idle-value``: the fraction of released chip-hours' price recovered, in [0, 1]."""
    if value is not None and not (0.0 <= value <= 1.0):
        raise BadInput(f"--idle-value: a fraction in [0, 1] of the released chip-hours' price, got {value!r}")
    return value


@dataclass(frozen=True)
class ProfileRequest:
    """``--demand-profile`` with its autoscaling settings (None: the defaults of :mod:`gpt4plan.serving.demand`)."""

    profile: DemandProfile
    min_replicas: int | None
    scale_up_lag_s: float | None
    idle_value: float | None

    @property
    def peak(self) -> float:
        return max(self.profile.values)

    def day(self, plan):
        """The profile priced on ``plan``'s replicas (:func:`gpt4plan.serving.demand.plan_demand_day`)."""
        from gpt4plan.serving.demand import plan_demand_day

        return plan_demand_day(plan, self.profile.values, self.profile.step_s, min_replicas=self.min_replicas,
                               scale_up_lag_s=self.scale_up_lag_s, idle_value=self.idle_value)


def profile_request(demand_profile: str | None, given: dict, fmt: str, others: dict) -> ProfileRequest | None:
    """``--demand-profile`` and its settings checked: ``given`` holds ``demand``, ``users``, ``min_replicas``,
    ``scale_up_lag``, ``idle_value``; ``others`` the options that do not combine with a profile (a true value
    is given).  None without a profile."""
    if demand_profile is None:
        for opt, key in (("--min-replicas", "min_replicas"), ("--scale-up-lag", "scale_up_lag"),
                         ("--idle-value", "idle_value")):
            if given.get(key) is not None:
                raise BadInput(f"{opt}: an autoscaling setting; needs --demand-profile")
        return None
    for opt, key in (("--demand", "demand"), ("--users", "users")):
        if given.get(key) is not None:
            raise BadInput(f"--demand-profile and {opt} both set the demand; give one")
    for opt, value in others.items():
        if value:
            raise BadInput(f"--demand-profile prices one plan over a day; not with {opt}")
    if fmt in ("csv", "markdown"):
        raise BadInput("--demand-profile: use --format table or json (csv and markdown hold one kind of plan)")
    lag, idle = scale_up_lag_s(given.get("scale_up_lag")), idle_value(given.get("idle_value"))
    return ProfileRequest(read_demand_profile(demand_profile), given.get("min_replicas"), lag, idle)
