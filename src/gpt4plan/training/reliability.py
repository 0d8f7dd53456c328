"""Reliability of a training job: failures, checkpoint interval and goodput (docs/design.md).

Failures arrive at ``failure_rate_per_gpu_hour * chips``; checkpoint every ``tau = sqrt(2 * delta * MTBF)``
(Young 1974 / Daly 2006); goodput ``1 / (1 + delta/tau + (tau/2 + delta + restart) / MTBF)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["FAILURE_RATE_PER_GPU_HOUR", "Reliability", "goodput"]

#: Meta, "The Llama 3 Herd of Models" (2024) §3.3.4: 419 unexpected interruptions in 54 days of
#: pre-training on 16,384 H100 GPUs -> 419 / (54 * 24 * 16384) = 1.97e-5 failures per GPU-hour.
FAILURE_RATE_PER_GPU_HOUR = 419 / (54 * 24 * 16384)


@dataclass(frozen=True)
class Reliability:
    failure_rate_per_gpu_hour: float = FAILURE_RATE_PER_GPU_HOUR
    checkpoint_s: float = 60.0  # assumption: asynchronous checkpoint stall per save
    restart_s: float = 300.0  # assumption: detect, reschedule, reload


def goodput(chips, checkpoint_s: float, restart_s: float, rate_per_gpu_hour: float = FAILURE_RATE_PER_GPU_HOUR):
    """(goodput fraction, checkpoint interval s, MTBF s) for a job on ``chips`` GPUs (Young/Daly)."""
    mtbf = 3600.0 / (np.asarray(chips, dtype=float) * rate_per_gpu_hour)
    tau = np.sqrt(2.0 * checkpoint_s * mtbf)
    # checkpoint_s / tau written as sqrt(checkpoint_s / (2 mtbf)): continuous at checkpoint_s = 0 (free
    # checkpoints, taken continuously: only the restart is lost), where tau = 0
    waste = np.sqrt(checkpoint_s / (2.0 * mtbf)) + (tau / 2 + checkpoint_s + restart_s) / mtbf
    return 1.0 / (1.0 + waste), tau, mtbf
