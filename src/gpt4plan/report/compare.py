"""Output of comparisons: ``gpt4plan compare`` (one row per chip) and ``infer --sweep`` (one row per
value), as JSON, a Rich table, CSV and Markdown.
"""

from __future__ import annotations

from rich import box
from rich.console import Console
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table

from gpt4plan.report.common import (
    compact_layout,
    csv_text,
    days_text,
    layout_text,
    md_cell,
    md_table,
    train_layout,
    usd,
)
from gpt4plan.report.infer import infer_message
from gpt4plan.report.train import train_message, train_warnings
from gpt4plan.serving import Plan
from gpt4plan.specs.banded import contract_fields
from gpt4plan.specs.units import plural


def _message(res, kind: str) -> str | None:
    """Why a row's result has no plan, in the command line's words."""
    return train_message(res) if kind == "train" else infer_message(res)


def comparison_json(rows, kind: str, label_name: str, sweep: dict | None = None) -> dict:
    """The JSON contract of ``gpt4plan compare`` (``kind`` ``infer`` or ``train``) and of ``infer --sweep``.

    Top level: ``kind``, ``label`` (``hardware`` or the swept option), ``sweep``, ``model``, ``rows``; each row
    has the label's value, ``feasible``, ``binding_constraint``, ``message``, and (infer) ``min_chips``,
    ``plan`` (the row's plan, min_cost unless asked otherwise), ``min_chips_plan``, ``nearest``, ``workload``,
    ``targets``; (train) ``plan``, ``warnings``.  Every row names its ``hardware``, ``price_usd_per_hour`` and
    ``performance_model`` (what priced it: rows may differ, measured kernels on chips with tables).
    """
    out_rows = []
    for r in rows:
        res = r.result
        row = {"hardware": res.hardware["name"], "price_usd_per_hour": res.hardware["price_usd_per_hour"]}
        row.update({label_name: r.label, "feasible": r.feasible, "binding_constraint": r.binding_constraint,
                    "message": _message(res, kind), "workload": res.workload,
                    "performance_model": getattr(res, "performance_model", None)})
        if kind == "infer":
            row.update(min_chips=r.min_chips, objective=r.objective,
                       plan=r.plan.as_dict() if r.plan else None,
                       min_chips_plan=res.plans[0].as_dict() if res.feasible else None,
                       nearest=res.nearest.as_dict() if res.nearest else None, targets=res.targets)
        else:
            row.update(objective=res.objective, plan=res.plan.as_dict() if res.plan else None,
                       warnings=train_warnings(res))
        out_rows.append(row)
    model = rows[0].result.model if rows else None
    return {"kind": kind, "label": label_name, "sweep": sweep, "model": model, "rows": out_rows}


def comparison_csv(rows, kind: str, label_name: str) -> str:
    """CSV of a comparison: one row per chip (or swept value): the label, ``feasible``,
    ``binding_constraint``, ``min_chips`` (infer), then every plan field of the row's plan (the nearest plan
    when nothing is feasible), SI units as in the JSON, then ``message``."""
    if kind == "infer":
        fields = contract_fields(Plan)
    else:
        from gpt4plan.training import TrainPlan

        fields = contract_fields(TrainPlan)
    fields = [f for f in fields if f != "bands"]
    out = []
    for r in rows:
        res = r.result
        p = r.plan or (res.nearest if kind == "infer" else res.plan)
        extra = [r.min_chips] if kind == "infer" else []
        out.append([r.label, res.model["name"], r.feasible, r.binding_constraint or "", *extra,
                    *((getattr(p, f) for f in fields) if p else ("" for _ in fields)), _message(res, kind) or ""])
    head = [label_name, "model", "feasible", "binding_constraint"] + (["min_chips"] if kind == "infer" else [])
    return csv_text(head + fields + ["message"], out)


def _infer_cells(r) -> list[str]:
    p = r.plan
    if p is None:
        return ["—"] * len(INFER_COMPARE_COLUMNS)
    return [f"{p.chips:,} ({r.min_chips:,})", compact_layout(p.tp, p.pp, p.ep, attention_dp=p.attention_dp), f"{p.batch:,}",
            usd(p.usd_per_1k_input_tokens), usd(p.usd_per_1k_output_tokens),
            usd(p.usd_per_1k_output_tokens_all_in), f"{p.tokens_per_s_per_user:.1f}"]


def _train_cells(r) -> list[str]:
    p = r.plan
    if p is None:
        return ["—"] * len(TRAIN_COMPARE_COLUMNS)
    return [f"{p.chips:,}", compact_layout(p.tp, p.pp, p.ep, p.dp), days_text(p.days), usd(p.usd), f"{p.mfu:.1%}"]


#: table headers of the label column of a sweep (JSON keeps the option's name with underscores)
SWEEP_HEADERS = {"prompt_tokens": "prompt tokens", "output_tokens": "output tokens",
                 "tokens_per_s_per_user": "tok/s/user target", "price_per_hour": "$ per chip-hour"}


def _label_text(x) -> str:
    """A row label: a chip name as is, a swept number as 2,048 or 2.5."""
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        return str(x)
    return f"{x:,}" if isinstance(x, int) else f"{x:,.6g}"


#: "decode" is the decode share of $/1k output tokens, "all-in" the whole spend per 1k output tokens
INFER_COMPARE_COLUMNS = ["chips (min)", "TP×PP", "batch", "$/1k input", "$/1k out decode", "$/1k out all-in",
                         "tok/s /user"]


TRAIN_COMPARE_COLUMNS = ["chips", "TP×PP×DP", "days", "cost", "MFU"]


