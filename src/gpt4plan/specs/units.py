"""Quantity parsing at the boundary: strings with units -> SI floats.

Internally gpt4plan works in SI floats only: bytes, seconds, FLOP, FLOP/s, bytes/s, USD (docs/design.md).
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
    "AmbiguousUnit",
    "DIMENSIONS",
    "parse_quantity",
    "parse_count",
    "parse_latency",
    "format_si",
    "format_bytes",
    "format_seconds",
]


class UnitError(ValueError):
    """A value could not be read as a quantity of the expected dimension."""


class AmbiguousUnit(UnitError):
    """A value that reads, but probably not as meant (a bare ``50`` for a TPOT): its message says which
    unit to write, and callers show it as it is."""


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

class _Pattern:
    """A regular expression compiled when first used: a run reads a few of this module's patterns, and
    compiling them all at import took ~2 ms of a fast start (docs/design.md)."""

    def __init__(self, pattern: str, flags: int = 0) -> None:
        self._args: tuple[str, int] = (pattern, flags)

    def __getattr__(self, name: str):  # match, search, sub: the compiled pattern's
        compiled = re.compile(*self._args)
        self.match, self.search, self.sub = compiled.match, compiled.search, compiled.sub
        return getattr(compiled, name)


# Count suffixes for plain numbers: "13T" tokens, "60M" batch, "1.5k" requests.
_COUNT_SUFFIX = {"k": 1e3, "K": 1e3, "M": 1e6, "B": 1e9, "G": 1e9, "T": 1e12, "P": 1e15}
_BITS_RE = _Pattern(r"(?<![A-Za-z])([kMGTP])b(?=\s*/|\s*$)")
_BPS_RE = _Pattern(r"(?<![A-Za-z])([kMGTP])([bB])ps\b")
_IEC_BIT_RE = _Pattern(r"(?<![A-Za-z])([KMGTP]i)b\s*$")
_COUNT_RE = _Pattern(r"^\s*([+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)\s*([kKMBGTP]?)\s*$")


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


# pint prefix name -> the symbol people write ('gigabit' -> 'G' + 'B' in a did-you-mean)
_PREFIX_SYMBOL = {
    "": "", "kilo": "k", "mega": "M", "giga": "G", "tera": "T", "peta": "P", "exa": "E",
    "kibi": "Ki", "mebi": "Mi", "gibi": "Gi", "tebi": "Ti", "pebi": "Pi", "exbi": "Ei",
}
_NUMBER_RE = _Pattern(r"^\s*([+-]?(?:\d[\d_]*\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)")
# Unit spellings users mistype only in letter case ('gb', 'tflop/s'), per dimension, for did-you-mean.
_CANONICAL = {
    "bytes": ["B", "kB", "MB", "GB", "TB", "PB", "KiB", "MiB", "GiB", "TiB", "PiB"],
    "bytes_per_s": ["B", "kB", "MB", "GB", "TB", "PB", "KiB", "MiB", "GiB", "TiB", "kbit", "Mbit", "Gbit", "Tbit"],
    "flops_per_s": ["FLOP", "GFLOP", "TFLOP", "PFLOP", "FLOPS", "GFLOPS", "TFLOPS", "PFLOPS"],
    "seconds": ["s", "ms", "us", "ns", "min", "h"],
    "usd_per_hour": ["USD", "h"],
    "usd": ["USD"],
    "tokens_per_s": ["s"],
}


def _byte_or_bit(name: str) -> str | None:
    """'byte' or 'bit' for a pint unit name of that family ('gibibyte', 'gigabit', 'octet'), else None."""
    if name == "octet" or name.endswith("byte"):
        return "byte"
    if name.endswith("bit"):
        return "bit"
    return None


def _bits_for_bytes(text: str, unit: str) -> str:
    """The message for a capacity written in bits: '80 Gb' is gigabits, did you mean '80 GB'?"""
    prefix = unit[: -len("bit")]
    plural = f"{unit}s"
    m = _NUMBER_RE.match(text)
    if m and prefix in _PREFIX_SYMBOL:
        return (f"{text!r} is {plural}; a memory size is in bytes: did you mean "
                f"'{m.group(1)} {_PREFIX_SYMBOL[prefix]}B'?")
    return f"{text!r} is {plural}; a memory size is in bytes (B, GB, GiB)"


def _unknown_unit(text: str, dimension: str, names: object) -> str:
    """'unknown unit 'gb' (did you mean '80 GB'?)' for pint's UndefinedUnitError."""
    name = names[0] if isinstance(names, (tuple, list)) and names else names
    name = str(name or "?")
    msg = f"unknown unit {name!r}"
    near = [c for c in _CANONICAL.get(dimension, []) if c.lower() == name.lower()]
    if near:
        fixed = re.sub(rf"(?<![A-Za-z]){re.escape(name)}(?![A-Za-z])", near[0], text.strip(), count=1)
        msg += f" (did you mean {fixed!r}?)"
    return msg


