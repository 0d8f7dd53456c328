"""Distil measured kernel latency tables into the compact per-chip tables gpt4plan ships (docs/kernels.md).

Source: NVIDIA's ``aiconfigurator-core`` package (Apache-2.0), which ships latencies measured on each chip
under ``aiconfigurator_core/systems/data/<system>/<op>/<engine>/<version>/*.parquet``; or a directory of
the user's own measurements in the same layout and columns (their own cluster).  Only the measured numbers
are taken, with their source recorded in each output file; no code of the package is used.

What is kept, per (chip, engine), from the newest engine version present:

* ``gemm``: latency (s) on a grid ``m x n x k`` for each GEMM precision present (``bfloat16``, ``fp8``,
  ``fp8_block``, ``nvfp4``).  ``m`` is thinned to 22 measured values (1 ... 32,768); ``n`` and ``k`` keep
  all 22 measured values (32 ... 65,536).
* ``context_attention``/``generation_attention``: latency (s) on a grid ``batch x length`` for each
  measured (query heads, KV heads, head_dim, KV-cache precision), full attention only (no sliding window),
  16-bit attention compute.  ``length`` is the prompt length (prefill) or the tokens already in the KV cache
  (one decode step).
* ``all_reduce``: latency (s) on a grid ``ranks x message bytes`` (2, 4, 8 ranks in one node, those
  measured): per size the faster of NCCL and the engine's custom all-reduce, as an engine picks.
* ``deepep`` (in the ``sglang`` tables): DeepEP's MoE dispatch and combine latency (s) on a grid ``nodes x
  tokens per rank`` for its low-latency and normal kernels, at DeepSeek-V3's shape (hidden 7168, top-8, 256
  experts), from the SGLang version measured on the most node counts (H100, H200: 1, 2, 4, 8 nodes of 8).
* ``moe``: the fused MoE kernel on one rank, balanced routing, over the tokens entering the layer, for each
  measured (precision, gated, hidden, inter, top-k, experts, expert-TP, EP) (:func:`gpt4plan.distill.moe_mla.moe_table`).
* ``mla_context``/``mla_generation``: DeepSeek's MLA attention on a grid ``KV precision x heads per rank x
  batch x length`` (:func:`gpt4plan.distill.moe_mla.mla_table`).  MoE and MLA come from the GEMM table's engine version where measured.

Two repairs, both counted in the file's metadata: cells the source did not measure (large batch x length
corners, a few GEMM shapes) are filled along one axis (proportional in batch beyond the largest measured
batch -- independent sequences cost the same each; log-log interpolation in ``m`` for GEMMs); and
measurement noise that makes a larger shape faster than a smaller one is removed along each axis by the
mean of the running maximum from below and the running minimum from above (the kernel time is
non-decreasing in every dimension; a monotone axis is left as measured).

Run: ``python -m gpt4plan.distill [--source DIR] [--output DIR]`` (needs ``pip install 'gpt4plan[kernels]'``:
pandas and pyarrow to read parquet; plan time never imports them).
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import date
from pathlib import Path

import numpy as np

from gpt4plan.distill.moe_mla import mla_table, moe_table
from gpt4plan.distill.repair import MS, fill_batch_length, fill_loglog, running_max
from gpt4plan.physics.kernels import CHIP_SYSTEMS, ENGINES, TABLE_DIR
from gpt4plan.physics.moe import DEEPEP_NORMAL_SMS

__all__ = ["distill_chip", "main", "M_GRID"]

#: GEMM rows kept (all measured in every aiconfigurator-core GEMM table).
M_GRID = (1, 2, 4, 8, 16, 32, 48, 64, 96, 128, 192, 256, 512, 768, 1024, 1536, 2048, 3072, 4096, 8192,
          16384, 32768)
_GEMM_DTYPES = ("bfloat16", "fp8", "fp8_block", "nvfp4")


def _newest(root: Path, system: str, op: str, engine: str) -> Path | None:
    """The newest version directory of ``op`` for ``engine`` on ``system`` (None if absent)."""
    base = root / system / op / engine
    if not base.is_dir():
        return None
    from packaging.version import InvalidVersion, Version

    def key(p: Path):
        try:
            return (1, Version(p.name))
        except InvalidVersion:
            return (0, p.name)
    dirs = sorted((p for p in base.iterdir() if p.is_dir() and any(p.glob("*.parquet"))), key=key)
    return dirs[-1] if dirs else None


def _same_or_newest(root: Path, system: str, op: str, engine: str, version: str, name: str) -> Path | None:
    """The directory of ``op`` holding ``name``: the GEMM's ``version`` if measured there, else the newest."""
    base = root / system / op / engine
    if (base / version / name).exists():
        return base / version
    newest = _newest(root, system, op, engine)
    return newest if newest is not None and (newest / name).exists() else None


