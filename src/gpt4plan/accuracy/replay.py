"""Replay published measurements through the performance models (DESIGN.md §6).

A measurements file (format of ``shared/reference/validation-dev.yaml``) lists runs that really
happened; each record is replayed with its pinned layout, batch and lengths, and the prediction is
compared with the measured metric.  ``error = predicted / measured - 1`` (signed fraction).

Train records: unpinned layout fields (microbatch, recompute, ZeRO stage, interleave) are searched
for the fastest plan on the record's chips, as a tuned recipe would be; throughput excludes failures
(measured runs report steady-state throughput).
Infer records: ``batch`` is a static batch (all sequences start together: TTFT = prefill of the
batch, TPOT = one decode step at the mean context, e2e = TTFT + (output-1) * TPOT); ``request_rate``
is an open-loop serving benchmark of ``num_requests`` requests, replayed pass by pass
(:func:`gpt4plan.serving.replay.simulate_benchmark`: ramp-up, drain, batch and token caps, queueing);
``concurrency`` is the closed-loop version (each client sends its next request on completion; by default
10 requests per client);
``phase: prefill | decode`` measures one pool of a disaggregated server.

Errors: a malformed file raises :class:`gpt4plan.specs.SpecError` (file:line: field), including a key
that looks like a misspelt known one; a record that cannot be replayed (a model or chip outside the
catalog, a workload or layout setting the models do not have, DP attention with wide EP) is returned
with ``skipped`` and a reason.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Annotated, Literal

import numpy as np
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from gpt4plan.physics import arch
from gpt4plan.serving import RUNTIME_TTFT_OVERHEAD_S, Workload, evaluate
from gpt4plan.serving.replay import simulate_benchmark
from gpt4plan.specs import (
    HardwareSpec,
    ModelSpec,
    NonNegInt,
    PosInt,
    SpecError,
    hardware_from_mapping,
    load_yaml_with_lines,
    model_from_mapping,
    validate_mapping,
    write_error,
)
from gpt4plan.specs.catalog import resolve_hardware, resolve_model
from gpt4plan.specs.units import plural
from gpt4plan.training import Reliability, TrainPins, TrainWorkload, evaluate_training, grid

__all__ = ["Record", "replay_file", "summarise", "TRAIN_METRICS", "INFER_METRICS"]

TRAIN_METRICS = ("step_time_s", "tokens_per_s", "model_flops_per_s_per_chip", "hardware_flops_per_s_per_chip", "mfu")
INFER_METRICS = ("output_tokens_per_s", "output_tokens_per_s_per_chip", "total_tokens_per_s", "tpot_s", "ttft_s",
                 "e2e_latency_s")
NO_FAILURES = Reliability(failure_rate_per_gpu_hour=1e-30, checkpoint_s=0.0, restart_s=0.0)


# The replayed fields of a measurement record (DESIGN.md section 2a).  A key close to a known one is a
# typo (an error, with the suggestion); another unknown key in the workload or layout is a setting the
# models do not have (the record is listed as not replayed, with the key); other record-level keys are
# free metadata.
class _Layout(BaseModel):
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
    recompute: Literal["none", "selective", "full"] | None = None


class _InferWorkload(BaseModel):
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


class _TrainWorkload(BaseModel):
    model_config = ConfigDict(extra="allow")
    seq_len: PosInt
    global_batch: PosInt  # sequences per optimizer step


_PRECISIONS = Literal["bf16", "fp16", "fp8", "fp4", "fp32", "int8", "int4"]


def _id_text(v):
    """A record id: text or a number (kept as text); anything else is an error naming ``id``."""
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return str(v)
    if isinstance(v, str) and v.strip():
        return v
    raise ValueError(f"expected text or a number, got {v!r}")


class _InferRecord(BaseModel):
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
    layout: _Layout = _Layout()
    workload: _InferWorkload


class _TrainRecord(_InferRecord):
    workload: _TrainWorkload  # type: ignore[assignment]


@dataclass
class Record:
    """One replayed metric of one measurement.  ``error`` = predicted/measured - 1."""

    id: str
    kind: str
    hardware: str
    metric: str
    measured: float | None
    predicted: float | None
    error: float | None
    regime: str | None = None  # train | prefill | decode
    chips: int = 1
    skipped: bool = False
    reason: str | None = None

    def as_dict(self) -> dict:
        d = asdict(self)
        if not self.skipped:
            d.pop("reason")
        return d


def _num(v, where: str, file: str, line: int | None) -> float:
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



def replay_file(path: str | Path, hardware_overrides: Mapping[str, HardwareSpec] | None = None,
                only_hardware: str | None = None) -> list[Record]:
    """Replay every record of a measurements file.  Raises SpecError on a malformed file.

    ``hardware_overrides`` maps a hardware name to a spec used instead of the catalog's (calibration);
    ``only_hardware`` replays only the records on that chip.
    """
    file = str(path)
    data, lines = load_yaml_with_lines(path)
    if isinstance(data, Mapping) and "measurements" not in data:
        for k in data:
            if difflib.get_close_matches(str(k), ["measurements"], n=1, cutoff=0.75):
                raise SpecError(file, lines.get((k,), 1), str(k), "unknown field (did you mean 'measurements'?)")
    if not isinstance(data, Mapping) or not isinstance(data.get("measurements"), list):
        raise SpecError(file, lines.get((), 1), "measurements", "expected a top-level 'measurements:' list")
    if not data["measurements"]:
        raise SpecError(file, lines.get(("measurements",), 1), "measurements", "the list is empty: nothing to replay")
    out: list[Record] = []
    seen_ids: dict[str, int] = {}
    for i, rec in enumerate(data["measurements"]):
        where = ("measurements", i)
        line = lines.get(where)
        if not isinstance(rec, Mapping):
            raise SpecError(file, line, f"measurements[{i}]", "expected a mapping")
        for key in ("id", "kind", "model", "hardware", "workload", "measured"):
            if key not in rec:
                raise SpecError(file, line, f"measurements[{i}].{key}", "required field is missing")
        if rec["kind"] not in ("train", "infer"):
            raise SpecError(file, lines.get(where + ("kind",), line), f"measurements[{i}].kind",
                            f"expected train or infer, got {rec['kind']!r}")
        if not isinstance(rec["measured"], Mapping) or not rec["measured"]:
            raise SpecError(file, lines.get(where + ("measured",), line), f"measurements[{i}].measured",
                            "expected a mapping of metric: value")
        for part in ("model", "hardware"):
            if not isinstance(rec[part], (str, Mapping)):
                raise SpecError(file, lines.get(where + (part,), line), f"measurements[{i}].{part}",
                                f"expected a catalog name or an inline spec (a mapping), got {rec[part]!r}")
        rid = str(rec["id"])
        if rid in seen_ids:
            raise SpecError(file, lines.get(where + ("id",), line), f"measurements[{i}].id",
                            f"'{rid}' is already the id of measurements[{seen_ids[rid]}]")
        seen_ids[rid] = i
        metrics = TRAIN_METRICS if rec["kind"] == "train" else INFER_METRICS
        measured = {}
        for k, v in rec["measured"].items():
            if k not in metrics and (difflib.get_close_matches(str(k), metrics, n=1, cutoff=0.75)
                                     or k in (INFER_METRICS if rec["kind"] == "train" else TRAIN_METRICS)):
                raise SpecError(file, lines.get(where + ("measured", k), line), f"measurements[{i}].measured.{k}",
                                f"unknown {rec['kind']} metric{_near(k, metrics)} (known: {', '.join(metrics)})")
            # another metric is listed as not predicted (below), not an error for the whole file
            measured[k] = _num(v, f"measurements[{i}].measured.{k}", file, lines.get(where + ("measured", k), line))
        hw_name = rec["hardware"] if isinstance(rec["hardware"], str) else rec["hardware"].get("name", "?")
        if only_hardware is not None and hw_name != only_hardware:
            continue
        sub = {k[len(where):]: v for k, v in lines.items() if k[: len(where)] == where}
        unmodelled = _unknown_keys(rec, file, sub, i)
        try:
            checked = validate_mapping(_TrainRecord if rec["kind"] == "train" else _InferRecord, rec, file, sub)
        except SpecError as exc:
            field = f"measurements[{i}]" + (f".{exc.field}" if exc.field else "")
            raise SpecError(file, exc.line or line, field, exc.message) from None
        layout = _layout_with_chips(rec["kind"], checked.layout.model_dump(exclude_none=True, exclude=set(checked.layout.model_extra or {})), checked.chips,
                                    file, sub.get(("chips",), line), i)
        chips = checked.chips or 1
        rec = {**rec, "workload": checked.workload.model_dump(exclude_none=True, exclude=set(checked.workload.model_extra or {})),
               "layout": layout,
               "precision": checked.precision or "bf16"}
        try:
            model, hw = _specs(rec, file, lines, where)
            if hardware_overrides and hw.name in hardware_overrides:
                hw = hardware_overrides[hw.name]
        except SpecError as exc:
            if exc.message.startswith(("unknown hardware '", "unknown model '")):  # a name outside the catalog
                out += [Record(str(rec["id"]), rec["kind"], str(hw_name), k, v, None, None, chips=chips, skipped=True,
                               reason=exc.message) for k, v in measured.items()]
                continue
            raise
        _check_against_model(rec, model, file, sub, i)
        try:
            if unmodelled:
                raise _Skip(f"{unmodelled} is not a setting the models have (the known ones are those of the "
                            "shipped validation-dev.yaml)")
            preds, regime = (_replay_train if rec["kind"] == "train" else _replay_infer)(rec, model, hw)
        except _Skip as why:
            out += [Record(str(rec["id"]), rec["kind"], hw.name, k, v, None, None, chips=chips, skipped=True,
                           reason=str(why)) for k, v in measured.items()]
            continue
        except KeyError as exc:  # a workload field the replay needs
            key = str(exc.args[0])
            raise SpecError(file, lines.get(where + ("workload",), line), f"measurements[{i}].workload.{key}",
                            "required field is missing (infer: input_tokens, output_tokens and batch or "
                            "request_rate; train: seq_len, global_batch)") from None
        except (TypeError, ValueError, ZeroDivisionError, OverflowError) as exc:  # e.g. input_tokens: 0 or 'abc'
            raise SpecError(file, line, f"measurements[{i}]", f"cannot replay: {' '.join(str(exc).split())}") from None
        for k, v in measured.items():
            p = preds.get(k)
            if p is None or not math.isfinite(p) or v <= 0:
                why = (f"metric {k} not predicted for this record" if k in metrics else
                       f"{k} is not one of the {rec['kind']} metrics gpt4plan predicts ({', '.join(metrics)})")
                out.append(Record(str(rec["id"]), rec["kind"], hw.name, k, v, None, None, chips=chips, skipped=True,
                                  reason=why))
            else:
                out.append(Record(str(rec["id"]), rec["kind"], hw.name, k, v, p, p / v - 1, regime=regime,
                                  chips=chips))
    return out


class _Skip(Exception):
    pass


def _near(word: str, known) -> str:
    near = difflib.get_close_matches(str(word), list(known), n=1, cutoff=0.75)
    return f" (did you mean '{near[0]}'?)" if near else ""


def _unknown_keys(rec: Mapping, file: str, sub: dict, i: int) -> str | None:
    """Unknown keys of a raw record: a near miss of a known key is a SpecError (did you mean); an unknown
    workload or layout key is returned ('workload.x'), for the record to be skipped."""
    schema = _TrainRecord if rec.get("kind") == "train" else _InferRecord
    parts = [((), rec, schema)]
    for name, sch in (("workload", _TrainWorkload if schema is _TrainRecord else _InferWorkload), ("layout", _Layout)):
        if isinstance(rec.get(name), Mapping):
            parts.append(((name,), rec[name], sch))
    skip = None
    for path, obj, sch in parts:
        known = list(sch.model_fields)
        for key in obj:
            if key in known:
                continue
            near = difflib.get_close_matches(str(key), known, n=1, cutoff=0.75)
            field = ".".join((f"measurements[{i}]",) + path + (str(key),))
            if near:
                raise SpecError(file, sub.get(path + (key,), sub.get(path, sub.get(()))), field,
                                f"unknown field (did you mean '{near[0]}'?)")
            if path and skip is None:
                skip = ".".join(path + (str(key),))
    return skip


def _layout_with_chips(kind: str, lay: dict, chips: int | None, file: str, line: int | None, i: int) -> dict:
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


def _check_against_model(rec, model: ModelSpec, file: str, sub: dict, i: int) -> None:
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


def _specs(rec, file, lines, where) -> tuple[ModelSpec, HardwareSpec]:
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


def _replay_train(rec, model: ModelSpec, hw: HardwareSpec):
    lay = rec.get("layout") or {}
    w = rec["workload"]
    seq = int(w["seq_len"])
    gb_tokens = float(w["global_batch"]) * seq
    chips = int(rec.get("chips") or 0) or None
    prec = str(rec.get("precision", "bf16"))
    prec = prec if prec in ("bf16", "fp16", "fp8") else ("fp8" if prec.startswith("fp8") or prec == "fp4" else "bf16")
    pins = TrainPins(tp=lay.get("tp"), pp=lay.get("pp"), dp=lay.get("dp"), ep=lay.get("ep"), zero=lay.get("zero"),
                     microbatch=lay.get("microbatch"), recompute=lay.get("recompute"), interleave=lay.get("interleave"),
                     cp=lay.get("cp"))
    wl = TrainWorkload(tokens=gb_tokens * 100, seq_len=seq, global_batch_tokens=gb_tokens, precision=prec)
    c = grid(model, hw, wl, pins, chips, chips or 100_000)
    if c is None or c["tp"].size == 0:
        raise _Skip("the pinned layout is not representable (tp/heads, ep/dp or batch divisibility)")
    with np.errstate(all="ignore"):
        r = evaluate_training(model, hw, wl, NO_FAILURES, c)
    fits = r["mem"] <= hw.memory * hw.usable_memory
    cand = np.flatnonzero(fits) if fits.any() else np.arange(r["step"].size)  # measured runs did fit
    i = int(cand[np.argmin(r["step"][cand])])
    peak = hw.peak(prec)
    tokens_per_s = float(r["gb_tokens"][i] / r["step"][i])
    return {
        "step_time_s": float(r["step"][i]),
        "tokens_per_s": tokens_per_s,
        "model_flops_per_s_per_chip": float(r["mfu"][i] * peak),
        "hardware_flops_per_s_per_chip": float(r["hfu"][i] * peak),
        "mfu": float(r["mfu"][i]),
    }, "train"


def _weights_dtype(prec: str) -> str:
    return {"fp8": "fp8", "fp4": "fp4", "int8": "int8", "int4": "int4", "fp16": "fp16"}.get(prec, "bf16")


def _replay_infer(rec, model: ModelSpec, hw: HardwareSpec):
    lay = rec.get("layout") or {}
    w = rec["workload"]
    P, n_out = int(w["input_tokens"]), int(w["output_tokens"])
    prec = _weights_dtype(str(rec.get("precision", "bf16")))
    tp, pp, ep = int(lay.get("tp", 1)), int(lay.get("pp", 1)), int(lay.get("ep", 1) or 1)
    replicas = int(lay.get("replicas", 1) or 1)
    if int(lay.get("dp", 1) or 1) > 1:
        if model.moe is not None and ep > tp:
            raise _Skip("attention data parallelism with experts spread over the DP ranks (DP attention + "
                        "wide EP, DeepEP, two-batch overlap) is not modelled yet")
        replicas *= int(lay["dp"])
    wl = Workload(prompt_tokens=P, output_tokens=n_out, weights=prec, kv_cache=prec if prec in ("fp8", "bf16", "fp16") else "bf16")
    chips = tp * pp * replicas
    phase = w.get("phase")
    if "batch" in w:
        B = float(w["batch"])
        r = evaluate(model, hw, wl, np.array([tp]), np.array([pp]), np.array([ep]), np.array([B / pp]), prefill_seqs=B)
        t_dec, t_pre = float(r["t_dec"][0]), float(r["t_pre"][0])
        if phase == "prefill":
            return {"total_tokens_per_s": replicas * B * P / t_pre, "ttft_s": pp * t_pre + RUNTIME_TTFT_OVERHEAD_S}, "prefill"
        if phase == "decode":
            return {"output_tokens_per_s": replicas * B / t_dec, "tpot_s": pp * t_dec}, "decode"
        ttft = pp * t_pre + RUNTIME_TTFT_OVERHEAD_S
        tpot = pp * t_dec
        e2e = ttft + (n_out - 1) * tpot
        out_tps = replicas * B * n_out / e2e
        regime = "prefill" if set(rec["measured"]) <= {"ttft_s"} else "decode"
        return {"ttft_s": ttft, "tpot_s": tpot, "e2e_latency_s": e2e, "output_tokens_per_s": out_tps,
                "output_tokens_per_s_per_chip": out_tps / chips, "total_tokens_per_s": out_tps * (P + n_out) / n_out}, regime
    if "request_rate" in w or "concurrency" in w:
        try:
            engine = {k: int(w[k]) for k in ("max_batch", "max_num_tokens") if w.get(k) is not None}
            if "concurrency" in w:  # closed loop: default 10 requests per client
                n_req = int(w.get("num_requests") or 10 * int(w["concurrency"]))
                res = simulate_benchmark(model, hw, wl, tp, pp, ep, math.inf, n_req, replicas,
                                         concurrency=int(w["concurrency"]), **engine)
            else:
                res = simulate_benchmark(model, hw, wl, tp, pp, ep, float(w["request_rate"]),
                                         int(w["num_requests"]), replicas, **engine)
        except ValueError:
            raise _Skip("no batch fits memory for this layout") from None
        return {"output_tokens_per_s": res.output_tokens_per_s, "output_tokens_per_s_per_chip": res.output_tokens_per_s / chips,
                "total_tokens_per_s": res.total_tokens_per_s, "tpot_s": res.tpot_s, "ttft_s": res.ttft_s}, "decode"
    raise _Skip("workload has neither batch nor request_rate")


def summarise(records: list[Record]) -> dict:
    """Per kind (and per kind/hardware): count, median, p90 and max of |error| over replayed records."""

    def stats(errs):
        a = np.abs(np.array(errs, dtype=float))
        return {"count": int(a.size), "median_abs_error": float(np.median(a)) if a.size else None,
                "p90_abs_error": float(np.percentile(a, 90)) if a.size else None,
                "max_abs_error": float(a.max()) if a.size else None}

    out: dict = {}
    for kind in ("train", "infer"):
        errs = [r.error for r in records if r.kind == kind and not r.skipped]
        out[kind] = stats(errs)
        out[kind]["by_hardware"] = {
            hw: stats([r.error for r in records if r.kind == kind and not r.skipped and r.hardware == hw])
            for hw in sorted({r.hardware for r in records if r.kind == kind and not r.skipped})
        }
    return out


#: Physically plausible ranges for fitted efficiency factors (fractions of datasheet peaks).
CALIBRATION_BOUNDS = {"compute": (0.25, 0.95), "memory": (0.4, 0.95), "network": (0.3, 0.95)}
#: A factor is fitted only when this many distinct runs on the chip constrain it (else the spec's value stays).
MIN_RECORDS_PER_FACTOR = 3


#: Log errors beyond this count linearly, not quadratically (Huber 1964): one record that the model
#: cannot explain (software maturity, an unmodelled feature) must not drag every other prediction.
HUBER_DELTA = 0.25


def _loss(records: list[Record]) -> tuple[float, int]:
    """Mean Huber loss of log(predicted / measured) over the replayed metrics (least squares near zero)."""
    errs = np.array([math.log1p(r.error) for r in records if not r.skipped and r.error is not None and r.error > -1])
    if errs.size == 0:
        return math.inf, 0
    a = np.abs(errs)
    h = np.where(a <= HUBER_DELTA, 0.5 * a**2, HUBER_DELTA * (a - 0.5 * HUBER_DELTA))
    return float(np.mean(h)), int(errs.size)


def calibrate(path: str | Path, hardware: str, params: tuple[str, ...] = ("compute", "memory", "network"),
              sweeps: int = 3) -> dict:
    """Fit a chip's efficiency factors to the records on that chip: least squares on log(pred/measured),
    made robust with a Huber loss (:data:`HUBER_DELTA`).

    Coordinate descent over each factor on a grid within :data:`CALIBRATION_BOUNDS` (then a finer grid
    around the best), ``sweeps`` rounds.  Returns ``{"fitted": {...}, "before": loss, "after": loss,
    "records": n, "summary_before": ..., "summary_after": ...}``.  Raises SpecError on a bad file and
    ValueError when no record on ``hardware`` can be replayed.
    """
    hw0 = resolve_hardware(hardware)
    before_recs = replay_file(path, only_hardware=hardware)
    before, n = _loss(before_recs)
    if n == 0:
        raise ValueError(f"no replayable record on hardware '{hardware}' in {path}")
    # fit a factor only where at least MIN_RECORDS_PER_FACTOR distinct runs constrain it
    ok = [r for r in before_recs if not r.skipped]
    constrained = {
        "compute": {r.id for r in ok if r.kind == "train" or r.regime == "prefill"},
        "memory": {r.id for r in ok if r.kind == "infer" and r.metric != "ttft_s"},
        "network": {r.id for r in ok if r.chips > 1},
    }
    params = tuple(p for p in params if len(constrained[p]) >= MIN_RECORDS_PER_FACTOR)
    if not params:
        raise ValueError(f"too few runs on '{hardware}' to fit any factor (need {MIN_RECORDS_PER_FACTOR} "
                         f"distinct runs per factor; have compute {len(constrained['compute'])}, memory "
                         f"{len(constrained['memory'])}, network {len(constrained['network'])})")
    eff = hw0.efficiency.model_dump()

    def loss_for(e: dict) -> float:
        hw = hw0.model_copy(update={"efficiency": hw0.efficiency.model_copy(update=e)})
        return _loss(replay_file(path, {hw0.name: hw}, only_hardware=hardware))[0]

    best = loss_for(eff)
    for sweep in range(sweeps):
        step = 0.05 if sweep == 0 else 0.01
        for name in params:
            lo, hi = CALIBRATION_BOUNDS[name]
            centre = eff[name]
            grid = np.arange(lo, hi + 1e-9, step) if sweep == 0 else np.clip(centre + step * np.arange(-4, 5), lo, hi)
            for x in np.unique(np.round(grid, 4)):
                trial = {**eff, name: float(x)}
                val = loss_for(trial)
                if val < best - 1e-12:
                    best, eff = val, trial
    hw = hw0.model_copy(update={"efficiency": hw0.efficiency.model_copy(update=eff)})
    after_recs = replay_file(path, {hw0.name: hw}, only_hardware=hardware)
    return {"hardware": hardware, "fitted": {k: round(eff[k], 3) for k in params}, "before": before,
            "after": best, "records": n, "summary_before": summarise(before_recs), "summary_after": summarise(after_recs)}


def write_calibrated_spec(hardware: str, fitted: dict, data_name: str, n_records: int, out: str | Path) -> Path:
    """Write ``hardware``'s catalog YAML with the fitted efficiency values and a comment naming the data."""
    from gpt4plan.specs.catalog import catalog_dir

    src = catalog_dir("hardware") / f"{hardware}.yaml"
    text = src.read_text(encoding="utf-8") if src.is_file() else None
    if text is None:
        raise ValueError(f"'{hardware}' is not a catalog hardware name")
    import re

    for key, val in fitted.items():
        text = re.sub(rf"(?m)^(\s+{key}:\s*)[^#\n]*(#.*)?$",
                      lambda m, v=val: f"{m.group(1)}{v:<8}# fitted by gpt4plan calibrate: least squares on "
                                       f"log error over {plural(n_records, 'metric')} of {data_name}", text, count=1)
    out = Path(out)
    try:
        out.write_text(text, encoding="utf-8")
    except OSError as exc:  # a folder, a missing directory, no permission: exit 2; a full disk: exit 3
        raise write_error(out, "--output", exc) from None
    return out
