"""Prompts in the steady-state model beyond whole prompts in one pass: chunked prefill under the engine's
token budget per pass, and the prices of cached and uncached input tokens with prefix caching
(docs/design.md; used by :func:`gpt4plan.serving.evaluation.evaluate`).
"""

from __future__ import annotations

import numpy as np

from gpt4plan.physics.step import StageModel
from gpt4plan.serving import costs
from gpt4plan.serving.workload import Workload

__all__ = ["chunked_prefill", "prefix_and_chunk_fields"]


def chunked_prefill(st: StageModel, wl: Workload, decode_tokens, n_mix):
    """``(f_mix, n_eff, unit, chunks)`` of :func:`gpt4plan.serving.evaluation.evaluate`'s mixed round under a token budget per pass (chunked
    prefill: vLLM's ``max_num_batched_tokens``, SGLang's ``--chunked-prefill-size``, TensorRT-LLM's
    ``max_num_tokens``; Agrawal et al. 2024 "Sarathi-Serve").

    A pass carries its ``decode_tokens`` (``b q``) first; the prompts get the rest, ``c = budget - b q / A``
    tokens per attention group.  Without a budget a mixed pass carries ``max(n_mix / A, 1)`` whole prompts per
    group; with it at most ``c`` of their tokens, so a mixed pass carries ``n_eff = A min(max(n_mix / A, 1) U,
    c) / U`` prompts' worth (``U`` tokens prefilled per prompt), ``f_mix = n_mix / n_eff`` of the passes carry
    prompts, and a prompt of ``U`` tokens takes ``ceil(U / c)`` passes (mean over prefix hits and misses).
    Where ``f_mix`` would exceed 1 (or ``c < 1``) the budget cannot admit the prompts the batch needs: slots
    stay empty and the queue grows without bound -- ``chunks`` is inf (an infinite TTFT drops the candidate;
    a smaller batch is searched too)."""
    A, U = st.attention_dp, st.pre_tokens
    c = float(wl.max_batched_tokens) - decode_tokens / A
    per_group = np.minimum(np.maximum(n_mix / A, 1.0) * U, np.maximum(c, 1.0))  # prompt tokens a group takes
    n_eff = A * per_group / U
    f_mix = n_mix / n_eff
    starved = (c < 1.0) | (f_mix > 1.0 + 1e-12)
    P, C, R, c1 = st.P, float(wl.prefix_tokens), wl.prefix_hit_rate, np.maximum(c, 1.0)  # P: inline images too
    passes = R * np.ceil((P - C) / c1) + (1 - R) * np.ceil(P / c1)  # a hit prefills P - C tokens, a miss P
    chunks = np.where(starved, np.inf, passes)
    f_mix, n_eff = np.where(starved, 1.0, f_mix), np.where(starved, np.maximum(n_mix, A), n_eff)
    return f_mix, n_eff, np.minimum(per_group / U, 1.0), chunks


def prefix_and_chunk_fields(st: StageModel, wl: Workload, replica_usd_per_s, prompt_s, chunks) -> dict:
    """The :class:`~gpt4plan.serving.evaluation.Evaluation` fields of prefix caching and chunked prefill: ``kv_shared``; ``usd_in_cached``,
    ``usd_in_uncached`` (:func:`costs.usd_per_1k_input_cached_uncached`: a cached token costs one stage's read
    of its KV on one chip; without prefix caching no token is cached, the uncached figure is the blended one
    and the cached one what a token found in the cache would cost); ``prefill_chunks`` (None without a token
    budget)."""
    C = float(wl.prefix_tokens or wl.prompt_tokens)  # the cached span (the whole prompt: a what-if)
    cached_token_s = st.kv_ctx(C) / C * st.kv_layer_rank * st.Ls / st.bw
    cached, uncached = costs.usd_per_1k_input_cached_uncached(
        replica_usd_per_s, prompt_s, wl.prefix_hit_rate * wl.prefix_tokens, st.pre_tokens, cached_token_s)
    return {"kv_shared": st.kv_shared, "prefill_chunks": None if wl.max_batched_tokens is None else chunks,
            "usd_in_cached": cached, "usd_in_uncached": uncached}
