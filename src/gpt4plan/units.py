"""Quantity parsing at the boundary: strings with units -> SI floats.

Internally gpt4plan works in SI floats only: bytes, seconds, FLOP, FLOP/s, bytes/s, USD (DESIGN.md §2).
This module turns what users write in YAML or on the command line ("80 GiB", "3.35 TB/s",
"989.4 TFLOP/s", "2.5 USD/h", "500ms", "13T", "1.63e14") into those floats, using pint for the unit
algebra.  `GB` = 1e9 bytes, `GiB` = 2**30 bytes; a bare number is SI.

Errors: every parser raises `UnitError` (a `ValueError`) with a short message that says what was
expected; callers attach the file, line and field.
"""

from __future__ import annotations

import math
import re
from functools import lru_cache

__all__ = [
    "UnitError",
    "DIMENSIONS",
    "parse_quantity",
    "parse_count",
    "format_si",
    "format_bytes",
    "format_seconds",
]


class UnitError(ValueError):
    """A value could not be read as a quantity of the expected dimension."""


#: Dimension name -> (pint target unit, human description).
DIMENSIONS: dict[str, tuple[str, str]] = {
    "bytes": ("byte", "a memory size such as '80 GiB' or '40 GB'"),
    "bytes_per_s": ("byte / second", "a bandwidth such as '3.35 TB/s' or '400 Gb/s'"),
    "flops_per_s": ("FLOP / second", "a compute rate such as '989.4 TFLOP/s'"),
    "seconds": ("second", "a time such as '500 ms', '3 us' or '0.2 s'"),
    "usd_per_hour": ("USD / hour", "a price such as '2.50 USD/h'"),
    "usd": ("USD", "an amount such as '63e6 USD'"),
    "tokens_per_s": ("1 / second", "a rate such as '33.33' (tokens/s)"),
}

# Count suffixes for plain numbers: "13T" tokens, "60M" batch, "1.5k" requests.
_COUNT_SUFFIX = {"k": 1e3, "K": 1e3, "M": 1e6, "B": 1e9, "G": 1e9, "T": 1e12, "P": 1e15}
_BITS_RE = re.compile(r"(?<![A-Za-z])([kMGTP])b(?=\s*/|ps\b|\s*$)")
_COUNT_RE = re.compile(r"^\s*([+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)\s*([kKMBGTP]?)\s*$")


@lru_cache(maxsize=1)
def _registry():
    """The pint registry, built once, with FLOP, USD and token units added."""
    import pint

    try:
        ureg = pint.UnitRegistry(cache_folder=":auto:")
    except Exception:  # read-only home, odd platform: fall back to an uncached registry
        ureg = pint.UnitRegistry()
    ureg.define("FLOP = [computation] = flop")
    ureg.define("FLOPS = FLOP / second = flops")
    ureg.define("USD = [currency] = usd = dollar")
    ureg.define("token = [] ")
    return ureg


