"""Shared helpers for tests that run the CLI in-process."""

from gpt4plan.cli import main


def run_cli(capsys, *args) -> tuple[int, str, str]:
    """Run ``gpt4plan ARGS`` in-process; return (exit code, stdout, stderr) of this call only."""
    capsys.readouterr()
    rc = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return rc, out, err


def one_line(err: str) -> str:
    """The single non-empty stderr line of a bad-input run (asserts there is exactly one, no traceback)."""
    assert "Traceback" not in err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, err
    return lines[0]
