"""Why a training request cannot be planned: pins the model or the batch cannot take, a budget below one
step, a precision the chip lacks -- as reason codes (:class:`~gpt4plan.training.reasons.TrainIssue`) that the
caller words (docs/design.md)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from gpt4plan.physics import arch
from gpt4plan.training.layouts import BATCH_TOLERANCE
from gpt4plan.training.reasons import TrainIssue
from gpt4plan.training.workload import TrainPins, TrainWorkload

if TYPE_CHECKING:  # the schemas import pydantic; planning never needs it (a fast start)
    from gpt4plan.specs import HardwareSpec, ModelSpec

__all__ = ["DEFAULT_GLOBAL_BATCH_TOKENS", "MAX_CHIPS_LIMIT", "batch_budget_issue", "pin_issues", "precision_issue",
           "sequence_batch_issue"]


#: The CLI's ``--global-batch`` default (tokens): a budget below it is blamed on the token budget, a batch
#: above it on the batch.
DEFAULT_GLOBAL_BATCH_TOKENS = 4e6


def batch_budget_issue(tokens: float, global_batch_tokens: float, tokens_text: str | None = None,
                       batch_text: str | None = None) -> TrainIssue | None:
    """Why a budget of ``tokens`` training tokens is smaller than one global batch of ``global_batch_tokens``
    tokens (``batch_over_budget`` or ``budget_under_batch``, ``values['setting']`` the one at fault), else None.

    One optimizer step consumes a whole global batch, so such a budget would plan a fraction of a step: a
    step longer than the run, a price for a handful of tokens.  A batch above the default 4M tokens is
    blamed on the batch (``global_batch``), else the budget (``tokens``).  ``*_text``: the values as the
    user wrote them (for the message).
    """
    if global_batch_tokens <= tokens:
        return None
    values = {"tokens_text": tokens_text or f"{tokens:,.0f}", "batch_text": batch_text or f"{global_batch_tokens:,.0f}",
              "global_batch_tokens": global_batch_tokens}
    if global_batch_tokens > DEFAULT_GLOBAL_BATCH_TOKENS:
        return TrainIssue("batch_over_budget", {**values, "setting": "global_batch"})
    return TrainIssue("budget_under_batch", {**values, "setting": "tokens"})


def sequence_batch_issue(global_batch_tokens: float, seq_len: int) -> TrainIssue | None:
    """Why a global batch of ``global_batch_tokens`` tokens cannot be whole sequences of ``seq_len``, or None.

    The search rounds the batch to whole sequences within ``BATCH_TOLERANCE`` (5%): 4M tokens of 8,192 are
    488.3 sequences, planned as 488.  A batch further than that from a whole number (12,288 tokens = 1.5
    sequences) has no layout at all, which the search would report as an infeasible plan; it is bad input.
    """
    seqs = global_batch_tokens / seq_len
    if seqs < 1:
        return TrainIssue("batch_under_sequence", {"seq_len": seq_len})
    whole = max(1.0, round(seqs))
    if abs(whole - seqs) > BATCH_TOLERANCE * seqs:
        return TrainIssue("batch_not_whole", {"sequences": seqs, "seq_len": seq_len, "whole": int(whole)})
    return None


def precision_issue(hw: HardwareSpec, precision: str) -> TrainIssue | None:
    """Why ``hw`` cannot train in ``precision`` (``precision``: no FP8 peak in its spec, it would run FP8 at its
    16-bit rate), else None."""
    if precision == "fp8" and "fp8" not in hw.peak_flops:
        return TrainIssue("precision", {"hardware": hw.name})
    return None


#: The largest --max-chips (and --chips) the command line accepts: beyond any real deployment.
MAX_CHIPS_LIMIT = 10_000_000


def pin_issues(model: ModelSpec, wl: TrainWorkload, pins: TrainPins, chips: int | None, max_chips: int
               ) -> list[TrainIssue]:
    """Why pinned layout fields cannot be met (``no_layout`` when no one pin is to blame)."""
    B = wl.global_batch_tokens / wl.seq_len
    cap = chips or max_chips
    out = []
    if pins.tp is not None and pins.tp not in arch.allowed_tp(model):
        out.append(TrainIssue("tp_heads", {"tp": pins.tp, "heads": model.heads, "kv_heads": model.kv_heads,
                                           "allowed": arch.allowed_tp(model)}))
    if pins.pp is not None and pins.pp > model.layers:
        out.append(TrainIssue("pp_layers", {"pp": pins.pp, "layers": model.layers}))
    if pins.ep is not None and pins.ep > 1 and not model.moe:
        out.append(TrainIssue("ep_dense", {"ep": pins.ep, "model": model.name}))
    elif pins.ep is not None and model.moe and model.moe.experts % pins.ep:
        out.append(TrainIssue("ep_experts", {"ep": pins.ep, "experts": model.moe.experts}))
    if pins.interleave and pins.interleave > 1:
        if pins.pp == 1:
            out.append(TrainIssue("interleave_pp1"))
        elif pins.pp and math.ceil(model.layers / pins.pp) % pins.interleave:
            out.append(TrainIssue("interleave_layers", {"interleave": pins.interleave,
                                                        "stage_layers": math.ceil(model.layers / pins.pp)}))
    if pins.tp and pins.pp and pins.dp and pins.tp * pins.pp * pins.dp > cap:
        out.append(TrainIssue("pins_over_chips", {"need": pins.tp * pins.pp * pins.dp, "chips": cap}))
    mb = pins.microbatch or 1
    if pins.dp and pins.dp * mb > B * (1 + BATCH_TOLERANCE):
        out.append(TrainIssue("dp_batch", {"dp": pins.dp, "microbatch": mb, "sequences": float(B)}))
    elif pins.microbatch and pins.microbatch > B * (1 + BATCH_TOLERANCE):
        out.append(TrainIssue("microbatch_batch", {"microbatch": pins.microbatch, "sequences": float(B)}))
    if pins.ep and pins.dp and pins.dp % pins.ep:
        out.append(TrainIssue("ep_dp", {"ep": pins.ep, "dp": pins.dp}))
    if not out:
        out.append(TrainIssue("no_layout", {"sequences": float(B), "chips": cap, "tolerance": BATCH_TOLERANCE}))
    return out
