"""Cost budgets for CI (``gpt4plan check``): load a budgets file, plan every scenario, check its limits.

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

No Rich, no Typer: results are dataclasses that :mod:`gpt4plan.report` renders.
"""

from __future__ import annotations

import difflib
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator

from gpt4plan.specs import (
    HardwareSpec,
    ModelSpec,
    SpecError,
    hardware_from_mapping,
    load_hardware,
    load_model,
    load_yaml_with_lines,
    model_from_mapping,
    plain_message,
)
from gpt4plan.specs.units import AmbiguousUnit, UnitError, parse_count, parse_latency, parse_quantity

__all__ = [
    "LIMITS",
    "Limit",
    "LimitCheck",
    "Scenario",
    "ScenarioResult",
    "CheckReport",
    "load_budgets",
    "evaluate_scenario",
    "check_budgets",
    "load_baseline",
    "apply_baseline",
    "parse_regression",
]

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
_MERGED = ("workload", "targets", "layout", "max", "min")


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


def parse_regression(text: str) -> float:
    """``'10%'`` or ``'0.1'`` -> 0.1.  A bare number above 1 is refused as ambiguous."""
    s = str(text).strip()
    try:
        x = float(s[:-1]) / 100.0 if s.endswith("%") else float(s)
    except ValueError:
        raise ValueError(f"cannot read {text!r} as a relative change; write e.g. 10% or 0.1") from None
    if not s.endswith("%") and x > 1:
        raise ValueError(f"{text!r} is ambiguous; write a percentage such as {s}% or a fraction such as 0.1")
    if not (math.isfinite(x) and 0 <= x <= 100):
        raise ValueError(f"must be between 0% and 10000%, got {text!r}")
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
Rate = Annotated[float, _field(lambda v: parse_quantity(v, "tokens_per_s"), "a rate in tokens/s"),
                 Field(gt=0, le=1e12)]
Days = Annotated[float, _field(_days, "a duration (90 days, '12 weeks')"), Field(gt=0, le=1e6)]
Price = Annotated[float, _field(lambda v: parse_quantity(v, "usd_per_hour"), "a price ('2.5 USD/h' or 2.5)"),
                  Field(gt=0, le=1e4)]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class InferWorkloadIn(_Section):
    prompt_tokens: Whole | None = None
    output_tokens: Whole | None = None
    weights: Literal["fp32", "bf16", "fp16", "fp8", "int8", "int4"] = "bf16"
    kv_cache: Literal["fp32", "bf16", "fp16", "fp8", "int8", "int4"] = "bf16"


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
    precision: Literal["bf16", "fp16", "fp8"] = "bf16"


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
    recompute: Literal["none", "selective", "full"] | None = None
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
    objective: Literal["min_cost", "min_chips"] | None = None
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


_SECTIONS = {
    ("infer", "workload"): InferWorkloadIn, ("infer", "targets"): InferTargetsIn, ("infer", "layout"): InferLayoutIn,
    ("train", "workload"): TrainWorkloadIn, ("train", "targets"): TrainTargetsIn, ("train", "layout"): TrainLayoutIn,
}  # fmt: skip


# ---------------------------------------------------------------------------------------------
# Loaded scenarios and results


@dataclass
class LimitSpec:
    name: str
    bound: str
    limit: float
    line: int | None = None


@dataclass
class Scenario:
    """One validated scenario, specs resolved.  ``inputs`` holds the planner arguments."""

    name: str
    kind: str
    model: ModelSpec
    hardware: HardwareSpec
    inputs: dict
    limits: list[LimitSpec]
    objective: str | None = None
    line: int | None = None
    price_source: str = ""


@dataclass
class LimitCheck:
    """One limit of one scenario, checked.  ``headroom`` and ``change`` are fractions (0.12 = 12%)."""

    name: str
    bound: str
    limit: float
    value: float | None
    headroom: float | None
    passed: bool
    baseline: float | None = None
    change: float | None = None
    regressed: bool = False
    line: int | None = None  # line of the limit in the budgets file

    def as_dict(self) -> dict:
        return {k: getattr(self, k) for k in ("name", "bound", "limit", "value", "headroom", "passed",
                                               "baseline", "change", "regressed")}


