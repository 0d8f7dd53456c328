"""The exit status never depends on how the output is consumed (issue: edges a new user hit, items 1-2).

These run the real console script in a subprocess, the way a CI job does:

* a reader that has closed the pipe before gpt4plan writes (``gpt4plan check bad.yaml | true``) must not
  turn a failed check into 0: the status is the one the result deserves (1 for a broken budget or no
  feasible plan, 0 for a plan), with nothing on stderr;
* a write that fails for another reason (``> /dev/full``, standard output closed) is one line on stderr and
  exit 3, "the result could not be written", never a traceback and never 1 ("no feasible plan").

The closed pipe is made deterministic: the read end is closed before the program starts, so every write
meets EPIPE (``| head -1`` only sometimes does, which is how the bug hid).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

FAILING_BUDGETS = """\
budgets:
  - name: cheaper-than-possible
    kind: infer
    model: llama-3.1-8b
    hardware: h100-sxm
    max: {usd_per_1k_output_tokens: 0.0000001}
  - name: seventy-b-on-one-chip
    kind: infer
    model: llama-3.1-70b
    hardware: h100-sxm
    max: {chips: 1}
"""

PASSING_BUDGETS = """\
budgets:
  - name: eight-b-fits-on-a-rack
    kind: infer
    model: llama-3.1-8b
    hardware: h100-sxm
    max: {chips: 64}
