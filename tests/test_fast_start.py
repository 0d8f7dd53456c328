"""A fast start (docs/design.md) changes nothing a user sees: a run names one command and Typer builds that
command alone (gpt4plan.cli.app._app_for); its help and its errors are the whole app's."""

from __future__ import annotations

import importlib

import pytest

from gpt4plan.cli import app, main

app_module = importlib.import_module("gpt4plan.cli.app")  # the module (the package's `app` is the Typer app)
COMMANDS = ["infer", "train", "compare", "lifecycle", "validate", "calibrate", "models", "hardware", "check"]


@pytest.fixture(autouse=True)
def _plain_terminal(monkeypatch):
    monkeypatch.setenv("COLUMNS", "100")
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.delenv("FORCE_COLOR", raising=False)


def test_a_command_runs_alone_anything_else_runs_the_whole_app(monkeypatch):
    for name in COMMANDS:
        one = app_module._app_for([name, "--help"])
        assert one is not app and len(one.registered_commands) == 1, name
        assert one.registered_callback is app.registered_callback
    assert len(app.registered_commands) == len(COMMANDS)
    for args in ([], ["--help"], ["--version"], ["inferr"], ["help"]):
        assert app_module._app_for(args) is app, args
    monkeypatch.setenv("_GPT4PLAN_COMPLETE", "complete_bash")
    assert app_module._app_for(["infer"]) is app


def _whole_app(capsys, args: list[str]) -> tuple[int, str, str]:
    """``main`` with the one-command choice switched off: the whole app parses ``args``."""
    capsys.readouterr()
    saved = app_module._app_for
    app_module._app_for = lambda _args: app
    try:
        rc = main(args)
    finally:
        app_module._app_for = saved
    out, err = capsys.readouterr()
    return rc, out, err


@pytest.mark.parametrize("args", [[c, "--help"] for c in COMMANDS] + [
    ["infer", "--bogus"], ["infer", "extra"], ["infer", "--tp"], ["infer", "--tp", "x"], ["infer", "--weights", "fp9"],
    ["train", "--zero", "5"], ["models", "--format", "xml"], ["compare", "--tp", "0"], ["check"],
    ["infer", "--tpot", "50"]], ids=" ".join)
def test_one_command_prints_what_the_whole_app_prints(capsys, args):
    capsys.readouterr()
    rc = main(args)
    out, err = capsys.readouterr()
    assert (rc, out, err) == _whole_app(capsys, args)
