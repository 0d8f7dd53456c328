"""Pass-by-pass replay of an open-loop serving benchmark (used by ``gpt4plan validate``).

A serving benchmark (vLLM's ``benchmark_serving.py``, TensorRT-LLM's serving benchmarks, ...) sends
``num_requests`` requests with Poisson arrivals at ``request_rate`` per second (all at t = 0 when the
rate is infinite) to a server doing continuous (in-flight) batching, and reports the mean TTFT, the mean
TPOT (inter-token latency) and the throughput over the whole run: requests x output tokens / time of the
last token.  The steady-state model of :mod:`gpt4plan.serving` describes a server that has run forever
at the offered load; a finite benchmark also holds the ramp-up, the drain and, above capacity, a growing
batch and queue.  This module replays the run pass by pass with the same per-stage physics
(:func:`gpt4plan.serving.step.stage_model`), so the two agree on a long run at a steady load.

Scheduler (TensorRT-LLM in-flight batching; vLLM alike): every forward pass carries one token of each
running sequence plus prompt tokens taken first-come first-served from the queue, at most
``max_num_tokens`` tokens per pass and ``max_batch`` sequences in flight.  A request's KV cache for its
prompt + output is reserved when it is admitted (TensorRT-LLM's ``GUARANTEED_NO_EVICT`` policy), so at
most ``floor(free memory / KV per sequence)`` sequences run at once.  A prompt that does not fit the
pass's remaining token budget is prefilled in chunks.  The defaults are TensorRT-LLM's
(``trtllm-serve --max_batch_size 256 --max_num_tokens 8192``, TensorRT-LLM docs, commands/trtllm-serve);
vLLM's ``max_num_seqs`` default is also 256.  With ``pp`` pipeline stages a pass is one round of ``pp``
microbatches, each with 1/pp of the sequences and prompt tokens.

:func:`simulate_benchmark` replays identical requests and reports a benchmark's means (``gpt4plan
validate``); :func:`replay` replays any :class:`~gpt4plan.serving.traffic.Requests` (lengths and arrivals per
request, a request log) and returns every request's TTFT, TPOT and end-to-end latency, with their
percentiles (:meth:`ReplayResult.percentiles`), and the MoE routers' pass-to-pass jitter
(:func:`gpt4plan.serving.scheduler.moe_jitter_cv`).  The scheduler itself is
:class:`gpt4plan.serving.scheduler.Scheduler`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from gpt4plan.serving.scheduler import PassTimes, Scheduler
from gpt4plan.serving.step import RUNTIME_TTFT_OVERHEAD_S, SERVING_TTFT_OVERHEAD_S, stage_model
from gpt4plan.serving.traffic import Requests, draw_arrivals
from gpt4plan.serving.workload import Workload

if TYPE_CHECKING:  # the schemas import pydantic; planning never needs it (a fast start)
    from gpt4plan.specs import HardwareSpec, ModelSpec

__all__ = ["BenchmarkResult", "simulate_benchmark", "ReplayResult", "replay", "percentile", "DEFAULT_MAX_BATCH", "DEFAULT_MAX_NUM_TOKENS",
           "PERCENTILES"]

#: Sequences in flight per replica (TensorRT-LLM ``trtllm-serve --max_batch_size`` default; vLLM
#: ``max_num_seqs`` default).
DEFAULT_MAX_BATCH = 256
#: Tokens per forward pass, decode + prompt (TensorRT-LLM ``--max_num_tokens`` default).
DEFAULT_MAX_NUM_TOKENS = 8192
#: The percentiles every plan's latency is reported at.
PERCENTILES = (50, 90, 99)


@dataclass(frozen=True)
class BenchmarkResult:
    """What a serving benchmark reports.  Times in s, throughputs in tokens/s for all replicas."""

    ttft_s: float  # mean time to first token, including the runtime's and the serving stack's overheads
    tpot_s: float  # mean over requests of (last token - first token) / (output tokens - 1)
    duration_s: float  # first arrival to last token
    output_tokens_per_s: float
    total_tokens_per_s: float  # (prompt + output) tokens / duration
    max_running: int  # largest number of sequences in flight on a replica
    slots: int  # sequences a replica may hold: min(max_batch, KV-cache capacity)
    passes: int  # forward passes (rounds) simulated on one replica


def simulate_benchmark(model: ModelSpec, hw: HardwareSpec, wl: Workload, tp: int, pp: int, ep: int,
                       request_rate: float, num_requests: int, replicas: int = 1,
                       max_batch: int | None = None, max_num_tokens: int = DEFAULT_MAX_NUM_TOKENS,
                       seed: int = 0, concurrency: int | None = None) -> BenchmarkResult:
    """Replay ``num_requests`` requests of ``wl`` (prompt + output tokens) offered at ``request_rate``
    requests/s (``math.inf``: all at once) to ``replicas`` copies of a ``tp x pp`` (``ep``) layout.

    Requests are spread evenly over the replicas; each replica is simulated with its share.  Poisson
    arrivals use ``numpy.random.default_rng(seed)`` (reproducible).  ``max_batch`` caps the sequences in
    flight per replica (``None``: only the KV-cache capacity does, for a benchmark whose engine settings
    are not published; :data:`DEFAULT_MAX_BATCH` is the engines' default); ``max_num_tokens`` caps the
    tokens per pass.  ``concurrency`` makes the run closed-loop: that many clients (spread over the
    replicas) each send their next request when the previous one completes; ``request_rate`` is then
    ignored.  Passes are priced exactly (no interpolation) and without the MoE jitter.

    Raises:
        ValueError: the layout cannot hold one sequence's KV cache next to its weights, or a count is < 1.
    """
    if (num_requests < 1 or replicas < 1 or (max_batch is not None and max_batch < 1) or max_num_tokens < 1
            or (concurrency is not None and concurrency < 1)):
        raise ValueError("num_requests, replicas, max_batch and max_num_tokens must be >= 1")
    n = math.ceil(num_requests / replicas)
    P, n_out = int(wl.prompt_tokens), int(wl.output_tokens)
    st = stage_model(model, hw, wl, np.array([float(tp)]), np.array([float(pp)]), np.array([float(ep)]))
    kv_slots = _kv_slots(hw, st)
    slots = int(min(kv_slots, n) if max_batch is None else min(kv_slots, max_batch, n))
    clients = 0 if concurrency is None else math.ceil(concurrency / replicas)
    if clients:
        arrival = np.full(n, math.inf)
        arrival[:clients] = 0.0
    else:
        arrival = draw_arrivals(n, request_rate / replicas, 1.0, np.random.default_rng(seed))
    run = Scheduler(arrival, np.full(n, P), np.full(n, n_out), np.ones(n, dtype=int), kv_slots, slots,
                    max_num_tokens, PassTimes(st, pp, P, slots, max_num_tokens), clients).run()
    ttft = float(np.mean(run.first - run.arrival)) + RUNTIME_TTFT_OVERHEAD_S + SERVING_TTFT_OVERHEAD_S
    tpot = float(np.mean((run.done - run.first) / (n_out - 1))) if n_out > 1 else 0.0
    duration = float(np.max(run.done))
    out_tps = replicas * n * n_out / duration
    return BenchmarkResult(ttft_s=ttft, tpot_s=tpot, duration_s=duration, output_tokens_per_s=out_tps,
                           total_tokens_per_s=out_tps * (P + n_out) / n_out, max_running=run.max_running,
                           slots=slots, passes=run.passes)


def _kv_slots(hw: HardwareSpec, st) -> int:
    """Sequences of the stage model's shape whose KV cache fits next to the weights on a chip (>= 1)."""
    free = hw.memory * hw.usable_memory - float(st.weights_mem[0])
    slots = math.floor(free / float(st.kv_per_seq[0])) if free > 0 else 0
    if slots < 1:
        raise ValueError("the weights leave no room for one sequence's KV cache")
    return slots


@dataclass(frozen=True)
class ReplayResult:
    """Every request of a replay: ``ttft_s`` and ``e2e_s`` (arrival to first and to last token, the runtime's
    and the serving stack's overheads included) and ``tpot_s`` ((last - first token) / (output tokens - 1),
    requests of more than one output token only; vLLM ``benchmark_serving``'s TPOT), shape ``(n,)``; the run's
    ``duration_s`` (first arrival to last token), ``output_tokens``, ``max_running`` (most sequences in
    flight on a replica) and ``passes`` (all replicas)."""

    ttft_s: np.ndarray
    tpot_s: np.ndarray
    e2e_s: np.ndarray
    duration_s: float
    output_tokens: int
    max_running: int
    passes: int

    @property
    def output_tokens_per_s(self) -> float:
        return self.output_tokens / self.duration_s

    def percentiles(self, ps=PERCENTILES) -> dict[str, dict[str, float]]:
        """``{ttft_s: {p50, p90, p99}, tpot_s: {...}, e2e_s: {...}}`` (numpy's linear interpolation between
        order statistics); TPOT's are None when no request has two output tokens."""
        out = {}
        for name in ("ttft_s", "tpot_s", "e2e_s"):
            x = getattr(self, name)
            vals = [percentile(x, p) for p in ps] if x.size else [None] * len(ps)
            out[name] = {f"p{p:g}": v for p, v in zip(ps, vals, strict=True)}
        return out


def percentile(x: np.ndarray, p: float) -> float:
    """The ``p``-th percentile of ``x`` (non-empty), numpy's default linear interpolation between order
    statistics: position ``(n - 1) p / 100`` of the sorted values.  (``np.percentile`` imports numpy.ma,
    10 ms of a fast start.)"""
    v = np.sort(np.asarray(x, dtype=float).ravel())
    pos = (v.size - 1) * float(p) / 100.0
    lo = int(np.floor(pos))
    hi = min(lo + 1, v.size - 1)
    return float(v[lo] + (pos - lo) * (v[hi] - v[lo]))


def replay(model: ModelSpec, hw: HardwareSpec, wl: Workload, tp: int, pp: int, ep: int, requests: Requests,
           replicas: int = 1, max_batch: int | None = None, max_num_tokens: int = DEFAULT_MAX_NUM_TOKENS,
           attention_dp: int = 1, redundant: int = 0, jitter: bool = True, seed: int = 0,
           exact: bool = False) -> ReplayResult:
    """Replay ``requests`` on ``replicas`` copies of a layout, the requests dealt round-robin.

    The passes are priced by the stage model of ``wl`` (its lengths: the mean shape).  The KV budget is the
    free memory over one ``wl``-shaped sequence's KV cache, in tokens of ``wl.prompt_tokens +
    wl.output_tokens`` per sequence; a request reserves its own prompt + output tokens.  ``max_batch``
    caps the sequences in flight (None: the KV budget only).  ``jitter``: the MoE pass-to-pass variation
    (:func:`~gpt4plan.serving.scheduler.moe_jitter_cv`), drawn from ``default_rng(seed)``.  ``exact``: mixed
    passes priced by the stage model, not interpolated (slower; for tests).

    Raises:
        ValueError: the layout cannot hold one sequence's KV cache next to its weights, or a count is < 1.
    """
    if replicas < 1 or (max_batch is not None and max_batch < 1) or max_num_tokens < 1:
        raise ValueError("replicas, max_batch and max_num_tokens must be >= 1")
    st = stage_model(model, hw, wl, *(np.array([float(x)]) for x in (tp, pp, ep, attention_dp, redundant)))
    kv_slots = _kv_slots(hw, st)
    if requests.uniform() and requests.prompt_tokens[0] == wl.prompt_tokens and requests.output_tokens[0] == wl.output_tokens:
        need, budget = np.ones(requests.n, dtype=np.int64), kv_slots  # whole sequences, as the benchmark replay
    else:
        shape = wl.prompt_tokens + wl.output_tokens
        need = requests.prompt_tokens + requests.output_tokens
        budget = math.floor((hw.memory * hw.usable_memory - float(st.weights_mem[0])) / float(st.kv_per_seq[0]) * shape)
    cap = min(math.ceil(requests.n / replicas), int(budget // int(need.min())))
    cap = max(1, cap if max_batch is None else min(cap, max_batch))  # the most sequences ever in flight
    times = PassTimes(st, pp, wl.prompt_tokens, cap, max_num_tokens, exact=exact, jitter=jitter)
    rng = np.random.default_rng(seed)
    runs = []
    for k in range(min(replicas, requests.n)):
        part = requests.part(k, replicas)
        runs.append(Scheduler(part.arrival_s - requests.arrival_s[0], part.prompt_tokens, part.output_tokens,
                              need[k::replicas], budget, cap, max_num_tokens, times,
                              normals=rng.standard_normal(4096) if jitter else None).run())
    first = np.concatenate([r.first - r.arrival for r in runs])
    done = np.concatenate([r.done - r.arrival for r in runs])
    out = np.concatenate([requests.part(k, replicas).output_tokens for k in range(len(runs))])
    overhead = RUNTIME_TTFT_OVERHEAD_S + SERVING_TTFT_OVERHEAD_S
    many = out > 1
    return ReplayResult(ttft_s=first + overhead, tpot_s=(done - first)[many] / (out[many] - 1), e2e_s=done + overhead,
                        duration_s=float(max(np.max(r.done) for r in runs)), output_tokens=int(requests.output_tokens.sum()),
                        max_running=max(r.max_running for r in runs), passes=sum(r.passes for r in runs))
