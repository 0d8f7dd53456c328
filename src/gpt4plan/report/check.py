"""Output of ``gpt4plan check``: the Rich table, JSON, Markdown and JUnit XML of a budget check.
"""

from __future__ import annotations

from typing import Any

from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from gpt4plan.report.common import md_cell, md_table, pct, usd
from gpt4plan.serving import layout_words
from gpt4plan.specs.units import format_bytes, format_seconds, plural


def _fmt_count(x: float) -> str:
    return f"{x:,.0f}"


#: limit name -> (short label, formatter of a value in the limit's unit)
LIMIT_LABELS: dict[str, tuple[str, Any]] = {
    "usd_per_1k_output_tokens": ("$/1k output", usd),
    "usd_per_1k_input_tokens": ("$/1k input", usd),
    "usd_per_hour": ("$/hour", usd),
    "chips": ("chips", _fmt_count),
    "tpot_s": ("TPOT", format_seconds),
    "ttft_s": ("TTFT", format_seconds),
    "usd": ("cost", usd),
    "days": ("days", lambda x: f"{x:,.1f} d"),
    "gpu_hours": ("GPU-hours", _fmt_count),
    "memory_per_chip_bytes": ("memory/chip", format_bytes),
    "tokens_per_s_per_user": ("tokens/s/user", lambda x: f"{x:,.1f}"),
    "mfu": ("MFU", lambda x: f"{x:.1%}"),
    "throughput_tokens_per_s": ("output tokens/s", lambda x: f"{x:,.0f}"),
}


def _lim_label(name: str) -> str:
    return LIMIT_LABELS.get(name, (name, None))[0]


def _lim_fmt(name: str, x: float | None) -> str:
    if x is None:
        return "—"
    fn = LIMIT_LABELS.get(name, (None, lambda v: f"{v:.4g}"))[1]
    return fn(x)


def _limit_text(c) -> str:
    return f"{_lim_label(c.name)} {'≤' if c.bound == 'max' else '≥'} {_lim_fmt(c.name, c.limit)}"


def _limit_failure(s, c, max_regression: float | None) -> str | None:
    """Why one limit failed, in one line (None if it passed)."""
    if not s.feasible:
        return None
    if not c.passed:
        if c.value is None:
            return f"{s.name}: {_lim_label(c.name)}: the plan has no value"
        op = ">" if c.bound == "max" else "<"
        return (f"{s.name}: {_lim_label(c.name)} {_lim_fmt(c.name, c.value)} {op} limit "
                f"{_lim_fmt(c.name, c.limit)} (headroom {pct(c.headroom)})")
    if c.regressed:
        way = "rose" if c.bound == "max" else "fell"
        return (f"{s.name}: {_lim_label(c.name)} {way} {abs(c.change):.1%} vs baseline "
                f"({_lim_fmt(c.name, c.baseline)} -> {_lim_fmt(c.name, c.value)}; max regression "
                f"{max_regression:.0%}), still within its limit")
    return None


def check_failures(report) -> list[str]:
    """One line per failure: infeasible scenarios, limits exceeded, regressions vs the baseline."""
    out = []
    for s in report.scenarios:
        if not s.feasible:
            out.append(f"{s.name}: {s.message}")
        for c in s.limits:
            line = _limit_failure(s, c, report.max_regression)
            if line:
                out.append(line)
    return out


def _status(s, c) -> str:
    if not s.feasible:
        return "FAIL"
    if not c.passed:
        return "FAIL"
    return "FAIL" if c.regressed else "PASS"


def check_rows(report) -> list[dict]:
    """Rows of the check table, failures first (then in file order): one per limit, or one
    ``feasible plan`` row for a scenario without a plan or without limits."""
    rows = []
    for i, s in enumerate(report.scenarios):
        if not s.feasible or not s.limits:
            rows.append({"order": (i, -1), "scenario": s.name, "limit": "feasible plan",
                         "planned": "found" if s.feasible else f"none ({s.binding_constraint or '?'})",
                         "headroom": "—", "change": "", "result": "PASS" if s.feasible else "FAIL"})
        if not s.feasible:
            continue
        for j, c in enumerate(s.limits):
            change = ""
            if report.baseline_file is not None:
                change = pct(c.change) if c.change is not None else "new"
            rows.append({"order": (i, j), "scenario": s.name, "limit": _limit_text(c),
                         "planned": _lim_fmt(c.name, c.value), "headroom": pct(c.headroom), "change": change,
                         "result": _status(s, c)})
    rows.sort(key=lambda r: (r["result"] == "PASS", r["order"]))
    return rows


