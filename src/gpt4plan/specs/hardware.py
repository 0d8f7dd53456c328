"""The hardware spec: one accelerator, its links and its price (docs/design.md).

SI floats: bytes, bytes/s, FLOP/s (dense), seconds; USD per hour.  Loading is
:mod:`gpt4plan.specs.validate`.
"""

from __future__ import annotations

from pydantic import model_validator

from gpt4plan.specs.derived import ChipRates
from gpt4plan.specs.fields import (
    Bytes,
    BytesPerS,
    FlopsPerS,
    Fraction,
    Name,
    PeakDtype,
    PosInt,
    Seconds,
    StrictModel,
    UsdPerHour,
)

__all__ = ["ScaleUp", "ScaleOut", "Efficiency", "HardwareSpec"]


class ScaleUp(StrictModel):
    """Scale-up domain (NVLink/NVSwitch, ICI, xGMI): chips, per-chip per-direction bandwidth, latency."""

    domain: PosInt
    bandwidth: BytesPerS
    latency: Seconds = 3e-6


class ScaleOut(StrictModel):
    """Scale-out network (InfiniBand/RoCE/DCN): per-chip per-direction bandwidth and latency."""

    bandwidth: BytesPerS
    latency: Seconds = 10e-6


class Efficiency(StrictModel):
    """Achievable fractions of peak compute, memory bandwidth and link bandwidth (calibrated)."""

    compute: Fraction = 0.7
    memory: Fraction = 0.85
    network: Fraction = 0.8


class HardwareSpec(ChipRates, StrictModel):
    """One accelerator (docs/design.md).  SI floats: bytes, bytes/s, FLOP/s (dense), s; USD per hour.

    ``peak``, ``peak_dtype`` and ``with_price``: :class:`~gpt4plan.specs.derived.ChipRates`.
    """

    name: Name
    description: str | None = None
    memory: Bytes
    memory_bandwidth: BytesPerS
    peak_flops: dict[PeakDtype, FlopsPerS]
    scale_up: ScaleUp
    scale_out: ScaleOut
    price: UsdPerHour
    price_date: str | None = None
    efficiency: Efficiency = Efficiency()
    usable_memory: Fraction = 0.9
    #: streaming multiprocessors (NVIDIA): the SMs DeepEP's normal kernels take from the GEMMs are a share of them
    sms: PosInt | None = None
    source: str | None = None

    @model_validator(mode="after")
    def _check(self) -> HardwareSpec:
        if not self.peak_flops:
            raise ValueError("peak_flops: give at least one dtype (e.g. bf16: 989.4 TFLOP/s)")
        return self
