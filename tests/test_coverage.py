"""`gpt4plan validate --coverage`: in-sample and leave-one-source-family-out coverage of the 10-90% error
bands (issue 12, "Honest bands").  The synthetic sets use residuals chosen here; which residuals fall
inside the other families' band is worked out by hand below (numpy's linear percentile: for n sorted
values, q10 sits at position 0.1 * (n - 1) and q90 at 0.9 * (n - 1)).
"""

import json
import math

import pytest
import yaml

from gpt4plan.accuracy.coverage import coverage, source_family
from gpt4plan.accuracy.replay import Record
from gpt4plan.cli import main
from gpt4plan.specs.catalog import catalog_dir

DEV = catalog_dir("measurements") / "validation-dev.yaml"

SOURCES = {"A": "Alpha et al. 2020 (arXiv 2001.00001) Table 3", "B": "org/beta docs/perf.md @ v1.2.3, table",
           "C": "Gamma 2023, blog post", "D": "MLPerf Inference v4.1 closed, a submission"}


def _rec(fam: str, i: int, hw: str, metric: str, residual: float) -> Record:
    """A replayed record whose residual log(predicted speed / measured speed) is ``residual``."""
    kind = "train" if metric in ("tokens_per_s", "step_time_s") else "infer"
    time = metric in ("step_time_s", "ttft_s")
    error = math.expm1(-residual if time else residual)  # a time predicted short is a speed predicted high
    return Record(f"{fam}{i}", kind, hw, metric, 1.0, 1.0 + error, error, source=SOURCES[fam])


def test_family_rule_on_the_development_set_sources():
    cases = {
        "Narayanan et al. 2021 (arXiv 2104.04473) Table 1; same numbers in NVIDIA/Megatron-LM README @ 50a4b5fa02 "
        "(images/cases_april2021.png)": "Narayanan et al. 2021",
        "Narayanan et al. 2021 (arXiv 2104.04473) Table 2 (PTD-P vs ZeRO-3 without model parallelism)":
            "Narayanan et al. 2021",
        "NVIDIA/TensorRT-LLM docs/source/performance.md @ v0.9.0, Peak Throughput table (static batch)":
            "NVIDIA/TensorRT-LLM v0.9",
        "NVIDIA/TensorRT-LLM docs/source/performance.md @ v0.9.0, Low Latency table (batch-1 first-token latency)":
            "NVIDIA/TensorRT-LLM v0.9",
        "NVIDIA/TensorRT-LLM docs/source/performance/perf-overview.md @ 258c7540c035 (throughput table, v0.17)":
            "NVIDIA/TensorRT-LLM v0.17",
        "NVIDIA/TensorRT-LLM docs/source/performance/perf-overview.md @ 258c7540c035 (online serving table, v0.14.0, "
        "Triton backend)": "NVIDIA/TensorRT-LLM v0.14",
        "NVIDIA/NeMo docs/source/performance/performance_summary.md @ 070a0bb168d4, pretraining table (container 24.07)":
            "NVIDIA/NeMo 24.07",
        "NVIDIA-NeMo/Megatron-Bridge docs/performance-summary.md @ 00b7660be025, 25.11 container pre-training tables":
            "NVIDIA-NeMo/Megatron-Bridge 25.11",
        'mosaicml/llm-foundry scripts/train/benchmarking/README.md @ 8c8dd48f7216 (Results table "H100 80GB FP8")':
            "mosaicml/llm-foundry",
        "Smith et al. 2022, MT-NLG (arXiv 2201.11990) sec 2.4, quoted in cli99/llm-analysis examples/"
        "megatron-turing-nlg/README.md @ d841e40aec8c": "Smith et al. 2022",
        "kipply 2022, Transformer Inference Arithmetic ('comparing against real benchmarks'), as tabulated in "
        "cli99/llm-analysis examples/fastertransformer/README.md": "kipply 2022",
        "MLPerf Inference v4.1 closed division, NVIDIA H200 submission": "MLPerf Inference v4.1",
        "our cluster (March runs), rack 4": "our cluster",
    }
    for source, family in cases.items():
        assert source_family(source, "x") == family, source
    # no source: the id's first two parts
    assert source_family(None, "infer-trt09-h100-llama-70b") == "infer-trt09"
    assert source_family("  ", "train-meg21-1t") == "train-meg21"