def _check_plan_line(s) -> str:
    """What was checked: the plan of one scenario, in one line."""
    p = s.plan
    where = f"{s.name}: {s.model} on {s.hardware}"
    if p is None:
        return f"{where}: no feasible plan"
    if s.kind == "infer":
        lay = layout_words(p["tp"], p["pp"], p["ep"], p.get("attention_dp", 1), p.get("redundant_experts", 0))
        return (f"{where}, {s.objective.replace('_', ' ')} plan: {p['chips']:,} chip{'s' if p['chips'] != 1 else ''} "
                f"({lay}, {p['replicas']} "
                f"replica{'s' if p['replicas'] > 1 else ''}, batch {p['batch']:,}), "
                f"{usd(p['usd_per_1k_output_tokens'])}/1k output tokens, {format_seconds(p['tpot_s'])} TPOT")
    return (f"{where}, {s.objective.replace('_', ' ')} plan: {plural(p['chips'], 'chip')} (TP {p['tp']} × PP {p['pp']} "
            f"× DP {p['dp']}), {p['days']:,.1f} days, {usd(p['usd'])}, {p['mfu']:.1%} MFU")


def _check_summary(report) -> str:
    n, f = len(report.scenarios), len(report.failed)
    limits = sum(len(s.limits) for s in report.scenarios)
    if f == 0:
        return f"PASS: {plural(n, 'scenario')}, {plural(limits, 'limit')} within budget"
    checked = [c for s in report.scenarios if s.feasible for c in s.limits]
    why = []
    infeasible = sum(1 for s in report.scenarios if not s.feasible)
    if infeasible:
        why.append(f"{infeasible} without a feasible plan")
    broken = sum(1 for c in checked if not c.passed)
    if broken:
        why.append(f"{broken} of {plural(limits, 'limit')} broken")
    regressed = sum(1 for c in checked if c.passed and c.regressed)
    if regressed:
        why.append(f"{regressed} regressed vs the baseline")
    return f"FAIL: {f} of {plural(n, 'scenario')} failed ({'; '.join(why)})"


def print_check(report, console: Console) -> None:
    """Render a budget check: the table (failures first), the failures, what was planned, a verdict."""
    t = Table(title=f"gpt4plan check {escape(report.file)}", box=box.SIMPLE_HEAD, title_justify="left",
              title_style="bold", pad_edge=False)
    rows = check_rows(report)

    def width(key: str, title: str) -> int:
        return max([len(title)] + [len(r[key]) for r in rows])

    # figures never wrap or truncate; a long scenario name folds instead
    t.add_column("scenario", overflow="fold")
    t.add_column("limit", no_wrap=True, min_width=width("limit", "limit"))
    t.add_column("planned", justify="right", no_wrap=True, min_width=width("planned", "planned"))
    t.add_column("headroom", justify="right", no_wrap=True, min_width=width("headroom", "headroom"))
    with_base = report.baseline_file is not None
    if with_base:
        t.add_column("vs base", justify="right", no_wrap=True, min_width=width("change", "vs base"))
    t.add_column("result", no_wrap=True, min_width=6)
    for r in rows:
        res = "[bold red]FAIL[/]" if r["result"] == "FAIL" else "[green]PASS[/]"
        cells = [escape(r["scenario"]), escape(r["limit"]), escape(r["planned"]), r["headroom"]]
        if with_base:
            cells.append(r["change"])
        t.add_row(*cells, res)
    console.print(t)
    fails = check_failures(report)
    if fails:
        console.print("[bold red]Failures[/]")
        for line in fails:
            console.print(f"  {escape(line)}")
    console.print(escape("\n".join(["Plans checked:"] + [f"  {_check_plan_line(s)}" for s in report.scenarios])),
                  style="dim")
    if with_base:
        mr = "none (changes shown only)" if report.max_regression is None else f"{report.max_regression:.0%}"
        console.print(escape(f"baseline {report.baseline_file}; max regression {mr}"), style="dim")
    verdict = _check_summary(report)
    console.print(f"[bold {'green' if report.passed else 'red'}]{escape(verdict)}[/]")


