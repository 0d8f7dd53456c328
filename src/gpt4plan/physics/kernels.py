"""Measured kernel latencies: the distilled tables gpt4plan ships, interpolated with numpy (docs/kernels.md).

The tables (``gpt4plan/data/kernels/<hardware>.<engine>.npz``) are distilled by :mod:`gpt4plan.distill` from
NVIDIA's ``aiconfigurator-core`` measured-data package (Apache-2.0; package and engine versions are in each
file's ``meta``).  Every lookup is vectorised over candidates and interpolates in log space: the log of the
latency is multilinear in the logs of the shape's dimensions, so a power law between measured points (the
shape of kernel time in both its memory-bound and compute-bound regimes) is followed exactly and a measured
point is returned exactly.  Beyond the largest measured value of a dimension the time grows in proportion
to it (a GEMM with twice the rows, or twice the sequences of an attention batch, does twice the work at the
saturated rate); below the smallest it stays at the smallest's time (GEMM rows, message sizes: a kernel
does not get cheaper than its launch) or shrinks in proportion (attention over a fraction of a batch: a
chunk of a prompt).  Units: seconds, bytes, elements.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

__all__ = ["CHIP_SYSTEMS", "ENGINES", "DEFAULT_ENGINE", "TABLE_DIR", "GEMM_DTYPE", "KernelTables", "tables_for",
           "interp_loglog", "select_tables", "deepep_tables", "MOE_DTYPES", "MOE_MAX_LOG_DISTANCE", "MLA_MEASURED"]

#: Catalog chips with measured tables, and the aiconfigurator-core system each one's tables come from.
CHIP_SYSTEMS = {"a100-80gb": "a100_sxm", "h100-sxm": "h100_sxm", "h200": "h200_sxm", "b200": "b200_sxm",
                "gb200": "gb200"}
ENGINES = ("trtllm", "vllm", "sglang")
#: TensorRT-LLM: its tables are the most complete (on H100: 483 context-attention head shapes against 233
#: for vLLM and 253 for SGLang) and most published serving measurements gpt4plan replays used it.
DEFAULT_ENGINE = "trtllm"
TABLE_DIR = Path(__file__).resolve().parents[1] / "data" / "kernels"
#: gpt4plan's matmul precision -> the measured GEMM precision that runs it (W8A8 fp8 per-tensor scaling; NVFP4).
GEMM_DTYPE = {"bf16": "bfloat16", "fp16": "bfloat16", "fp8": "fp8", "fp4": "nvfp4"}


#: gpt4plan's matmul precision -> the measured MoE precisions that run it, the first preferred (fp8: per-tensor
#: W8A8, else DeepSeek's 128-block scaling, the only fp8 the SGLang tables measure).
MOE_DTYPES = {"bf16": ("bfloat16",), "fp16": ("bfloat16",), "fp8": ("fp8", "fp8_block"), "fp4": ("nvfp4",)}
#: A measured MoE shape prices a layer only within this summed |log| distance of its per-rank shape (hidden,
#: expert width per chip, experts per rank, share of experts per token; :meth:`KernelTables.moe_combo`):
#: ``log 3``, one dimension off by 3x at most.  Leaving each measured shape out in turn (H100 and B200, all
#: three engines; docs/kernels.md), the scaled neighbour is closer to the measured kernel than the grouped GEMM
#: from the GEMM table within this distance (median error 14-49% against 24-56%), no longer beyond it.
MOE_MAX_LOG_DISTANCE = float(np.log(3.0))
#: DeepSeek-V3's MLA, at which aiconfigurator-core measures MLA attention: (qk_nope_head_dim, qk_rope_head_dim,
#: v_head_dim, kv_lora_rank) of config.json of deepseek-ai/DeepSeek-V3.
MLA_MEASURED = (128, 64, 128, 512)


def interp_loglog(grids, table, points, above=None, below=None, log_table=None):
    """Interpolate ``table`` (shape ``[len(g) for g in grids]``) at ``points`` (one array per axis, broadcast
    together) multilinearly in log space.  Per axis, ``above``/``below`` is ``"linear"`` (time proportional to
    the dimension past the grid's end) or ``"clamp"`` (the edge's time); defaults: linear above, clamp below.
    ``log_table`` (``log(table)``, precomputed) saves its logarithm.  Returns an array of the broadcast shape.
    """
    pts = np.broadcast_arrays(*(np.asarray(p, dtype=float) for p in points))
    shape = pts[0].shape
    logt = np.log(np.asarray(table, dtype=float)) if log_table is None else log_table
    flat = np.stack([p.ravel() for p in pts], axis=1)
    return _interp_unique(grids, logt, flat, above or {}, below or {}).reshape(shape)


def _interp_unique(grids, logt, pts, above, below):
    """:func:`interp_loglog` at the rows of ``pts`` (shape ``(N, axes)``)."""
    n = pts.shape[0]
    idx, wts, scale = [], [], np.ones(n)
    for a, g in enumerate(grids):
        x = pts[:, a]
        lg = np.log(g)
        if above.get(a, "linear") == "linear":
            scale = scale * np.where(x > g[-1], x / g[-1], 1.0)
        if below.get(a, "clamp") == "linear":
            scale = scale * np.where(x < g[0], np.maximum(x, 0.0) / g[0], 1.0)
        lx = np.clip(np.log(np.maximum(x, 1e-30)), lg[0], lg[-1])
        if len(g) == 1:
            idx.append(np.zeros(n, dtype=int))
            wts.append(np.zeros(n))
            continue
        i = np.clip(np.searchsorted(lg, lx, side="right") - 1, 0, len(g) - 2)
        idx.append(i)
        wts.append((lx - lg[i]) / (lg[i + 1] - lg[i]))
    out = np.zeros(n)
    for corner in range(1 << len(grids)):
        w = np.ones(n)
        sel = []
        for a in range(len(grids)):
            up = (corner >> a) & 1
            w = w * (wts[a] if up else 1 - wts[a])
            sel.append(np.minimum(idx[a] + up, len(grids[a]) - 1))
        out = out + w * logt[tuple(sel)]
    return np.exp(out) * scale


@dataclass(frozen=True)
class KernelTables:
    """One chip's measured tables for one engine (arrays as distilled; see :mod:`gpt4plan.distill`)."""

    meta: dict
    arrays: dict = field(repr=False)
    #: ``log`` of each latency table, computed on first use (interpolation works in log space)
    logs: dict = field(default_factory=dict, repr=False, compare=False)
    #: :meth:`moe_combo`'s answers, per layer shape and split
    memo: dict = field(default_factory=dict, repr=False, compare=False)

    @property
    def label(self) -> str:
        m = self.meta
        return f"{m['source']}, {m['engine']} {m['engine_versions'].get('gemm', '')}".strip()

    def has_gemm(self, dtype: str) -> bool:
        return GEMM_DTYPE.get(dtype) in set(self.arrays["gemm_dtypes"].tolist())

    def gemm_s(self, m, n, k, dtype: str):
        """Time (s) of a GEMM ``[m, k] x [k, n]`` in gpt4plan precision ``dtype`` (``has_gemm`` must hold)."""
        a = self.arrays
        d = a["gemm_dtypes"].tolist().index(GEMM_DTYPE[dtype])
        return interp_loglog((a["gemm_m"], a["gemm_n"], a["gemm_k"]), a["gemm_s"][d],
                             (np.maximum(m, 1.0), n, k), log_table=self._log("gemm_s")[d])

    def _log(self, key: str) -> np.ndarray:
        """``log`` of table ``key``, computed once."""
        logs = self.logs
        if key not in logs:
            logs[key] = np.log(self.arrays[key].astype(float))
        return logs[key]

    def has_attention(self, kind: str, kv_cache: str = "bf16") -> bool:
        """Whether ``kind`` attention was measured with a ``kv_cache`` KV cache (bf16/fp16 or fp8)."""
        if f"{kind}_s" not in self.arrays or kv_cache not in ("bf16", "fp16", "fp8"):
            return False
        return bool((self.arrays[f"{kind}_combos"][:, 3] == (1.0 if kv_cache == "fp8" else 2.0)).any())

    def attention_s(self, kind: str, batch, length, heads, kv_heads, head_dim: float, kv_fp8: bool):
        """One layer's attention on one rank: ``kind`` ``"context"`` (``batch`` prompts of ``length`` tokens)
        or ``"generation"`` (one new token for each of ``batch`` sequences holding ``length`` tokens).
        ``heads``/``kv_heads`` are per rank (arrays); the measured head shape nearest in log distance with the
        same head_dim (else the nearest head_dim) and KV precision is used, scaled by the query heads
        (prefill: compute grows with them) or the KV heads (decode: the KV bytes read grow with them)."""
        a = self.arrays
        combos = a[f"{kind}_combos"]
        heads, kv_heads = np.broadcast_arrays(np.asarray(heads, float), np.asarray(kv_heads, float))
        out = np.zeros(np.broadcast_shapes(heads.shape, np.shape(batch), np.shape(length)))
        want_kv = 1.0 if kv_fp8 else 2.0  # has_attention(kind, kv) says whether it was measured
        pool_idx = np.flatnonzero(combos[:, 3] == want_kv)
        pool = combos[pool_idx]
        hd_best = pool[np.argmin(np.abs(np.log(pool[:, 2] / head_dim))), 2]
        cand = pool_idx[combos[pool_idx, 2] == hd_best]
        batch_b, length_b = np.broadcast_to(batch, out.shape), np.broadcast_to(length, out.shape)
        heads_b, kv_b = np.broadcast_to(heads, out.shape), np.broadcast_to(kv_heads, out.shape)
        pairs = heads_b.ravel() * 1e6 + kv_b.ravel()  # heads and KV heads per rank are whole and < 1e6
        for h, kv in ((round(x // 1e6), x % 1e6) for x in np.unique(pairs)):
            dist = np.abs(np.log(combos[cand, 0] / h)) + np.abs(np.log(combos[cand, 1] / kv))
            c = cand[int(np.argmin(dist))]
            ratio = (h / combos[c, 0]) if kind == "context" else (kv / combos[c, 1])
            ratio *= head_dim / combos[c, 2]
            sel = (heads_b == h) & (kv_b == kv)
            out[sel] = ratio * interp_loglog((a[f"{kind}_batch"], a[f"{kind}_length"]), a[f"{kind}_s"][c],
                                             (batch_b[sel], length_b[sel]), below={0: "linear"},
                                             log_table=self._log(f"{kind}_s")[c])
        return np.where(np.asarray(batch_b) > 0, out, 0.0)

    def all_reduce_s(self, ranks, nbytes):
        """Time (s) of an all-reduce of ``nbytes`` over ``ranks`` chips of one node (a measured count: 2, 4 or
        8, GB200 2 or 4; NaN for any other count, which the caller prices by physics)."""
        a = self.arrays
        if "all_reduce_s" not in a:
            return np.full(np.broadcast_shapes(np.shape(ranks), np.shape(nbytes)), np.nan)
        ranks, nbytes = np.broadcast_arrays(np.asarray(ranks, float), np.asarray(nbytes, float))
        r = a["all_reduce_ranks"]
        out = interp_loglog((r, a["all_reduce_bytes"]), a["all_reduce_s"], (np.clip(ranks, r[0], r[-1]), nbytes))
        return np.where(np.isin(ranks, a["all_reduce_ranks"]), out, np.where(ranks <= 1, 0.0, np.nan))

    def moe_combo(self, dtype: str, gated: bool, hidden: float, inter: float, top_k: float, experts: float,
                  etp: float, ep: float) -> tuple[int, float, float] | None:
        """The measured MoE kernel (a row of ``moe_ms``) that prices a layer of ``experts`` experts (``hidden`` x
        ``inter``, ``top_k`` per token, gated or not) split ``ep`` ways with each expert split over ``etp``
        chips, in gpt4plan precision ``dtype``: ``(row of moe_ms, time scale, token scale)``, or None when no measured shape is
        within :data:`MOE_MAX_LOG_DISTANCE` (the caller keeps its grouped GEMM).

        The nearest measured row minimises the summed ``|log|`` ratios of what sets one rank's kernel: the
        hidden size, the expert width per chip ``inter / etp``, the experts per rank ``experts / ep`` and the
        share of experts a token picks ``top_k / experts`` (its precision: the first of
        :data:`MOE_DTYPES` ``[dtype]`` with a row at the least distance).  It is read at the tokens that give
        each expert the same rows, ``tokens x (top_k / experts) / (top_k' / experts')``, and scaled by the
        ratio of the rank's expert weights, ``(experts / ep) hidden (inter / etp)`` over the row's: at equal
        rows per expert, the FLOPs and the weight bytes of every expert GEMM grow with its ``hidden x inter``.
        An exact shape has scales 1."""
        key = ("moe", dtype, bool(gated), hidden, inter, top_k, experts, etp, ep)
        memo = self.memo
        if key in memo:
            return memo[key]
        a = self.arrays
        out = None
        if "moe_ms" in a and dtype in MOE_DTYPES:
            c = a["moe_combos"].astype(float)
            names = a["moe_dtypes"].tolist()
            pref = np.full(len(c), np.inf)
            for rank, name in enumerate(MOE_DTYPES[dtype]):
                if name in names:
                    pref[c[:, 0] == names.index(name)] = 1e-3 * rank  # a tie goes to the first precision
            share = c[:, 4] / c[:, 5]
            dist = (np.abs(np.log(c[:, 2] / hidden)) + np.abs(np.log(c[:, 3] / c[:, 6] / (inter / etp)))
                    + np.abs(np.log(c[:, 5] / c[:, 7] / (experts / ep))) + np.abs(np.log(share / (top_k / experts)))
                    + pref + np.where(c[:, 1] == float(bool(gated)), 0.0, np.inf))
            i = int(np.argmin(dist))
            if dist[i] <= MOE_MAX_LOG_DISTANCE:
                scale = (experts / ep * hidden * inter / etp) / (c[i, 5] / c[i, 7] * c[i, 2] * c[i, 3] / c[i, 6])
                out = (i, float(scale), float((top_k / experts) / share[i]))
        memo[key] = out
        return out

    def moe_s(self, row, tokens):
        """Time (s) of measured MoE rows ``row`` (:meth:`moe_combo`; an int or an int array broadcast against
        ``tokens``) at ``tokens`` entering the layer: log-log between measured counts (as
        :func:`interp_loglog`, for many rows in one pass), past the largest in proportion, below 1 token the
        1-token time."""
        g, logt = self.arrays["moe_tokens"], self._log("moe_ms")  # the table holds milliseconds
        row, x = np.broadcast_arrays(np.asarray(row, dtype=int), np.maximum(np.asarray(tokens, dtype=float), 1.0))
        lg, lx = np.log(g), np.log(np.clip(x, g[0], g[-1]))
        i = np.clip(np.searchsorted(lg, lx, side="right") - 1, 0, len(g) - 2)
        w = (lx - lg[i]) / (lg[i + 1] - lg[i])
        return 1e-3 * np.exp((1 - w) * logt[row, i] + w * logt[row, i + 1]) * np.maximum(x / g[-1], 1.0)

    def has_mla(self, kind: str, kv_cache: str = "bf16") -> bool:
        """Whether MLA ``kind`` attention was measured with a ``kv_cache`` KV cache (bf16/fp16 or fp8)."""
        if f"mla_{kind}_s" not in self.arrays or kv_cache not in ("bf16", "fp16", "fp8"):
            return False
        return (1.0 if kv_cache == "fp8" else 2.0) in self.arrays[f"mla_{kind}_kv_bytes"].tolist()

    def mla_s(self, kind: str, batch, length, heads, kv_fp8: bool, mla):
        """One layer's MLA attention on one rank (``has_mla`` must hold): ``kind`` ``"context"`` (``batch``
        prompts of ``length`` tokens) or ``"generation"`` (one new token for each of ``batch`` sequences
        holding ``length`` tokens), ``heads`` query heads on the rank.  Interpolated in heads (1 ... 128
        measured: DeepSeek-V3 at TP 1 ... 64; beyond in proportion), batch and length.  The tables were
        measured at DeepSeek-V3's MLA (:data:`MLA_MEASURED`); another ``mla`` (a ModelSpec's) scales prefill by
        its FLOPs per head and per key, ``qk_nope + qk_rope + v``, and decode by its latent per token,
        ``kv_lora_rank + qk_rope``, which each decoding head reads."""
        a = self.arrays
        nope, rope, v, lora = MLA_MEASURED
        ratio = ((mla.qk_nope_head_dim + mla.qk_rope_head_dim + mla.v_head_dim) / (nope + rope + v)
                 if kind == "context" else (mla.kv_lora_rank + mla.qk_rope_head_dim) / (lora + rope))
        kv = a[f"mla_{kind}_kv_bytes"].tolist().index(1.0 if kv_fp8 else 2.0)
        out = interp_loglog((a[f"mla_{kind}_heads"], a[f"mla_{kind}_batch"], a[f"mla_{kind}_length"]),
                            a[f"mla_{kind}_s"][kv], (heads, batch, length), below={1: "linear"},
                            log_table=self._log(f"mla_{kind}_s")[kv])
        return np.where(np.asarray(batch) > 0, ratio * out, 0.0)

    def has_deepep(self) -> bool:
        return "deepep_ll_dispatch_s" in self.arrays

    def deepep_s(self, mode: str, nodes, tokens_per_rank, dispatch_scale: float, combine_scale: float):
        """(dispatch, combine) time (s) of DeepEP's ``mode`` kernels (``"ll"``, low latency, decode; ``"normal"``,
        prefill) over ``nodes`` nodes of 8 GPUs, each rank sending ``tokens_per_rank`` tokens, from the measured
        grid at DeepSeek-V3's shape (``deepep_shape``: hidden 7168, top-8).  Another shape is read at the tokens
        that move the same bytes: ``tokens x dispatch_scale`` (resp. ``combine_scale``), the ratio of its bytes
        per token (top-k copies x bytes per copy) to the measured shape's.  Node counts between measured ones
        interpolate in log space; beyond the largest (8) the largest's time is kept (each rank's share of the
        traffic to other nodes no longer grows with them); tokens beyond the grid scale in proportion."""
        a = self.arrays
        nodes, tokens = np.broadcast_arrays(np.asarray(nodes, float), np.asarray(tokens_per_rank, float))
        grid_n, grid_t = a[f"deepep_{mode}_nodes"], a[f"deepep_{mode}_tokens"]
        n = np.clip(nodes, grid_n[0], grid_n[-1])
        out = []
        for name, scale in (("dispatch", dispatch_scale), ("combine", combine_scale)):
            t = interp_loglog((grid_n, grid_t), a[f"deepep_{mode}_{name}_s"], (n, np.maximum(tokens * scale, 1e-9)),
                              log_table=self._log(f"deepep_{mode}_{name}_s"))
            out.append(np.where(tokens > 0, t, 0.0))
        return out[0], out[1]


def deepep_tables(hw) -> KernelTables | None:
    """The measured DeepEP tables for chip ``hw`` (a HardwareSpec): the catalog chip's ``sglang`` tables where
    they hold DeepEP's, the chip's nodes are 8 GPUs (as measured) and the spec's links are the catalog's
    (another scale-up or scale-out network is not what was measured); else None."""
    kt = tables_for(hw.name, "sglang")
    if kt is None or not kt.has_deepep() or hw.scale_up.domain != 8:
        return None
    return None if _differs_from_catalog(hw, ("scale_up", "scale_out")) else kt


@functools.lru_cache(maxsize=32)
def tables_for(hardware: str, engine: str = DEFAULT_ENGINE, directory: str | None = None) -> KernelTables | None:
    """The shipped tables of catalog chip ``hardware`` for ``engine`` (None where there are none)."""
    path = Path(directory or TABLE_DIR) / f"{hardware}.{engine}.npz"
    if not path.is_file():
        return None
    with np.load(path, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files if k != "meta"}
        meta = json.loads(str(z["meta"]))
    return KernelTables(meta=meta, arrays=arrays)


def select_tables(hw, performance_model: str, engine: str, gemm_dtype: str) -> tuple[KernelTables | None, dict]:
    """The tables that price work on chip ``hw`` (a HardwareSpec) in matmul precision ``gemm_dtype``, and the
    description every result carries: ``{kind: "measured-kernels" | "roofline", source, engine,
    engine_version}`` (+ ``device``; or, when measured kernels were asked for and cannot be used, ``reason``).
    Tables are used with ``performance_model="measured"`` on a catalog chip whose ``engine`` tables hold
    the precision's GEMMs, and only while the spec is the catalog's (a copy of ``h100-sxm.yaml`` with another
    memory bandwidth is not the chip the tables were measured on); otherwise the roofline."""
    kt = tables_for(hw.name, engine) if performance_model == "measured" else None
    differs = _differs_from_catalog(hw) if kt is not None else None
    if kt is not None and kt.has_gemm(gemm_dtype) and not differs:
        return kt, {"kind": "measured-kernels", "source": kt.meta["source"], "engine": kt.meta["engine"],
                    "engine_version": kt.meta["engine_versions"].get("gemm"), "device": kt.meta["device"]}
    out = {"kind": "roofline", "source": f"{hw.name} spec: datasheet peaks x calibrated efficiency "
           f"(compute {hw.efficiency.compute:g}, memory {hw.efficiency.memory:g})", "engine": None,
           "engine_version": None}
    if performance_model == "measured":
        out["reason"] = (f"no measured {engine} tables for {hw.name}" if kt is None else
                         f"this {hw.name} spec's {differs} differs from the catalog chip the tables were "
                         "measured on" if differs else
                         f"the {engine} tables of {hw.name} hold no {gemm_dtype} GEMMs")
    return None, out


def _differs_from_catalog(hw, fields=("memory_bandwidth", "peak_flops", "memory")) -> str | None:
    """The first physical field of ``fields`` (by default memory bandwidth, peak FLOP/s, memory: what the
    kernel tables depend on) in which ``hw`` is not the catalog chip of its name, or None."""
    from gpt4plan.specs.catalog import resolve_hardware

    ref = resolve_hardware(hw.name)
    for field_name in fields:
        if getattr(hw, field_name) != getattr(ref, field_name):
            return field_name.replace("_", " ")
    return None