@dataclass
class ScenarioResult:
    name: str
    kind: str
    model: str
    hardware: str
    objective: str
    feasible: bool
    binding_constraint: str | None
    message: str | None
    limits: list[LimitCheck]
    values: dict[str, float]
    plan: dict | None
    inputs: dict = field(default_factory=dict)
    line: int | None = None

    @property
    def passed(self) -> bool:
        return self.feasible and all(c.passed and not c.regressed for c in self.limits)


@dataclass
class CheckReport:
    file: str
    scenarios: list[ScenarioResult]
    baseline_file: str | None = None
    max_regression: float | None = None

    @property
    def passed(self) -> bool:
        return all(s.passed for s in self.scenarios)

    @property
    def failed(self) -> list[ScenarioResult]:
        return [s for s in self.scenarios if not s.passed]


# ---------------------------------------------------------------------------------------------
# Loading


def _field_name(path: tuple) -> str:
    out = ""
    for p in path:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out


class _Where:
    """Maps a key path inside a merged scenario to where it was written (scenario or defaults)."""

    def __init__(self, file: str, lines: dict[tuple, int], item: tuple, origin: dict[tuple, tuple]):
        self.file, self.lines, self.item, self.origin = file, lines, item, origin

    def absolute(self, rel: tuple) -> tuple:
        for n in range(len(rel), 0, -1):
            if rel[:n] in self.origin:
                return self.origin[rel[:n]] + tuple(rel[n:])
        return self.item + tuple(rel)

    def line(self, rel: tuple) -> int | None:
        path = self.absolute(rel)
        for n in range(len(path), -1, -1):
            if path[:n] in self.lines:
                return self.lines[path[:n]]
        return None

    def error(self, rel: tuple, message: str) -> SpecError:
        path = self.absolute(rel)
        if path[:1] == ("defaults",) and self.item[:1] == ("budgets",):
            message += f" (from defaults, in scenario {_field_name(self.item)})"
        return SpecError(self.file, self.line(rel), _field_name(path), message)


def _pydantic_error(exc: ValidationError, where: _Where, prefix: tuple, schema: type[BaseModel]) -> SpecError:
    errors = exc.errors()
    err = next((e for e in errors if e["type"] == "extra_forbidden"), errors[0])
    loc = tuple(x for x in err["loc"] if not (isinstance(x, str) and (x.startswith("function-") or x == "[key]")))
    msg = err.get("msg", "invalid")
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, "):]
        head, sep, rest = msg.partition(": ")
        if sep and " " not in head and head.replace("_", "").isalnum():
            loc, msg = loc + (head,), rest
    if err["type"] == "extra_forbidden" and loc:
        msg = f"unknown field{_suggest(loc[-1], schema.model_fields)}; known: {', '.join(schema.model_fields)}"
    elif err["type"] == "missing":
        msg = "required field is missing"
    elif err["type"] in ("greater_than", "greater_than_equal", "less_than_equal", "less_than"):
        op = {"greater_than": ">", "greater_than_equal": ">=", "less_than_equal": "<=", "less_than": "<"}[err["type"]]
        bound = next(iter(err["ctx"].values()))
        msg = f"must be {op} {bound:g}, got {err.get('input')!r}"
    else:
        msg = plain_message(err) or msg
    return where.error(prefix + loc, msg)


def _suggest(word: Any, choices) -> str:
    near = difflib.get_close_matches(str(word), list(choices), n=1, cutoff=0.6)
    return f" (did you mean '{near[0]}'?)" if near else ""


def _merge(defaults: Mapping, scenario: Mapping, item: tuple) -> tuple[dict, dict[tuple, tuple]]:
    """Scenario over defaults (the ``_MERGED`` mappings key by key); ``null`` in a scenario removes a
    default.  Returns the merged mapping and ``{relative key path: absolute key path}``."""
    merged: dict[str, Any] = {}
    origin: dict[tuple, tuple] = {}
    for src, prefix in ((defaults, ("defaults",)), (scenario, item)):
        for k, v in src.items():
            if k in _MERGED and isinstance(v, Mapping) and isinstance(merged.get(k), Mapping):
                merged[k] = {**v, **{kk: vv for kk, vv in merged[k].items() if kk not in v}}  # own keys first
            else:
                merged[k] = dict(v) if isinstance(v, Mapping) else v
                for key in [p for p in origin if p[:1] == (k,) and len(p) > 1]:
                    del origin[key]
            origin[(k,)] = prefix + (k,)
            if k in _MERGED and isinstance(v, Mapping):
                for kk in v:
                    origin[(k, kk)] = prefix + (k, kk)
    for k in list(merged):
        if merged[k] is None:
            del merged[k]
        elif k in _MERGED and isinstance(merged[k], Mapping):
            merged[k] = {kk: vv for kk, vv in merged[k].items() if vv is not None}
    return merged, origin