def check_json(report) -> dict:
    """The JSON contract of ``gpt4plan check --format json`` (also the ``--baseline`` input)."""
    return {
        "file": report.file,
        "passed": report.passed,
        "summary": _check_summary(report),
        "baseline": report.baseline_file,
        "max_regression": report.max_regression,
        "scenarios": [
            {
                "name": s.name,
                "kind": s.kind,
                "passed": s.passed,
                "feasible": s.feasible,
                "binding_constraint": s.binding_constraint,
                "message": s.message,
                "model": s.model,
                "hardware": s.hardware,
                "objective": s.objective,
                "limits": [c.as_dict() for c in s.limits],
                "values": s.values,
                "plan": s.plan,
                "inputs": s.inputs,
            }
            for s in report.scenarios
        ],
    }


def check_markdown(report) -> str:
    """A Markdown summary of a budget check, for a pull-request comment or a GitHub step summary."""
    ok = report.passed
    icon = "✅" if ok else "❌"
    n, f = len(report.scenarios), len(report.failed)
    verdict = f"all {n} scenarios within budget" if ok else f"{f} of {n} scenarios failed"
    title = f"### {icon} gpt4plan check: {verdict}"
    with_base = report.baseline_file is not None
    header = ["", "scenario", "limit", "planned", "headroom"] + (["vs baseline"] if with_base else [])
    rows = []
    for r in check_rows(report):
        row = ["❌" if r["result"] == "FAIL" else "✅", r["scenario"], r["limit"], r["planned"], r["headroom"]]
        if with_base:
            row.append(r["change"])
        rows.append(row)
    parts = [title, "", f"`{md_cell(report.file)}` · {md_cell(_check_summary(report))}", "",
             md_table(header, rows, right={3, 4, 5})]
    fails = check_failures(report)
    if fails:
        parts += ["", "**Failures**", ""] + [f"- {md_cell(x)}" for x in fails]
    parts += ["", "<details><summary>Plans checked</summary>", ""]
    parts += [f"- {md_cell(_check_plan_line(s))}" for s in report.scenarios]
    if with_base:
        mr = "none" if report.max_regression is None else f"{report.max_regression:.0%}"
        parts += ["", f"Baseline `{md_cell(report.baseline_file)}`, max regression {mr}."]
    parts += ["", "</details>", ""]
    return "\n".join(parts)


def check_junit(report) -> str:
    """JUnit XML of a budget check: one testsuite, one testcase per scenario (``feasible plan``) and per
    limit; a broken limit or a regression is a ``failure``, a limit of an infeasible scenario ``skipped``."""
    import xml.etree.ElementTree as ET

    cases = []
    for s in report.scenarios:
        cls = f"gpt4plan.check.{s.name}"
        tc = ET.Element("testcase", classname=cls, name="feasible plan", time="0", file=report.file)
        if s.line:
            tc.set("line", str(s.line))
        if not s.feasible:
            ET.SubElement(tc, "failure", message=s.message or "no feasible plan", type="infeasible").text = \
                _check_plan_line(s) + "\n" + (s.message or "")
        else:
            ET.SubElement(tc, "system-out").text = _check_plan_line(s)
        cases.append(tc)
        for c in s.limits:
            tc = ET.Element("testcase", classname=cls, name=f"{c.name} ({_limit_text(c)})", time="0",
                            file=report.file)
            if c.line:
                tc.set("line", str(c.line))
            if not s.feasible:
                ET.SubElement(tc, "skipped", message="no feasible plan to check")
            else:
                why = _limit_failure(s, c, report.max_regression)
                if why:
                    kind = "budget exceeded" if not c.passed else "regression"
                    ET.SubElement(tc, "failure", message=why, type=kind).text = why + "\n" + _check_plan_line(s)
            cases.append(tc)
    failures = sum(1 for tc in cases if tc.find("failure") is not None)
    skipped = sum(1 for tc in cases if tc.find("skipped") is not None)
    attrs = {"tests": str(len(cases)), "failures": str(failures), "errors": "0", "skipped": str(skipped),
             "time": "0"}
    root = ET.Element("testsuites", name="gpt4plan check", **attrs)
    suite = ET.SubElement(root, "testsuite", name=f"gpt4plan check {report.file}", **attrs)
    suite.extend(cases)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
