"""How often the error bands hold on data they were not measured on (issue 12, "Honest bands").

The shipped bands (:mod:`gpt4plan.accuracy.bands`) are the 10th-90th percentile of the validation
residuals per (chip, regime), so on the records they come from they cover about 80% by construction.
The honest test leaves one *source family* out at a time: the bands are computed from every other
family, and a held-out metric is covered when its residual ``log(predicted speed / measured speed)``
lies in ``[q10, q90]`` of the other families' residuals for the same chip and regime (inclusive) -- the
same test as "the measured value lies in the band of the prediction", since a time ``x`` has the band
``[x * exp(q10), x * exp(q90)]`` and a throughput ``[x * exp(-q90), x * exp(-q10)]``.

Where the pool has fewer than :data:`~gpt4plan.accuracy.bands.MIN_RECORDS` residuals for the chip and
regime, the band of the regime over all chips of the pool is used instead (``regime_fallback``, listed in
``fallbacks``); fewer than that for the whole regime: no band (``no_band``), and the metric is not counted
in the coverage.  The in-sample coverage applies the same rule with every family in the pool.

A source family is one publication of measurements: a paper, or one document of one software version.
:func:`source_family` derives it from a record's ``source:`` field, first rule that applies:

1. an author-year citation at the start: ``Narayanan et al. 2021 (arXiv ...)`` -> ``Narayanan et al. 2021``,
   ``kipply 2022, ...`` -> ``kipply 2022`` (a work quoted elsewhere counts as the original);
2. ``MLPerf`` with its suite and round if given: ``MLPerf Inference v4.1 ...`` -> ``MLPerf Inference v4.1``;
3. a GitHub repository ``owner/name`` at the start, with the first software version the source names
   (``vX.Y``, patch level dropped, or a ``YY.MM`` container): ``NVIDIA/TensorRT-LLM ... @ v0.9.0`` ->
   ``NVIDIA/TensorRT-LLM v0.9``, ``... (container 24.07)`` -> ``NVIDIA/NeMo 24.07``; no version: the repository;
4. otherwise the text before the first ``,``, ``;``, ``(`` or `` @ ``;
5. no source: the first two ``-``-separated parts of the record's id (``infer-trt09-...`` -> ``infer-trt09``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from gpt4plan.accuracy.bands import MIN_RECORDS, band_quantiles, is_replayed, log_residual, regime_of

__all__ = ["NOMINAL", "REGIMES", "coverage", "source_family"]

NOMINAL = 0.8  # the 10th-90th percentile band
REGIMES = ("train", "prefill", "decode")

_AUTHOR_YEAR = re.compile(r"^([A-Za-z][\w'-]*(?: et al\.)?,? (?:19|20)\d\d)\b")
_MLPERF = re.compile(r"^MLPerf(?: (?:Training|Inference|Storage|Client)\b)?(?: v\d+\.\d+)?", re.IGNORECASE)
_REPO = re.compile(r"^([\w.-]+/[\w.-]+)(?=\s|$)")
_VERSION = re.compile(r"\bv(\d+\.\d+)")
_CONTAINER = re.compile(r"\bcontainer (\d\d\.\d\d)\b|\b(\d\d\.\d\d) container\b")


def source_family(source: str | None, record_id: str = "") -> str:
    """The source family of a record (the rules in this module's docstring)."""
    s = " ".join(str(source or "").split())
    if not s:
        return "-".join(record_id.split("-")[:2]) or "?"
    if m := _AUTHOR_YEAR.match(s):
        return m.group(1).replace(",", "")
    if m := _MLPERF.match(s):
        return m.group(0)
    if m := _REPO.match(s):
        if v := _VERSION.search(s):
            return f"{m.group(1)} v{v.group(1)}"
        if c := _CONTAINER.search(s):
            return f"{m.group(1)} {c.group(1) or c.group(2)}"
        return m.group(1)
    return re.split(r"[,;(]| @ ", s, maxsplit=1)[0].strip() or s


@dataclass(frozen=True)
class _Point:
    """One replayed metric: its family, chip, regime and residual."""

    id: str
    family: str
    hardware: str
    regime: str
    residual: float


@dataclass(frozen=True)
class _Pool:
    """Bands of a pool of residuals: per (chip, regime) and per regime over all chips (>= MIN_RECORDS)."""

    chip: dict
    regime: dict
    counts: dict  # (chip, regime) -> residuals in the pool


def _points(records) -> list[_Point]:
    return [_Point(r.id, source_family(r.source, r.id), r.hardware, regime_of(r.kind, r.metric),
                   log_residual(r.metric, r.error)) for r in records if is_replayed(r)]


def _pool(points: list[_Point]) -> _Pool:
    by_chip: dict = {}
    by_regime: dict = {}
    for p in points:
        by_chip.setdefault((p.hardware, p.regime), []).append(p.residual)
        by_regime.setdefault(p.regime, []).append(p.residual)
    return _Pool({k: band_quantiles(v) for k, v in by_chip.items() if len(v) >= MIN_RECORDS},
                 {k: band_quantiles(v) for k, v in by_regime.items() if len(v) >= MIN_RECORDS},
                 {k: len(v) for k, v in by_chip.items()})


def _judge(p: _Point, pool: _Pool) -> tuple[str, bool]:
    """``(which band, covered)``: ``chip``, ``regime`` (fallback) or ``none``; covered only with a band."""
    if (p.hardware, p.regime) in pool.chip:
        kind, (q10, q90) = "chip", pool.chip[(p.hardware, p.regime)]
    elif p.regime in pool.regime:
        kind, (q10, q90) = "regime", pool.regime[p.regime]
    else:
        return "none", False
    return kind, q10 <= p.residual <= q90


def _tally(judged) -> dict:
    """Counts of ``[(point, (band kind, covered))]`` and the covered fraction of those with a band."""
    kinds = [k for _, (k, _) in judged]
    banded = sum(k != "none" for k in kinds)
    covered = sum(c for _, (_, c) in judged)
    return {"metrics": len(judged), "banded": banded, "covered": covered,
            "coverage": covered / banded if banded else None, "chip_band": kinds.count("chip"),
            "regime_fallback": kinds.count("regime"), "no_band": kinds.count("none")}


def _by_regime(judged) -> dict:
    out = {g: _tally([j for j in judged if j[0].regime == g]) for g in REGIMES}
    out["all"] = _tally(judged)
    return out


def _fallbacks(judged, pool: _Pool, held_out: str | None) -> list[dict]:
    """One entry per (chip, regime) whose chip band was missing from the pool, with what was used."""
    seen: dict = {}
    for p, (kind, _) in judged:
        if kind != "chip" and (p.hardware, p.regime) not in seen:
            seen[(p.hardware, p.regime)] = {"held_out": held_out, "hardware": p.hardware, "regime": p.regime,
                                            "pool_metrics": pool.counts.get((p.hardware, p.regime), 0),
                                            "used": "regime over all chips" if kind == "regime" else "no band"}
    return list(seen.values())


def coverage(records) -> dict:
    """In-sample and leave-one-family-out coverage of the 10-90% bands, per regime and overall.

    ``records``: replayed :class:`gpt4plan.accuracy.replay.Record` s (skipped ones are ignored).
    """
    points = _points(records)
    everyone = _pool(points)
    in_sample = [(p, _judge(p, everyone)) for p in points]
    held: list = []
    families: list[dict] = []
    fallbacks = _fallbacks(in_sample, everyone, None)
    for fam in sorted({p.family for p in points}):
        others = _pool([p for p in points if p.family != fam])
        judged = [(p, _judge(p, others)) for p in points if p.family == fam]
        held += judged
        fallbacks += _fallbacks(judged, others, fam)
        families.append({"family": fam, "regimes": sorted({p.regime for p, _ in judged}, key=REGIMES.index),
                         **_tally(judged)})
    return {"nominal": NOMINAL, "min_records": MIN_RECORDS, "in_sample": _by_regime(in_sample),
            "leave_one_family_out": _by_regime(held), "families": families, "fallbacks": fallbacks}
