"""README for a new user (issue: edges a new user hit, item 13): what it names exists and works."""

from __future__ import annotations

import json
import re
from pathlib import Path

from cli_helpers import run_cli

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_virtual_environment_line_comes_before_the_two_commands():
    venv = README.index("python3 -m venv")
    assert venv < README.index("python3 -m pip install . && gpt4plan infer")
    assert venv < README.index("python3 -m pip install '.[test]' && python3 -m pytest")


def test_every_example_file_the_readme_names_exists():
    named = set(re.findall(r"\bexamples/[\w.\-/]+\.(?:json|yaml|yml|csv|jsonl)\b", README))
    assert "examples/qwen2.5-7b-instruct.json" in named
    for rel in named:
        assert (ROOT / rel).is_file(), rel


def test_options_table_lists_every_precision_the_cli_takes():
    from gpt4plan.cli import Dtype

    row = next(ln for ln in README.splitlines() if ln.startswith("| `--weights`"))
    for d in Dtype:
        assert re.search(rf"\b{d.value}\b", row), d.value


def test_example_config_plans_with_the_published_parameter_count(capsys, monkeypatch):
    """Qwen2.5-7B-Instruct's config.json: 7.61 B parameters (model card, "Number of Parameters: 7.61B").

    Hand count (d 3584, 28 layers, 28 heads of 128, 4 KV heads, FFN 18944 gated, vocab 152064, untied,
    QKV bias):
      embeddings + LM head      2 x 152064 x 3584                          = 1,089,994,752
      per layer: Q 3584^2 + 3584 bias = 12,848,640; K and V 3584 x 512 + 512 = 1,835,520 each;
                 O 3584^2 = 12,845,056; FFN 3 x 3584 x 18944 = 203,685,888; 2 RMSNorms 7,168
                 -> 233,057,792;  x 28                                      = 6,525,618,176
      final norm                                                            = 3,584
      total                                                                 = 7,615,616,512
    """
    monkeypatch.chdir(ROOT)
    rc, out, _ = run_cli(capsys, "infer", "--model", "examples/qwen2.5-7b-instruct.json", "--hardware",
                         "h100-sxm", "--format", "json")
    assert rc == 0
    model = json.loads(out)["model"]
    assert model["params_total"] == 2 * 152064 * 3584 + 28 * 233_057_792 + 3584 == 7_615_616_512
