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
from typing import TYPE_CHECKING

import numpy as np

from gpt4plan.physics.step import StageModel
from gpt4plan.serving.step import RUNTIME_TTFT_OVERHEAD_S, SERVING_TTFT_OVERHEAD_S, stage_model
from gpt4plan.serving.workload import Workload

if TYPE_CHECKING:  # the schemas import pydantic; planning never needs it (a fast start)
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
    clients = 0 if concurrency is None else math.ceil(concurrency / replicas)
    run = _Replay(n, P, n_out, slots, max_num_tokens, _PassTimes(st, pp, P, slots),
                  _arrivals(n, request_rate / replicas, clients, seed), clients)
    run.run()
    ttft = float(np.mean(run.first - run.arrival)) + RUNTIME_TTFT_OVERHEAD_S + SERVING_TTFT_OVERHEAD_S
    tpot = float(np.mean((run.done - run.first) / (n_out - 1))) if n_out > 1 else 0.0
    duration = float(np.max(run.done))
    out_tps = replicas * n * n_out / duration
    return BenchmarkResult(ttft_s=ttft, tpot_s=tpot, duration_s=duration, output_tokens_per_s=out_tps,
                           total_tokens_per_s=out_tps * (P + n_out) / n_out, max_running=run.max_running,
                           slots=slots, passes=run.passes)


def _arrivals(n: int, rate: float, clients: int, seed: int) -> np.ndarray:
    """Arrival times of ``n`` requests at ``rate`` per second (Poisson; all at 0 when infinite); closed loop
    (``clients`` > 0): the first request of each client at t = 0, the others inf until a completion."""
    if clients:
        arrival = np.full(n, math.inf)
        arrival[:clients] = 0.0
        return arrival
    if math.isinf(rate):
        return np.zeros(n)
    gaps = np.random.default_rng(seed).exponential(1.0 / rate, n)
    return np.concatenate([[0.0], np.cumsum(gaps[:-1])])


class _PassTimes:
    """Time of one pass (a round of ``pp`` stage passes of 1/pp of the sequences and prompt tokens) by
    sequences decoding and prompt tokens in it; the common cases are tabulated."""

    def __init__(self, st: StageModel, pp: int, P: int, slots: int):
        self.st, self.pp, self.P = st, pp, P
        nbs = np.arange(slots + 1)
        self.decode = self.round_s(nbs, 0.0)  # decode-only pass by sequences running
        self.one_prompt = self.round_s(nbs, float(P))  # the common mixed pass: one whole prompt
        self.cache: dict[tuple[int, int], float] = {}

    def round_s(self, nb, tok):
        pp = self.pp
        return pp * self.st.forward(np.asarray(nb, float) / pp, 1.0, np.asarray(tok, float) / self.P / pp).t

    def mixed(self, nb: int, tok: int) -> float:
        if tok == self.P:
            return float(self.one_prompt[nb])
        key = (nb, tok)
        if key not in self.cache:
            self.cache[key] = float(self.round_s(np.array([nb]), float(tok))[0])
        return self.cache[key]


class _Replay:
    """One replica's run, pass by pass: arrived requests queue, are admitted while a slot is free, prefill
    (in chunks within the pass's token budget), then decode one token a pass until done."""

    def __init__(self, n: int, P: int, n_out: int, slots: int, max_num_tokens: int, times: _PassTimes,
                 arrival: np.ndarray, clients: int):
        self.n, self.P, self.n_out, self.slots, self.max_num_tokens = n, P, n_out, slots, max_num_tokens
        self.times, self.arrival, self.clients = times, arrival, clients
        self.first = np.full(n, np.nan)
        self.done = np.full(n, np.nan)
        self.t, self.ia, self.passes, self.max_running, self.finished = 0.0, 0, 0, 0, 0
        self.next_new = min(clients, n)  # closed loop: the next request to be sent
        self.queue: deque[int] = deque()  # arrived, not admitted
        self.prefilling: deque[list[int]] = deque()  # admitted: [request, prompt tokens left]
        self.run_ids = np.empty(0, dtype=int)  # decoding
        self.left = np.empty(0, dtype=int)  # output tokens still to come per decoding request

    def run(self) -> None:
        n, arrival = self.n, self.arrival
        while self.finished < n:
            while self.ia < n and arrival[self.ia] <= self.t:
                self.queue.append(self.ia)
                self.ia += 1
            if not self.queue and not self.prefilling and self.run_ids.size == 0:
                self.t = float(arrival[self.ia])
                continue
            while self.queue and self.run_ids.size + len(self.prefilling) < self.slots:
                self.prefilling.append([self.queue.popleft(), self.P])
            nb = int(self.run_ids.size)
            self.max_running = max(self.max_running, nb + len(self.prefilling))
            tok, completed = self._take_prompt_tokens(max(self.max_num_tokens - nb, 0))
            dt, k = self._pass(nb, tok)
            self.t += k * dt
            self.passes += k
            done_before = self.finished
            if nb:
                self._decode(k)
            self._start_decoding(completed)
            if self.clients and self.finished > done_before:  # each completion sends that client's next request now
                m = min(self.finished - done_before, n - self.next_new)
                arrival[self.next_new:self.next_new + m] = self.t
                self.next_new += m

    def _take_prompt_tokens(self, budget: int) -> tuple[int, int]:
        """Prompt tokens this pass takes first-come first-served, and the prompts it completes."""
        tok, completed = 0, 0
        for item in self.prefilling:
            take = min(item[1], budget - tok)
            if take <= 0:
                break
            item[1] -= take
            tok += take
            completed += item[1] == 0
        return tok, completed

    def _pass(self, nb: int, tok: int) -> tuple[float, int]:
        """(time of one pass, passes alike): a mixed pass once; decode only, up to the next arrival or
        completion."""
        if tok > 0:
            return self.times.mixed(nb, tok), 1
        dt = float(self.times.decode[nb])
        k = int(self.left.min())
        if self.ia < self.n and math.isfinite(self.arrival[self.ia]):
            k = min(k, max(1, math.ceil((self.arrival[self.ia] - self.t) / dt)))
        return dt, k

    def _decode(self, k: int) -> None:
        self.left = self.left - k
        out = self.left <= 0
        if out.any():
            self.done[self.run_ids[out]] = self.t
            self.finished += int(out.sum())
            self.run_ids, self.left = self.run_ids[~out], self.left[~out]

    def _start_decoding(self, completed: int) -> None:
        new = [self.prefilling.popleft()[0] for _ in range(completed)]
        if not new:
            return
        ids = np.array(new, dtype=int)
        self.first[ids] = self.t
        if self.n_out > 1:
            self.run_ids = np.concatenate([self.run_ids, ids])
            self.left = np.concatenate([self.left, np.full(ids.size, self.n_out - 1, dtype=int)])
        else:
            self.done[ids] = self.t
            self.finished += ids.size
