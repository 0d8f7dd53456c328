"""The continuous-batching scheduler the pass-by-pass replay runs (:mod:`gpt4plan.serving.replay`), and the
time of one pass by what it carries (docs/design.md).

One replica, pass by pass (TensorRT-LLM in-flight batching; vLLM alike): arrived requests queue first come
first served; a request is admitted while fewer than ``max_batch`` sequences are in flight and its KV cache
for prompt + output fits the replica's KV budget (reserved on admission, released on completion:
TensorRT-LLM's ``GUARANTEED_NO_EVICT``); every pass carries one token of each decoding sequence plus prompt
tokens taken in queue order within the pass's ``max_num_tokens`` budget (a prompt that does not fit is
prefilled in chunks); a request's first token comes with the pass that completes its prompt, then one token a
pass until its own output length.  Runs of decode-only passes are stepped in one go up to the next arrival
or completion.  Requests may differ in prompt and output length; the stage model prices every pass at the
workload's mean decode context (``prompt + output / 2`` of the mean shape), so a long request's decode passes
are priced at the mean context: per-pass tokens are exact, the attention context is the mean.
"""

from __future__ import annotations

import heapq
import math
from collections import deque

import numpy as np

from gpt4plan.physics.step import StageModel

__all__ = ["PassTimes", "Scheduler", "moe_jitter_cv", "TOKEN_GRID_POINTS"]

#: Points of the prompt-token axis on which a mixed pass is tabulated (geometric from 1 to the pass's
#: token budget, linear interpolation between them: consecutive points ~15 % apart at 8,192 tokens).
TOKEN_GRID_POINTS = 64
#: Tabulate every mixed-pass row at once up to this many cells (sequences x grid points); beyond, each row
#: when first needed.
EAGER_GRID_CELLS = 20_000


def moe_jitter_cv(st: StageModel, stage_pass, tokens) -> np.ndarray:
    """Coefficient of variation of a pass's time from the MoE routers' random expert loads (0 for a dense
    model or ``ep`` = 1); ``tokens`` and the :class:`~gpt4plan.physics.step.StagePass` broadcast.

    Model (an approximation, stated so): in one MoE layer the busiest of ``ep`` ranks sets the expert time;
    its load is the maximum of ``ep`` roughly normal loads of mean ``mu = tokens * top_k / ep`` and standard
    deviation ``sqrt(mu)`` (the Poisson picture of :func:`gpt4plan.physics.step.moe_imbalance`, which gives
    its mean).  The maximum of ``n`` normals has standard deviation ``sigma * pi / sqrt(6) / sqrt(2 ln n)``
    (its Gumbel limit; Gumbel 1958, "Statistics of Extremes"), so one layer's expert time varies by
    ``cv_layer = pi / (sqrt(6) * sqrt(2 ln ep) * sqrt(mu))``.  The layers route independently, so the
    ``L_moe`` MoE layers of a stage average it down by ``sqrt(L_moe)``; only the routed experts' share of the
    pass's FLOPs varies, and only while the pass is compute-bound (``t_compute / t``).  The mean is left to
    :func:`moe_imbalance`: the jitter has mean 1.
    """
    lc, ep = st.lc, st.ep
    if not lc.experts:
        return np.zeros(np.broadcast(np.asarray(tokens), st.tp).shape)
    _, imbalance = st.moe_load(tokens)
    mu = np.maximum(np.asarray(tokens, float) * lc.top_k / np.maximum(ep, 1), 1e-9)
    ln = np.log(np.maximum(ep, 2.0))
    cv_layer = math.pi / (math.sqrt(6.0) * np.sqrt(2.0 * ln) * np.sqrt(mu))
    routed = st.moe_frac * lc.top_k * lc.expert * imbalance
    share = routed / (st.dense_active + routed)
    moe_layers = np.maximum(st.Ls * st.moe_frac, 1.0)
    compute = np.minimum(stage_pass.t_c / np.maximum(stage_pass.t, 1e-30), 1.0)
    return np.where(ep > 1, cv_layer * share * compute / np.sqrt(moe_layers), 0.0)