def comparison_headline(rows, kind: str, label_name: str) -> str:
    """One or two sentences: the cheapest row, the fewest chips, how many rows have no plan (plain text)."""
    ok = [r for r in rows if r.feasible]
    bad = [r for r in rows if not r.feasible]
    model = rows[0].result.model["name"] if rows else "?"
    what = "chip" if label_name == "hardware" else label_name
    if not ok:
        return f"{model}: no {what} has a feasible plan."
    if label_name != "hardware" and kind == "infer":  # a sweep: rows in value order
        hw = rows[0].result.hardware["name"]
        parts = []
        for r in rows if len(rows) <= 6 else [rows[0], rows[-1]]:
            if r.feasible:
                parts.append(f"{_label_text(r.label)} → {usd(r.plan.usd_per_1k_output_tokens)}/1k output tokens on "
                             f"{plural(r.plan.chips, 'chip')} (min {r.min_chips})")
            else:
                parts.append(f"{_label_text(r.label)} → no plan ({r.binding_constraint})")
        return f"{model} on {hw} by {SWEEP_HEADERS.get(what, what)}: " + "; ".join(parts) + "."
    best = ok[0]
    p = best.plan
    if kind == "infer":
        s = (f"{model}: cheapest on {best.label} at {usd(p.usd_per_1k_output_tokens)}/1k output tokens "
             f"({plural(p.chips, 'chip')}, {layout_text(p)}, batch {p.batch:,}, {p.tokens_per_s_per_user:.1f} tokens/s per user).")
        fewest = min(r.min_chips for r in ok)
        names = [str(r.label) for r in ok if r.min_chips == fewest]
        s += f" Fewest chips: {plural(fewest, 'chip')} ({', '.join(names[:4])}{', ...' if len(names) > 4 else ''})."
    else:
        s = (f"{model}: cheapest on {best.label}: {usd(p.usd)}, {days_text(p.days).replace(' d', ' days')} on "
             f"{plural(p.chips, 'chip')} ({train_layout(p)}, {p.mfu:.1%} MFU).")
    if bad:
        s += f" {len(bad)} of {len(rows)} {what}{'s' if len(rows) != 1 else ''} without a feasible plan."
    return s


def print_comparison(rows, kind: str, label_name: str, console: Console, title: str,
                     notes: list[str] | None = None) -> None:
    """Rich table, one row per chip (or swept value), cheapest first; rows without a plan last, naming
    the constraint that binds; then why each of those fails, and the inputs."""
    console.print(Panel(escape(comparison_headline(rows, kind, label_name)), title=escape(title), title_align="left",
                        expand=False))
    # two-line headers and collapsed padding: every figure fits an 80-column CI log unwrapped
    t = Table(box=box.SIMPLE_HEAD, pad_edge=False, padding=(0, 1), collapse_padding=True)
    body = []
    cols = INFER_COMPARE_COLUMNS if kind == "infer" else TRAIN_COMPARE_COLUMNS
    # the terminal leaves out $/1k input (in JSON, CSV and Markdown): the all-in figure holds the prompt's
    # cost, and every other column then fits an 80-column log
    keep = [j for j, c in enumerate(cols) if c != "$/1k input"]
    cols = [cols[j] for j in keep]
    for r in rows:
        cells = [escape(_label_text(r.label))]
        if label_name == "hardware":
            cells.append(f"{r.result.hardware['price_usd_per_hour']:.2f}")
        row_cells = _infer_cells(r) if kind == "infer" else _train_cells(r)
        cells += [row_cells[j] for j in keep]
        if not all(x.feasible for x in rows):  # a 'binds' column only when some row has no plan
            cells.append("—" if r.feasible else escape(r.binding_constraint or "?"))
        body.append(cells)
    heads = ["chip" if label_name == "hardware" else SWEEP_HEADERS.get(label_name, label_name)]
    heads += ["$/h"] if label_name == "hardware" else []
    heads += cols + ([] if all(x.feasible for x in rows) else ["binds"])
    for j, head in enumerate(heads):
        lines = head.split(" ") if j else head.rsplit(" ", 1)
        width = max([len(x) for x in lines] + [len(row[j]) for row in body])
        t.add_column("\n".join(lines), justify="left" if j == 0 or head.startswith("TP") or j == len(heads) - 1
                     else "right", no_wrap=True, min_width=width)
    for r, cells in zip(rows, body, strict=True):
        t.add_row(*cells, style=None if r.feasible else "red")
    console.print(t)
    bad = [r for r in rows if not r.feasible]
    if bad:
        console.print("[bold]No feasible plan[/]")
        for r in bad:
            console.print(f"  {escape(_label_text(r.label))}: {escape(_message(r.result, kind) or '')}")
    for n in notes or []:
        console.print(escape(n), style="dim")


def comparison_markdown(rows, kind: str, label_name: str) -> str:
    """Markdown: the headline and one table row per chip (or swept value)."""
    cols = INFER_COMPARE_COLUMNS if kind == "infer" else TRAIN_COMPARE_COLUMNS
    header = [label_name] + (["$/h"] if label_name == "hardware" else []) + [c.replace(" /", "/") for c in cols]
    header.append("binding constraint")
    body = []
    for r in rows:
        row = [_label_text(r.label)] + ([f"{r.result.hardware['price_usd_per_hour']:.2f}"] if label_name == "hardware" else [])
        row += _infer_cells(r) if kind == "infer" else _train_cells(r)
        row.append("—" if r.feasible else (_message(r.result, kind) or r.binding_constraint or "?"))
        body.append(row)
    right = set(range(1, len(header) - 1)) - {header.index(c) for c in header if c.startswith("TP")}
    return f"{md_cell(comparison_headline(rows, kind, label_name))}\n\n{md_table(header, body, right=right)}\n"
