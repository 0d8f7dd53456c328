"""Run ~40 gpt4plan commands at a base commit and at the working tree, and diff what they print.

Run by hand:  python3 benchmarks/compare_outputs.py BASE_REF [--keep DIR] [--only SUBSTRING]

A refactoring must print the same thing: the same exit status, the same stdout (text, JSON, CSV, Markdown,
launch flags) and the same stderr, for every subcommand, format and technique (speculation,
disaggregation, sweeps, compare, check with JUnit and baseline, validate, calibrate, emit).  Files the
commands write (JUnit XML, Markdown, calibrated specs, plots' existence) are compared too.

BASE_REF is checked out into a temporary git worktree; each side runs as ``python -m gpt4plan.cli`` with
``PYTHONPATH`` set to that side's ``src``, in that side's root (so ``examples/...`` paths resolve), with
COLUMNS=120 and NO_COLOR=1.  Exit status 0 when every command matches, 1 otherwise (the diffs printed).
"""

from __future__ import annotations

import argparse
import difflib
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: One command a line; {out} is a per-side scratch folder whose files are compared afterwards.
COMMANDS: list[str] = [
    "--version",
    "infer",
    "infer --format json",
    "infer --format csv",
    "infer --format markdown",
    "infer -m llama-3.1-70b -H h100-sxm --tpot 50ms --ttft 1s",
    "infer -m llama-3.1-70b -H h100-sxm --tpot 50ms --ttft 1s --format json",
    "infer -m gpt-4 --tp 8 --pp 16 --price-per-hour 1",
    "infer -m mixtral-8x7b -H h100-sxm --demand 50000 --format json",
    "infer -m llama-3.1-70b -H h100-sxm --weights fp8 --kv-cache fp8 --users 2000 --format csv",
    "infer -m deepseek-v3 -H h200 --weights fp8 --tpot 50ms --format json",
    "infer -m llama-3.1-70b -H h100-sxm --tpot 20ms --draft-model llama-3.1-8b",
    "infer -m llama-3.1-70b -H h100-sxm --tpot 20ms --draft-model llama-3.1-8b --format json",
    "infer -m llama-3.1-70b -H h100-sxm --draft-cost-fraction 0.05 --draft-tokens 3 --acceptance 0.7 --format json",
    "infer -m llama-3.1-70b -H h100-sxm --prompt-tokens 8192 --tpot 30ms --disaggregate",
    "infer -m llama-3.1-70b -H h100-sxm --prompt-tokens 8192 --tpot 30ms --disaggregate --format json",
    "infer --sweep prompt-tokens=512,2048,4096",
    "infer -m llama-3.1-8b -H h100-sxm --sweep tokens-per-s-per-user=20,50,100 --format json",
    "infer -m llama-3.1-70b -H h100-sxm --tpot 30ms --emit vllm",
    "infer -m llama-3.1-70b -H h100-sxm --tpot 30ms --emit sglang",
    "infer -m llama-3.1-70b -H h100-sxm --tpot 30ms --emit trtllm",
    "infer -m llama-3.1-8b -H h100-sxm --tpot 1ms --max-chips 1",
    "infer -m gpt-4-32k -H a100-80gb --prompt-tokens 30000 --output-tokens 1000 --format json",
    "infer -m examples/qwen2.5-7b-instruct.json -H mi300x --weights fp8 --kv-cache fp8 --format json",
    "infer -m llama-3.1-405b -H b200 --weights fp4 --format json",
    "compare --model llama-3.1-70b",
    "compare --model llama-3.1-70b --format json",
    "compare --train -m llama-3.1-70b --tokens 15T --chips 4096",
    "compare --train -m llama-3.1-70b --tokens 15T --chips 4096 --format csv",
    "train --chips 25000 --price-per-hour 1 --global-batch 60M",
    "train --chips 25000 --price-per-hour 1 --global-batch 60M --format json",
    "train -m gpt-4 -H h100-sxm --days 90 --global-batch 60M",
    "train -m llama-3.1-70b -H h100-sxm --tokens 15T --chips 2048 --emit megatron",
    "train -m llama-3.1-70b -H h100-sxm --tokens 15T --chips 2048 --format markdown",
    "train -m deepseek-v3 -H h100-sxm --tokens 14.8T --chips 2048 --format json",
    "train -m llama-3.1-8b -H h100-sxm --tokens 1T --chips 64 --cp 2 --format json",
    "check examples/budgets.yaml --junit {out}/budgets.xml --markdown {out}/budgets.md",
    "check examples/budgets.yaml --format json",
    "check examples/budgets.yaml --baseline {out}/../baseline.json --max-regression 1%",
    "validate",
    "validate --format json",
    "calibrate -H a100-40gb --output {out}/a100-40gb.calibrated.yaml",
    "models",
    "models --format json",
    "hardware",
    "hardware --format json",
    "infer --tp 3 -m llama-3.1-70b",
    "infer --tpot 50",
]


