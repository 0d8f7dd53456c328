"""Formatting shared by every command's output: JSON, dollars, layouts, error bands, bars, CSV and
Markdown tables.  Computes no physics.
"""

from __future__ import annotations

import json
import math
from typing import Any

from gpt4plan.serving import Plan, layout_words


def _clean(x: Any) -> Any:
    """Replace NaN/inf by None (JSON has neither) and recurse into containers."""
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if isinstance(x, dict):
        return {k: _clean(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_clean(v) for v in x]
    return x


def to_json(obj: Any) -> str:
    """Pretty JSON with NaN/inf as null."""
    return json.dumps(_clean(obj), indent=2)


def usd(x: float) -> str:
    """Dollars with 3 significant figures and no exponent: $0.210, $0.00523, $0.0000412."""
    if x is None or not math.isfinite(x):
        return "—"
    if x >= 1e12:  # $31.6T, not $31575.01B
        return f"${x / 1e12:,.3g}T" if x < 1e15 else f"${x:.3g}"
    if x >= 1e9:
        return f"${x / 1e9:.2f}B"
    if x >= 1e6:
        return f"${x / 1e6:.1f}M"
    if x >= 100:
        return f"${x:,.0f}"
    if x == 0:
        return "$0"
    decimals = max(2, 2 - math.floor(math.log10(abs(x))))
    return f"${x:.{decimals}f}"


def band_text(p, field: str) -> str:
    """' (-5%/+12%)' from the plan's error band on ``field``, or '' when there is none."""
    band = (getattr(p, "bands", None) or {}).get(field)
    x = getattr(p, field, None)
    if not band or not x:
        return ""
    lo, hi = band[0] / x - 1, band[1] / x - 1
    return f" ({lo:+.0%}/{hi:+.0%})"


def layout_text(p: Plan) -> str:
    """The plan's layout in words (:func:`gpt4plan.serving.plan.layout_words`)."""
    return layout_words(p.tp, p.pp, p.ep, getattr(p, "attention_dp", 1), getattr(p, "redundant_experts", 0))


def compact_layout(tp: int, pp: int, ep: int = 1, dp: int | None = None, attention_dp: int = 1) -> str:
    if attention_dp > 1:  # the attention-DP layout: dp-attn groups x tp, experts over ep
        return f"dpa{attention_dp}×{tp}" + (f"×{pp}" if pp > 1 else "") + f" ep{ep}"
    s = f"{tp}×{pp}" + (f"×{dp}" if dp is not None else "")
    return s + (f" ep{ep}" if ep > 1 else "")


def train_layout(p) -> str:
    s = f"TP {p.tp} × PP {p.pp} × DP {p.dp}" + (f" × CP {p.cp}" if getattr(p, "cp", 1) > 1 else "")
    if p.ep > 1:
        s += f", EP {p.ep}"
    return s


def days_text(x: float) -> str:
    if not math.isfinite(x):
        return "—"
    return f"{x:,.1f} d" if x >= 1 else f"{x * 24:.1f} h"


def pct(x: float | None) -> str:
    """Signed percentage: '+12.3%', '+1,234%' for large values, '—' for none."""
    if x is None or not math.isfinite(x):
        return "—"
    return f"{x:+.1%}" if abs(x) < 10 else f"{x:+,.0%}"


def bar(x: float, top: float, width: int = 10, bottom: float | None = None) -> str:
    """A horizontal bar of eighth-blocks, ``width`` characters at ``x == top``; with ``bottom`` the scale is
    logarithmic from ``bottom`` (one eighth) to ``top``."""
    if not (top > 0 and x > 0 and math.isfinite(x)):
        return ""
    frac = min(x / top, 1.0)
    if bottom and 0 < bottom < top:
        frac = math.log(max(x, bottom) / bottom) / math.log(top / bottom)
    eighths = max(1, round(frac * width * 8))
    full, rest = divmod(eighths, 8)
    return "█" * full + ("▏▎▍▌▋▊▉"[rest - 1] if rest else "")


def csv_text(header: list[str], rows: list[list[Any]]) -> str:
    import csv
    import io

    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    for row in rows:
        w.writerow([_csv_value(v) for v in row])
    return buf.getvalue()


def _csv_value(v: Any) -> Any:
    """A CSV cell: none and NaN empty, booleans ``true``/``false`` as in the JSON."""
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    return v


def md_cell(x: Any) -> str:
    """Markdown table cell: pipes escaped, no line breaks."""
    return str(x).replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ").replace("\r", " ")


def md_table(header: list[str], rows: list[list[Any]], right: set[int] | None = None) -> str:
    right = right or set()
    lines = ["| " + " | ".join(md_cell(h) for h in header) + " |",
             "|" + "|".join("---:" if i in right else "---" for i in range(len(header))) + "|"]
    lines += ["| " + " | ".join(md_cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def performance_model_line(pm: dict) -> str:
    """One line naming the model that priced the passes."""
    if pm["kind"] == "measured-kernels":
        return (f"performance model: measured kernels ({pm['source']}, {pm['engine']} {pm['engine_version']}, "
                f"{pm['device']})")
    why = f"; {pm['reason']}" if pm.get("reason") else ""
    return f"performance model: roofline ({pm['source']}){why}"