def _is_path(ref: str) -> bool:
    return any(ch in ref for ch in "/\\") or ref.endswith((".yaml", ".yml", ".json"))


def _resolve_spec(ref: Any, kind: str, where: _Where, base: Path, file: str):
    """A catalog name, a path relative to the budgets file, or an inline mapping -> spec."""
    from gpt4plan.specs.catalog import (
        catalog_dir,
        hardware_names,
        model_names,
        resolve_hardware,
        resolve_model,
    )

    is_model = kind == "models"
    key = "model" if is_model else "hardware"
    if isinstance(ref, Mapping):
        path = where.absolute((key,))
        sub = {p[len(path):]: ln for p, ln in where.lines.items() if p[:len(path)] == path}
        try:
            return (model_from_mapping if is_model else hardware_from_mapping)(ref, file, sub), "inline"
        except SpecError as exc:  # name the field by its full path in the budgets file
            full = _field_name(path) + (f".{exc.field}" if exc.field else "")
            raise SpecError(file, exc.line or where.line((key,)), full, exc.message) from None
    if (catalog_dir(kind) / f"{ref}.yaml").is_file() and not _is_path(ref):
        return (resolve_model if is_model else resolve_hardware)(ref), ref
    names = model_names() if is_model else hardware_names()
    p = Path(ref).expanduser()
    if not p.is_absolute():
        p = base / p
    if _is_path(ref) or p.is_file():
        if p.is_dir():
            raise where.error((key,), f"{ref!r} is a directory (looked at {p}); give a {key} spec file")
        if not p.is_file():
            raise where.error((key,), f"no such file {ref!r} (looked for {p}; paths are relative to the budgets file)")
        return (load_model if is_model else load_hardware)(p), ref
    near = difflib.get_close_matches(ref, names, n=3, cutoff=0.4)
    hint = f"did you mean {', '.join(repr(n) for n in near)}?" if near else f"known: {', '.join(names)}"
    raise where.error((key,), f"unknown {key} {ref!r}; {hint} (or give a path relative to the budgets file)")


def _limits(merged: dict, kind: str, where: _Where) -> list[LimitSpec]:
    out = []
    for bound in ("max", "min"):
        for name, value in merged.get(bound, {}).items():
            rel = (bound, name)
            if name not in LIMITS:
                known = [n for n, lim in LIMITS.items() if lim.bound == bound and kind in lim.kinds]
                raise where.error(rel, f"unknown limit{_suggest(name, LIMITS)}; {bound} limits of {kind} "
                                  f"scenarios: {', '.join(known)}")
            lim = LIMITS[name]
            if lim.bound != bound:
                raise where.error(rel, f"{name} is a {lim.bound} limit: put it under '{lim.bound}:'")
            if kind not in lim.kinds:
                raise where.error(rel, f"{name} applies to {' and '.join(lim.kinds)} scenarios, not {kind}")
            try:
                x = parse_limit(name, value)
            except ValueError as exc:
                raise where.error(rel, str(exc)) from None
            out.append(LimitSpec(name, bound, x, where.line(rel)))
    return out


def _section(merged: dict, kind: str, key: str, where: _Where):
    schema = _SECTIONS[(kind, key)]
    data = merged.get(key, {})
    if not isinstance(data, Mapping):
        raise where.error((key,), f"expected a mapping of field: value, got {type(data).__name__}")
    try:
        return schema.model_validate(data)
    except ValidationError as exc:
        raise _pydantic_error(exc, where, (key,), schema) from None


