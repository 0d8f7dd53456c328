"""The MoE and MLA tables of a chip and engine (docs/kernels.md), from aiconfigurator-core's ``moe_perf.parquet``
and ``{context,generation}_mla_perf.parquet`` frames (pandas; distillation only)."""

from __future__ import annotations

import numpy as np

from gpt4plan.distill.repair import MS, drop_spikes, fill_batch_length, fill_loglog, running_max

__all__ = ["MOE_DTYPES", "moe_table", "mla_table"]


#: The MoE precisions distilled (others -- int4 weight-only, MXFP4 -- price no gpt4plan matmul precision).
MOE_DTYPES = ("bfloat16", "fp8", "fp8_block", "nvfp4")


def moe_table(frame) -> dict[str, np.ndarray] | None:
    """The fused MoE kernel (permute, both expert GEMMs with the activation, un-permute) on one rank, balanced
    routing: latency (ms) over ``num_tokens`` (entering the layer on the MoE group) per ``moe_combos`` row
    (index into ``moe_dtypes``, gated, hidden, inter, topk, experts, expert-TP, EP).  Several kernels timed for
    one shape (vLLM's backends): the fastest, as an engine picks.  None without balanced rows."""
    f = frame[(frame["distribution"] == "balanced") & frame["moe_dtype"].isin(MOE_DTYPES)].copy()
    if f.empty:
        return None
    f["gated"] = (~f["kernel_source"].str.contains("nongated")).astype(int)
    f["dtype_i"] = f["moe_dtype"].map({d: i for i, d in enumerate(MOE_DTYPES)})
    keys = ["dtype_i", "gated", "hidden_size", "inter_size", "topk", "num_experts", "moe_tp_size", "moe_ep_size"]
    s = f.groupby([*keys, "kernel_source", "num_tokens"])["latency"].median().groupby(level=[*range(8), 9]).min()
    tokens = np.array(sorted(f["num_tokens"].unique()), dtype=float)
    ti = {float(v): i for i, v in enumerate(tokens)}
    combos, rows, measured = [], [], 0
    for key, g in s.groupby(level=list(range(8))):
        t = np.full(len(tokens), np.nan)
        t[[ti[float(v)] for v in g.index.get_level_values(-1)]] = g.to_numpy() * MS
        measured += int(np.isfinite(t).sum()) - drop_spikes(t, (0,))
        t = fill_loglog(tokens, t)
        if np.isfinite(t).all():
            combos.append(key)
            rows.append(t)
    lat, raised = running_max(np.array(rows), (1,))
    # milliseconds in float16 (0.05% steps, inside the measurement noise; 0.01 ... 1,000 ms all normal): half the bytes
    return {"moe_dtypes": np.array(MOE_DTYPES), "moe_combos": np.array(combos, dtype=np.int32),
            "moe_tokens": tokens, "moe_ms": (lat / MS).astype(np.float16),
            "moe_cells": np.array([measured, lat.size - measured, raised])}


def mla_table(frame, kind: str) -> dict[str, np.ndarray]:
    """MLA attention (16-bit compute) on one rank: latency (s) on a grid ``KV precision x query heads on the
    rank x batch x length`` (prompt, or tokens in the KV cache); fills and repair as :func:`gpt4plan.distill._attention`."""
    length_col = "isl" if kind == "context" else "step"
    f = frame[frame["mla_dtype"] == "bfloat16"]
    heads, batch, length = (np.array(sorted(f[c].unique()), dtype=float) for c in ("num_heads", "batch_size", length_col))
    kvs = [kv for kv in ("fp8", "bfloat16") if (f["kv_cache_dtype"] == kv).any()]
    t = np.full((len(kvs), len(heads), len(batch), len(length)), np.nan)
    s = f.groupby(["kv_cache_dtype", "num_heads", "batch_size", length_col])["latency"].median()
    for (kv, h, b, n), lat in s.items():
        t[kvs.index(kv), int(np.searchsorted(heads, h)), int(np.searchsorted(batch, b)), int(np.searchsorted(length, n))] = lat * MS
    measured = int(np.isfinite(t).sum()) - drop_spikes(t, (1, 2, 3))
    for i in np.ndindex(t.shape[:2]):
        fill_batch_length(t[i], batch, length)
    if not np.isfinite(t).all():
        raise ValueError(f"{kind} MLA table: {int((~np.isfinite(t)).sum())} cells could not be filled")
    lat, raised = running_max(t, (1, 2, 3))
    return {f"mla_{kind}_kv_bytes": np.array([1.0 if kv == "fp8" else 2.0 for kv in kvs]),
            f"mla_{kind}_heads": heads, f"mla_{kind}_batch": batch, f"mla_{kind}_length": length,
            f"mla_{kind}_s": lat.astype(np.float32), f"mla_{kind}_cells": np.array([measured, t.size - measured, raised])}
