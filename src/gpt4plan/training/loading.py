"""Data loading: the host bytes a training step needs when a fraction of its tokens are image tokens, against
the chip's host link (docs/design.md).

The seed (SemiAnalysis 2023, on GPT-4's vision): an image token costs about 600 bytes to load against
about 4 bytes for a text token (:data:`SEED_BYTES_PER_IMAGE_TOKEN`, :data:`SEED_BYTES_PER_TEXT_TOKEN`),
~150x.  With a fraction ``F`` of the ``B`` tokens of a global batch being image tokens, a step of ``t``
seconds loads::

    bytes per step     = B * (F * bytes_per_image_token + (1 - F) * bytes_per_text_token)
    per loading chip   = bytes per step / (dp * cp) / t

One chip per data-parallel (and context-parallel) rank loads its share of the batch: Megatron-LM's loader
runs on the first tensor-parallel rank of the first pipeline stage and broadcasts over TP, so the other
chips load nothing; spread over every chip the rate is ``bytes per step / chips / t`` (also reported).
The check compares the loading chip's rate with the hardware spec's ``host_io`` (the PCIe link per chip, an
upper bound: storage, the network and the loaders' decoding come before it) and warns above
:data:`HOST_IO_WARN_FRACTION` of it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gpt4plan.training.reasons import TrainIssue

if TYPE_CHECKING:
    from gpt4plan.specs import HardwareSpec
    from gpt4plan.training.workload import TrainPlan, TrainWorkload

__all__ = ["SEED_BYTES_PER_IMAGE_TOKEN", "SEED_BYTES_PER_TEXT_TOKEN", "HOST_IO_WARN_FRACTION", "data_loading",
           "loading_issue"]

#: Bytes loaded per image token (SemiAnalysis 2023: "~600 bytes" against ~4 for text; seed-figures.md)
SEED_BYTES_PER_IMAGE_TOKEN = 600.0
#: Bytes loaded per text token (SemiAnalysis 2023: "~4 bytes"; a 32-bit token id)
SEED_BYTES_PER_TEXT_TOKEN = 4.0
#: Warn when the loading chip needs more than this fraction of its host link.  An assumption: the link also
#: carries checkpoint writes and the loaders' other traffic, and PCIe delivers about 80% of its raw rate
#: after packet overheads; half the link leaves room for both.
HOST_IO_WARN_FRACTION = 0.5


def data_loading(plan: TrainPlan, hw: HardwareSpec, wl: TrainWorkload) -> dict | None:
    """The data-loading rate of ``plan`` (module docstring), None when ``wl.image_token_fraction`` is None.

    Keys: ``image_token_fraction``, ``bytes_per_image_token``, ``bytes_per_text_token``, ``bytes_per_token``
    (the mean), ``bytes_per_step``, ``bytes_per_s_per_chip`` (per loading chip), ``bytes_per_s_spread`` (over
    every chip), ``bytes_per_s_cluster``, ``host_io_bytes_per_s`` and ``fraction_of_host_io`` (None when
    the spec has no ``host_io``).  Bytes and bytes/s."""
    f = wl.image_token_fraction
    if f is None:
        return None
    per_token = f * wl.bytes_per_image_token + (1.0 - f) * wl.bytes_per_text_token
    per_step = plan.global_batch_tokens * per_token
    cluster = per_step / plan.step_time_s
    per_chip = cluster / (plan.dp * plan.cp)
    host_io = getattr(hw, "host_io", None)
    return {"image_token_fraction": f, "bytes_per_image_token": wl.bytes_per_image_token,
            "bytes_per_text_token": wl.bytes_per_text_token, "bytes_per_token": per_token, "bytes_per_step": per_step,
            "bytes_per_s_per_chip": per_chip, "bytes_per_s_spread": cluster / plan.chips,
            "bytes_per_s_cluster": cluster, "host_io_bytes_per_s": host_io,
            "fraction_of_host_io": per_chip / host_io if host_io else None}


def loading_issue(loading: dict | None, hardware: str) -> TrainIssue | None:
    """A ``host_io`` warning when the loading chip needs more than :data:`HOST_IO_WARN_FRACTION` of its host
    link, else None."""
    if not loading or loading["fraction_of_host_io"] is None:
        return None
    if loading["fraction_of_host_io"] <= HOST_IO_WARN_FRACTION:
        return None
    return TrainIssue("host_io", {"hardware": hardware, "limit": HOST_IO_WARN_FRACTION, **loading})
