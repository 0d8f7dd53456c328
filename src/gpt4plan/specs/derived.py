"""What a spec derives from its fields: a model's layer counts, a chip's peak FLOP/s per dtype.

One home for both kinds of spec object: the pydantic schemas (:class:`~gpt4plan.specs.model.ModelSpec`,
:class:`~gpt4plan.specs.hardware.HardwareSpec`) and the catalog's records without pydantic
(:mod:`gpt4plan.specs.records`, a fast start) inherit these mixins, which read fields only.
"""

from __future__ import annotations

__all__ = ["ModelShape", "ChipRates"]


class ModelShape:
    """Layer counts of a model spec (fields ``layers`` and ``moe``)."""

    __slots__ = ()

    @property
    def moe_layers(self) -> int:
        """Number of MoE layers: after ``first_dense_layers``, every ``every``-th layer."""
        if self.moe is None:
            return 0
        rest = self.layers - self.moe.first_dense_layers
        return rest // self.moe.every

    @property
    def dense_layers(self) -> int:
        return self.layers - self.moe_layers

    @property
    def is_moe(self) -> bool:
        return self.moe is not None


class ChipRates:
    """Peak FLOP/s of a hardware spec per compute dtype (field ``peak_flops``), and a price override."""

    __slots__ = ()

    def peak(self, dtype: str) -> float:
        """Dense peak FLOP/s for a compute ``dtype``, falling back to the nearest wider type the chip has.

        fp16 falls back to bf16 (and back), fp8 and int8 to the 16-bit rate (never to each other: a chip
        without FP8 units runs FP8 models in 16-bit), fp4 to fp8, tf32 to fp32.
        A chip that lists none of those falls back to its slowest listed rate.
        """
        return self.peak_flops[self.peak_dtype(dtype)]  # type: ignore[index]

    def peak_dtype(self, dtype: str) -> str:
        """The compute dtype :meth:`peak` actually uses for ``dtype`` on this chip (see there)."""
        for d in _FALLBACKS[dtype]:
            if d in self.peak_flops:
                return d
        # no rate of this width: the slowest listed rate is the safe (pessimistic) assumption
        return min(self.peak_flops, key=self.peak_flops.get)  # type: ignore[arg-type]

    def with_price(self, usd_per_hour: float):
        """The same chip at ``usd_per_hour`` (not validated, like pydantic's ``model_copy``)."""
        return self.model_copy(update={"price": float(usd_per_hour)})


#: The compute dtypes :meth:`ChipRates.peak` tries for each dtype, in order.
_FALLBACKS = {
    "fp4": ["fp4", "fp8", "bf16", "fp16"],
    "fp8": ["fp8", "bf16", "fp16"],
    "int8": ["int8", "bf16", "fp16"],
    "bf16": ["bf16", "fp16"],
    "fp16": ["fp16", "bf16"],
    "tf32": ["tf32", "fp32"],
    "fp32": ["fp32", "tf32", "bf16"],
}
