"""gpt4plan: a capacity planner for large language models.

Answers: how many chips, in which parallel layout (TP/PP/EP), at what batch size, does a model need to
meet latency targets (TTFT, TPOT), and what do 1,000 tokens cost.  See DESIGN.md for the formulas.
"""

__version__ = "0.1.0"
