"""Loading a budgets file: defaults merged into each scenario, specs resolved, sections and limits validated,
errors located at ``file:line: field`` (docs/design.md)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from gpt4plan.budgets.schema import KINDS, LIMITS, MERGED, SECTIONS, ScenarioIn, parse_limit
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
from gpt4plan.specs.errors import field_path, name_hint, suggest

__all__ = ["LimitSpec", "Scenario", "load_budgets", "setting_name"]


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
            message += f" (from defaults, in scenario {field_path(self.item)})"
        return SpecError(self.file, self.line(rel), field_path(path), message)


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
        msg = f"unknown field{suggest(loc[-1], schema.model_fields)}; known: {', '.join(schema.model_fields)}"
    elif err["type"] == "missing":
        msg = "required field is missing"
    elif err["type"] in ("greater_than", "greater_than_equal", "less_than_equal", "less_than"):
        op = {"greater_than": ">", "greater_than_equal": ">=", "less_than_equal": "<=", "less_than": "<"}[err["type"]]
        bound = next(iter(err["ctx"].values()))
        msg = f"must be {op} {bound:g}, got {err.get('input')!r}"
    else:
        msg = plain_message(err) or msg
    return where.error(prefix + loc, msg)


def _merge(defaults: Mapping, scenario: Mapping, item: tuple) -> tuple[dict, dict[tuple, tuple]]:
    """Scenario over defaults (the ``MERGED`` mappings key by key); ``null`` in a scenario removes a
    default.  Returns the merged mapping and ``{relative key path: absolute key path}``."""
    merged: dict[str, Any] = {}
    origin: dict[tuple, tuple] = {}
    for src, prefix in ((defaults, ("defaults",)), (scenario, item)):
        for k, v in src.items():
            if k in MERGED and isinstance(v, Mapping) and isinstance(merged.get(k), Mapping):
                merged[k] = {**v, **{kk: vv for kk, vv in merged[k].items() if kk not in v}}  # own keys first
            else:
                merged[k] = dict(v) if isinstance(v, Mapping) else v
                for key in [p for p in origin if p[:1] == (k,) and len(p) > 1]:
                    del origin[key]
            origin[(k,)] = prefix + (k,)
            if k in MERGED and isinstance(v, Mapping):
                for kk in v:
                    origin[(k, kk)] = prefix + (k, kk)
    for k in list(merged):
        if merged[k] is None:
            del merged[k]
        elif k in MERGED and isinstance(merged[k], Mapping):
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
            full = field_path(path) + (f".{exc.field}" if exc.field else "")
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
        if os.path.lexists(p) and not p.is_file():  # a device, a FIFO, a link loop: refused unread
            raise where.error((key,), f"{ref!r} is not a regular file (looked at {p}); give a {key} spec file")
        if not p.is_file():
            raise where.error((key,), f"no such file {ref!r} (looked for {p}; paths are relative to the budgets file)")
        return (load_model if is_model else load_hardware)(p), ref
    hint = name_hint(ref, names)
    raise where.error((key,), f"unknown {key} {ref!r}; {hint} (or give a path relative to the budgets file)")


def _limits(merged: dict, kind: str, where: _Where) -> list[LimitSpec]:
    out = []
    for bound in ("max", "min"):
        for name, value in merged.get(bound, {}).items():
            rel = (bound, name)
            if name not in LIMITS:
                known = [n for n, lim in LIMITS.items() if lim.bound == bound and kind in lim.kinds]
                raise where.error(rel, f"unknown limit{suggest(name, LIMITS)}; {bound} limits of {kind} "
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
    schema = SECTIONS[(kind, key)]
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
            mine, theirs = SECTIONS[(kind, key)].model_fields, SECTIONS[(other, key)].model_fields
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
    _check_pins(kind, model, tg, lay, where)
    limits = _limits(merged, kind, where)
    if kind == "infer":
        inputs = _infer_inputs(model, wl, tg, lay, where)
    else:
        inputs = _train_inputs(sc, model, wl, tg, lay, where)
    inputs["model"], inputs["hardware"] = model_ref, hw_ref
    inputs["price_usd_per_hour"] = hw.price
    return Scenario(name=sc.name, kind=kind, model=model, hardware=hw, inputs=inputs, limits=limits,
                    objective=(sc.objective or "min_cost") if kind == "infer" else None,
                    line=where.lines.get(where.item), price_source=price_source)


def setting_name(name: str) -> str:
    """How a budgets message names a setting: the CLI's flag without its dashes (``tp``, ``max-chips``,
    ``global-batch``), as before the pin checks returned reason codes; the training planner's reasons too."""
    return name.replace("_", "-")


