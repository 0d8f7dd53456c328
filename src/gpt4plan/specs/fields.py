"""Field types shared by the spec schemas, and the precisions gpt4plan knows (docs/design.md).

Quantities are parsed with pint at this boundary (:mod:`gpt4plan.specs.units`) and stored as SI
floats: bytes, bytes/s, FLOP/s, seconds; prices in USD per hour.  Every size-like field has bounds
that catch typos (``d_model: 81920000``) before numpy does.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from gpt4plan.specs.units import UnitError, parse_count, parse_quantity
from gpt4plan.specs.vocabulary import DTYPE_BYTES, DTYPES  # declared with the precisions' names

__all__ = [
    "DTYPE_BYTES",
    "DTYPES",
    "PeakDtype",
    "MAX_DIM",
    "count_int",
    "StrictModel",
    "PosInt",
    "NonNegInt",
    "Bytes",
    "BytesPerS",
    "FlopsPerS",
    "Seconds",
    "UsdPerHour",
    "Fraction",
]

PeakDtype = Literal["fp32", "tf32", "bf16", "fp16", "fp8", "int8", "fp4"]

#: Largest value any size-like field may take: catches typos like d_model: 81920000 before numpy does.
MAX_DIM = 10_000_000


def _quantity(dimension: str):
    return BeforeValidator(lambda v: parse_quantity(v, dimension))


def count_int(v: Any) -> Any:
    """A count as an int: ``"13T"``, ``1e3`` and ``"4"`` read; a bool, binary data or a fraction do not
    (``ValueError``).  Anything else is returned as it is, for pydantic to judge."""
    if isinstance(v, bool):
        raise ValueError("expected an integer, got a boolean")
    if isinstance(v, (bytes, bytearray)):  # YAML !!binary: pydantic would read b"4" as 4
        raise ValueError("expected an integer, got binary data")
    if isinstance(v, (str, float)):
        try:
            x = parse_count(v)
        except UnitError as exc:
            raise ValueError(str(exc)) from None
        if x != int(x):
            raise ValueError(f"expected a whole number, got {v!r}")
        return int(x)
    return v


def _fraction(v: Any) -> Any:
    if isinstance(v, (bool, bytes, bytearray)):
        raise ValueError(f"expected a fraction such as 0.8, got {type(v).__name__}")
    if isinstance(v, str):
        s = v.strip()
        try:
            return float(s[:-1]) / 100 if s.endswith("%") else float(s)
        except ValueError:
            raise ValueError(f"cannot read {v!r} as a fraction (0.8 or 80%)") from None
    return v


def _printable_name(v: Any) -> Any:
    """A name is printed in tables, titles and error lines: no control characters (an escape sequence from a
    config would drive the terminal; a newline would split a title)."""
    if isinstance(v, str):
        bad = next((c for c in v if ord(c) < 32 or ord(c) == 127 or 0x80 <= ord(c) < 0xA0), None)
        if bad is not None:
            raise ValueError(f"contains the control character {bad!r}; a name is printed in tables and errors")
    return v


#: A model or hardware name: text of at least one character, no control characters.
Name = Annotated[str, Field(min_length=1), BeforeValidator(_printable_name)]
PosInt = Annotated[int, BeforeValidator(count_int), Field(gt=0, le=MAX_DIM)]
NonNegInt = Annotated[int, BeforeValidator(count_int), Field(ge=0, le=MAX_DIM)]
Bytes = Annotated[float, _quantity("bytes"), Field(ge=1e6, le=1e18)]
BytesPerS = Annotated[float, _quantity("bytes_per_s"), Field(ge=1e6, le=1e16)]
FlopsPerS = Annotated[float, _quantity("flops_per_s"), Field(ge=1e6, le=1e19)]
Seconds = Annotated[float, _quantity("seconds"), Field(ge=0, le=10.0)]
UsdPerHour = Annotated[float, _quantity("usd_per_hour"), Field(gt=0, le=1e4)]
Fraction = Annotated[float, BeforeValidator(_fraction), Field(ge=0.001, le=1)]


class StrictModel(BaseModel):
    """Base of every spec schema: unknown fields are errors, values frozen, text stripped."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)
