"""Schema of a budgets file (``gpt4plan check``): its sections, the limits and their units (docs/design.md).

A budgets file (README, "gpt4plan check"; full example ``examples/budgets.yaml``)::

    defaults:                      # optional; merged into every scenario (mappings key by key)
      hardware: h100-sxm
      max: {memory_per_chip_bytes: 75 GB}
    budgets:
      - name: chat-70b
        kind: infer                # infer | train
        model: llama-3.1-70b       # catalog name, or a path relative to this file
        workload: {prompt_tokens: 2048, output_tokens: 512, weights: fp8, kv_cache: fp8}
        targets: {ttft: 1s, tpot: 50ms, demand: 20000}
        layout: {tp: 8}            # optional pins
        objective: min_cost        # infer only: which plan is checked (min_cost | min_chips)
        price_per_hour: 2.5 USD/h  # optional; default the hardware spec's price
        max: {usd_per_1k_output_tokens: 0.002, chips: 64, tpot_s: 50ms}
        min: {tokens_per_s_per_user: 20}

Every limit is checked against one plan: for ``infer`` the ``min_cost`` plan (or ``min_chips`` with
``objective: min_chips``), for ``train`` the plan the search chose (fastest on ``targets.chips``,
fewest chips within ``targets.days``, else cheapest).  Headroom is ``(limit - value) / limit`` for a
``max`` limit and ``(value - limit) / limit`` for a ``min`` limit; negative headroom fails.  A scenario
with no feasible plan fails, naming the binding constraint.

Units: limits carry units that must fit their dimension (``tpot_s: 50ms``, ``memory_per_chip_bytes:
60 GB``, ``usd: 30M`` or ``30e6 USD``, ``days: 90`` or ``12 weeks``, ``mfu: 40%``); a bare number is SI
(seconds, bytes, USD, tokens/s), days for ``days``.  Every loading error is a
:class:`~gpt4plan.specs.SpecError` (``file:line: field: what is wrong``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from gpt4plan.specs.units import AmbiguousUnit, UnitError, parse_count, parse_latency, parse_quantity
from gpt4plan.specs.vocabulary import Objective, Precision, Recompute, TrainPrecision, literal

__all__ = ["KINDS", "Limit", "LIMITS", "MERGED", "SECTIONS", "ScenarioIn", "parse_limit"]

KINDS = ("infer", "train")


@dataclass(frozen=True)
class Limit:
    """A limit a budget may set: its name (= the plan's JSON field), bound and dimension."""

    name: str
    bound: Literal["max", "min"]
    kinds: tuple[str, ...]
    dimension: str  # usd | count | seconds | days | bytes | rate | fraction


LIMITS: dict[str, Limit] = {
    lim.name: lim
    for lim in (
        Limit("usd_per_1k_output_tokens", "max", ("infer",), "usd"),
        Limit("usd_per_1k_input_tokens", "max", ("infer",), "usd"),
        Limit("usd_per_hour", "max", ("infer",), "usd"),
        Limit("chips", "max", KINDS, "count"),
        Limit("tpot_s", "max", ("infer",), "seconds"),
        Limit("ttft_s", "max", ("infer",), "seconds"),
        Limit("usd", "max", ("train",), "usd"),
        Limit("days", "max", ("train",), "days"),
        Limit("gpu_hours", "max", ("train",), "count"),
        Limit("memory_per_chip_bytes", "max", KINDS, "bytes"),
        Limit("tokens_per_s_per_user", "min", ("infer",), "rate"),
        Limit("mfu", "min", KINDS, "fraction"),
        Limit("throughput_tokens_per_s", "min", ("infer",), "rate"),
    )
}

#: What each dimension takes, for error messages.
_DIMENSION_HELP = {
    "usd": "an amount in USD such as 0.002, '$30M', '30e6 USD'",
    "count": "a whole number such as 64 or '2k'",
    "seconds": "a time such as '50ms', '1.5 s' or 0.05 (seconds)",
    "days": "a duration such as 90 (days), '12 weeks' or '2160 h'",
    "bytes": "a memory size such as '60 GB', '70 GiB' or 6e10 (bytes)",
    "rate": "a rate in tokens/s such as 20 or '20 tokens/s'",
    "fraction": "a fraction such as 0.4 or '40%'",
}

#: Keys whose mapping values merge key by key with ``defaults`` (the rest are replaced whole).
MERGED = ("workload", "targets", "layout", "max", "min")


# ---------------------------------------------------------------------------------------------
# Value parsers (each raises ValueError with a message that says what was expected)


def _usd(v: Any) -> float:
    if isinstance(v, str):
        s = v.strip()
        s = s[1:].strip() if s.startswith("$") else s
        try:
            return parse_count(s)
        except UnitError:
            return parse_quantity(s, "usd")
    return parse_count(v)


def _whole(v: Any) -> float:
    x = parse_count(v)
    if x != int(x):
        raise UnitError(f"expected a whole number, got {v!r}")
    return x


def _days(v: Any) -> float:
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return float(v)
    if isinstance(v, str):
        try:
            return float(v.strip())
        except ValueError:
            return parse_quantity(v, "seconds") / 86400.0
    raise UnitError(f"expected a duration, got {v!r}")


def _fraction(v: Any) -> float:
    if isinstance(v, str) and v.strip().endswith("%"):
        try:
            return float(v.strip()[:-1]) / 100.0
        except ValueError:
            raise UnitError(f"cannot read {v!r} as a percentage") from None
    return parse_count(v)


_PARSERS = {
    "usd": _usd,
    "count": _whole,
    "seconds": lambda v: parse_quantity(v, "seconds"),
    "days": _days,
    "bytes": lambda v: parse_quantity(v, "bytes"),
    "rate": lambda v: parse_quantity(v, "tokens_per_s"),
    "fraction": _fraction,
}


def parse_limit(name: str, value: Any) -> float:
    """Parse one limit's value into SI (days for ``days``).  Raises ValueError saying what fits."""
    lim = LIMITS[name]
    if isinstance(value, bool) or value is None or isinstance(value, (list, dict)):
        raise ValueError(f"expected {_DIMENSION_HELP[lim.dimension]}, got {value!r}")
    try:
        if name in ("tpot_s", "ttft_s"):  # a bare 50 is refused as a likely slip for 50 ms
            x = parse_latency(value, name[:-2])
        else:
            x = float(_PARSERS[lim.dimension](value))
    except AmbiguousUnit as exc:
        raise ValueError(str(exc)) from None
    except (UnitError, ValueError, TypeError):
        raise ValueError(f"{value!r} does not fit {name}: expected {_DIMENSION_HELP[lim.dimension]}") from None
    if not math.isfinite(x) or x <= 0:
        raise ValueError(f"must be a positive finite number, got {value!r}")
    if lim.dimension == "fraction" and x > 1:
        raise ValueError(f"{name} is a fraction of peak: at most 1 (100%), got {value!r}")
    return x




# ---------------------------------------------------------------------------------------------
# Schema of the sections (pydantic, extra fields forbidden)


def _field(parser, what: str):
    def run(v: Any) -> Any:
        if v is None:
            return v
        if isinstance(v, bool):
            raise ValueError(f"expected {what}, got a boolean")
        try:
            return parser(v)
        except AmbiguousUnit as exc:  # says itself which unit to write
            raise ValueError(str(exc)) from None
        except (UnitError, ValueError, TypeError):
            raise ValueError(f"cannot read {v!r} as {what}") from None

    return BeforeValidator(run)


Whole = Annotated[int, _field(_whole, "a whole number (64, '2k')"), Field(ge=1, le=10_000_000)]
BigCount = Annotated[float, _field(parse_count, "a count (13e12, '13T', '60M')"), Field(ge=1, le=1e18)]
Secs = Annotated[float, _field(lambda v: parse_quantity(v, "seconds"), "a time ('500ms', '2s')"),
                 Field(ge=1e-6, le=1e6)]
TpotSecs = Annotated[float, _field(lambda v: parse_latency(v, "tpot"), "a time ('50ms')"), Field(ge=1e-6, le=1e6)]
TtftSecs = Annotated[float, _field(lambda v: parse_latency(v, "ttft"), "a time ('2s')"), Field(ge=1e-6, le=1e6)]
def _rate(v: Any) -> float:
    """A rate in tokens/s: a count with a suffix like the CLI's --demand 50k, or a quantity ('20 1/s')."""
    try:
        return parse_count(v)
    except UnitError:
        return parse_quantity(v, "tokens_per_s")


Rate = Annotated[float, _field(_rate, "a rate in tokens/s (20000 or 20k)"),
                 Field(gt=0, le=1e12)]
Days = Annotated[float, _field(_days, "a duration (90 days, '12 weeks')"), Field(gt=0, le=1e6)]
Price = Annotated[float, _field(lambda v: parse_quantity(v, "usd_per_hour"), "a price ('2.5 USD/h' or 2.5)"),
                  Field(gt=0, le=1e4)]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class InferWorkloadIn(_Section):
    prompt_tokens: Whole | None = None
    output_tokens: Whole | None = None
    weights: literal(Precision) = "bf16"
    kv_cache: literal(Precision) = "bf16"


class InferTargetsIn(_Section):
    ttft: TtftSecs | None = None
    tpot: TpotSecs | None = None
    tokens_per_s_per_user: Rate | None = None
    demand: Rate | None = None
    users: Whole | None = None
    max_chips: Whole = 4096

    @model_validator(mode="after")
    def _one_speed(self) -> InferTargetsIn:
        if self.tpot is not None and self.tokens_per_s_per_user is not None:
            raise ValueError("tokens_per_s_per_user: tpot and tokens_per_s_per_user set the same target; give one")
        return self


class InferLayoutIn(_Section):
    tp: Whole | None = None
    pp: Whole | None = None
    ep: Whole | None = None
    batch: Whole | None = None
    chips: Whole | None = None


class TrainWorkloadIn(_Section):
    tokens: BigCount = 13e12
    seq_len: Whole | None = None
    global_batch: BigCount = 4e6
    precision: literal(TrainPrecision) = "bf16"


class TrainTargetsIn(_Section):
    chips: Whole | None = None
    days: Days | None = None
    max_chips: Whole = 100_000

    @model_validator(mode="after")
    def _one_question(self) -> TrainTargetsIn:
        if self.chips is not None and self.days is not None:
            raise ValueError("days: chips (fastest on N chips) and days (fewest chips for D days) ask "
                             "different questions; give one")
        return self


class TrainLayoutIn(_Section):
    tp: Whole | None = None
    pp: Whole | None = None
    dp: Whole | None = None
    ep: Whole | None = None
    zero: Annotated[int, Field(ge=0, le=3)] | None = None
    microbatch: Whole | None = None
    recompute: literal(Recompute) | None = None
    interleave: Annotated[int, Field(ge=1, le=64)] | None = None


def _ref(v: Any) -> Any:
    if isinstance(v, Mapping):
        return dict(v)
    if isinstance(v, str) and v.strip():
        return v.strip()
    raise ValueError(f"expected a catalog name, a path or an inline spec, got {v!r}")


class ScenarioIn(_Section):
    name: Annotated[str, Field(min_length=1, max_length=200)]
    kind: Literal["infer", "train"]
    model: Annotated[Any, BeforeValidator(_ref)]
    hardware: Annotated[Any, BeforeValidator(_ref)]
    workload: dict[str, Any] = {}
    targets: dict[str, Any] = {}
    layout: dict[str, Any] = {}
    objective: literal(Objective) | None = None
    price_per_hour: Price | None = None
    max: dict[str, Any] = {}
    min: dict[str, Any] = {}

    @model_validator(mode="before")
    @classmethod
    def _name_as_text(cls, data: Any) -> Any:
        if isinstance(data, Mapping) and isinstance(data.get("name"), (int, float)) and \
                not isinstance(data.get("name"), bool):
            data = {**data, "name": str(data["name"])}
        return data


SECTIONS = {
    ("infer", "workload"): InferWorkloadIn, ("infer", "targets"): InferTargetsIn, ("infer", "layout"): InferLayoutIn,
    ("train", "workload"): TrainWorkloadIn, ("train", "targets"): TrainTargetsIn, ("train", "layout"): TrainLayoutIn,
}  # fmt: skip