def _check_pins(kind: str, model: ModelSpec, tg, lay, where: _Where) -> None:
    """Pins that contradict the model or each other: bad input (exit 2), not an infeasible plan."""
    from gpt4plan.scenario import infer_pin_issues, train_pin_issues, word_pin_issues

    if kind == "infer":
        issues = infer_pin_issues(model, lay.tp, lay.pp, lay.ep, lay.batch, lay.chips, tg.max_chips)
    else:
        issues = train_pin_issues(model, lay.tp, lay.pp, lay.dp, lay.ep, lay.interleave, tg.chips, tg.max_chips)
    if issues:
        raise where.error(("layout",), word_pin_issues(issues, setting_name))


def _infer_inputs(model: ModelSpec, wl, tg, lay, where: _Where) -> dict:
    """The planner arguments of an infer scenario (lengths defaulted within the model's context)."""
    ctx = model.max_context
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
    return {
        "workload": {"prompt_tokens": prompt_t, "output_tokens": out_t, "weights": wl.weights,
                     "kv_cache": wl.kv_cache},
        "targets": {"ttft_max_s": tg.ttft, "tpot_max_s": tpot, "demand_tokens_per_s": tg.demand,
                    "users": tg.users, "max_chips": tg.max_chips},
        "layout": lay.model_dump(),
    }  # fmt: skip


def _train_inputs(sc: ScenarioIn, model: ModelSpec, wl, tg, lay, where: _Where) -> dict:
    """The planner arguments of a train scenario (sequence length defaulted within the model's context)."""
    ctx = model.max_context
    if sc.objective is not None:
        raise where.error(("objective",), "applies to infer scenarios; a train scenario checks the plan "
                          "its targets ask for (chips: fastest, days: fewest chips, neither: cheapest)")
    s = wl.seq_len or min(ctx, 8192)
    if s > ctx:
        raise where.error(("workload", "seq_len"), f"{s} exceeds {model.name}'s max_context {ctx}")
    from gpt4plan.training import batch_budget_issue, sequence_batch_issue, word_train_issue

    def field_name(name: str) -> str:  # these messages name the workload's fields
        return name

    seq_problem = sequence_batch_issue(wl.global_batch, s)
    if seq_problem:
        raise where.error(("workload", "global_batch"),
                          f"{wl.global_batch:g} tokens is {word_train_issue(seq_problem, field_name)}")
    problem = batch_budget_issue(wl.tokens, wl.global_batch, f"{wl.tokens:g}", f"{wl.global_batch:g}")
    if problem:
        raise where.error(("workload", problem.values["setting"]), word_train_issue(problem, field_name))
    return {
        "workload": {"tokens": wl.tokens, "seq_len": s, "global_batch_tokens": wl.global_batch,
                     "precision": wl.precision},
        "targets": {"chips": tg.chips, "days": tg.days, "max_chips": tg.max_chips},
        "layout": lay.model_dump(),
    }


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
            raise top.error((k,), "unknown field" + suggest(k, ("budgets", "defaults")) + "; known: budgets, defaults")
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
            raise top.error(("defaults", k), "unknown field" + suggest(k, ScenarioIn.model_fields))
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