def _drop_other_kind(merged: dict, origin: dict[tuple, tuple]) -> None:
    """Defaults apply to every scenario where they fit: drop a default that belongs to the other kind
    (a train-only limit in an infer scenario, ``prompt_tokens`` in a train workload).  A default that
    fits neither kind stays, so that its typo is reported."""
    kind = merged.get("kind")
    if kind not in KINDS:
        return
    other = "train" if kind == "infer" else "infer"

    def from_defaults(rel: tuple) -> bool:
        return origin.get(rel, ())[:1] == ("defaults",)

    if kind == "train" and from_defaults(("objective",)):
        merged.pop("objective", None)
    for key in ("workload", "targets", "layout"):
        sec = merged.get(key)
        if isinstance(sec, Mapping):
            mine, theirs = _SECTIONS[(kind, key)].model_fields, _SECTIONS[(other, key)].model_fields
            merged[key] = {k: v for k, v in sec.items()
                           if not (from_defaults((key, k)) and k not in mine and k in theirs)}
    for bound in ("max", "min"):
        sec = merged.get(bound)
        if isinstance(sec, Mapping):
            merged[bound] = {k: v for k, v in sec.items()
                             if not (from_defaults((bound, k)) and k in LIMITS and kind not in LIMITS[k].kinds)}


