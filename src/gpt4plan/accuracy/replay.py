"""Replay published measurements through the performance models (docs/design.md).

A measurements file (format of ``shared/reference/validation-dev.yaml``) lists runs that really
happened; each record is replayed with its pinned layout, batch and lengths, and the prediction is
compared with the measured metric.  ``error = predicted / measured - 1`` (signed fraction).  How each
kind of record is predicted: :mod:`gpt4plan.accuracy.predict`; the record's fields:
:mod:`gpt4plan.accuracy.schema`; calibration: :mod:`gpt4plan.accuracy.calibrate`.

Errors: a malformed file raises :class:`gpt4plan.specs.SpecError` (file:line: field), including a key
that looks like a misspelt known one; a record that cannot be replayed (a model or chip outside the
catalog, a workload or layout setting the models do not have, DP attention with wide EP) is returned
with ``skipped`` and a reason.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from gpt4plan.accuracy.predict import Skip, replay_infer, replay_train
from gpt4plan.accuracy.schema import (
    INFER_METRICS,
    TRAIN_METRICS,
    InferRecordIn,
    TrainRecordIn,
    check_against_model,
    layout_with_chips,
    positive_number,
    record_specs,
    unknown_keys,
)
from gpt4plan.specs import HardwareSpec, SpecError, load_yaml_with_lines, validate_mapping
from gpt4plan.specs.errors import suggest

__all__ = ["Record", "replay_file", "summarise", "TRAIN_METRICS", "INFER_METRICS"]


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
    source: str | None = None  # the record's ``source:`` (where the number was published)

    def as_dict(self) -> dict:
        d = asdict(self)
        if not self.skipped:
            d.pop("reason")
        return d


def replay_file(path: str | Path, hardware_overrides: Mapping[str, HardwareSpec] | None = None,
                only_hardware: str | None = None, performance_model: str = "roofline") -> list[Record]:
    """Replay every record of a measurements file.  Raises SpecError on a malformed file.

    ``hardware_overrides`` maps a hardware name to a spec used instead of the catalog's (calibration);
    ``only_hardware`` replays only the records on that chip; ``performance_model`` prices the serving
    passes (``"roofline"`` or ``"measured"``: the chip's measured TensorRT-LLM kernel tables).
    """
    file = str(path)
    data, lines = load_yaml_with_lines(path)
    _check_top(data, lines, file)
    out: list[Record] = []
    seen_ids: dict[str, int] = {}
    for i, rec in enumerate(data["measurements"]):
        measured = _measured(rec, i, file, lines, seen_ids)
        hw_name = rec["hardware"] if isinstance(rec["hardware"], str) else rec["hardware"].get("name", "?")
        if only_hardware is not None and hw_name != only_hardware:
            continue
        source = rec.get("source")
        for r in _replay_record(rec, i, measured, hw_name, file, lines, hardware_overrides, performance_model):
            r.source = None if source is None else str(source)
            out.append(r)
    return out


def _check_top(data, lines: dict, file: str) -> None:
    """The file holds a non-empty top-level ``measurements:`` list (a near miss of the key says so)."""
    if isinstance(data, Mapping) and "measurements" not in data:
        for k in data:
            if suggest(k, ["measurements"], cutoff=0.75):
                raise SpecError(file, lines.get((k,), 1), str(k), "unknown field (did you mean 'measurements'?)")
    if not isinstance(data, Mapping) or not isinstance(data.get("measurements"), list):
        raise SpecError(file, lines.get((), 1), "measurements", "expected a top-level 'measurements:' list")
    if not data["measurements"]:
        raise SpecError(file, lines.get(("measurements",), 1), "measurements", "the list is empty: nothing to replay")


def _measured(rec, i: int, file: str, lines: dict, seen_ids: dict[str, int]) -> dict:
    """Record ``i``'s required fields, unique id and measured metrics (``{metric: value}``), checked."""
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
        if k not in metrics and (suggest(k, metrics, cutoff=0.75)
                                 or k in (INFER_METRICS if rec["kind"] == "train" else TRAIN_METRICS)):
            raise SpecError(file, lines.get(where + ("measured", k), line), f"measurements[{i}].measured.{k}",
                            f"unknown {rec['kind']} metric{suggest(k, metrics, cutoff=0.75)} (known: {', '.join(metrics)})")
        # another metric is listed as not predicted (below), not an error for the whole file
        measured[k] = positive_number(v, f"measurements[{i}].measured.{k}", file,
                                      lines.get(where + ("measured", k), line))
    return measured


def _validated(rec, i: int, file: str, lines: dict) -> tuple[dict, int, str | None]:
    """``(record with checked workload, layout and precision, chips, unmodelled key or None)``."""
    where = ("measurements", i)
    line = lines.get(where)
    sub = {k[len(where):]: v for k, v in lines.items() if k[: len(where)] == where}
    unmodelled = unknown_keys(rec, file, sub, i)
    try:
        checked = validate_mapping(TrainRecordIn if rec["kind"] == "train" else InferRecordIn, rec, file, sub)
    except SpecError as exc:
        field = f"measurements[{i}]" + (f".{exc.field}" if exc.field else "")
        raise SpecError(file, exc.line or line, field, exc.message) from None
    layout = layout_with_chips(rec["kind"], checked.layout.model_dump(exclude_none=True, exclude=set(checked.layout.model_extra or {})), checked.chips,
                               file, sub.get(("chips",), line), i)
    chips = checked.chips or 1
    rec = {**rec, "workload": checked.workload.model_dump(exclude_none=True, exclude=set(checked.workload.model_extra or {})),
           "layout": layout,
           "precision": checked.precision or "bf16"}
    return rec, chips, unmodelled


def _replay_record(rec, i: int, measured: dict, hw_name: str, file: str, lines: dict,
                   hardware_overrides: Mapping[str, HardwareSpec] | None,
                   performance_model: str = "roofline") -> list[Record]:
    """One record's metrics replayed (or listed as skipped, with the reason)."""
    where = ("measurements", i)
    line = lines.get(where)
    rec, chips, unmodelled = _validated(rec, i, file, lines)
    sub = {k[len(where):]: v for k, v in lines.items() if k[: len(where)] == where}
    metrics = TRAIN_METRICS if rec["kind"] == "train" else INFER_METRICS
    try:
        model, hw = record_specs(rec, file, lines, where)
        if hardware_overrides and hw.name in hardware_overrides:
            hw = hardware_overrides[hw.name]
    except SpecError as exc:
        if exc.message.startswith(("unknown hardware '", "unknown model '")):  # a name outside the catalog
            return [Record(str(rec["id"]), rec["kind"], str(hw_name), k, v, None, None, chips=chips, skipped=True,
                           reason=exc.message) for k, v in measured.items()]
        raise
    check_against_model(rec, model, file, sub, i)
    try:
        if unmodelled:
            raise Skip(f"{unmodelled} is not a setting the models have (the known ones are those of the "
                       "shipped validation-dev.yaml)")
        preds, regime = (replay_train(rec, model, hw, performance_model) if rec["kind"] == "train"
                         else replay_infer(rec, model, hw, performance_model))
    except Skip as why:
        return [Record(str(rec["id"]), rec["kind"], hw.name, k, v, None, None, chips=chips, skipped=True,
                       reason=str(why)) for k, v in measured.items()]
    except KeyError as exc:  # a workload field the replay needs
        key = str(exc.args[0])
        raise SpecError(file, lines.get(where + ("workload",), line), f"measurements[{i}].workload.{key}",
                        "required field is missing (infer: input_tokens, output_tokens and batch or "
                        "request_rate; train: seq_len, global_batch)") from None
    except (TypeError, ValueError, ZeroDivisionError, OverflowError) as exc:  # e.g. input_tokens: 0 or 'abc'
        raise SpecError(file, line, f"measurements[{i}]", f"cannot replay: {' '.join(str(exc).split())}") from None
    out = []
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