def _run_side(src_root: Path, scratch: Path, only: str | None) -> dict[str, tuple]:
    env = dict(os.environ, COLUMNS="120", NO_COLOR="1", PYTHONPATH=str(src_root / "src"))
    env.pop("FORCE_COLOR", None)
    out: dict[str, tuple] = {}
    for i, cmd in enumerate(COMMANDS):
        if only and only not in cmd:
            continue
        d = scratch / f"c{i:02d}"
        d.mkdir(parents=True, exist_ok=True)
        args = cmd.format(out=d).split()
        res = subprocess.run([sys.executable, "-m", "gpt4plan.cli", *args], cwd=src_root, env=env,
                             capture_output=True, text=True, timeout=600)
        files = {p.name: p.read_text(encoding="utf-8", errors="replace") for p in sorted(d.iterdir()) if p.is_file()}
        # the sides' own folders are not a difference
        # (trailing blanks pad a table's title to its width, which the folder's length changes)
        text_out, text_err = ("\n".join(ln.rstrip() for ln in t.replace(str(d), "{out}")
                                         .replace(str(src_root), "{root}").splitlines())
                              for t in (res.stdout, res.stderr))
        out[cmd] = (res.returncode, text_out, text_err, files)
        if cmd == "check examples/budgets.yaml --format json":
            (scratch / "baseline.json").write_text(res.stdout, encoding="utf-8")  # {out}/../baseline.json
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("base", help="git ref to compare the working tree against")
    ap.add_argument("--keep", help="keep the scratch folders here")
    ap.add_argument("--only", help="run only commands containing this text")
    args = ap.parse_args()
    tmp = Path(args.keep or tempfile.mkdtemp(prefix="gpt4plan-compare-"))
    base_tree = tmp / "base-tree"
    if base_tree.exists():
        subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(base_tree)], check=False)
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(base_tree), args.base], check=True,
                   capture_output=True)
    try:
        # the baseline JSON for `check --baseline` comes from each side's own earlier command
        base = _run_side(base_tree, tmp / "base", args.only)
        work = _run_side(ROOT, tmp / "work", args.only)
    finally:
        subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(base_tree)], check=False)
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    differ = 0
    for cmd in base:
        if base[cmd] == work[cmd]:
            continue
        differ += 1
        print(f"=== gpt4plan {cmd}")
        (rc_a, out_a, err_a, files_a), (rc_b, out_b, err_b, files_b) = base[cmd], work[cmd]
        if rc_a != rc_b:
            print(f"exit status {rc_a} -> {rc_b}")
        for label, a, b in [("stdout", out_a, out_b), ("stderr", err_a, err_b),
                            *[(f"file {n}", files_a.get(n, ""), files_b.get(n, ""))
                              for n in sorted(set(files_a) | set(files_b))]]:
            if a != b:
                sys.stdout.writelines(difflib.unified_diff(a.splitlines(True), b.splitlines(True),
                                                           f"{label} @ {args.base}", f"{label} @ work tree", n=1))
    print(f"{len(base) - differ} of {len(base)} commands print the same; {differ} differ")
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