#: What a quantity may look like: a number, then a unit made of letters, '/', '·', '^' powers and spaces
#: ('80 GiB', '3.35 TB/s', '989.4 TFLOP/s', '2.5 USD/h', '500ms', '1.63e14').  Anything else (operators,
#: brackets) is refused before pint sees it: pint would evaluate it.
_QUANTITY_RE = _Pattern(r"^\s*(?:[+-]?(?:\d[\d_]*\.?\d*|\.\d+)(?:[eE][+-]?\d{1,3})?|[+-]?(?:nan|inf)\b)?\s*"
                          r"(?:[A-Za-zµμ$][A-Za-zµμ\s/·^\d]*)?$", re.IGNORECASE)
_BYTES_WORD_RE = _Pattern(r"(?<![A-Za-z])([kKMGTPE]i?)[Bb]ytes?\b")


def _short(text: str, width: int = 40) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


_SI = {"": 1.0, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15}  # (pint reads "EB" as exabarn)
_IEC = {"Ki": 2.0**10, "Mi": 2.0**20, "Gi": 2.0**30, "Ti": 2.0**40, "Pi": 2.0**50, "Ei": 2.0**60}
#: The spellings the shipped catalog and most users write, per dimension, with their SI factor: read
#: without pint (building pint's registry takes ~0.1 s of every run).  Anything else goes to pint.
_COMMON: dict[str, dict[str, float]] = {
    "bytes": {**{f"{p}B": f for p, f in _SI.items()}, **{f"{p}B": f for p, f in _IEC.items()}},
    "bytes_per_s": {**{f"{p}B/s": f for p, f in _SI.items()}, **{f"{p}B/s": f for p, f in _IEC.items()},
                    **{f"{p}b/s": f / 8 for p, f in _SI.items() if p}},
    "flops_per_s": {**{f"{p}FLOP/s": f for p, f in _SI.items()}, **{f"{p}FLOPS": f for p, f in _SI.items()}},
    # sub-second units as divisors (10 us -> 10 / 1e6 = 1e-05 exactly as written, not 9.999999999999999e-06)
    "seconds": {"s": 1.0, "ms": -1e3, "us": -1e6, "µs": -1e6, "μs": -1e6, "ns": -1e9, "min": 60.0, "h": 3600.0},
    "usd_per_hour": {"USD/h": 1.0, "USD/hour": 1.0, "USD/hr": 1.0},
}
_COMMON_RE = _Pattern(r"^\s*([+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d{1,3})?)\s*([A-Za-zµμ/]+)\s*$")


def _parse_common(text: str, dimension: str) -> float | None:
    """``text`` in SI when it is a number and one of :data:`_COMMON`'s units, else None (pint decides)."""
    m = _COMMON_RE.match(text)
    factor = _COMMON.get(dimension, {}).get(m.group(2)) if m else None
    if factor is None:
        return None
    return float(m.group(1)) / -factor if factor < 0 else float(m.group(1)) * factor  # < 0: a divisor


