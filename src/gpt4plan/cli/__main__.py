"""``python -m gpt4plan.cli``: the same as the ``gpt4plan`` console script."""

from gpt4plan.cli.app import run

run()
