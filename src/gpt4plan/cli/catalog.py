"""``gpt4plan models`` and ``gpt4plan hardware``: the shipped catalog.
"""

from __future__ import annotations

from typing import Annotated

import typer

from gpt4plan.cli.console import ResultConsole
from gpt4plan.cli.options import Format


def models_cmd(fmt: Annotated[Format, typer.Option("--format", "-f")] = Format.table):
    """List the shipped model specs (names usable as --model)."""
    from gpt4plan.physics import arch
    from gpt4plan.report import print_models, to_json
    from gpt4plan.specs.catalog import model_names, resolve_model

    rows = []
    for n in model_names():
        m = resolve_model(n)
        p = arch.params(m)
        rows.append((n, m, {"total": p.total, "active": p.active, "kv": arch.kv_bytes_per_token(m, "bf16")}))
    if fmt is Format.json:
        typer.echo(to_json([{"name": n, "params_total": i["total"], "params_active": i["active"],
                             "kv_cache_bytes_per_token_bf16": i["kv"], **m.model_dump()} for n, m, i in rows]))
    else:
        print_models(rows, ResultConsole(highlight=False))


def hardware_cmd(fmt: Annotated[Format, typer.Option("--format", "-f")] = Format.table):
    """List the shipped hardware specs (names usable as --hardware)."""
    from gpt4plan.report import hardware_json, print_hardware, to_json
    from gpt4plan.specs.catalog import hardware_names, resolve_hardware

    rows = [(n, resolve_hardware(n)) for n in hardware_names()]
    if fmt is Format.json:
        typer.echo(to_json([hardware_json(h) for _, h in rows]))
    else:
        print_hardware(rows, ResultConsole(highlight=False))