class PassTimes:
    """Time of one pass (a round of ``pp`` stage passes of 1/pp of the sequences and prompt tokens) by the
    sequences decoding in it and its prompt tokens.  Decode-only passes are tabulated for 0..``cap``
    sequences.  ``exact``: a mixed pass is priced by the stage model itself (cached by (sequences, tokens));
    otherwise, per number of sequences, on :data:`TOKEN_GRID_POINTS` token counts and interpolated (the
    mean prompt is a grid point).  ``jitter``: also the coefficient of variation of each pass
    (:func:`moe_jitter_cv`)."""

    def __init__(self, st: StageModel, pp: int, P: float, cap: int, max_num_tokens: int, exact: bool = True,
                 jitter: bool = False):
        self.st, self.pp, self.P, self.exact, self.jitter = st, pp, float(P), exact, jitter
        nbs = np.arange(cap + 1)
        dec = self.round_pass(nbs, 0.0)
        self.decode = (dec.t * pp).tolist()  # decode-only pass by sequences running
        self.decode_cv = moe_jitter_cv(st, dec, nbs / pp).tolist() if jitter else None
        one = self.round_pass(nbs, self.P)
        self.one_prompt = one.t * pp  # the common mixed pass: one whole mean prompt
        self.one_prompt_cv = moe_jitter_cv(st, one, (nbs + self.P) / pp) if jitter else np.zeros(cap + 1)
        self.cache: dict[tuple[int, int], tuple[float, float]] = {}
        grid = np.geomspace(1.0, max(float(max_num_tokens), 2.0), TOKEN_GRID_POINTS)
        self.grid = np.array(sorted(set(np.round(grid).tolist()) | {float(round(self.P))}))
        self.rows: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        if not exact and (cap + 1) * self.grid.size <= EAGER_GRID_CELLS:  # one call for every row at once
            t, cv = self._at(np.repeat(nbs, self.grid.size), np.tile(self.grid, cap + 1), scalar=False)
            self.rows = {nb: (t[j:j + self.grid.size], cv[j:j + self.grid.size])
                         for nb, j in zip(nbs.tolist(), range(0, t.size, self.grid.size), strict=True)}

    def round_pass(self, nb, tok):
        """The stage pass of a round over ``nb`` sequences decoding and ``tok`` prompt tokens (arrays)."""
        pp = self.pp
        return self.st.forward(np.asarray(nb, float) / pp, 1.0, np.asarray(tok, float) / self.P / pp)

    def round_s(self, nb, tok):
        return self.pp * self.round_pass(nb, tok).t

    def mixed(self, nb: int, tok: int) -> tuple[float, float]:
        """(time, coefficient of variation) of a pass over ``nb`` decoding sequences and ``tok`` prompt tokens."""
        if tok == self.P:
            return float(self.one_prompt[nb]), float(self.one_prompt_cv[nb])
        if self.exact:
            key = (nb, tok)
            if key not in self.cache:
                self.cache[key] = self._at(np.array([nb]), np.array([float(tok)]))
            return self.cache[key]
        row = self.rows.get(nb)
        if row is None:
            t, cv = self._at(np.full(self.grid.shape, nb), self.grid, scalar=False)
            row = self.rows[nb] = (t, cv)
        return float(np.interp(tok, self.grid, row[0])), float(np.interp(tok, self.grid, row[1]))

    def _at(self, nb, tok, scalar: bool = True):
        p = self.round_pass(nb, tok)
        t = self.pp * p.t
        cv = moe_jitter_cv(self.st, p, (nb + tok) / self.pp) if self.jitter else np.zeros_like(t)
        return (float(t[0]), float(cv[0])) if scalar else (t, cv)