def test_families_of_the_shipped_development_set():
    """The families docs/accuracy.md lists: every record of the development set falls into one of them."""
    data = yaml.safe_load(DEV.read_text(encoding="utf-8"))["measurements"]
    assert {source_family(r.get("source"), r["id"]) for r in data} == {
        "Narayanan et al. 2021", "NVIDIA/NeMo 24.07", "NVIDIA-NeMo/Megatron-Bridge 25.11", "mosaicml/llm-foundry",
        "bigscience-workshop/bigscience", "Smith et al. 2022", "NVIDIA/TensorRT-LLM v0.9",
        "NVIDIA/TensorRT-LLM v0.14", "NVIDIA/TensorRT-LLM v0.17", "lm-sys/lm-sys.github.io", "kipply 2022"}


def test_leave_one_family_out_by_hand():
    """Three families of five training metrics on one chip.  B's are step times (a residual r is a time
    predicted exp(-r) times the measured one), the others throughputs."""
    res = {"A": [0.0, 0.1, 0.2, 0.3, 0.4], "B": [0.05, 0.15, 0.25, 0.35, 0.45], "C": [1.0, 1.1, -1.0, 0.01, 0.5]}
    recs = [_rec(f, i, "h100-sxm", "step_time_s" if f == "B" else "tokens_per_s", r)
            for f, rs in res.items() for i, r in enumerate(rs)]
    cov = coverage(recs)
    # C out: A+B = 0, .05, ..., .45 -> q10 = 0 + .9 * .05 = .045, q90 = .40 + .1 * .05 = .405: C has none inside
    #   (0.01 < .045);
    # A out: B+C = -1, .01, .05, .15, .25, .35, .45, .5, 1, 1.1 -> q10 = -1 + .9 * 1.01 = -.091, q90 = 1 + .1 * .1
    #   = 1.01: all five of A inside;
    # B out: A+C = -1, 0, .01, .1, .2, .3, .4, .5, 1, 1.1 -> [-.1, 1.01]: all five of B inside.
    fams = {f["family"]: f for f in cov["families"]}
    assert [fams[n]["covered"] for n in ("Alpha et al. 2020", "org/beta v1.2", "Gamma 2023")] == [5, 5, 0]
    out = cov["leave_one_family_out"]
    assert out["train"] == {"metrics": 15, "banded": 15, "covered": 10, "coverage": pytest.approx(10 / 15),
                            "chip_band": 15, "regime_fallback": 0, "no_band": 0}
    assert out["all"]["covered"] == 10 and out["decode"]["metrics"] == 0 and out["decode"]["coverage"] is None
    # in-sample: all 15 -> q10 at position 1.4 = 0 + .4 * .01 = .004, q90 at 12.6 = .5 + .6 * .5 = .8:
    # inside are .01 ... .5 (11 values); -1, 0, 1, 1.1 are outside
    assert cov["in_sample"]["train"]["covered"] == 11 and cov["in_sample"]["all"]["banded"] == 15
    assert cov["nominal"] == 0.8 and cov["fallbacks"] == []


