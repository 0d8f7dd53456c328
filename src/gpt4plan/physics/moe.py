"""The MoE layer's routing physics: how unevenly the experts' ranks are loaded, what each token's dispatch and
combine move, and how long DeepEP's all-to-all takes (docs/design.md; used by :mod:`gpt4plan.physics.step`).

Units: bytes, seconds; every function is vectorised over candidate layouts.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from gpt4plan.physics.comm import all_to_all_two_tier_s

if TYPE_CHECKING:
    from gpt4plan.physics.kernels import KernelTables
    from gpt4plan.specs import HardwareSpec

__all__ = ["moe_imbalance", "eplb_imbalance", "DISPATCH_SCALE_BLOCK", "COMBINE_BYTES", "moe_a2a_bytes_per_token",
           "a2a_bytes_per_copy", "remote_nodes_per_token", "moe_a2a_s"]

#: Bytes per element of the combine (and of a 16-bit dispatch): bf16.
COMBINE_BYTES = 2.0


def moe_imbalance(routed_per_rank, ep):
    """Compute of the busiest EP rank over the mean: ``min(1 + sqrt(2 ln(ep) / mu), ep)`` (1 at ep = 1).

    ``mu`` is the mean number of routed tokens per EP rank (tokens x top_k / ep).  The ranks' loads are
    taken as roughly Poisson, i.e. about normal with mean ``mu`` and standard deviation ``sigma = sqrt(mu)``;
    the expected maximum of ``n`` such loads is at most ``mu + sigma * sqrt(2 ln n)`` (the Gaussian maximal
    inequality, from ``E max <= (ln n + t^2 sigma^2 / 2) / t`` at the best ``t``; e.g. Boucheron, Lugosi &
    Massart 2013, "Concentration Inequalities", sec. 2.5).  Dividing by ``mu`` gives the factor.  It is an
    approximation, not a fit: the loads are neither independent (their sum is fixed) nor exactly Poisson,
    and real routers are skewed beyond uniform choice; the bound is loose for small ``ep``.  Capped at
    ``ep`` (every routed token on one rank).
    """
    mu = np.maximum(routed_per_rank, 1e-9)
    return np.where(ep > 1, np.minimum(1 + np.sqrt(2 * np.log(np.maximum(ep, 1)) / mu), ep), 1.0)


def eplb_imbalance(routed_per_rank, ep, experts: int, redundant):
    """The busiest EP rank's load over the mean with ``redundant`` extra expert slots rebalanced by EPLB:
    :func:`moe_imbalance` at ``routed_per_rank * (E + R) / E`` (equal to it at ``R = 0``).

    A modelling assumption, not a derivation: EPLB (DeepSeek-V3 report, arXiv 2412.19437 sec. 3.4;
    github.com/deepseek-ai/EPLB; SGLang's ``--ep-num-redundant-experts``) copies the hottest experts into the
    ``R`` extra slots and splits their tokens between the copies, so a rank's load is made of ``(E + R) / ep``
    smaller, evened-out shares instead of ``E / ep`` whole experts.  We take its effect as that of a mean load
    per rank larger by ``(E + R) / E`` in the Poisson bound: the relative excess of the busiest rank shrinks
    by ``sqrt(E / (E + R))`` (256 + 32 slots: by 5.7 %).  The uniform-routing bound already leaves out the
    routers' skew that EPLB exists to remove, so this credits EPLB only with the finer granularity.
    """
    return moe_imbalance(routed_per_rank * ((experts + redundant) / experts), ep)


#: FP8 dispatch carries one fp32 scale per 128 channels of each token (DeepSeek-V3's 1 x 128 activation
#: tiles, arXiv 2412.19437 sec. 3.3; DeepEP's FP8 dispatch, github.com/deepseek-ai/DeepEP)
DISPATCH_SCALE_BLOCK = 128


def moe_a2a_bytes_per_token(d_model: int, top_k: int, ep, low_precision: bool):
    """(dispatch, combine) bytes one token's copies move off its rank in one MoE layer over ``ep`` ranks.

    The token goes to ``top_k`` experts, each on a rank drawn uniformly, so ``top_k (ep - 1) / ep`` copies
    leave the rank (no per-node deduplication yet).  Dispatch sends each copy in FP8 with one fp32 scale per
    :data:`DISPATCH_SCALE_BLOCK` channels (``d + 4 d / 128`` bytes) when the experts' matmuls run in 8 bits
    or fewer (``low_precision``), else in 16 bits (``2 d``); combine returns each in 16 bits (``2 d``).
    DeepSeek-V3 (d 7168, top-8) at EP 16: 7.5 copies, 55,440 and 107,520 bytes.
    """
    copies = top_k * (np.asarray(ep, dtype=float) - 1) / np.asarray(ep, dtype=float)
    dispatch, combine = a2a_bytes_per_copy(d_model, low_precision)
    return copies * dispatch, copies * combine


def a2a_bytes_per_copy(d_model: int, low_precision: bool) -> tuple[float, float]:
    """(dispatch, combine) bytes of one token copy: ``d + 4 d / 128`` (FP8 with fp32 scales) or ``2 d``
    (16-bit) out, ``2 d`` back (see :func:`moe_a2a_bytes_per_token`)."""
    dispatch = d_model + 4 * d_model / DISPATCH_SCALE_BLOCK if low_precision else COMBINE_BYTES * d_model
    return float(dispatch), COMBINE_BYTES * d_model


def remote_nodes_per_token(nodes, top_k: int, groups: int = 1, groups_per_token: int | None = None):
    """Expected number of other nodes a token's ``top_k`` expert copies land on, with the experts spread
    evenly over ``nodes`` nodes (``nodes`` > 1, an array) and the groups of group-limited routing laid out in
    order (a node holds ``groups / nodes`` whole groups, or a group spans ``nodes / groups`` nodes).

    Derivation (experts, groups and the token's choices uniform; the routers' skew is left out).  Without
    group limits the ``k`` copies pick nodes independently: a node is touched with probability
    ``1 - (1 - 1/n)^k``, so ``n (1 - (1 - 1/n)^k)`` nodes.  With ``G`` of ``g`` groups per token (DeepSeek-V3:
    4 of 8) and ``n <= g``: each node holds ``h = g / n`` groups and is touched when one of its groups is
    chosen (each chosen group gets at least one of the copies, as the routers rank groups by their best
    experts), ``1 - C(g - h, G) / C(g, G)``; with ``n > g`` each chosen group spans ``m = n / g`` nodes and gets
    ``k / G`` copies: ``G m (1 - (1 - 1/m)^(k/G))`` nodes.  One touched node in ``n`` is, on average, the
    token's own, hence the factor ``(n - 1) / n``.  DeepSeek-V3 over 4 nodes: ``4 (1 - C(6, 4) / C(8, 4)) =
    4 (1 - 15/70) = 3.143`` nodes, 2.357 of them remote (against 3.6 without the group limit); over 8 nodes
    at most 4 are touched: ``8 (1 - C(7, 4) / C(8, 4)) = 4``."""
    n = np.maximum(np.asarray(nodes, dtype=float), 1.0)
    k = float(top_k)
    free = n * (1 - (1 - 1 / n) ** k)
    G = groups_per_token if groups_per_token and groups > 1 and groups_per_token < groups else None
    if G is None:
        touched = free
    else:
        g = float(groups)
        h = g / np.minimum(n, g)
        miss = np.ones_like(n)  # C(g - h, G) / C(g, G) = prod_i (g - h - i) / (g - i)
        for i in range(G):
            miss = miss * np.maximum(g - h - i, 0.0) / (g - i)
        m = np.maximum(n / g, 1.0)
        touched = np.where(n <= g, n * (1 - miss), G * m * (1 - (1 - 1 / m) ** (k / G)))
    return touched * (n - 1) / n


def moe_a2a_s(hw: HardwareSpec, ep, sent_copies, recv_copies, d_model: int, top_k: int, low_precision: bool,
              prefill, tables: KernelTables | None = None, groups: int = 1, groups_per_token: int | None = None):
    """(dispatch, combine) time (s) of one MoE layer's all-to-all on the busiest rank of ``ep``.

    ``sent_copies`` is the token copies the rank's own tokens make (its tokens x ``top_k``), ``recv_copies``
    the copies the busiest expert rank receives (imbalance included); the busier of the two sets the pace.

    The model: :func:`gpt4plan.physics.comm.all_to_all_two_tier_s` of the remote share ``(ep - 1) / ep`` of the
    copies, with :func:`a2a_bytes_per_copy` bytes each (network efficiency fitted with the rest of the
    roofline): DeepEP's low-latency kernels (decode) send every copy to its rank.  DeepEP's normal kernels
    (``prefill`` true, across nodes) send a token once to each other node it needs, which forwards it over
    NVLink to the GPUs of its experts, and combine in reverse (DeepEP README: "intranode and internode"
    kernels, NVLink forwarding; DeepSeek-V3 report sec. 3.2.2): the scale-out link carries
    :func:`remote_nodes_per_token` copies per token (``groups``, ``groups_per_token``: the model's
    group-limited routing), the scale-up link the ``top_k (D - 1) / D`` copies that end on another GPU of a
    node of ``D``; the slower sets the time, after one scale-out latency.  Where the chip has measured DeepEP tables (``tables``, :meth:`KernelTables.deepep_s`) and
    ``ep`` is whole nodes of 8, the measured time is a floor under it: the normal kernels for a pass with
    prompts (``prefill`` true: what SGLang's ``--deepep-mode auto`` runs for a prefill batch), the low-latency
    kernels for a decode pass, at the busiest rank's tokens ``max(sent, recv) / top_k`` and this model's
    bytes per copy relative to the measured shape.  A floor, not a replacement: the tables are unit tests of
    the kernels alone, and in a serving pass they run slower ("Both DeepSeek and SGLang have a communication
    time slower than unit test results", lm-sys blog 2025-05-05 "large-scale EP", Profile Results); priced
    by the tables alone, SGLang's DeepSeek-V3 prefill record came out 88 % too fast and its decode record
    42 % (docs/accuracy.md).  What the floor adds is DeepEP's measured latency at a few tokens per rank
    (25-60 us per dispatch or combine across nodes), well above one network latency."""
    dispatch_b, combine_b = a2a_bytes_per_copy(d_model, low_precision)
    ep = np.asarray(ep, dtype=float)
    copies = np.maximum(sent_copies, recv_copies)
    remote = copies * (ep - 1) / ep
    dispatch = all_to_all_two_tier_s(ep, remote * dispatch_b, hw)
    combine = all_to_all_two_tier_s(ep, remote * combine_b, hw)
    dom, eff = float(hw.scale_up.domain), hw.efficiency.network
    multi = np.asarray(prefill, dtype=bool) & (ep > dom)
    if multi.any():  # normal mode across nodes: one copy per remote node, forwarded over NVLink
        tokens = copies / top_k
        out_copies = tokens * remote_nodes_per_token(ep / dom, top_k, groups, groups_per_token)
        in_copies = tokens * top_k * (dom - 1) / dom
        for_bytes = []
        for b in (dispatch_b, combine_b):
            t = np.maximum(out_copies * b / (hw.scale_out.bandwidth * eff), in_copies * b / (hw.scale_up.bandwidth * eff))
            for_bytes.append(hw.scale_out.latency + t)
        dispatch, combine = np.where(multi, for_bytes[0], dispatch), np.where(multi, for_bytes[1], combine)
    if tables is None:
        return dispatch, combine
    hidden, k_ref, _ = tables.arrays["deepep_shape"]
    ref_dispatch, ref_combine = a2a_bytes_per_copy(int(hidden), True)
    nodes = ep / 8.0
    whole = (ep >= 8) & (np.mod(ep, 8.0) == 0)
    tokens = copies / top_k
    scales = (top_k * dispatch_b / (k_ref * ref_dispatch), top_k * combine_b / (k_ref * ref_combine))
    ll = tables.deepep_s("ll", nodes, tokens, *scales)
    normal = tables.deepep_s("normal", nodes, tokens, *scales)
    pre = np.broadcast_to(np.asarray(prefill, dtype=bool), np.shape(ll[0]))
    return (np.where(whole, np.maximum(dispatch, np.where(pre, normal[0], ll[0])), dispatch),
            np.where(whole, np.maximum(combine, np.where(pre, normal[1], ll[1])), combine))
