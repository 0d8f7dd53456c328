"""Request logs (``gpt4plan infer --trace FILE``): one request per row, its arrival time and its prompt and
output tokens (docs/design.md).

CSV with a header row, or JSON Lines (one object per line), in one of three layouts, told apart by the
column names (case and surrounding spaces ignored):

* gpt4plan's own: ``arrival_s`` (seconds, any origin), ``prompt_tokens``, ``output_tokens``;
* the Azure LLM inference traces (github.com/Azure/AzurePublicDataset, AzureLLMInferenceTrace 2023/2024):
  ``TIMESTAMP`` (a date and time, ``2023-11-16 18:15:46.6805900``), ``ContextTokens``, ``GeneratedTokens``;
* BurstGPT (github.com/HPMLL/BurstGPT): ``Timestamp`` (seconds), ``Request tokens``, ``Response tokens``.

Other columns are ignored.  Arrival times are shifted so the first request arrives at 0 and sorted (a log
need not be in order).  In the public layouts a row with 0 output tokens is a failed request (BurstGPT logs
them) and is skipped, and counted; in gpt4plan's own layout it is an error.  Every other bad value is one
:class:`~gpt4plan.specs.errors.SpecError`, ``file:line: column: why`` (the column as the file names it).
"""

from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass
from datetime import datetime, timezone

from gpt4plan.specs.errors import SpecError

__all__ = ["Trace", "read_trace", "LAYOUTS", "MAX_TRACE_REQUESTS"]

#: The column names of each layout: (arrival, prompt tokens, output tokens), lower case.
LAYOUTS: dict[str, tuple[str, str, str]] = {
    "gpt4plan": ("arrival_s", "prompt_tokens", "output_tokens"),
    "azure": ("timestamp", "contexttokens", "generatedtokens"),
    "burstgpt": ("timestamp", "request tokens", "response tokens"),
}
#: Most requests a log may hold (a replay of 10,000 takes ~0.15 s; a longer log is better cut to a window).
MAX_TRACE_REQUESTS = 1_000_000
_MAX_TOKENS = 10_000_000


@dataclass(frozen=True)
class Trace:
    """A request log read: ``arrival_s`` (from 0, sorted), ``prompt_tokens``, ``output_tokens`` (lists of the
    same length, >= 1 request), the ``layout`` recognised and the failed requests ``skipped``."""

    arrival_s: list[float]
    prompt_tokens: list[int]
    output_tokens: list[int]
    layout: str
    skipped: int


def read_trace(path: str) -> Trace:
    """Read the request log at ``path`` (module docstring).

    Raises:
        SpecError: the file cannot be read, has no known layout, a bad value (``file:line: column: why``) or
            no request.
    """
    try:
        with open(path, encoding="utf-8", newline="") as f:
            first = f.readline()
            f.seek(0)
            rows = _jsonl_rows(path, f) if first.lstrip().startswith("{") else _csv_rows(path, f)
            return _collect(path, rows)
    except OSError as exc:
        raise SpecError(path, None, None, f"cannot read the trace: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise SpecError(path, None, None, "not UTF-8 text: a trace is CSV or JSON Lines") from None


def _layout(path: str, line: int, names: list[str]) -> tuple[str, dict[str, str]]:
    """The layout whose three columns ``names`` holds, and the file's own spelling of each."""
    own = {n.strip().lower(): n for n in names if isinstance(n, str)}
    for layout, cols in LAYOUTS.items():
        if all(c in own for c in cols):
            return layout, {c: own[c] for c in cols}
    want = "; ".join(", ".join(cols) for cols in LAYOUTS.values())
    raise SpecError(path, line, None, f"columns {', '.join(map(str, names)) or '(none)'}: not a known trace layout "
                    f"(want one of: {want})")


def _csv_rows(path: str, f):
    """``(line, layout, spelling, row dict)`` per CSV row."""
    reader = csv.DictReader(f)
    try:
        layout, spell = _layout(path, 1, list(reader.fieldnames or []))
        for row in reader:
            if any(v not in (None, "") for v in row.values()):
                yield reader.line_num, layout, spell, row
    except csv.Error as exc:
        raise SpecError(path, reader.line_num, None, f"not valid CSV: {exc}") from None


def _jsonl_rows(path: str, f):
    """``(line, layout, spelling, object)`` per JSON Lines object."""
    layout = spell = None
    for n, text in enumerate(f, start=1):
        if not text.strip():
            continue
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as exc:
            raise SpecError(path, n, None, f"not a JSON object: {exc.msg}") from None
        if not isinstance(obj, dict):
            raise SpecError(path, n, None, "each line of a JSON Lines trace is one object")
        if layout is None:
            layout, spell = _layout(path, n, list(obj))
        yield n, layout, spell, obj


def _collect(path: str, rows) -> Trace:
    arrival, prompt, output, skipped, layout = [], [], [], 0, "gpt4plan"
    for line, layout, spell, row in rows:
        t_col, p_col, o_col = (spell[c] for c in LAYOUTS[layout])
        out = _tokens(path, line, o_col, row.get(o_col), allow_zero=layout != "gpt4plan")
        if out == 0:
            skipped += 1
            continue
        arrival.append(_time(path, line, t_col, row.get(t_col), layout == "azure"))
        prompt.append(_tokens(path, line, p_col, row.get(p_col)))
        output.append(out)
        if len(arrival) > MAX_TRACE_REQUESTS:
            raise SpecError(path, line, None, f"more than {MAX_TRACE_REQUESTS:,} requests: cut the log to a window")
    if not arrival:
        raise SpecError(path, None, None, "no requests in the trace" + (f" ({skipped} failed, skipped)" if skipped else ""))
    order = sorted(range(len(arrival)), key=arrival.__getitem__)
    t0 = arrival[order[0]]
    return Trace([arrival[i] - t0 for i in order], [prompt[i] for i in order], [output[i] for i in order], layout,
                 skipped)


def _tokens(path: str, line: int, col: str, value, allow_zero: bool = False) -> int:
    """A whole token count: 1 (0 where ``allow_zero``) to 10,000,000."""
    text = "" if value is None else str(value).strip()
    try:
        x = float(text)
    except ValueError:
        raise SpecError(path, line, col, f"{text!r} is not a number of tokens" if text else "missing") from None
    low = 0 if allow_zero else 1
    if not math.isfinite(x) or x != math.floor(x) or not low <= x <= _MAX_TOKENS:
        raise SpecError(path, line, col, f"{text!r}: a whole number of tokens from {low} to {_MAX_TOKENS:,}")
    return int(x)


def _time(path: str, line: int, col: str, value, datetime_text: bool) -> float:
    """Seconds: a number, or (Azure) a date and time read as seconds since the epoch."""
    text = "" if value is None else str(value).strip()
    if not text:
        raise SpecError(path, line, col, "missing")
    if datetime_text:
        head, dot, frac = text.partition(".")
        try:  # Azure writes 7 fractional digits; datetime reads up to 6
            t = datetime.fromisoformat(head).replace(tzinfo=timezone.utc).timestamp() + (float("0." + frac) if dot and frac.isdigit() else 0.0)
        except ValueError:
            t = None
        if t is None or (dot and not frac.isdigit()):
            raise SpecError(path, line, col, f"{text!r} is not a date and time like '2023-11-16 18:15:46.68'")
        return t
    try:
        t = float(text)
    except ValueError:
        raise SpecError(path, line, col, f"{text!r} is not a time in seconds") from None
    if not math.isfinite(t):
        raise SpecError(path, line, col, f"{text!r} is not a finite time")
    return t