def _scenario(merged: dict, where: _Where, base: Path, file: str) -> Scenario:
    _drop_other_kind(merged, where.origin)
    try:
        sc = ScenarioIn.model_validate(merged)
    except ValidationError as exc:
        raise _pydantic_error(exc, where, (), ScenarioIn) from None
    kind = sc.kind
    model, model_ref = _resolve_spec(sc.model, "models", where, base, file)
    hw, hw_ref = _resolve_spec(sc.hardware, "hardware", where, base, file)
    price_source = f"{hw.price:.4g} USD/chip-hour from the {hw.name} spec ({hw.price_date or 'undated'})"
    if sc.price_per_hour is not None:
        hw = hw.with_price(sc.price_per_hour)
        price_source = f"{hw.price:.4g} USD/chip-hour (price_per_hour)"
    wl = _section(merged, kind, "workload", where)
    tg = _section(merged, kind, "targets", where)
    lay = _section(merged, kind, "layout", where)
    from gpt4plan.scenario import infer_pin_problem, train_pin_problem

    if kind == "infer":
        problem = infer_pin_problem(model, lay.tp, lay.pp, lay.ep, lay.batch, lay.chips, tg.max_chips)
    else:
        problem = train_pin_problem(model, lay.tp, lay.pp, lay.dp, lay.ep, lay.interleave, tg.chips, tg.max_chips)
    if problem:  # pins that contradict the model or each other: bad input (exit 2), not an infeasible plan
        raise where.error(("layout",), problem.replace("--", ""))
    limits = _limits(merged, kind, where)
    ctx = model.max_context
    if kind == "infer":
        out_t, prompt_t = wl.output_tokens, wl.prompt_tokens
        if out_t is None:
            out_t = max(1, min(512, ctx // 4) if prompt_t is None else min(512, ctx - prompt_t))
        if prompt_t is None:
            prompt_t = max(1, min(2048, ctx - out_t))
        if prompt_t + out_t > ctx:
            raise where.error(("workload",), f"prompt_tokens + output_tokens = {prompt_t + out_t} exceeds "
                              f"{model.name}'s max_context {ctx}")
        tpot = tg.tpot
        if tpot is None:
            from gpt4plan.serving import SEED_TOKENS_PER_S_PER_USER

            tpot = 1.0 / (tg.tokens_per_s_per_user or SEED_TOKENS_PER_S_PER_USER)
        inputs = {
            "workload": {"prompt_tokens": prompt_t, "output_tokens": out_t, "weights": wl.weights,
                         "kv_cache": wl.kv_cache},
            "targets": {"ttft_max_s": tg.ttft, "tpot_max_s": tpot, "demand_tokens_per_s": tg.demand,
                        "users": tg.users, "max_chips": tg.max_chips},
            "layout": lay.model_dump(),
        }
    else:
        if sc.objective is not None:
            raise where.error(("objective",), "applies to infer scenarios; a train scenario checks the plan "
                              "its targets ask for (chips: fastest, days: fewest chips, neither: cheapest)")
        s = wl.seq_len or min(ctx, 8192)
        if s > ctx:
            raise where.error(("workload", "seq_len"), f"{s} exceeds {model.name}'s max_context {ctx}")
        if wl.global_batch < s:
            raise where.error(("workload", "global_batch"), f"{wl.global_batch:g} tokens is smaller than one "
                              f"sequence of {s} tokens")
        from gpt4plan.training import batch_budget_problem

        problem = batch_budget_problem(wl.tokens, wl.global_batch, f"{wl.tokens:g}", f"{wl.global_batch:g}",
                                       names=("tokens", "global_batch"))
        if problem:
            raise where.error(("workload", problem[0]), problem[1])
        inputs = {
            "workload": {"tokens": wl.tokens, "seq_len": s, "global_batch_tokens": wl.global_batch,
                         "precision": wl.precision},
            "targets": {"chips": tg.chips, "days": tg.days, "max_chips": tg.max_chips},
            "layout": lay.model_dump(),
        }
    inputs["model"], inputs["hardware"] = model_ref, hw_ref
    inputs["price_usd_per_hour"] = hw.price
    return Scenario(name=sc.name, kind=kind, model=model, hardware=hw, inputs=inputs, limits=limits,
                    objective=(sc.objective or "min_cost") if kind == "infer" else None,
                    line=where.lines.get(where.item), price_source=price_source)


def load_budgets(path: str | Path) -> list[Scenario]:
    """Read and validate a budgets file.  Raises :class:`SpecError` (``file:line: field: message``)."""
    file = str(path)
    data, lines = load_yaml_with_lines(path)
    base = Path(path).resolve().parent
    top = _Where(file, lines, (), {})
    if not isinstance(data, Mapping):
        raise SpecError(file, lines.get((), 1), None, "expected a mapping with a 'budgets:' list")
    for k in data:
        if k not in ("budgets", "defaults"):
            raise top.error((k,), "unknown field" + _suggest(k, ("budgets", "defaults")) + "; known: budgets, defaults")
    if "budgets" not in data:
        raise SpecError(file, 1, "budgets", "required field is missing (a list of named scenarios)")
    items = data["budgets"]
    if not isinstance(items, list) or not items:
        raise top.error(("budgets",), "expected a non-empty list of scenarios")
    defaults = data.get("defaults") or {}
    if not isinstance(defaults, Mapping):
        raise top.error(("defaults",), f"expected a mapping of field: value, got {type(defaults).__name__}")
    if "name" in defaults:
        raise top.error(("defaults", "name"), "a name belongs to each scenario, not to defaults")
    for k in defaults:
        if k not in ScenarioIn.model_fields:
            raise top.error(("defaults", k), "unknown field" + _suggest(k, ScenarioIn.model_fields))
    out: list[Scenario] = []
    seen: dict[str, int] = {}
    for i, item in enumerate(items):
        where_item = ("budgets", i)
        if not isinstance(item, Mapping):
            raise top.error(where_item, f"expected a scenario (a mapping with name, kind, model, ...), got {item!r}")
        merged, origin = _merge(defaults, item, where_item)
        where = _Where(file, lines, where_item, origin)
        sc = _scenario(merged, where, base, file)
        if sc.name in seen:
            raise where.error(("name",), f"duplicate scenario name {sc.name!r} (also budgets[{seen[sc.name]}])")
        seen[sc.name] = i
        out.append(sc)
    return out


# ---------------------------------------------------------------------------------------------
# Evaluation


def _headroom(bound: str, limit: float, value: float) -> float:
    return (limit - value) / limit if bound == "max" else (value - limit) / limit


INFER_VALUES = ("usd_per_1k_output_tokens", "usd_per_1k_input_tokens", "usd_per_1k_tokens_blended", "usd_per_hour",
                "chips", "tpot_s", "ttft_s", "tokens_per_s_per_user", "throughput_tokens_per_s",
                "memory_per_chip_bytes", "mfu", "mbu")
TRAIN_VALUES = ("usd", "days", "gpu_hours", "chips", "memory_per_chip_bytes", "mfu", "hfu", "step_time_s")


def evaluate_scenario(sc: Scenario) -> ScenarioResult:
    """Plan one scenario and check its limits against the chosen plan."""
    inp = sc.inputs
    if sc.kind == "infer":
        from gpt4plan.serving import Pins, Targets, Workload, plan_inference

        lay = inp["layout"]
        res = plan_inference(sc.model, sc.hardware, Workload(**inp["workload"]), Targets(**inp["targets"]),
                             Pins(**{k: lay[k] for k in ("tp", "pp", "ep", "batch", "chips")}))
        plan = None
        if res.feasible:
            plan = next(p for p in res.plans if p.objective == sc.objective)
        keys = INFER_VALUES
        objective = sc.objective or "min_cost"
    else:
        from gpt4plan.training import TrainPins, TrainWorkload, plan_training

        lay, tg = inp["layout"], inp["targets"]
        res = plan_training(sc.model, sc.hardware, TrainWorkload(**inp["workload"]), chips=tg["chips"],
                            days=tg["days"], max_chips=tg["max_chips"], pins=TrainPins(**lay))
        plan = res.plan if res.feasible else None
        keys = TRAIN_VALUES
        objective = res.objective
    message = None
    values: dict[str, float] = {}
    if plan is None:
        binding = res.binding_constraint or "unknown"
        text = res.message or ""
        message = "no feasible plan: " + (text if text.startswith(f"{binding}:") else f"{binding}: {text}")
    else:
        d = plan.as_dict()
        values = {k: float(d[k]) for k in keys if d.get(k) is not None}
    checks = []
    for lim in sc.limits:
        v = values.get(lim.name)
        if v is None or not math.isfinite(v):
            checks.append(LimitCheck(lim.name, lim.bound, lim.limit, None, None, False, line=lim.line))
            continue
        h = _headroom(lim.bound, lim.limit, v)
        checks.append(LimitCheck(lim.name, lim.bound, lim.limit, v, h, h >= -1e-9, line=lim.line))  # float noise
    return ScenarioResult(
        name=sc.name, kind=sc.kind, model=sc.model.name, hardware=sc.hardware.name, objective=objective,
        feasible=plan is not None, binding_constraint=None if plan is not None else res.binding_constraint,
        message=message, limits=checks, values=values, plan=plan.as_dict() if plan is not None else None,
        inputs={**inp, "price_source": sc.price_source}, line=sc.line,
    )  # fmt: skip


def check_budgets(path: str | Path) -> CheckReport:
    """Load a budgets file and evaluate every scenario (bad input raises :class:`SpecError`)."""
    scenarios = load_budgets(path)
    return CheckReport(file=str(path), scenarios=[evaluate_scenario(s) for s in scenarios])


# ---------------------------------------------------------------------------------------------
# Baseline comparison


def load_baseline(path: str | Path) -> dict[str, dict[str, float]]:
    """Read a previous ``gpt4plan check --format json`` output -> ``{scenario name: values}``."""
    file = str(path)
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecError(file, None, None, "no such file (a previous 'gpt4plan check --format json' output)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError(file, None, None, f"cannot read: {exc}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SpecError(file, exc.lineno, None, f"not JSON ({exc.msg}); expected 'gpt4plan check --format json' "
                        "output") from None
    except (RecursionError, ValueError) as exc:  # nested too deeply, an integer of 5000 digits
        raise SpecError(file, None, None, f"unreadable JSON ({' '.join(str(exc).split())[:120]})") from None
    if not isinstance(data, Mapping) or not isinstance(data.get("scenarios"), list):
        raise SpecError(file, 1, "scenarios", "missing: expected 'gpt4plan check --format json' output")
    out: dict[str, dict[str, float]] = {}
    for s in data["scenarios"]:
        if not isinstance(s, Mapping) or not isinstance(s.get("name"), str):
            raise SpecError(file, None, "scenarios", "each scenario needs a name")
        vals = s.get("values") or {}
        if not isinstance(vals, Mapping):
            raise SpecError(file, None, f"scenarios.{s['name']}.values", "expected a mapping of value name: number")
        out[s["name"]] = {k: float(v) for k, v in vals.items()
                          if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)}
    return out


def apply_baseline(report: CheckReport, baseline: dict[str, dict[str, float]], max_regression: float | None,
                   baseline_file: str | None = None) -> CheckReport:
    """Attach each limited value's relative change vs the baseline; with ``max_regression`` (a fraction),
    a change in the bad direction (up for a max limit, down for a min limit) beyond it fails the limit."""
    report.baseline_file, report.max_regression = baseline_file, max_regression
    for s in report.scenarios:
        old_vals = baseline.get(s.name, {})
        for c in s.limits:
            old = old_vals.get(c.name)
            if old is None or c.value is None or old == 0:
                continue
            c.baseline = old
            c.change = (c.value - old) / abs(old)
            worse = c.change if c.bound == "max" else -c.change
            if max_regression is not None and worse > max_regression + 1e-9:
                c.regressed = True
    return report