@lru_cache(maxsize=4096)
def _parse_str(text: str, dimension: str) -> float:
    target, what = DIMENSIONS[dimension]
    if len(text) > 80 or not _QUANTITY_RE.match(text):
        # pint evaluates arithmetic ('9**9**9 ms' hangs, '80 GB + 1 GB' adds): only NUMBER UNIT is read
        raise UnitError(f"cannot read {_short(text)!r} as {what}: write one number and a unit "
                        "(no arithmetic or brackets)")
    fast = _parse_common(text, dimension)
    if fast is not None:
        return _check_finite(fast, text)
    ureg = _registry()
    cleaned = text.strip()
    if "USD" in text or "usd" in text:  # 'USD/h' and 'USD/hr' are per hour; 'USD/hour' stays as it is
        cleaned = re.sub(r"/\s*hr?\b", "/hour", cleaned)
    cleaned = _BYTES_WORD_RE.sub(lambda m: f"{m.group(1)}B", cleaned)  # '80 GBytes' -> '80 GB'
    # network convention: "400 Gbps" is "400 Gb/s", "1200 GBps" is "1200 GB/s" (Google's TPU docs)
    cleaned = _BPS_RE.sub(lambda m: f"{m.group(1)}{m.group(2)}/s", cleaned)
    # network convention: "400 Gb/s" is gigabits (pint would read Gb as gilbert)
    cleaned = _BITS_RE.sub(lambda m: f"{m.group(1)}bit", cleaned)
    try:
        q = ureg.Quantity(cleaned)
    except Exception as exc:  # pint raises several exception types for garbage
        names = getattr(exc, "unit_names", None)
        why = _unknown_unit(text, dimension, names) if names else "not a number followed by a unit"
        raise UnitError(f"cannot read {text!r} as {what}: {why}") from None
    if dimension.startswith("bytes"):
        # pint treats bytes and bits as dimensionless: '80 percent', '3 THz' or '80 GB GB' would otherwise
        # convert, so the byte or bit unit is checked here: exactly one, to the first power
        family = {name: (_byte_or_bit(name), power) for name, power in q.unit_items() if _byte_or_bit(name)}
        if not family:
            m = _IEC_BIT_RE.search(text)  # '80 Gib': pint reads gigagilbert; the user meant gibibytes
            hint = f" (did you mean {_IEC_BIT_RE.sub(lambda m: m.group(1) + 'B', text.strip())!r}?)" if m else ""
            raise UnitError(f"{text!r} has no byte or bit unit{hint}; expected {what}")
        if len(family) > 1 or any(power != 1 for _, power in family.values()):
            raise UnitError(f"{text!r} has the wrong unit ({q.units}); expected {what}")
        ((name, (kind, _)),) = family.items()
        if dimension == "bytes" and kind == "bit" and len(q.unit_items()) == 1:
            raise UnitError(_bits_for_bytes(text, name))
    if dimension == "tokens_per_s" and any(_byte_or_bit(name) for name, _ in q.unit_items()):
        # pint treats bytes as dimensionless too: '20 GB/s' would otherwise read as 2e10 tokens/s
        raise UnitError(f"{text!r} has the wrong unit (bytes); expected {what}")
    try:
        value = q.to(target).magnitude
    except Exception:
        dim = str(q.units) or "no unit"  # 'millisiemens' reads better than pint's dimensionality
        if dimension == "bytes_per_s" and q.dimensionless:
            dim = "a size, not per second"
        m = _NUMBER_RE.match(text)
        unit = text.strip()[m.end():].strip() if m else ""
        near = [c for c in _CANONICAL.get(dimension, []) if unit and c.lower() == unit.lower() and c != unit]
        hint = f" (did you mean '{m.group(1)}{near[0]}'?)" if near and m else ""
        raise UnitError(f"{text!r} has the wrong unit ({dim}){hint}; expected {what}") from None
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


#: A bare number at or above this is refused as a latency target: 50 meant as 50 ms is the usual slip.
#: No service targets a second per output token, or a minute to the first token.
BARE_LATENCY_LIMIT_S = {"tpot": 1.0, "ttft": 60.0}


def parse_latency(value: object, target: str) -> float:
    """Parse a latency target (``target`` ``'tpot'`` or ``'ttft'``) into seconds.

    Like :func:`parse_quantity` with ``'seconds'``, but a number written without a unit at or above
    :data:`BARE_LATENCY_LIMIT_S` (``--tpot 50``, ``ttft: 500``) is refused: it is almost always
    milliseconds, and read as seconds it plans a service nobody wants without a word.

    Raises:
        UnitError: as :func:`parse_quantity`; :class:`AmbiguousUnit` for "'50' has no unit ... write '50ms'
            or '50s'".
    """
    x = parse_quantity(value, "seconds")
    bare = _to_float(value) is not None
    if bare and x >= BARE_LATENCY_LIMIT_S[target]:
        per = " per output token" if target == "tpot" else " to the first token"
        raise AmbiguousUnit(f"{value!r} has no unit and would be {x:g} s{per}; write '{value}ms' for milliseconds "
                        f"or '{value}s' if you mean seconds")
    return x


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
    prefixes = [(1e18, "E"), (1e15, "P"), (1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k"), (1.0, "")]
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


def plural(n: float, word: str, many: str | None = None) -> str:
    """``n`` and ``word``, plural unless ``n`` prints as 1: ``plural(1, 'chip') -> '1 chip'``,
    ``plural(1024, 'chip') -> '1,024 chips'``; a float is printed whole (``plural(1.0, 'step') -> '1 step'``);
    ``many`` is the plural when it is not ``word + 's'``."""
    text = f"{n:,.0f}" if isinstance(n, float) else f"{n:,}"
    return f"{text} {word if text == '1' else (many or word + 's')}"