def _to_float(value: object) -> float | None:
    """A bare number (int, float, or a numeric string like '13e12'), else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip().replace("_", ""))
        except ValueError:
            return None
    return None


def _check_finite(x: float, text: object) -> float:
    if math.isnan(x) or math.isinf(x):
        raise UnitError(f"{text!r} is not a finite number")
    return x


@lru_cache(maxsize=4096)
def _parse_str(text: str, dimension: str) -> float:
    target, what = DIMENSIONS[dimension]
    ureg = _registry()
    cleaned = text.strip().replace("/h", "/hour") if "USD" in text or "usd" in text else text.strip()
    # network convention: "400 Gb/s" is gigabits (pint would read Gb as gilbert)
    cleaned = _BITS_RE.sub(lambda m: f"{m.group(1)}bit", cleaned)
    try:
        q = ureg.Quantity(cleaned)
    except Exception as exc:  # pint raises several exception types for garbage
        raise UnitError(f"cannot read {text!r} as {what} ({exc.__class__.__name__})") from None
    units = str(q.units)
    if dimension.startswith("bytes") and "byte" not in units and "bit" not in units:
        # pint treats bytes as dimensionless: '80 percent' or '3 THz' would otherwise convert
        raise UnitError(f"{text!r} has no byte or bit unit; expected {what}")
    if dimension == "tokens_per_s" and ("byte" in units or "bit" in units):
        # pint treats bytes as dimensionless too: '20 GB/s' would otherwise read as 2e10 tokens/s
        raise UnitError(f"{text!r} has the wrong unit (bytes); expected {what}")
    try:
        value = q.to(target).magnitude
    except Exception:
        dim = getattr(q, "dimensionality", "?")
        raise UnitError(f"{text!r} has the wrong unit ({dim}); expected {what}") from None
    return _check_finite(float(value), text)


def parse_quantity(value: object, dimension: str) -> float:
    """Parse ``value`` into an SI float of the given ``dimension``.

    Args:
        value: a number (taken as SI: bytes, bytes/s, FLOP/s, s, USD/h) or a string with a unit,
            e.g. ``"80 GiB"``, ``"3.35 TB/s"``, ``"989.4 TFLOP/s"``, ``"2.5 USD/h"``, ``"500ms"``.
            Numeric strings such as ``"1.63e14"`` (which PyYAML leaves as strings) are accepted.
        dimension: one of :data:`DIMENSIONS` (``bytes``, ``bytes_per_s``, ``flops_per_s``,
            ``seconds``, ``usd_per_hour``, ``usd``, ``tokens_per_s``).

    Returns:
        The value in SI units (bytes, bytes/s, FLOP/s, s, USD/hour, USD, 1/s) as a float.
        Prices stay in USD per hour, the unit people quote.

    Raises:
        UnitError: unknown unit, wrong dimension (e.g. ``"80 TB/s"`` for a memory size), NaN or
            infinity, or a value that is neither a number nor a string.
    """
    if dimension not in DIMENSIONS:
        raise KeyError(dimension)
    x = _to_float(value)
    if x is not None:
        return _check_finite(x, value)
    if not isinstance(value, str):
        raise UnitError(f"expected {DIMENSIONS[dimension][1]}, got {type(value).__name__} {value!r}")
    return _parse_str(value, dimension)


def parse_count(value: object) -> float:
    """Parse a count: ``13e12``, ``"13e12"``, ``"13T"``, ``"60M"``, ``"1.5k"``.

    Returns a float (counts of tokens reach 1e13).  Raises `UnitError` on anything else,
    including NaN and infinity.
    """
    x = _to_float(value)
    if x is not None:
        return _check_finite(x, value)
    if isinstance(value, str):
        m = _COUNT_RE.match(value)
        if m:
            return _check_finite(float(m.group(1)) * _COUNT_SUFFIX.get(m.group(2), 1.0), value)
    raise UnitError(f"cannot read {value!r} as a count (examples: 13e12, 13T, 60M, 1.5k)")


def format_si(x: float, unit: str = "", digits: int = 3) -> str:
    """Format ``x`` with a decimal SI prefix: ``format_si(9.894e14, 'FLOP/s') -> '989 TFLOP/s'``."""
    if x is None or not math.isfinite(x):
        return "—"
    prefixes = [(1e15, "P"), (1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k"), (1.0, "")]
    ax = abs(x)
    for scale, p in prefixes:
        if ax >= scale:
            return f"{x / scale:.{digits}g} {p}{unit}".strip()
    return f"{x:.{digits}g} {unit}".strip()


def format_bytes(x: float) -> str:
    """Format a byte count in GB (1e9), the unit of datasheets: ``28.1 GB``."""
    if x is None or not math.isfinite(x):
        return "—"
    if abs(x) >= 1e12:
        return f"{x / 1e12:.2f} TB"
    if abs(x) >= 1e9:
        return f"{x / 1e9:.1f} GB"
    if abs(x) >= 1e6:
        return f"{x / 1e6:.1f} MB"
    return f"{x / 1e3:.1f} kB"


def format_seconds(x: float) -> str:
    """Format a duration: ``0.0123 -> '12.3 ms'``, ``2.5 -> '2.50 s'``."""
    if x is None or not math.isfinite(x):
        return "—"
    if x >= 1:
        return f"{x:.2f} s"
    if x >= 1e-3:
        return f"{x * 1e3:.1f} ms"
    return f"{x * 1e6:.0f} µs"