"""


def _console_script() -> list[str]:
    """The installed ``gpt4plan`` script next to this interpreter, else ``python -m gpt4plan.cli``."""
    here = Path(sys.executable).parent / "gpt4plan"
    found = str(here) if here.exists() else shutil.which("gpt4plan")
    return [found] if found else [sys.executable, "-m", "gpt4plan.cli"]


def _env() -> dict[str, str]:
    env = dict(os.environ, COLUMNS="100", NO_COLOR="1")
    src = str(Path(__file__).resolve().parents[1] / "src")
    env["PYTHONPATH"] = src + os.pathsep + env.get("PYTHONPATH", "")  # this tree's code, not another install
    return env


def _run_into_closed_pipe(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    """Run gpt4plan with stdout a pipe whose read end is already closed: every write fails with EPIPE."""
    read_fd, write_fd = os.pipe()
    os.close(read_fd)
    try:
        return subprocess.run(_console_script() + args, stdout=write_fd, stderr=subprocess.PIPE, text=True,
                              cwd=cwd, env=_env(), timeout=300)
    finally:
        os.close(write_fd)


def _run_into(args: list[str], stdout, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(_console_script() + args, stdout=stdout, stderr=subprocess.PIPE, text=True, cwd=cwd,
                          env=_env(), timeout=300)


@pytest.fixture
def budgets(tmp_path: Path) -> tuple[Path, Path]:
    failing, passing = tmp_path / "failing.yaml", tmp_path / "passing.yaml"
    failing.write_text(FAILING_BUDGETS, encoding="utf-8")
    passing.write_text(PASSING_BUDGETS, encoding="utf-8")
    return failing, passing


@pytest.mark.parametrize("fmt", ["table", "json"])
def test_failing_check_into_closed_pipe_exits_1(budgets, tmp_path, fmt):
    failing, _ = budgets
    res = _run_into_closed_pipe(["check", str(failing), "--format", fmt], tmp_path)
    assert res.returncode == 1, res.stderr
    assert "Traceback" not in res.stderr


def test_passing_check_into_closed_pipe_exits_0(budgets, tmp_path):
    _, passing = budgets
    res = _run_into_closed_pipe(["check", str(passing)], tmp_path)
    assert res.returncode == 0, res.stderr
    assert res.stderr.strip() == ""


def test_infeasible_infer_into_closed_pipe_exits_1(tmp_path):
    # 1 ms per token for Llama-3.1-8B on one chip: a bf16 decode step reads 16 GB of weights, >= 4.8 ms at
    # H100's 3.35 TB/s, so no layout within 1 chip meets it.
    res = _run_into_closed_pipe(["infer", "-m", "llama-3.1-8b", "-H", "h100-sxm", "--tpot", "1ms",
                                 "--max-chips", "1"], tmp_path)
    assert res.returncode == 1, res.stderr
    assert "Traceback" not in res.stderr


def test_feasible_infer_into_closed_pipe_exits_0_quietly(tmp_path):
    res = _run_into_closed_pipe(["infer", "-m", "llama-3.1-8b", "-H", "h100-sxm"], tmp_path)
    assert res.returncode == 0, res.stderr
    assert res.stderr.strip() == ""


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="no /dev/full on this system")
@pytest.mark.parametrize("args", [
    ["infer", "-m", "llama-3.1-8b", "-H", "h100-sxm"],
    ["infer", "-m", "llama-3.1-8b", "-H", "h100-sxm", "-f", "json"],
    ["infer", "-m", "llama-3.1-8b", "-H", "h100-sxm", "--emit", "vllm"],
    ["hardware"],
])
def test_full_disk_is_one_line_and_exit_3(tmp_path, args):
    with open("/dev/full", "w") as full:
        res = _run_into(args, full, tmp_path)
    assert res.returncode == 3, res.stderr
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert lines == ["gpt4plan: error: the result could not be written to standard output: No space left on device"]


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="no /dev/full on this system")
def test_failing_check_to_full_disk_exits_3_without_traceback(budgets, tmp_path):
    failing, _ = budgets
    with open("/dev/full", "w") as full:
        res = _run_into(["check", str(failing)], full, tmp_path)
    assert res.returncode == 3, res.stderr
    assert "Traceback" not in res.stderr
    assert res.stderr.splitlines()[-1].startswith("gpt4plan: error: the result could not be written")


def test_closed_stdout_exits_3(tmp_path):
    res = subprocess.run(_console_script() + ["models"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                         text=True, cwd=tmp_path, env=_env(), timeout=300,
                         preexec_fn=lambda: os.close(1))
    assert res.returncode == 3, res.stderr
    assert "Traceback" not in res.stderr
    assert "could not be written" in res.stderr


def test_bad_input_stays_exit_2_when_stdout_is_full(tmp_path):
    """Bad input is reported as bad input (2), whatever stdout is."""
    if not Path("/dev/full").exists():
        pytest.skip("no /dev/full on this system")
    with open("/dev/full", "w") as full:
        res = _run_into(["infer", "--tp", "0"], full, tmp_path)
    assert res.returncode == 2
    assert len([ln for ln in res.stderr.splitlines() if ln.strip()]) == 1


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="no /dev/full on this system")
def test_report_file_on_full_disk_exits_3_and_bad_path_exits_2(budgets, tmp_path):
    """--junit onto a full disk is 'could not be written' (3); into a path under a file is bad input (2)."""
    _, passing = budgets
    res = _run_into(["check", str(passing), "--junit", "/dev/full"], subprocess.DEVNULL, tmp_path)
    assert res.returncode == 3, res.stderr
    assert res.stderr.strip() == "gpt4plan: error: /dev/full: cannot write (--junit): No space left on device"
    res = _run_into(["check", str(passing), "--junit", str(passing / "x.xml")], subprocess.DEVNULL, tmp_path)
    assert res.returncode == 2, res.stderr
    assert res.stderr.strip().endswith("cannot write (--junit): Not a directory")


# ---------------------------------------------------------------------------------------------
# Standard error that cannot be written never changes the status either (the break test found 1s)


def _run(args: list[str], cwd: Path, stdout, stderr, preexec=None) -> subprocess.CompletedProcess:
    return subprocess.run(_console_script() + args, stdout=stdout, stderr=stderr, text=True, cwd=cwd, env=_env(),
                          timeout=300, preexec_fn=preexec)


def _closed_pipe_fd() -> int:
    read_fd, write_fd = os.pipe()
    os.close(read_fd)
    return write_fd


@pytest.mark.parametrize("args, status", [
    (["infer", "--tpot", "banana"], 2),                                     # bad input
    (["train", "-m", "llama-3.1-8b", "--tokens", "1k"], 2),                 # bad input
    (["infer", "-m", "llama-2-7b", "-H", "h100-sxm", "--prompt-tokens", "4000", "--format", "csv"], 0),  # a note
])
def test_stderr_into_a_closed_pipe_keeps_the_status(tmp_path, args, status):
    fd = _closed_pipe_fd()
    try:
        res = _run(args, tmp_path, fd, fd)  # `2>&1 | true`
    finally:
        os.close(fd)
    assert res.returncode == status


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="no /dev/full on this system")
def test_stderr_on_a_full_disk_keeps_the_status(tmp_path):
    with open("/dev/full", "w") as full:
        assert _run(["infer", "--tpot", "banana"], tmp_path, subprocess.DEVNULL, full).returncode == 2
        # a passing check whose stdout is closed: 3 (not written), whatever stderr does
        res = _run(["check", str(Path(__file__).resolve().parents[1] / "examples" / "budgets.yaml")], tmp_path,
                   subprocess.DEVNULL, full, preexec=lambda: os.close(1))
        assert res.returncode == 3


def test_failing_check_with_closed_stdout_says_one_line(budgets, tmp_path):
    failing, _ = budgets
    res = _run(["check", str(failing)], tmp_path, subprocess.DEVNULL, subprocess.PIPE, preexec=lambda: os.close(1))
    assert res.returncode == 3
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert lines == ["gpt4plan: error: the result could not be written to standard output: standard output is closed"]


# ---------------------------------------------------------------------------------------------
# Result files are written whole or not at all


def test_write_atomically_keeps_the_old_file_on_a_full_disk(tmp_path):
    import errno

    from gpt4plan.specs import ResultNotWritten, SpecError, write_atomically

    target = tmp_path / "frontier.png"
    target.write_text("old plot", encoding="utf-8")

    def full_disk(tmp):
        tmp.write_text("half a pl", encoding="utf-8")
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(ResultNotWritten, match="frontier.png: cannot write \\(--plot\\): No space left on device"):
        write_atomically(target, "--plot", full_disk)
    assert target.read_text(encoding="utf-8") == "old plot"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["frontier.png"]  # no temporary file left
    with pytest.raises(SpecError, match="cannot write \\(--plot\\)"):  # a bad path stays bad input (2)
        write_atomically(tmp_path / "no" / "such" / "x.png", "--plot", lambda tmp: tmp.write_text("x"))
    write_atomically(target, "--plot", lambda tmp: tmp.write_text("new plot", encoding="utf-8"))
    assert target.read_text(encoding="utf-8") == "new plot"


@pytest.mark.parametrize("path, says", [
    ("", "--plot: empty path"),
    ("-", "--plot: a plot cannot go to standard output"),
    ("/dev/null", "--plot: /dev/null is not a regular file"),
])
def test_plot_path_that_is_no_file_is_bad_input(capsys, path, says):
    pytest.importorskip("matplotlib")
    from cli_helpers import one_line, run_cli

    rc, _, err = run_cli(capsys, "infer", "-m", "llama-3.1-8b", "-H", "h100-sxm", "--plot", path)
    assert rc == 2 and says in one_line(err)


def test_calibrate_output_is_checked_before_the_fit(capsys, tmp_path, monkeypatch):
    """A folder as --output failed only after the 10-60 s fit (the break test); now before it."""
    import gpt4plan.accuracy.calibrate as cal
    from cli_helpers import one_line, run_cli

    monkeypatch.setattr(cal, "calibrate", lambda *a, **k: (_ for _ in ()).throw(AssertionError("fitted first")))
    rc, _, err = run_cli(capsys, "calibrate", "-H", "h100-sxm", "--output", str(tmp_path))
    assert rc == 2 and "is a directory" in one_line(err)
    rc, _, err = run_cli(capsys, "calibrate", "-H", "h100-sxm", "--output", str(tmp_path / "no" / "x.yaml"))
    assert rc == 2 and "does not exist" in one_line(err)
