"""``gpt4plan infer --save-dir DIR``: the frontier and the top plans' launch files, written to a folder.

What DIR holds after a run with a feasible plan::

    DIR/frontier.csv            one row per plan (min_chips, min_cost, then the frontier): the --format csv rows
    DIR/frontier.json           the --format json result (plans, frontier, inputs, notes)
    DIR/plan-N-LAYOUT/vllm.sh   for each of the top plans (at most TOP_PLANS): one server's launch command
    DIR/plan-N-LAYOUT/sglang.sh   for each engine (what --emit prints), runnable with sh
    DIR/plan-N-LAYOUT/trtllm.sh
    DIR/README.md               the plans with their figures, and what each file is

The top plans are min_chips, min_cost and then the frontier's points, cheapest first, without repeats.
DIR may be new (it is created, with its parents), empty, or a folder an earlier ``--save-dir`` wrote --
every entry one of the names above, with nothing else in the plan folders; its old plan folders are then
removed and the files written anew.  Any other non-empty DIR, or a file, is bad input (exit 2, one line);
a write that fails is exit 3 (full disk) or 2 (a bad path, no permission), as for every result file.  Each
file is written atomically (:func:`gpt4plan.specs.write_atomically`).
"""

from __future__ import annotations

import re
from pathlib import Path

from gpt4plan.cli.console import BadInput, err_console

__all__ = ["TOP_PLANS", "ENGINE_FILES", "check_save_dir", "save_plans", "plan_folder"]

#: At most this many plans get a folder of launch files (min_chips, min_cost, then the frontier).
TOP_PLANS = 5
#: The launch file of each engine in a plan's folder.
ENGINE_FILES = {"vllm": "vllm.sh", "sglang": "sglang.sh", "trtllm": "trtllm.sh"}
_TOP_FILES = {"frontier.csv", "frontier.json", "README.md"}
_PLAN_DIR = re.compile(r"plan-\d+-[A-Za-z0-9.-]+")
OPTION = "--save-dir"


def check_save_dir(path: str) -> None:
    """Refuse (:class:`BadInput`) a ``--save-dir`` that is a file or a non-empty folder not written by an
    earlier ``--save-dir``; called before planning, so a bad folder costs no search."""
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise BadInput(f"{OPTION} {path}: is a file, not a folder")
    if p.is_dir():
        foreign = _foreign(p)
        if foreign is not None:
            raise BadInput(f"{OPTION} {path}: the folder holds {foreign!r}, which gpt4plan did not write; give a new "
                           "or empty folder, or one an earlier --save-dir wrote")


def _foreign(p: Path) -> str | None:
    """The first entry of folder ``p`` that no ``--save-dir`` writes, or None."""
    try:
        for e in sorted(p.iterdir()):
            if e.is_file() and e.name in _TOP_FILES:
                continue
            if e.is_dir() and _PLAN_DIR.fullmatch(e.name):
                inner = [f for f in e.iterdir() if not (f.is_file() and f.name in ENGINE_FILES.values())]
                if not inner:
                    continue
                return f"{e.name}/{inner[0].name}"
            return e.name
    except OSError as exc:
        raise BadInput(f"{OPTION} {p}: cannot read the folder: {exc.strerror or exc}") from None
    return None


def plan_folder(n: int, plan) -> str:
    """``plan-N-LAYOUT``: ``plan-1-tp8-pp1-b64``, ``plan-2-dpattn8-tp2-ep16-b256``."""
    parts = ([f"dpattn{plan.attention_dp}"] if plan.attention_dp > 1 else []) + [f"tp{plan.tp}", f"pp{plan.pp}"]
    parts += ([f"ep{plan.ep}"] if plan.ep > 1 else []) + [f"b{plan.batch}"]
    return f"plan-{n}-" + "-".join(parts)


def top_plans(res) -> list:
    """min_chips, min_cost, then the frontier (cheapest first), without repeats; at most :data:`TOP_PLANS`."""
    out, seen = [], set()
    for p in list(res.plans) + list(res.frontier):
        key = (p.chips, p.replicas, p.tp, p.pp, p.ep, p.attention_dp, p.redundant_experts, p.batch)
        if key not in seen:
            seen.add(key)
            out.append(p)
    return out[:TOP_PLANS]


