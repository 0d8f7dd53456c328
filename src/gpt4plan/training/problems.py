"""Why a training request cannot be planned: pins the model or the batch cannot take, a budget below one
step (docs/design.md)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from gpt4plan.physics import arch
from gpt4plan.specs.units import plural
from gpt4plan.training.layouts import BATCH_TOLERANCE
from gpt4plan.training.workload import TrainPins, TrainWorkload

if TYPE_CHECKING:  # the schemas import pydantic; planning never needs it (a fast start)
    from gpt4plan.specs import ModelSpec

__all__ = ["DEFAULT_GLOBAL_BATCH_TOKENS", "MAX_CHIPS_LIMIT", "batch_budget_problem", "pin_problem",
           "sequence_batch_problem"]


#: The CLI's ``--global-batch`` default (tokens): a budget below it is blamed on the token budget, a batch
#: above it on the batch.
DEFAULT_GLOBAL_BATCH_TOKENS = 4e6


def batch_budget_problem(tokens: float, global_batch_tokens: float, tokens_text: str | None = None,
                         batch_text: str | None = None, names: tuple[str, str] = ("--tokens", "--global-batch"),
                         ) -> tuple[str, str] | None:
    """``(name at fault, why)`` when a budget of ``tokens`` training tokens is smaller than one global batch of
    ``global_batch_tokens`` tokens, else None.

    One optimizer step consumes a whole global batch, so such a budget would plan a fraction of a step: a
    step longer than the run, a price for a handful of tokens.  A batch above the default 4M tokens is
    blamed on the batch option (``names[1]``), else the budget (``names[0]``).  ``*_text``: the values as
    the user wrote them (for the message).
    """
    if global_batch_tokens <= tokens:
        return None
    t_name, b_name = names
    t_txt = tokens_text or f"{tokens:,.0f}"
    b_txt = batch_text or f"{global_batch_tokens:,.0f}"
    if global_batch_tokens > DEFAULT_GLOBAL_BATCH_TOKENS:
        return b_name, (f"larger than the training budget of {t_txt} tokens ({t_name}); one optimizer step "
                        "takes a whole global batch")
    return t_name, (f"less than one optimizer step, a global batch of {b_txt} tokens ({b_name}); give at least "
                    f"{global_batch_tokens:,.0f} tokens")


def sequence_batch_problem(global_batch_tokens: float, seq_len: int) -> str | None:
    """Why a global batch of ``global_batch_tokens`` tokens cannot be whole sequences of ``seq_len``, or None.

    The search rounds the batch to whole sequences within ``BATCH_TOLERANCE`` (5%): 4M tokens of 8,192 are
    488.3 sequences, planned as 488.  A batch further than that from a whole number (12,288 tokens = 1.5
    sequences) has no layout at all, which the search would report as an infeasible plan; it is bad input.
    """
    from gpt4plan.training.layouts import BATCH_TOLERANCE

    seqs = global_batch_tokens / seq_len
    if seqs < 1:
        return f"smaller than one sequence of {seq_len:,} tokens"
    whole = max(1.0, round(seqs))
    if abs(whole - seqs) > BATCH_TOLERANCE * seqs:
        return (f"{seqs:.3g} sequences of {seq_len:,} tokens; give whole sequences, e.g. "
                f"{int(whole) * seq_len:,} tokens ({plural(int(whole), 'sequence')})")
    return None


#: The largest --max-chips (and --chips) the command line accepts: beyond any real deployment.
MAX_CHIPS_LIMIT = 10_000_000


def pin_problem(model: ModelSpec, wl: TrainWorkload, pins: TrainPins, chips: int | None, max_chips: int) -> str:
    """Why pinned layout fields cannot be met (one line), or a generic reason."""
    B = wl.global_batch_tokens / wl.seq_len
    parts = []
    if pins.tp is not None and pins.tp not in arch.allowed_tp(model):
        parts.append(f"--tp {pins.tp}: must divide the {model.heads} heads and divide or be a multiple of the "
                     f"{model.kv_heads} KV heads (allowed: {', '.join(map(str, arch.allowed_tp(model)))})")
    if pins.pp is not None and pins.pp > model.layers:
        parts.append(f"--pp {pins.pp}: more stages than the {model.layers} layers")
    if pins.ep is not None and pins.ep > 1 and not model.moe:
        parts.append(f"--ep {pins.ep}: {model.name} is dense (no experts)")
    elif pins.ep is not None and model.moe and model.moe.experts % pins.ep:
        parts.append(f"--ep {pins.ep}: must divide the {model.moe.experts} experts")
    if pins.interleave and pins.interleave > 1:
        if pins.pp == 1:
            parts.append("--interleave needs --pp > 1")
        elif pins.pp and math.ceil(model.layers / pins.pp) % pins.interleave:
            parts.append(f"--interleave {pins.interleave}: must divide the {math.ceil(model.layers / pins.pp)} "
                         "layers of a stage")
    if pins.tp and pins.pp and pins.dp:
        need = pins.tp * pins.pp * pins.dp
        if need > (chips or max_chips):
            parts.append(f"--tp x --pp x --dp = {need:,} chips > {plural(chips or max_chips, 'chip')} available")
    mb = pins.microbatch or 1
    if pins.dp and pins.dp * mb > B * (1 + BATCH_TOLERANCE):
        parts.append(f"--dp {pins.dp} x microbatch {mb} exceeds the global batch of {plural(float(B), 'sequence')}")
    elif pins.microbatch and pins.microbatch > B * (1 + BATCH_TOLERANCE):
        parts.append(f"--microbatch {pins.microbatch} exceeds the global batch of {plural(float(B), 'sequence')}")
    if pins.ep and pins.dp and pins.dp % pins.ep:
        parts.append(f"--ep {pins.ep} must divide --dp {pins.dp} (experts are spread over data-parallel ranks)")
    if not parts:
        parts.append(f"no layout fits the pins and a global batch of {plural(float(B), 'sequence')} within "
                     f"{plural(chips or max_chips, 'chip')} (dp x microbatch must divide the batch within "
                     f"{BATCH_TOLERANCE:.0%}; ep must divide dp and the experts)")
    return "; ".join(parts)
