"""Time gpt4plan's start: whole CLI runs as a user types them (wall, median of N), and what they import.

Run by hand:  python3 benchmarks/bench_startup.py [--repeat 10] [--bytecode]
Targets (issue "One home per idea"): `gpt4plan infer` <= 0.25 s, `gpt4plan train --chips 25000
--price-per-hour 1 --global-batch 60M` <= 0.6 s on the 2-core development machine.

Each run is ``python -m gpt4plan.cli ...`` in the environment as it is.  Where PYTHONDONTWRITEBYTECODE is set
(as in the development sandbox), every run compiles gpt4plan's own modules again (~30 ms); ``--bytecode``
times runs that read compiled bytecode from a scratch folder (PYTHONPYCACHEPREFIX), as an installed package
does.  After the timings: the largest imports of a seed ``infer`` run, and whether a run on catalog names
imported pydantic, yaml or pint (it should not: docs/design.md, "A fast start").
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

COMMANDS = [
    ["--version"],
    ["infer"],
    ["train", "--chips", "25000", "--price-per-hour", "1", "--global-batch", "60M"],
]
HEAVY = ("pydantic", "yaml", "pint", "matplotlib")


def _env(bytecode_dir: str | None) -> dict:
    env = dict(os.environ)
    if bytecode_dir:
        env["PYTHONPYCACHEPREFIX"] = bytecode_dir
        warm = {k: v for k, v in env.items() if k != "PYTHONDONTWRITEBYTECODE"}
        for cmd in COMMANDS:  # write the bytecode once
            subprocess.run([sys.executable, "-m", "gpt4plan.cli", *cmd], env=warm, capture_output=True, check=False)
    return env


def _largest_imports(env: dict, n: int = 10) -> list[tuple[int, str]]:
    err = subprocess.run([sys.executable, "-X", "importtime", "-m", "gpt4plan.cli", "infer"], env=env,
                         capture_output=True, text=True).stderr.splitlines()
    rows = [(int(ln.split("|")[1]), ln.split("|")[2].strip()) for ln in err
            if ln.startswith("import time:") and ln.split("|")[1].strip().isdigit()]
    return sorted(rows)[-n:][::-1]


def _heavy_imports(env: dict) -> list[str]:
    code = ("import io, sys\nfrom gpt4plan.cli import main\nsys.stdout = io.StringIO()\nmain(['infer'])\n"
            "main(['train', '--chips', '25000', '--price-per-hour', '1', '--global-batch', '60M'])\n"
            f"sys.stderr.write(' '.join(sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r}))))\n")
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True).stderr.split()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=10)
    ap.add_argument("--bytecode", action="store_true", help="read compiled bytecode (as an installed package)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="gpt4plan-pyc-") as scratch:
        env = _env(scratch if args.bytecode else None)
        print(f"bytecode: {'read from ' + scratch if args.bytecode else 'as the environment has it'} "
              f"(PYTHONDONTWRITEBYTECODE={os.environ.get('PYTHONDONTWRITEBYTECODE', '')!r})")
        for cmd in COMMANDS:
            times = []
            for _ in range(args.repeat):
                t0 = time.perf_counter()
                subprocess.run([sys.executable, "-m", "gpt4plan.cli", *cmd], env=env, check=False, capture_output=True)
                times.append(time.perf_counter() - t0)
            print(f"gpt4plan {' '.join(cmd)}: median {statistics.median(times):.3f} s, min {min(times):.3f} s "
                  f"over {args.repeat} runs")
        print("largest cumulative imports of `gpt4plan infer` (us):")
        for us, name in _largest_imports(env):
            print(f"  {us:>8,}  {name}")
        print(f"heavy libraries imported by infer and train on catalog names: {_heavy_imports(env) or 'none'}")


if __name__ == "__main__":
    main()