def _gemm(frame) -> dict[str, np.ndarray]:
    m = np.array(M_GRID, dtype=float)
    n = np.array(sorted(frame["n"].unique()), dtype=float)
    k = np.array(sorted(frame["k"].unique()), dtype=float)
    dtypes = [d for d in _GEMM_DTYPES if (frame["gemm_dtype"] == d).any()]
    lat = np.full((len(dtypes), len(m), len(n), len(k)), np.nan)
    mi, ni, ki = ({float(v): i for i, v in enumerate(g)} for g in (m, n, k))
    sub = frame[frame["m"].isin(M_GRID)]
    for di, d in enumerate(dtypes):
        s = sub[sub["gemm_dtype"] == d].groupby(["m", "n", "k"], as_index=False)["latency"].median()
        lat[di, [mi[v] for v in s["m"]], [ni[v] for v in s["n"]], [ki[v] for v in s["k"]]] = s["latency"] * MS
    measured = int(np.isfinite(lat).sum())
    for di in range(len(dtypes)):  # fill along m, then whole missing (n, k) columns from the k neighbours
        for j in range(len(n)):
            for q in range(len(k)):
                lat[di, :, j, q] = fill_loglog(m, lat[di, :, j, q])
            for i in range(len(m)):
                lat[di, i, j, :] = fill_loglog(k, lat[di, i, j, :])
        for i in range(len(m)):  # whole missing n rows (NVFP4 starts at n = 128): from the n neighbours
            for q in range(len(k)):
                lat[di, i, :, q] = fill_loglog(n, lat[di, i, :, q])
    if not np.isfinite(lat).all():
        raise ValueError(f"GEMM table: {int((~np.isfinite(lat)).sum())} cells could not be filled")
    lat, raised = running_max(lat, (1, 2, 3))
    return {"gemm_m": m, "gemm_n": n, "gemm_k": k, "gemm_dtypes": np.array(dtypes), "gemm_s": lat.astype(np.float32),
            "gemm_cells": np.array([measured, lat.size - measured, raised])}


def _attention(frame, kind: str) -> dict[str, np.ndarray]:
    length_col = "isl" if kind == "context" else "step"
    f = frame[frame["attn_dtype"] == "bfloat16"]
    if "window_size" in f:
        f = f[f["window_size"] == 0]
    batch = np.array(sorted(f["batch_size"].unique()), dtype=float)
    length = np.array(sorted(f[length_col].unique()), dtype=float)
    keys = ["num_heads", "num_key_value_heads", "head_dim", "kv_cache_dtype"]
    combos, tables, measured, total = [], [], 0, 0
    bi = {float(v): i for i, v in enumerate(batch)}
    li = {float(v): i for i, v in enumerate(length)}
    for key, g in f.groupby(keys):
        s = g.groupby(["batch_size", length_col], as_index=False)["latency"].median()
        t = np.full((len(batch), len(length)), np.nan)
        t[[bi[v] for v in s["batch_size"]], [li[v] for v in s[length_col]]] = s["latency"] * MS
        measured += int(np.isfinite(t).sum())
        total += t.size
        if not np.isfinite(fill_batch_length(t, batch, length)).all():
            continue
        combos.append([key[0], key[1], key[2], 1 if key[3] == "fp8" else 2])
        tables.append(t)
    lat, raised = running_max(np.array(tables), (1, 2))
    return {f"{kind}_batch": batch, f"{kind}_length": length, f"{kind}_combos": np.array(combos, dtype=float),
            f"{kind}_s": lat.astype(np.float32), f"{kind}_cells": np.array([measured, total - measured, raised])}


def _all_reduce(frames) -> dict[str, np.ndarray]:
    ranks = np.array([2.0, 4.0, 8.0])
    sizes = np.array(sorted({float(v) for f in frames for v in f["message_size"].unique()}))
    t = np.full((len(ranks), len(sizes)), np.nan)
    for f in frames:
        f = f[f["op_name"] == "all_reduce"]
        if "nccl_dtype" in f:
            f = f[f["nccl_dtype"] == "half"]
        for (r, size), lat in f.groupby(["num_gpus", "message_size"])["latency"].median().items():
            if float(r) in ranks:
                i, j = int(np.flatnonzero(ranks == r)[0]), int(np.flatnonzero(sizes == size)[0])
                t[i, j] = np.fmin(t[i, j], lat * MS)
    keep = np.isfinite(t).any(axis=1)  # GB200 trays hold 4 GPUs: no 8-rank row
    ranks, t = ranks[keep], t[keep]
    for i in range(len(ranks)):
        t[i] = fill_loglog(sizes, t[i])
    t, raised = running_max(t, (1,))
    return {"all_reduce_ranks": ranks, "all_reduce_bytes": sizes, "all_reduce_s": t.astype(np.float32)}


