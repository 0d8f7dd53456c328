"""Output of ``gpt4plan models`` and ``gpt4plan hardware``: catalog tables and the hardware JSON.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich import box
from rich.console import Console
from rich.table import Table

from gpt4plan.specs.units import format_si

if TYPE_CHECKING:  # the schemas import pydantic; planning never needs it (a fast start)
    from gpt4plan.specs import HardwareSpec, ModelSpec


def _catalog_table(title: str, columns: list[str]) -> Table:
    t = Table(title=title, box=box.SIMPLE_HEAD, title_justify="left", pad_edge=False, padding=(0, 1))
    for i, col in enumerate(columns):
        t.add_column(col, justify="left" if i == 0 else "right", no_wrap=True, min_width=max(4, len(col)))
    return t


def print_models(models: list[tuple[str, ModelSpec, Any]], console: Console) -> None:
    """Table of catalog models: name, layers, d_model, heads/KV, attention, experts, params (billions)."""
    t = _catalog_table("Models (--model NAME)", ["name", "layers", "h/kv", "experts", "params",
                                                 "active", "KV/tok", "ctx"])
    for name, m, info in models:
        kv = "MLA" if m.mla else str(m.kv_heads)
        moe = f"{m.moe.experts}/{m.moe.top_k}" if m.moe else "-"
        t.add_row(name, str(m.layers), f"{m.heads}/{kv}", moe,
                  format_si(info["total"], digits=3), format_si(info["active"], digits=3),
                  f"{info['kv'] / 1e3:.0f} kB",
                  f"{m.max_context // 1024}k")
    console.print(t)


def hardware_json(h: HardwareSpec) -> dict:
    """One chip of ``gpt4plan hardware --format json``: the spec with units in the field names, as in the
    ``hardware`` object of ``infer --format json`` (bytes, bytes/s, FLOP/s, s, USD per chip-hour)."""
    return {
        "name": h.name,
        "description": h.description,
        "memory_bytes": h.memory,
        "usable_memory_fraction": h.usable_memory,
        "usable_memory_bytes": h.memory * h.usable_memory,
        "memory_bandwidth_bytes_per_s": h.memory_bandwidth,
        "peak_flops_per_s": dict(h.peak_flops),
        "scale_up": {"domain_chips": h.scale_up.domain, "bandwidth_bytes_per_s": h.scale_up.bandwidth,
                     "latency_s": h.scale_up.latency},
        "scale_out": {"bandwidth_bytes_per_s": h.scale_out.bandwidth, "latency_s": h.scale_out.latency},
        "price_usd_per_hour": h.price,
        "price_date": h.price_date,
        "efficiency": {"compute": h.efficiency.compute, "memory": h.efficiency.memory,
                       "network": h.efficiency.network},
        "source": h.source,
    }


def print_hardware(hws: list[tuple[str, HardwareSpec]], console: Console) -> None:
    """Table of catalog chips: memory, bandwidth, dense peaks, scale-up/out (per direction), price."""
    t = _catalog_table("Hardware (--hardware NAME); dense peaks, links per direction",
                       ["name", "HBM GB", "TB/s", "bf16 TF", "fp8 TF", "scale-up GB/s", "out GB/s", "$/h"])
    for name, h in hws:
        fp8 = h.peak_flops.get("fp8")
        t.add_row(name, f"{h.memory / 1e9:.0f}", f"{h.memory_bandwidth / 1e12:.2f}", f"{h.peak('bf16') / 1e12:,.0f}",
                  f"{fp8 / 1e12:,.0f}" if fp8 else "-", f"{h.scale_up.domain} x {h.scale_up.bandwidth / 1e9:.0f}",
                  f"{h.scale_out.bandwidth / 1e9:.1f}", f"{h.price:.2f}")
    console.print(t)
