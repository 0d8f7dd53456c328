"""The hardware spec: one accelerator, its links and its price (docs/design.md).

SI floats: bytes, bytes/s, FLOP/s (dense), seconds; USD per hour.  Loading is
:mod:`gpt4plan.specs.validate`.
"""

from __future__ import annotations

from pydantic import model_validator

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


class HardwareSpec(StrictModel):
    """One accelerator (docs/design.md).  SI floats: bytes, bytes/s, FLOP/s (dense), s; USD per hour."""

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
    source: str | None = None

    @model_validator(mode="after")
    def _check(self) -> HardwareSpec:
        if not self.peak_flops:
            raise ValueError("peak_flops: give at least one dtype (e.g. bf16: 989.4 TFLOP/s)")
        return self

    def peak(self, dtype: str) -> float:
        """Dense peak FLOP/s for a compute ``dtype``, falling back to the nearest wider type the chip has.

        fp16 falls back to bf16 (and back), fp8 and int8 to the 16-bit rate (never to each other: a chip
        without FP8 units runs FP8 models in 16-bit), fp4 to fp8, tf32 to fp32.
        A chip that lists none of those falls back to its slowest listed rate.
        """
        return self.peak_flops[self.peak_dtype(dtype)]  # type: ignore[index]

    def peak_dtype(self, dtype: str) -> str:
        """The compute dtype :meth:`peak` actually uses for ``dtype`` on this chip (see there)."""
        chain = {
            "fp4": ["fp4", "fp8", "bf16", "fp16"],
            "fp8": ["fp8", "bf16", "fp16"],
            "int8": ["int8", "bf16", "fp16"],
            "bf16": ["bf16", "fp16"],
            "fp16": ["fp16", "bf16"],
            "tf32": ["tf32", "fp32"],
            "fp32": ["fp32", "tf32", "bf16"],
        }[dtype]
        for d in chain:
            if d in self.peak_flops:
                return d
        # no rate of this width: the slowest listed rate is the safe (pessimistic) assumption
        return min(self.peak_flops, key=self.peak_flops.get)  # type: ignore[arg-type]

    def with_price(self, usd_per_hour: float) -> HardwareSpec:
        return self.model_copy(update={"price": float(usd_per_hour)})