#: The one MoE shape DeepEP was measured at across nodes: DeepSeek-V3's hidden size, top-k and experts.
DEEPEP_SHAPE = (7168, 8, 256)


def _deepep(root: Path, system: str) -> tuple[dict[str, np.ndarray], str] | None:
    """DeepEP dispatch and combine latency (s) on a grid ``nodes x tokens per rank`` for its low-latency
    (decode) and normal (prefill, 20 SMs) kernels at :data:`DEEPEP_SHAPE`, from the SGLang version measured on
    the most node counts (None without such tables).  Same fills and monotone repair as the other tables."""
    import pandas as pd

    base = root / system / "comm" / "sglang"
    best = None
    for d in sorted(base.glob("*")) if base.is_dir() else []:
        ll, normal = d / "wideep_deepep_ll_perf.parquet", d / "wideep_deepep_normal_perf.parquet"
        if ll.exists() and normal.exists():
            n = pd.read_parquet(ll, columns=["node_num"])["node_num"].nunique()
            if best is None or n > best[0]:
                best = (n, d, pd.read_parquet(ll), pd.read_parquet(normal))
    if best is None:
        return None
    _, d, ll, normal = best
    hidden, topk, experts = DEEPEP_SHAPE
    out = {"deepep_shape": np.array(DEEPEP_SHAPE, dtype=float)}
    for mode, f, cols in (("ll", ll, ("dispatch_avg_t_us", "combine_avg_t_us")),
                          ("normal", normal[normal["dispatch_sms"] == DEEPEP_NORMAL_SMS],
                           ("dispatch_transmit_us", "combine_transmit_us"))):
        f = f[(f["hidden_size"] == hidden) & (f["num_topk"] == topk) & (f["num_experts"] == experts)]
        nodes = np.array(sorted(f["node_num"].unique()), dtype=float)
        tokens = np.array(sorted(f["num_token"].unique()), dtype=float)
        out[f"deepep_{mode}_nodes"], out[f"deepep_{mode}_tokens"] = nodes, tokens
        for col, name in zip(cols, ("dispatch", "combine"), strict=True):
            t = np.full((len(nodes), len(tokens)), np.nan)
            for (nn, tok), lat in f.groupby(["node_num", "num_token"])[col].median().items():
                t[int(np.flatnonzero(nodes == nn)[0]), int(np.flatnonzero(tokens == tok)[0])] = lat * 1e-6
            for i in range(len(nodes)):
                t[i] = fill_loglog(tokens, t[i])
            out[f"deepep_{mode}_{name}_s"] = running_max(t, (1,))[0].astype(np.float32)
    return out, f"sglang {d.name}"


def distill_chip(root: Path, hardware: str, engine: str) -> tuple[dict[str, np.ndarray], dict] | None:
    """The distilled arrays and metadata of ``hardware`` (a catalog name) for ``engine`` from the tables under
    ``root`` (None when the source has no GEMM table for them)."""
    import pandas as pd

    system = CHIP_SYSTEMS[hardware]
    gemm_dir = _newest(root, system, "gemm", engine)
    if gemm_dir is None:
        return None
    arrays = _gemm(pd.read_parquet(gemm_dir / "gemm_perf.parquet"))
    versions = {"gemm": gemm_dir.name}
    att_dir = _newest(root, system, "attention", engine)
    if att_dir is not None:
        for kind in ("context", "generation"):
            path = att_dir / f"{kind}_attention_perf.parquet"
            if path.exists():
                arrays.update(_attention(pd.read_parquet(path), kind))
        versions["attention"] = att_dir.name
    comm = [d for d in (_newest(root, system, "comm", "nccl"), _newest(root, system, "comm", engine)) if d]
    frames = [pd.read_parquet(p) for d in comm for p in d.glob("*.parquet")
              if p.name in ("nccl_perf.parquet", "custom_allreduce_perf.parquet")]
    if frames:
        arrays.update(_all_reduce(frames))
        versions["all_reduce"] = " + ".join(f"{d.parent.name} {d.name}" for d in comm)
    moe_dir = _same_or_newest(root, system, "moe", engine, gemm_dir.name, "moe_perf.parquet")
    moe = moe_table(pd.read_parquet(moe_dir / "moe_perf.parquet")) if moe_dir is not None else None
    if moe is not None:
        arrays.update(moe)
        versions["moe"] = moe_dir.name
    mla_dir = _same_or_newest(root, system, "mla", engine, gemm_dir.name, "context_mla_perf.parquet")
    if mla_dir is not None and (mla_dir / "generation_mla_perf.parquet").exists():
        for kind in ("context", "generation"):
            arrays.update(mla_table(pd.read_parquet(mla_dir / f"{kind}_mla_perf.parquet"), kind))
        versions["mla"] = mla_dir.name
    deepep = _deepep(root, system) if engine == "sglang" else None
    if deepep is not None:
        arrays.update(deepep[0])
        versions["deepep"] = deepep[1]
    device = str(pd.read_parquet(gemm_dir / "gemm_perf.parquet", columns=["device"])["device"].iloc[0])
    return arrays, {"hardware": hardware, "system": system, "device": device, "engine": engine,
                    "engine_versions": versions}