def save_plans(path: str, res, model, wl, hw) -> None:
    """Write the folder of a feasible result ``res`` (module docstring); say on stderr what was written."""
    from gpt4plan.emit.engines import engine_args
    from gpt4plan.report import infer_csv, infer_json, to_json

    p = Path(path)
    check_save_dir(path)
    try:
        p.mkdir(parents=True, exist_ok=True)
        for old in p.iterdir():  # an earlier --save-dir's plan folders (checked above: only our scripts)
            if old.is_dir():
                for f in old.iterdir():
                    f.unlink()
                old.rmdir()
    except OSError as exc:
        from gpt4plan.specs.errors import write_error

        raise write_error(path, OPTION, exc) from None
    plans = top_plans(res)
    folders = [plan_folder(i + 1, plan) for i, plan in enumerate(plans)]
    for folder, plan in zip(folders, plans, strict=True):
        _mkdir(p / folder)
        for engine, name in ENGINE_FILES.items():
            text = "#!/bin/sh\n" + engine_args(engine, plan, model, wl, hw, plan.objective) + "\n"
            _write(p / folder / name, text, executable=True)
    _write(p / "frontier.csv", infer_csv(res))
    _write(p / "frontier.json", to_json(infer_json(res)) + "\n")
    _write(p / "README.md", _readme(res, plans, folders))
    err_console.print(f"wrote {path}: frontier.csv, frontier.json, README.md and {len(plans)} plan folder"
                      f"{'s' if len(plans) > 1 else ''} of launch files", markup=False)


def _mkdir(p: Path) -> None:
    try:
        p.mkdir()
    except OSError as exc:
        from gpt4plan.specs.errors import write_error

        raise write_error(str(p), OPTION, exc) from None


def _write(path: Path, text: str, executable: bool = False) -> None:
    from gpt4plan.specs import write_atomically

    def write(tmp: Path) -> None:
        tmp.write_text(text, encoding="utf-8")
        if executable:
            tmp.chmod(0o755)

    write_atomically(path, OPTION, write)


def _readme(res, plans: list, folders: list[str]) -> str:
    """DIR/README.md: what was planned, the plans' figures, and what each file is."""
    from gpt4plan.report.common import layout_text, md_table, usd
    from gpt4plan.report.infer import targets_text
    from gpt4plan.specs.units import format_bytes, format_seconds

    m, h, w = res.model["name"], res.hardware["name"], res.workload
    shape = f"{w['prompt_tokens']:,} prompt + {w['output_tokens']:,} output tokens per request"
    if w.get("prefix_tokens"):
        shape += f", the first {w['prefix_tokens']:,} shared and cached for {w['prefix_hit_rate']:.0%} of the requests"
    if w.get("max_batched_tokens"):
        shape += f", at most {w['max_batched_tokens']:,} tokens per pass (chunked prefill)"
    tg = targets_text(res.targets)
    header = ["folder", "plan", "chips", "layout", "replicas", "batch", "TTFT", "TPOT", "tokens/s/user",
              "$/1k input", "$/1k output (decode share)", "$/1k output, all-in", "$/1k blended", "memory/chip"]
    rows = [[f"[{f}]({f}/)", p.objective.replace("_", " "), f"{p.chips:,}", layout_text(p), p.replicas, f"{p.batch:,}",
             format_seconds(p.ttft_s), format_seconds(p.tpot_s), f"{p.tokens_per_s_per_user:.1f}",
             usd(p.usd_per_1k_input_tokens), usd(p.usd_per_1k_output_tokens), usd(p.usd_per_1k_output_tokens_all_in),
             usd(p.usd_per_1k_tokens_blended), format_bytes(p.memory_per_chip_bytes)]
            for f, p in zip(folders, plans, strict=True)]
    return (f"# {m} on {h}: the plans of `gpt4plan infer --save-dir`\n\n"
            f"{shape}; targets: {'; '.join(tg) if tg else 'none'}; {h} at ${res.hardware['price_usd_per_hour']:.4g}"
            "/chip-hour.\n\n"
            + md_table(header, rows, right=set(range(2, 14)) - {3}) + "\n\n"
            "Each folder launches one server (one replica) of its plan: `vllm.sh` (vLLM), `sglang.sh` (SGLang), "
            "`trtllm.sh` (TensorRT-LLM's trtllm-serve; it writes its extra options YAML first). A plan with several "
            "replicas runs that many servers behind a load balancer. The checkpoint path is a placeholder where "
            "the model spec names no Hugging Face repository.\n\n"
            "- `frontier.csv`: one row per plan (min_chips, min_cost, then the cost/speed frontier), the columns "
            "of `--format csv`\n"
            "- `frontier.json`: the `--format json` result (plans, frontier, inputs, notes)\n")