class Scheduler:
    """One replica's run (module docstring).  ``arrival`` (s, sorted; ``inf`` for a closed loop's requests
    not yet sent), ``prompt`` and ``output`` (tokens, ints) per request; ``kv_need`` per request and
    ``kv_budget`` in the same unit (whole sequences of one shape, or KV-cache tokens); ``clients`` > 0: a
    closed loop, each completion sends the next request at once.  ``normals``: standard normal draws for the passes' jitter (None: none).
    After :meth:`run`: ``first`` and ``done`` (s) per request, ``passes``, ``max_running``."""

    def __init__(self, arrival: np.ndarray, prompt: np.ndarray, output: np.ndarray, kv_need: np.ndarray,
                 kv_budget: float, max_batch: int, max_num_tokens: int, times: PassTimes, clients: int = 0,
                 normals: np.ndarray | None = None):
        self.n = n = int(arrival.size)
        self.arrivals, self.prompt, self.output = arrival.tolist(), prompt.tolist(), output.tolist()
        self.kv_need, self.kv_budget, self.kv_used = kv_need.tolist(), kv_budget, 0
        self.max_batch, self.max_num_tokens, self.times, self.clients = max_batch, max_num_tokens, times, clients
        self.normals, self.i_normal = normals, 0
        self.first = np.full(n, np.nan)
        self.done = np.full(n, np.nan)
        self.t, self.ia, self.passes, self.max_running, self.finished = 0.0, 0, 0, 0, 0
        self.next_new = min(clients, n)  # closed loop: the next request to be sent
        self.queue: deque[int] = deque()  # arrived, not admitted
        self.prefilling: deque[list[int]] = deque()  # admitted: [request, prompt tokens left]
        self.decoding: list[tuple[int, int]] = []  # heap of (decode pass count at which it is done, request)
        self.decode_passes = 0  # decode passes run so far (every pass with a sequence decoding)

    @property
    def arrival(self) -> np.ndarray:
        """Arrival times (s) per request (a closed loop's as sent)."""
        return np.array(self.arrivals)

    def run(self) -> Scheduler:
        n, arrival = self.n, self.arrivals
        while self.finished < n:
            while self.ia < n and arrival[self.ia] <= self.t:
                self.queue.append(self.ia)
                self.ia += 1
            if not self.queue and not self.prefilling and not self.decoding:
                self.t = arrival[self.ia]
                continue
            if self.queue:
                self._admit()
            nb = len(self.decoding)
            self.max_running = max(self.max_running, nb + len(self.prefilling))
            tok, completed = self._take_prompt_tokens(max(self.max_num_tokens - nb, 0)) if self.prefilling else (0, 0)
            dt, k, cv = self._pass(nb, tok)
            self.t += k * dt * (self._jitter(cv, k) if cv else 1.0)
            self.passes += k
            done_before = self.finished
            if nb:
                self._decode(k)
            if completed:
                self._start_decoding(completed)
            if self.clients and self.finished > done_before:  # each completion sends that client's next request now
                m = min(self.finished - done_before, n - self.next_new)
                arrival[self.next_new:self.next_new + m] = [self.t] * m
                self.next_new += m
        return self

    def _admit(self) -> None:
        """Admit queued requests in order while a sequence slot is free and the head's KV cache fits."""
        queue, need = self.queue, self.kv_need
        while queue and len(self.decoding) + len(self.prefilling) < self.max_batch:
            i = queue[0]
            if self.kv_used + need[i] > self.kv_budget and (self.decoding or self.prefilling):
                break  # the head waits for KV cache to be released (a lone request is always admitted)
            queue.popleft()
            self.kv_used += need[i]
            self.prefilling.append([i, self.prompt[i]])

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

    def _pass(self, nb: int, tok: int) -> tuple[float, int, float]:
        """(time of one pass, passes alike, coefficient of variation): a mixed pass once; decode only, up to
        the next arrival or completion."""
        if tok > 0:
            dt, cv = self.times.mixed(nb, tok)
            return dt, 1, cv
        dt = self.times.decode[nb]
        k = self.decoding[0][0] - self.decode_passes
        if self.ia < self.n and self.arrivals[self.ia] != math.inf:
            k = min(k, max(1, math.ceil((self.arrivals[self.ia] - self.t) / dt)))
        cv = 0.0 if self.times.decode_cv is None else self.times.decode_cv[nb]
        return dt, k, cv

    def _jitter(self, cv: float, k: int) -> float:
        """The mean factor on ``k`` passes' time, each varying by ``cv`` (a normal approximation of their
        sum: standard deviation ``cv / sqrt(k)`` of the mean; floored at 0.1)."""
        if self.normals is None or cv == 0.0:
            return 1.0
        if self.i_normal >= self.normals.size:
            self.i_normal = 0
        z = float(self.normals[self.i_normal])
        self.i_normal += 1
        return max(0.1, 1.0 + cv * z / math.sqrt(k))

    def _decode(self, k: int) -> None:
        self.decode_passes += k
        heap = self.decoding
        while heap and heap[0][0] <= self.decode_passes:
            i = heapq.heappop(heap)[1]
            self.done[i] = self.t
            self.finished += 1
            self.kv_used -= self.kv_need[i]

    def _start_decoding(self, completed: int) -> None:
        for _ in range(completed):
            i = self.prefilling.popleft()[0]
            self.first[i] = self.t
            if self.output[i] > 1:
                heapq.heappush(self.decoding, (self.decode_passes + self.output[i] - 1, i))
            else:
                self.done[i] = self.t
                self.finished += 1
                self.kv_used -= self.kv_need[i]
