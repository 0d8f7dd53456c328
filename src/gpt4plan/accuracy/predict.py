"""Predictions for one measurement record: the train and infer replays (docs/design.md).

Train records: unpinned layout fields (microbatch, recompute, ZeRO stage, interleave) are searched
for the fastest plan on the record's chips, as a tuned recipe would be; throughput excludes failures
(measured runs report steady-state throughput).
Infer records: ``batch`` is a static batch (all sequences start together: TTFT = prefill of the
batch, TPOT = one decode step at the mean context -- :func:`gpt4plan.serving.evaluate`'s ``ttft_static``
and ``tpot_decode`` -- and e2e = TTFT + (output-1) * TPOT); ``request_rate``
is an open-loop serving benchmark of ``num_requests`` requests, replayed pass by pass
(:func:`gpt4plan.serving.replay.simulate_benchmark`: ramp-up, drain, batch and token caps, queueing);
``concurrency`` is the closed-loop version (each client sends its next request on completion; by default
10 requests per client);
``phase: prefill | decode`` measures one pool of a disaggregated server.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from gpt4plan.serving import Workload, evaluate
from gpt4plan.serving.replay import simulate_benchmark
from gpt4plan.training import Reliability, TrainPins, TrainWorkload, evaluate_training, grid

if TYPE_CHECKING:  # the schemas import pydantic; planning never needs it (a fast start)
    from gpt4plan.specs import HardwareSpec, ModelSpec

__all__ = ["NO_FAILURES", "Skip", "replay_train", "replay_infer"]

NO_FAILURES = Reliability(failure_rate_per_gpu_hour=1e-30, checkpoint_s=0.0, restart_s=0.0)


class Skip(Exception):
    """A record that cannot be replayed; the message says why."""


def replay_train(rec, model: ModelSpec, hw: HardwareSpec, performance_model: str = "roofline"):
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
    wl = TrainWorkload(tokens=gb_tokens * 100, seq_len=seq, global_batch_tokens=gb_tokens, precision=prec,
                       performance_model=performance_model)
    c = grid(model, hw, wl, pins, chips, chips or 100_000)
    if c is None or c["tp"].size == 0:
        raise Skip("the pinned layout is not representable (tp/heads, ep/dp or batch divisibility)")
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


def weights_dtype(prec: str) -> str:
    return {"fp8": "fp8", "fp4": "fp4", "int8": "int8", "int4": "int4", "fp16": "fp16"}.get(prec, "bf16")


def replay_infer(rec, model: ModelSpec, hw: HardwareSpec, performance_model: str = "roofline"):
    lay = rec.get("layout") or {}
    w = rec["workload"]
    P, n_out = int(w["input_tokens"]), int(w["output_tokens"])
    prec = weights_dtype(str(rec.get("precision", "bf16")))
    tp, pp, ep = int(lay.get("tp", 1)), int(lay.get("pp", 1)), int(lay.get("ep", 1) or 1)
    replicas, attention_dp, redundant = int(lay.get("replicas", 1) or 1), 1, int(lay.get("redundant_experts") or 0)
    if int(lay.get("dp", 1) or 1) > 1:
        if model.moe is not None and ep > tp:  # DP attention, the experts over the dp x tp ranks (wide EP)
            attention_dp = int(lay["dp"])
        else:
            replicas *= int(lay["dp"])
    wl = Workload(prompt_tokens=P, output_tokens=n_out, weights=prec, kv_cache=prec if prec in ("fp8", "bf16", "fp16") else "bf16",
                  performance_model=performance_model)
    chips = tp * pp * attention_dp * replicas
    phase = w.get("phase")
    if "batch" in w:
        B = float(w["batch"])
        try:
            r = evaluate(model, hw, wl, np.array([tp]), np.array([pp]), np.array([ep]), np.array([B / pp]),
                         prefill_seqs=B, attention_dp=attention_dp, redundant=redundant)
        except ValueError as exc:  # attention DP with measured tables
            raise Skip(str(exc)) from None
        t_dec, t_pre = float(r.t_dec[0]), float(r.t_pre[0])
        ttft, tpot = float(r.ttft_static[0]), float(r.tpot_decode[0])  # no prompt mixed into the decode steps
        if phase == "prefill":
            return {"total_tokens_per_s": replicas * B * P / t_pre, "ttft_s": ttft}, "prefill"
        if phase == "decode":
            return {"output_tokens_per_s": replicas * B / t_dec, "tpot_s": tpot}, "decode"
        e2e = ttft + (n_out - 1) * tpot
        out_tps = replicas * B * n_out / e2e
        regime = "prefill" if set(rec["measured"]) <= {"ttft_s"} else "decode"
        return {"ttft_s": ttft, "tpot_s": tpot, "e2e_latency_s": e2e, "output_tokens_per_s": out_tps,
                "output_tokens_per_s_per_chip": out_tps / chips, "total_tokens_per_s": out_tps * (P + n_out) / n_out}, regime
    if "request_rate" in w or "concurrency" in w:
        if attention_dp > 1:
            raise Skip("the pass-by-pass benchmark replay does not model attention data parallelism yet")
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
            raise Skip("no batch fits memory for this layout") from None
        return {"output_tokens_per_s": res.output_tokens_per_s, "output_tokens_per_s_per_chip": res.output_tokens_per_s / chips,
                "total_tokens_per_s": res.total_tokens_per_s, "tpot_s": res.tpot_s, "ttft_s": res.ttft_s}, "decode"
    raise Skip("workload has neither batch nor request_rate")
