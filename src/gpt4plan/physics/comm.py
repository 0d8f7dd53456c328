"""Collective communication cost models (alpha-beta), vectorised over candidate layouts.

Each function takes arrays (any broadcastable shapes) and returns seconds with the broadcast shape.
Bandwidths are per chip, per direction, in bytes/s, already multiplied by the link efficiency;
``alpha_s`` is the per-step latency in seconds.

Sources: Thakur, Rabenseifner & Gropp 2005, "Optimization of Collective Communication Operations in
MPICH" (ring all-reduce moves ``2(n-1)/n`` of the buffer per rank in ``2(n-1)`` steps; recursive
halving/doubling takes ``2 log2 n`` steps); NCCL picks the faster of ring and tree, so we take the min.
"""

from __future__ import annotations

import numpy as np

__all__ = ["all_reduce_s", "all_to_all_s", "all_to_all_two_tier_s", "two_batch_overlap_layer_s", "p2p_s", "link"]


def all_reduce_s(n, nbytes, bw_bytes_per_s, alpha_s):
    """All-reduce of ``nbytes`` (per rank buffer) over ``n`` ranks: min(ring, tree); 0 where n == 1.

    ring: ``2(n-1)*alpha + 2(n-1)/n * bytes / bw``; tree: ``2*log2(n)*alpha + 2*bytes/bw``.
    """
    n = np.asarray(n, dtype=float)
    nbytes = np.asarray(nbytes, dtype=float)
    ring = 2 * (n - 1) * alpha_s + 2 * (n - 1) / n * nbytes / bw_bytes_per_s
    tree = 2 * np.log2(np.maximum(n, 1)) * alpha_s + 2 * nbytes / bw_bytes_per_s
    return np.where(n > 1, np.minimum(ring, tree), 0.0)


def all_to_all_s(n, nbytes_sent, bw_bytes_per_s, alpha_s):
    """All-to-all where each rank sends ``nbytes_sent`` in total to the other ``n-1`` ranks; 0 where n == 1.

    ``(n-1)*alpha + bytes / bw`` (pairwise exchange; each rank's link carries its own outgoing bytes).
    """
    n = np.asarray(n, dtype=float)
    return np.where(n > 1, (n - 1) * alpha_s + np.asarray(nbytes_sent, dtype=float) / bw_bytes_per_s, 0.0)


def all_to_all_two_tier_s(n, nbytes_sent, hw):
    """All-to-all over ``n`` ranks that may span scale-up domains (wide expert parallelism); 0 where n == 1.

    Each rank sends ``nbytes_sent`` spread evenly over the other ``n - 1`` ranks: the share for the
    ``min(n, D) - 1`` ranks of its own domain (``D`` chips) goes over the scale-up link, the rest over the
    scale-out network, both at once, so the slower share sets the time.  One latency, of the scale-out
    network when the group spans domains: the sends are issued together by one kernel (DeepEP's dispatch and
    combine), not as ``n - 1`` sequential steps.  ``alpha + max(in / bw_up, out / bw_out)``.
    """
    n = np.asarray(n, dtype=float)
    nbytes = np.asarray(nbytes_sent, dtype=float)
    dom = float(hw.scale_up.domain)
    peers = np.maximum(n - 1, 1)
    inside, outside = (np.minimum(n, dom) - 1) / peers, (n - np.minimum(n, dom)) / peers
    eff = hw.efficiency.network
    t = np.maximum(nbytes * inside / (hw.scale_up.bandwidth * eff), nbytes * outside / (hw.scale_out.bandwidth * eff))
    alpha = np.where(n > dom, hw.scale_out.latency, hw.scale_up.latency)
    return np.where(n > 1, alpha + t, 0.0)


def two_batch_overlap_layer_s(compute_s, dispatch_s, combine_s):
    """Time of one MoE layer run as two micro-batches that overlap each other's all-to-all with compute:
    ``max(c / 2, D) + max(c / 2, M)``, where ``c`` is the layer's compute and ``D``, ``M`` its dispatch and
    combine, each for both halves together (each half has ``c / 2``, ``D / 2``, ``M / 2``).

    Derivation (two-batch overlap as DeepSeek-V3 runs it, arXiv 2412.19437 sec. 3.2.2 and 3.4, the
    deepseek-ai/profile-data traces; SGLang's ``--enable-two-batch-overlap``, lm-sys blog 2025-05-05
    "Deploying DeepSeek with PD disaggregation and large-scale expert parallelism").  A MoE layer of one
    micro-batch is four segments in a chain: compute before the experts ``C1`` (attention, shared expert,
    router), dispatch ``D``, the experts ``C2``, combine ``M``, then the next layer's ``C1``.  The SMs run one
    micro-batch's compute while the network carries the other's all-to-all, so micro-batch B runs one segment
    behind A and the layer falls into four slots, each as long as the longer of the two segments in it
    (halves: ``C1 / 2`` etc.)::

        slot     1                  2            3            4
        SMs      C1 of A            C1 of B      C2 of A      C2 of B
        network  M of B (previous)  D of A       D of B       M of A

    ``(max(C1, M) + max(C1, D) + max(C2, D) + max(C2, M)) / 2``; taking the compute on either side of the
    experts as half the layer's (``C1 = C2 = c / 2``) gives the formula.
    Checks: no communication gives ``c`` (nothing hidden, nothing added: the cost of the split is in ``c``,
    the halves' own passes); ``D = M = x / 2`` gives ``max(c, x)``, the ideal overlap; with ``D = M = c / 2``
    it is ``c`` where the two in series take ``2 c``.  Unequal phases hide less: FP8 dispatch is about half
    the bytes of the 16-bit combine, so at ``x = c`` (``D = c / 3``, ``M = 2 c / 3``) a layer takes
    ``7 c / 6``.  The first and last segment of the pass (one slot per pass, not per layer) are left out.
    Were the halves to wait for each other at every layer (a barrier), a layer would be the makespan of a
    two-job, two-machine flow shop, ``max(c, x) + min(c, x) / 2``; the engines chain the layers instead.
    """
    half = np.asarray(compute_s, dtype=float) / 2
    return np.maximum(half, dispatch_s) + np.maximum(half, combine_s)


def p2p_s(nbytes, bw_bytes_per_s, alpha_s):
    """Point-to-point send of ``nbytes`` (pipeline-stage activations): ``alpha + bytes / bw``."""
    return alpha_s + np.asarray(nbytes, dtype=float) / bw_bytes_per_s


def link(group_size, hw):
    """Per-direction bandwidth (bytes/s, times network efficiency) and latency (s) for a group of chips.

    A group that fits in the scale-up domain uses the scale-up link; a larger one is limited by the
    scale-out network (the slowest hop of a hierarchical collective).  ``group_size`` may be an array.
    """
    g = np.asarray(group_size)
    inside = g <= hw.scale_up.domain
    eff = hw.efficiency.network
    bw = np.where(inside, hw.scale_up.bandwidth, hw.scale_out.bandwidth) * eff
    alpha = np.where(inside, hw.scale_up.latency, hw.scale_out.latency)
    return bw, alpha
