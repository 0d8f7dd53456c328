"""Error bands on predictions, from the validation residuals per chip and regime (issue: accuracy).

A residual is ``log(predicted speed / measured speed)``: for a throughput metric ``log(pred/meas)``, for a
time metric ``log(meas/pred)``.  Regimes: ``train`` (training metrics), ``prefill`` (TTFT), ``decode``
(every other inference metric).  For each (chip, regime) with at least :data:`MIN_RECORDS` replayed
metrics, the band is the 10th-90th percentile of the residuals; a prediction ``x`` of a time or a cost
then has the band ``[x * exp(q10), x * exp(q90)]`` and a throughput ``[x * exp(-q90), x * exp(-q10)]``.
Fewer records: no band, and a note that says so.

The table ships as ``gpt4plan/data/error_bands.yaml``, written by ``gpt4plan validate --write-bands``.
"""

from __future__ import annotations

import math
from functools import lru_cache
from pathlib import Path

import numpy as np

from gpt4plan.specs.banded import Banded

__all__ = ["Banded", "MIN_RECORDS", "compute_bands", "write_bands", "load_bands", "band_for", "regime_of",
           "log_residual", "band_quantiles", "is_replayed"]

MIN_RECORDS = 5
TIME_METRICS = {"step_time_s", "ttft_s", "tpot_s", "e2e_latency_s"}


def regime_of(kind: str, metric: str) -> str:
    """``train`` for training records, ``prefill`` for TTFT, ``decode`` for other inference metrics."""
    if kind == "train":
        return "train"
    return "prefill" if metric == "ttft_s" else "decode"


def log_residual(metric: str, error: float) -> float:
    """``log(predicted speed / measured speed)`` of a metric whose ``error`` is predicted/measured - 1."""
    r = math.log1p(error)  # log(pred / meas)
    return -r if metric in TIME_METRICS else r


def is_replayed(record) -> bool:
    """A record that has a residual: replayed, with a prediction above zero."""
    return not record.skipped and record.error is not None and record.error > -1


def band_quantiles(residuals) -> tuple[float, float]:
    """``(q10, q90)``: the 10th and 90th percentile (numpy's linear interpolation) of the residuals."""
    a = np.asarray(residuals, dtype=float)
    return float(np.percentile(a, 10)), float(np.percentile(a, 90))


def compute_bands(records) -> dict:
    """``{chip: {regime: {"count", "q10", "q90"}}}`` from replayed :class:`gpt4plan.accuracy.replay.Record` s."""
    groups: dict[tuple[str, str], list[float]] = {}
    for r in records:
        if is_replayed(r):
            groups.setdefault((r.hardware, regime_of(r.kind, r.metric)), []).append(log_residual(r.metric, r.error))
    out: dict = {}
    for (hw, regime), vals in sorted(groups.items()):
        q10, q90 = band_quantiles(vals)
        out.setdefault(hw, {})[regime] = {"count": len(vals), "q10": round(q10, 4), "q90": round(q90, 4)}
    return out


def write_bands(records, path: str | Path, source: str) -> Path:
    """Write the band table as YAML with a header naming the data it came from."""
    path = Path(path)
    header = (f"# Error bands of gpt4plan's predictions: 10th-90th percentile of log(predicted/measured speed)\n"
              f"# per chip and regime, from `gpt4plan validate --write-bands` on {source}.\n"
              f"# Bands are given only where a (chip, regime) has at least {MIN_RECORDS} replayed metrics.\n")
    import yaml

    from gpt4plan.specs import write_atomically

    text = header + yaml.safe_dump({"bands": compute_bands(records)}, sort_keys=True)
    # a folder, a missing directory, no permission: exit 2; a full disk: exit 3; never a half-written file
    write_atomically(path, "--write-bands", lambda tmp: tmp.write_text(text, encoding="utf-8"))
    return path


#: The shipped band table of each performance model (``validate --write-bands``, with ``--performance-model
#: measured`` for the second): a plan carries the bands of the model that priced it.
BAND_FILES = {"roofline": "error_bands.yaml", "measured-kernels": "error_bands.measured.yaml"}


@lru_cache(maxsize=2)
def load_bands(file: str = BAND_FILES["roofline"]) -> dict:
    """The shipped band table ``file`` (empty if missing); read from the validated cache while the file is
    unchanged (:mod:`gpt4plan.specs.cache`: no yaml, a fast start)."""
    from gpt4plan.specs import cache

    p = cache.data_dir() / file
    if not p.is_file():
        return {}
    doc = cache.shipped(p.name, p)
    if doc is None:
        import yaml

        doc = yaml.safe_load(p.read_text(encoding="utf-8"))
    return (doc or {}).get("bands", {})


def band_for(hardware: str, regime: str, value: float, kind: str = "time",
             file: str = BAND_FILES["roofline"]) -> tuple[list[float] | None, str | None]:
    """``([low, high], None)`` for ``value`` (``kind`` ``time``/``cost`` or ``rate``) from band table ``file``,
    or ``(None, why)``."""
    entry = load_bands(file).get(hardware, {}).get(regime)
    n = entry["count"] if entry else 0
    if not entry or n < MIN_RECORDS or value is None or not math.isfinite(value):
        return None, f"too few validation records for {hardware}/{regime} ({n} < {MIN_RECORDS}): no error band"
    q10, q90 = entry["q10"], entry["q90"]
    if kind == "rate":
        return [value * math.exp(-q90), value * math.exp(-q10)], None
    return [value * math.exp(q10), value * math.exp(q90)], None


INFER_FIELDS = {  # field -> (regime, kind)
    "ttft_s": ("prefill", "time"),
    "usd_per_1k_input_tokens": ("prefill", "cost"),
    "tpot_s": ("decode", "time"),
    "tokens_per_s_per_user": ("decode", "rate"),
    "throughput_tokens_per_s": ("decode", "rate"),
    "usd_per_1k_output_tokens": ("decode", "cost"),
}
TRAIN_FIELDS = {
    "step_time_s": ("train", "time"),
    "days": ("train", "time"),
    "gpu_hours": ("train", "cost"),
    "usd": ("train", "cost"),
    "mfu": ("train", "rate"),
}


def attach(plans, hardware: str, fields: dict, performance_model: dict | None = None) -> list[str]:
    """Set ``plan.bands[field] = [low, high] | None`` on each plan, from the band table of the performance model
    that priced them (``performance_model["kind"]``; the roofline's by default); return the notes for missing
    bands."""
    file = BAND_FILES.get((performance_model or {}).get("kind", "roofline"), BAND_FILES["roofline"])
    notes: list[str] = []
    for p in plans:
        if p is None:
            continue
        p.bands = {}
        for f, (regime, kind) in fields.items():
            band, why = band_for(hardware, regime, getattr(p, f), kind, file)
            p.bands[f] = band
            if why and why not in notes:
                notes.append(why)
    return notes
