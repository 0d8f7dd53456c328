"""One declaration per vocabulary (docs/design.md): every value `gpt4plan infer` accepts is accepted by a
budgets file (`gpt4plan check`) and a measurements file (`gpt4plan validate`) too.  `--weights fp4` worked
while `weights: fp4` in a budgets file was refused (the drift this closes)."""

from __future__ import annotations

import pytest
import typer

from gpt4plan.specs import DTYPE_BYTES
from gpt4plan.specs.vocabulary import Engine, Objective, Precision, Recompute, TrainPrecision, values


def _choices(command: str, option: str) -> tuple[str, ...]:
    from gpt4plan.cli import app

    cmd = typer.main.get_command(app).commands[command]
    param = next(p for p in cmd.params if option in getattr(p, "opts", []))
    return tuple(getattr(c, "value", c) for c in param.type_descriptor.choices)


def test_cli_choices_are_the_vocabulary():
    assert _choices("infer", "--weights") == values(Precision)
    assert _choices("infer", "--kv-cache") == values(Precision)
    assert _choices("infer", "--emit") == values(Engine)
    assert _choices("train", "--precision") == values(TrainPrecision)
    assert _choices("train", "--recompute") == values(Recompute)
    assert _choices("compare", "--objective") == values(Objective)
    assert set(values(Precision)) <= set(DTYPE_BYTES)  # every precision has its bytes per element


@pytest.mark.parametrize("precision", values(Precision))
def test_every_serving_precision_is_accepted_by_budgets_and_measurements(precision):
    from typing import get_args

    from gpt4plan.accuracy.schema import InferRecordIn, TrainRecordIn
    from gpt4plan.budgets.schema import InferWorkloadIn

    assert InferWorkloadIn(weights=precision, kv_cache=precision).weights == precision
    for record in (InferRecordIn, TrainRecordIn):  # a measured run's precision
        allowed = {a for arg in get_args(record.model_fields["precision"].annotation) for a in get_args(arg) or [arg]}
        assert precision in allowed, (record.__name__, allowed)


@pytest.mark.parametrize("precision", values(TrainPrecision))
def test_every_training_precision_is_accepted_by_budgets(precision):
    from gpt4plan.budgets.schema import TrainWorkloadIn

    assert TrainWorkloadIn(precision=precision).precision == precision


def test_fp4_budgets_file_is_checked(tmp_path, capsys):
    from cli_helpers import run_cli

    f = tmp_path / "b.yaml"
    f.write_text("budgets:\n  - name: fp4\n    kind: infer\n    model: llama-3.1-8b\n    hardware: b200\n"
                 "    workload: {weights: fp4, kv_cache: fp4}\n    max: {chips: 8}\n", encoding="utf-8")
    rc, _, err = run_cli(capsys, "check", str(f))
    assert rc == 0, err
