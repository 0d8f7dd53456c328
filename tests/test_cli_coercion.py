"""Option values coerced without pydantic (gpt4plan.cli.coercion, a fast start) are exactly Typer's.

Every option of every command, with values plain and odd, goes through both Typer's adapter-built
coercion and :class:`~gpt4plan.cli.coercion.LazyRuntimeParam`: the same value of the same type, or the
same error with the same message.
"""

from __future__ import annotations

import enum

import pytest

typer_core = pytest.importorskip("typer.core")
if not hasattr(typer_core, "build_runtime_param"):  # pragma: no cover - a click-based Typer
    pytest.skip("this Typer has no adapter-built coercion", allow_module_level=True)

from gpt4plan.cli import app  # noqa: E402  (installs the lazy coercion)
from gpt4plan.cli.coercion import LazyRuntimeParam  # noqa: E402

VALUES = [None, "", " ", "0", "1", "7", "007", "3 ", " 3", "+3", "-1", "1_000", "1e3", "64", "65", "100000",
          "10000000", "10000001", "99999999999999999999", "１２", "0.0", "0.5", ".5", "5.", "1.25", "60",
          "1e-5", "nan", "inf", "-0.5", "abc", "bf16", "BF16", "fp8", "fp4", "int4", "table", "json", "csv",
          "markdown", "min_cost", "min-cost", "vllm", "megatron", "full", "selective", "compute", 0, 1, 3, 64,
          65, 1.5, 60.0, 300.0, -1.0, float("nan"), True, False, b"bf16", ["a", "b"], ("a", "b"), (), [],
          ("prompt-tokens=1,2",), ("x", 1)]


def _params():
    import typer.main

    group = typer.main.get_command(app)
    for p in group.params:
        yield "gpt4plan", group, p
    for name, cmd in group.commands.items():
        for p in cmd.params:
            yield name, cmd, p


PARAMS = list(_params())


def _outcome(fn):
    try:
        v = fn()
    except Exception as exc:  # noqa: BLE001 - the error is the outcome compared
        return "error", type(exc).__name__, str(exc), getattr(exc, "format_message", lambda: "")()
    return "value", type(v), v


def _values_for(p) -> list:
    extra = [m for m in p.type_descriptor.annotation] if isinstance(p.type_descriptor.annotation, enum.EnumMeta) \
        else []
    return VALUES + extra + [p.default]


@pytest.mark.parametrize(("command", "cmd", "param"), PARAMS, ids=[f"{c}-{p.name}" for c, _, p in PARAMS])
def test_lazy_coercion_equals_typers(command, cmd, param):
    build = typer_core.build_runtime_param.typer_build  # Typer's own, kept by install()
    ctx = cmd.make_context(command, [], resilient_parsing=True)
    typers = build(param.type_descriptor)
    for value in _values_for(param):
        lazy = LazyRuntimeParam(param.type_descriptor, build)
        want = _outcome(lambda: typers.coerce(value, param=param, ctx=ctx))  # noqa: B023
        got = _outcome(lambda: lazy.coerce(value, param=param, ctx=ctx))  # noqa: B023
        if want[0] == "value" and want[2] != want[2]:  # nan
            assert got[0] == "value" and got[1] is want[1] and got[2] != got[2], (value, want, got)
        else:
            assert got == want, f"{command} {param.name} {value!r}"


def test_plain_values_need_no_pydantic_adapter():
    """The seed's options (all defaults) and typical given values never build Typer's adapter."""
    import typer.main

    group = typer.main.get_command(app)
    cmd = group.commands["infer"]
    ctx = cmd.make_context("infer", [], resilient_parsing=True)
    given = {"model": "llama-3.1-70b", "tp": "8", "weights": "fp8", "fmt": "json", "sweep": ("prompt-tokens=1,2",),
             "price_per_hour": "1.5", "tokens_per_s_per_user": "20"}
    for p in cmd.params:
        lazy = LazyRuntimeParam(p.type_descriptor, lambda d: pytest.fail(f"adapter built for {d.annotation}"))
        lazy.coerce(p.default, param=p, ctx=ctx)
        if p.name in given:
            lazy.coerce(given[p.name], param=p, ctx=ctx)