def _source_meta(source: Path) -> dict:
    try:
        from importlib.metadata import version
        pkg = f"aiconfigurator-core {version('aiconfigurator-core')}"
    except Exception:  # noqa: BLE001 - a user's own tables: no package
        pkg = None
    if pkg and "aiconfigurator_core" in str(source):
        return {"source": pkg, "license": "Apache-2.0 (NVIDIA aiconfigurator-core)"}
    return {"source": f"user measurements under {source}", "license": "as the user's"}


def _default_source() -> Path:
    try:
        import aiconfigurator_core
    except ImportError:
        print("gpt4plan.distill: error: aiconfigurator-core is not installed; run "
              "`pip install 'gpt4plan[kernels]'` or give --source DIR", file=sys.stderr)
        raise SystemExit(2) from None
    return Path(aiconfigurator_core.__file__).parent / "systems" / "data"


def main(argv: list[str] | None = None) -> int:
    """Command line: distil every (catalog chip, engine) the source holds into ``--output``.  Exit 0 when at
    least one table was written, 2 on bad input (a source without tables, pandas or pyarrow missing)."""
    ap = argparse.ArgumentParser(prog="python -m gpt4plan.distill", description=__doc__.split("\n\n")[0])
    ap.add_argument("--source", type=Path, help="root of <system>/<op>/<engine>/<version>/*.parquet "
                    "(default: the installed aiconfigurator-core's systems/data)")
    ap.add_argument("--output", type=Path, default=TABLE_DIR, help=f"where to write (default: {TABLE_DIR})")
    ap.add_argument("--hardware", nargs="*", default=sorted(CHIP_SYSTEMS), choices=sorted(CHIP_SYSTEMS),
                    metavar="CHIP", help=f"catalog chips to distil (default: all of {', '.join(sorted(CHIP_SYSTEMS))})")
    args = ap.parse_args(argv)
    try:
        import pandas  # noqa: F401
        import pyarrow  # noqa: F401
    except ImportError as exc:
        ap.exit(2, f"gpt4plan.distill: error: {exc.name} is needed to read the tables: "
                   "pip install 'gpt4plan[kernels]'\n")
    source = args.source or _default_source()
    if not source.is_dir():
        ap.exit(2, f"gpt4plan.distill: error: --source {source}: not a directory\n")
    meta_common = _source_meta(source) | {"distilled": date.today().isoformat()}
    written = 0
    for hw in args.hardware:
        for engine in ENGINES:
            got = distill_chip(source, hw, engine)
            if got is None:
                continue
            arrays, meta = got
            meta |= meta_common
            args.output.mkdir(parents=True, exist_ok=True)
            path = args.output / f"{hw}.{engine}.npz"
            np.savez_compressed(path, meta=np.array(json.dumps(meta, sort_keys=True)), **arrays)
            written += 1
            print(f"{path}: {path.stat().st_size / 1e3:.0f} kB  {meta['device']}  {engine} "
                  f"{meta['engine_versions']}", file=sys.stderr)
    if not written:
        ap.exit(2, f"gpt4plan.distill: error: --source {source}: no GEMM table of "
                   f"{', '.join(CHIP_SYSTEMS[h] for h in args.hardware)} under <system>/gemm/<engine>/<version>/\n")
    return 0
