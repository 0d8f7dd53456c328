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
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

import numpy as np

from gpt4plan.serving.step import RUNTIME_TTFT_OVERHEAD_S, SERVING_TTFT_OVERHEAD_S, stage_model
from gpt4plan.serving.workload import Workload
from gpt4plan.specs import HardwareSpec, ModelSpec

__all__ = ["BenchmarkResult", "simulate_benchmark", "DEFAULT_MAX_BATCH", "DEFAULT_MAX_NUM_TOKENS"]

#: Sequences in flight per replica (TensorRT-LLM ``trtllm-serve --max_batch_size`` default; vLLM
#: ``max_num_seqs`` default).
DEFAULT_MAX_BATCH = 256
#: Tokens per forward pass, decode + prompt (TensorRT-LLM ``--max_num_tokens`` default).
DEFAULT_MAX_NUM_TOKENS = 8192


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
    ignored.

    Raises:
        ValueError: the layout cannot hold one sequence's KV cache next to its weights, or a count is < 1.
    """
    if (num_requests < 1 or replicas < 1 or (max_batch is not None and max_batch < 1) or max_num_tokens < 1
            or (concurrency is not None and concurrency < 1)):
        raise ValueError("num_requests, replicas, max_batch and max_num_tokens must be >= 1")
    n = math.ceil(num_requests / replicas)
    P, n_out = int(wl.prompt_tokens), int(wl.output_tokens)
    st = stage_model(model, hw, wl, np.array([float(tp)]), np.array([float(pp)]), np.array([float(ep)]))
    free = hw.memory * hw.usable_memory - float(st.weights_mem[0])
    slots = math.floor(free / float(st.kv_per_seq[0])) if free > 0 else 0
    slots = int(min(slots, n) if max_batch is None else min(slots, max_batch, n))
    if slots < 1:
        raise ValueError("the weights leave no room for one sequence's KV cache")

    def round_s(nb, tok):  # one pass: pp stage passes of 1/pp of the sequences and prompt tokens
        return pp * st.forward(np.asarray(nb, float) / pp, 1.0, np.asarray(tok, float) / P / pp).t

    nbs = np.arange(slots + 1)
    t_decode = round_s(nbs, 0.0)  # decode-only pass by sequences running
    t_one_prompt = round_s(nbs, float(P))  # the common mixed pass: one whole prompt
    cache: dict[tuple[int, int], float] = {}

    def mixed_s(nb: int, tok: int) -> float:
        if tok == P:
            return float(t_one_prompt[nb])
        key = (nb, tok)
        if key not in cache:
            cache[key] = float(round_s(np.array([nb]), float(tok))[0])
        return cache[key]

    rate = request_rate / replicas
    clients = 0 if concurrency is None else math.ceil(concurrency / replicas)
    if clients:  # closed loop: the first request of each client at t = 0, the others on completions
        arrival = np.full(n, math.inf)
        arrival[:clients] = 0.0
    elif math.isinf(rate):
        arrival = np.zeros(n)
    else:
        gaps = np.random.default_rng(seed).exponential(1.0 / rate, n)
        arrival = np.concatenate([[0.0], np.cumsum(gaps[:-1])])
    first = np.full(n, np.nan)
    done = np.full(n, np.nan)

    t, ia, passes, max_running = 0.0, 0, 0, 0
    next_new = min(clients, n)  # closed loop: the next request to be sent
    queue: deque[int] = deque()  # arrived, not admitted
    prefilling: deque[list[int]] = deque()  # admitted: [request, prompt tokens left]
    run_ids = np.empty(0, dtype=int)  # decoding
    left = np.empty(0, dtype=int)  # output tokens still to come per decoding request
    finished = 0
    while finished < n:
        while ia < n and arrival[ia] <= t:
            queue.append(ia)
            ia += 1
        if not queue and not prefilling and run_ids.size == 0:
            t = float(arrival[ia])
            continue
        while queue and run_ids.size + len(prefilling) < slots:
            prefilling.append([queue.popleft(), P])
        nb = int(run_ids.size)
        max_running = max(max_running, nb + len(prefilling))
        budget, tok, completed = max(max_num_tokens - nb, 0), 0, 0
        for item in prefilling:
            take = min(item[1], budget - tok)
            if take <= 0:
                break
            item[1] -= take
            tok += take
            completed += item[1] == 0
        if tok > 0:
            dt, k = mixed_s(nb, tok), 1
        else:  # decode only: jump to the next arrival or completion
            dt = float(t_decode[nb])
            k = int(left.min())
            if ia < n and math.isfinite(arrival[ia]):
                k = min(k, max(1, math.ceil((arrival[ia] - t) / dt)))
        t += k * dt
        passes += k
        done_before = finished
        if nb:
            left = left - k
            out = left <= 0
            if out.any():
                done[run_ids[out]] = t
                finished += int(out.sum())
                run_ids, left = run_ids[~out], left[~out]
        new = [prefilling.popleft()[0] for _ in range(completed)]
        if new:
            ids = np.array(new, dtype=int)
            first[ids] = t
            if n_out > 1:
                run_ids = np.concatenate([run_ids, ids])
                left = np.concatenate([left, np.full(ids.size, n_out - 1, dtype=int)])
            else:
                done[ids] = t
                finished += ids.size
        if clients and finished > done_before:  # each completion sends that client's next request now
            m = min(finished - done_before, n - next_new)
            arrival[next_new:next_new + m] = t
            next_new += m
    ttft = float(np.mean(first - arrival)) + RUNTIME_TTFT_OVERHEAD_S + SERVING_TTFT_OVERHEAD_S
    tpot = float(np.mean((done - first) / (n_out - 1))) if n_out > 1 else 0.0
    duration = float(np.max(done))
    out_tps = replicas * n * n_out / duration
    return BenchmarkResult(ttft_s=ttft, tpot_s=tpot, duration_s=duration, output_tokens_per_s=out_tps,
                           total_tokens_per_s=out_tps * (P + n_out) / n_out, max_running=max_running,
                           slots=slots, passes=passes)
