"""Schema of a measurement record and its checks against the catalog (docs/design.md).

The replayed fields of a measurement record.  A key close to a known one is a typo (an error, with the
suggestion); another unknown key in the workload or layout is a setting the models do not have (the record
is listed as not replayed, with the key); other record-level keys are free metadata.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from gpt4plan.physics import arch
from gpt4plan.specs import (
    HardwareSpec,
    ModelSpec,
    NonNegInt,
    PosInt,
    SpecError,
    hardware_from_mapping,
    model_from_mapping,
)
from gpt4plan.specs.catalog import resolve_hardware, resolve_model
from gpt4plan.specs.errors import field_path, suggest
from gpt4plan.specs.vocabulary import Precision, Recompute, literal

__all__ = [
    "TRAIN_METRICS",
    "INFER_METRICS",
    "MeasuredLayout",
    "InferWorkloadIn",
    "TrainWorkloadIn",
    "InferRecordIn",
    "TrainRecordIn",
    "positive_number",
    "unknown_keys",
    "layout_with_chips",
    "check_against_model",
    "record_specs",
]

TRAIN_METRICS = ("step_time_s", "tokens_per_s", "model_flops_per_s_per_chip", "hardware_flops_per_s_per_chip", "mfu")
INFER_METRICS = ("output_tokens_per_s", "output_tokens_per_s_per_chip", "total_tokens_per_s", "tpot_s", "ttft_s",
                 "e2e_latency_s")


class MeasuredLayout(BaseModel):
    model_config = ConfigDict(extra="allow")
    tp: PosInt | None = None
    pp: PosInt | None = None
    ep: PosInt | None = None
    dp: PosInt | None = None
    cp: PosInt | None = None
    replicas: PosInt | None = None
    microbatch: PosInt | None = None
    interleave: PosInt | None = None
    zero: Annotated[NonNegInt, Field(le=3)] | None = None
    recompute: literal(Recompute) | None = None
    #: serving MoE with attention data parallelism: ``dp`` attention groups of ``tp`` chips, the experts over
    #: ``ep = dp * tp`` chips with ``redundant_experts`` extra slots (EPLB)
    redundant_experts: NonNegInt | None = None


class InferWorkloadIn(BaseModel):
    model_config = ConfigDict(extra="allow")
    input_tokens: PosInt
    output_tokens: PosInt
    batch: PosInt | None = None
    request_rate: Annotated[float, Field(gt=0)] | None = None  # requests/s; .inf = all at once
    concurrency: PosInt | None = None  # closed loop: clients that each send the next request on completion
    num_requests: PosInt | None = None
    phase: Literal["prefill", "decode"] | None = None
    max_batch: PosInt | None = None  # engine cap on sequences in flight per replica
    max_num_tokens: PosInt | None = None  # engine cap on tokens per forward pass

    @model_validator(mode="after")
    def _one_mode(self):
        if sum(x is not None for x in (self.batch, self.request_rate, self.concurrency)) != 1:
            raise ValueError("batch: give one of batch (static or steady batch), request_rate (open-loop serving "
                             "benchmark) or concurrency (closed loop)")
        if self.request_rate is not None and self.num_requests is None:
            raise ValueError("num_requests: required with request_rate (requests in the run)")
        return self


class TrainWorkloadIn(BaseModel):
    model_config = ConfigDict(extra="allow")
    seq_len: PosInt
    global_batch: PosInt  # sequences per optimizer step


_PRECISIONS = literal(Precision)  # serving's set; training's (bf16, fp16, fp8) is a subset


def _id_text(v):
    """A record id: text or a number (kept as text); anything else is an error naming ``id``."""
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return str(v)
    if isinstance(v, str) and v.strip():
        return v
    raise ValueError(f"expected text or a number, got {v!r}")


class InferRecordIn(BaseModel):
    model_config = ConfigDict(extra="allow")
    id: Annotated[str, BeforeValidator(_id_text)]
    kind: str
    source: str | None = None
    notes: str | None = None
    inferred: list | None = None
    model: str | dict
    hardware: str | dict
    measured: dict
    chips: PosInt | None = None
    precision: _PRECISIONS | None = None
    layout: MeasuredLayout = MeasuredLayout()
    workload: InferWorkloadIn


class TrainRecordIn(InferRecordIn):
    workload: TrainWorkloadIn  # type: ignore[assignment]


def positive_number(v, where: str, file: str, line: int | None) -> float:
    if isinstance(v, bool):  # float(True) is 1.0: 'yes' is not a measurement
        raise SpecError(file, line, where, f"expected a number, got a boolean ({v!r})")
    try:
        x = float(v)
    except (TypeError, ValueError):
        raise SpecError(file, line, where, f"expected a number, got {v!r}") from None
    if not (math.isfinite(x) and x > 0):  # measured times and rates: a NaN would print as 'nan%' errors
        raise SpecError(file, line, where, f"expected a positive finite number, got {v!r}")
    if where.endswith(".mfu") and x > 1:  # 45 meant as 45% would replay as an error of -99%
        raise SpecError(file, line, where, f"mfu is a fraction of peak (at most 1): got {v!r}; 45% is 0.45")
    return x


def unknown_keys(rec: Mapping, file: str, sub: dict, i: int) -> str | None:
    """Unknown keys of a raw record: a near miss of a known key is a SpecError (did you mean); an unknown
    workload or layout key is returned ('workload.x'), for the record to be skipped."""
    schema = TrainRecordIn if rec.get("kind") == "train" else InferRecordIn
    parts = [((), rec, schema)]
    for name, sch in (("workload", TrainWorkloadIn if schema is TrainRecordIn else InferWorkloadIn), ("layout", MeasuredLayout)):
        if isinstance(rec.get(name), Mapping):
            parts.append(((name,), rec[name], sch))
    skip = None
    for path, obj, sch in parts:
        known = list(sch.model_fields)
        for key in obj:
            if key in known:
                continue
            near = suggest(key, known, cutoff=0.75)
            field = field_path(("measurements", i, *path, str(key)))
            if near:
                raise SpecError(file, sub.get(path + (key,), sub.get(path, sub.get(()))), field,
                                f"unknown field{near}")
            if path and skip is None:
                skip = ".".join(path + (str(key),))
    return skip


def layout_with_chips(kind: str, lay: dict, chips: int | None, file: str, line: int | None, i: int) -> dict:
    """The record's layout made consistent with its chip count: an absent ``replicas`` (infer) is
    ``chips / (tp * pp * dp)``; a layout whose product is not the chip count is an error (file:line)."""
    if chips is None:
        return lay
    tp, pp, dp = lay.get("tp", 1), lay.get("pp", 1), lay.get("dp", 1)
    if kind == "infer":
        per = tp * pp * dp
        if "replicas" not in lay and chips % per == 0:
            return {**lay, "replicas": chips // per}
        used, text = per * lay.get("replicas", 1), f"tp {tp} x pp {pp} x dp {dp} x replicas {lay.get('replicas', 1)}"
    else:
        if "dp" not in lay:
            return lay  # searched within the chip count
        used, text = tp * pp * dp * lay.get("cp", 1), f"tp {tp} x pp {pp} x dp {dp} x cp {lay.get('cp', 1)}"
    if used != chips:
        raise SpecError(file, line, f"measurements[{i}].chips", f"{chips} chip{'s' if chips != 1 else ''}, but the layout {text} uses {used}")
    return lay


def check_against_model(rec, model: ModelSpec, file: str, sub: dict, i: int) -> None:
    """A layout or prompt the model cannot have: a SpecError naming the field (file:line).  (Prompt +
    output may run past max_context: benchmarks of short-context models do.)"""
    lay, w = rec["layout"], rec["workload"]
    if rec["kind"] == "infer" and model.max_context and w["input_tokens"] > model.max_context:
        raise SpecError(file, sub.get(("workload", "input_tokens"), sub.get(())), f"measurements[{i}].workload.input_tokens",
                        f"a {w['input_tokens']:,}-token prompt does not fit {model.name}'s max_context ({model.max_context:,})")
    if model.moe is None and lay.get("ep", 1) > 1:
        raise SpecError(file, sub.get(("layout", "ep"), sub.get(())), f"measurements[{i}].layout.ep",
                        f"ep {lay['ep']}: {model.name} is dense (no experts to split)")
    tp = lay.get("tp")
    if tp is not None and tp not in arch.allowed_tp(model, max_tp=tp):
        kv = "" if model.mla is not None else f" and {model.kv_heads} KV heads"
        raise SpecError(file, sub.get(("layout", "tp"), sub.get(())), f"measurements[{i}].layout.tp",
                        f"tp {tp} does not split {model.name}'s {model.heads} heads{kv} evenly "
                        f"(allowed: {', '.join(map(str, arch.allowed_tp(model)))})")


def record_specs(rec, file, lines, where) -> tuple[ModelSpec, HardwareSpec]:
    def inline(part: str, parse):  # an inline spec: errors name measurements[i].<part>.<field>
        sub = {k[len(where) + 1:]: v for k, v in lines.items() if k[: len(where) + 1] == where + (part,)}
        try:
            return parse(rec[part], file, sub)
        except SpecError as exc:
            prefix = f"measurements[{where[1]}].{part}"
            raise SpecError(file, exc.line or lines.get(where + (part,)), f"{prefix}.{exc.field}" if exc.field else prefix,
                            exc.message) from None

    m, h = rec["model"], rec["hardware"]
    model = resolve_model(m) if isinstance(m, str) else inline("model", model_from_mapping)
    hw = resolve_hardware(h) if isinstance(h, str) else inline("hardware", hardware_from_mapping)
    return model, hw