def test_regime_fallback_and_no_band_by_hand():
    """Decode throughputs: A and B three each on h200, C two on a100-80gb; D one TTFT alone in prefill."""
    recs = ([_rec("A", i, "h200", "output_tokens_per_s", r) for i, r in enumerate([0.0, 0.1, 0.2])]
            + [_rec("B", i, "h200", "output_tokens_per_s", r) for i, r in enumerate([0.3, 0.4, 0.5])]
            + [_rec("C", i, "a100-80gb", "output_tokens_per_s", r) for i, r in enumerate([0.25, 2.0])]
            + [_rec("D", 0, "h200", "ttft_s", 0.1)])
    cov = coverage(recs)
    fams = {f["family"]: f for f in cov["families"]}
    # A out: h200 has B's 3 (< 5) -> decode over all chips, B+C = .25 .3 .4 .5 2 -> [.27, 1.4]: none of A
    # B out: h200 has A's 3 -> A+C = 0 .1 .2 .25 2 -> [.04, 1.3]: all of B
    # C out: a100-80gb has 0 -> A+B = 0 ... .5 -> [.05, .45]: .25 in, 2 out
    assert [(fams[n]["covered"], fams[n]["regime_fallback"]) for n in ("Alpha et al. 2020", "org/beta v1.2",
                                                                         "Gamma 2023")] == [(0, 3), (3, 3), (1, 2)]
    # D out: no prefill anywhere else; in-sample: one prefill metric in the whole set: no band either way
    assert fams["MLPerf Inference v4.1"] == {"family": "MLPerf Inference v4.1", "regimes": ["prefill"], "metrics": 1,
                                             "banded": 0, "covered": 0, "coverage": None, "chip_band": 0,
                                             "regime_fallback": 0, "no_band": 1}
    out = cov["leave_one_family_out"]
    assert (out["decode"]["covered"], out["decode"]["banded"], out["decode"]["regime_fallback"]) == (4, 8, 8)
    assert (out["all"]["metrics"], out["all"]["no_band"], out["all"]["coverage"]) == (9, 1, 0.5)
    # in-sample: h200 has 6 -> its own band [.05, .45]: .1 .2 .3 .4 inside; a100-80gb has 2 -> decode over all
    # 8 = 0 .1 .2 .25 .3 .4 .5 2 -> [.07, .95]: .25 inside
    ins = cov["in_sample"]["decode"]
    assert (ins["covered"], ins["chip_band"], ins["regime_fallback"]) == (5, 6, 2)
    fb = {(f["held_out"], f["hardware"], f["regime"]): (f["pool_metrics"], f["used"]) for f in cov["fallbacks"]}
    assert fb == {(None, "a100-80gb", "decode"): (2, "regime over all chips"),
                  (None, "h200", "prefill"): (1, "no band"),
                  ("Alpha et al. 2020", "h200", "decode"): (3, "regime over all chips"),
                  ("org/beta v1.2", "h200", "decode"): (3, "regime over all chips"),
                  ("Gamma 2023", "a100-80gb", "decode"): (0, "regime over all chips"),
                  ("MLPerf Inference v4.1", "h200", "prefill"): (0, "no band")}


def test_skipped_records_are_not_counted():
    recs = [_rec("A", i, "h200", "output_tokens_per_s", 0.1 * i) for i in range(5)]
    recs.append(Record("A9", "infer", "h200", "tpot_s", 0.01, None, None, skipped=True, reason="x", source=SOURCES["A"]))
    assert coverage(recs)["in_sample"]["all"]["metrics"] == 5


def test_cli_coverage_json_and_table(capsys):
    assert main(["validate", "--coverage", "--format", "json"]) == 0
    out = json.loads(capsys.readouterr().out)
    cov = out["coverage"]
    assert set(cov) == {"nominal", "min_records", "in_sample", "leave_one_family_out", "families", "fallbacks"}
    replayed = [r for r in out["records"] if not r["skipped"]]
    for part in ("in_sample", "leave_one_family_out"):
        assert set(cov[part]) == {"train", "prefill", "decode", "all"}
        t = cov[part]["all"]
        assert set(t) == {"metrics", "banded", "covered", "coverage", "chip_band", "regime_fallback", "no_band"}
        assert t["metrics"] == len(replayed) == sum(cov[part][g]["metrics"] for g in ("train", "prefill", "decode"))
        assert t["banded"] == t["chip_band"] + t["regime_fallback"] and t["coverage"] == t["covered"] / t["banded"]
    assert sum(f["covered"] for f in cov["families"]) == cov["leave_one_family_out"]["all"]["covered"]
    assert all(r["source"] for r in out["records"])  # every record says where it was published
    assert main(["validate", "--coverage"]) == 0
    text = capsys.readouterr().out
    assert "Coverage of the 10-90% error bands (nominal 80%)" in text and "Each source family held out" in text
    assert main(["validate", "--format", "json"]) == 0  # without --coverage: no coverage object
    assert "coverage" not in json.loads(capsys.readouterr().out)
