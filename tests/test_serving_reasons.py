"""The serving planners return reason codes and numbers (:class:`gpt4plan.serving.ServeIssue`), never the
command line's words; :func:`gpt4plan.serving.word_serve_issue` words them with the caller's names for the
settings (``--max-chips`` for the CLI)."""

from __future__ import annotations

from gpt4plan.scenario import cli_flag
from gpt4plan.serving import Pins, ServeIssue, Targets, Workload, plan_inference, word_serve_issue
from gpt4plan.serving.disaggregate import plan_disaggregated
from gpt4plan.specs.catalog import resolve_hardware, resolve_model

H100 = resolve_hardware("h100-sxm")


def _upper(name: str) -> str:
    return name.upper()


def _strings(x) -> list[str]:
    """Every string inside a reason's values (nested issues too)."""
    if isinstance(x, ServeIssue):
        return _strings(x.values)
    if isinstance(x, dict):
        return [s for v in x.values() for s in _strings(v)]
    if isinstance(x, (list, tuple)):
        return [s for v in x for s in _strings(v)]
    return [x] if isinstance(x, str) else []


def test_demand_is_a_code_with_its_numbers():
    m = resolve_model("llama-3.1-8b")
    res = plan_inference(m, H100, Workload(1024, 256), Targets(users=100, max_chips=4), Pins(tp=1, pp=1, batch=8))
    assert res.reason == ServeIssue("demand", {"chips": 13, "max_chips": 4})
    assert res.binding_constraint == "demand"
    assert word_serve_issue(res.reason, cli_flag) == ("demand: meeting the demand takes at least 13 chips, more "
                                                      "than --max-chips 4")
    assert word_serve_issue(res.reason, _upper).endswith("more than MAX_CHIPS 4")


def test_no_layout_names_the_cap_the_callers_way():
    m = resolve_model("llama-3.1-70b")
    res = plan_inference(m, H100, Workload(1000, 100), Targets(max_chips=4), Pins(tp=8))
    assert res.binding_constraint == "layout" and res.nearest is None
    assert [i.code for i in res.reason.values["issues"]] == ["no_layout"]
    assert word_serve_issue(res.reason, _upper).startswith("no layout within MAX_CHIPS 4 satisfies")


def test_disaggregation_words_no_flag_itself():
    m = resolve_model("llama-3.1-70b")
    wl = Workload(8192, 256)
    for tg in (Targets(tpot_max_s=0.03), Targets(tpot_max_s=0.03, demand_tokens_per_s=5e6, max_chips=500),
               Targets(tpot_max_s=0.05, max_chips=2)):
        agg = plan_inference(m, H100, wl, tg)
        dis = plan_disaggregated(m, H100, wl, tg, agg)
        for issue in (agg.reason, dis.reason, dis.verdict_reason):
            assert not any(s.startswith("-") for s in _strings(issue))
        if tg.max_chips == 500:  # no pair of pools within the cap
            assert dis.reason == ServeIssue("demand", {"pool": "pools", "max_chips": 500})
            assert word_serve_issue(dis.reason, _upper) == "demand: the two pools need more than MAX_CHIPS 500 chips"
        elif tg.max_chips == 2:  # the aggregated plan meets the targets, no pair of pools does
            assert dis.verdict == "loses" and dis.verdict_reason.code == "only_aggregated"
            assert "(demand: the two pools need more than MAX_CHIPS 2 chips)" in word_serve_issue(dis.verdict_reason, _upper)
        else:  # the disaggregated pools win; their TTFT grows
            assert dis.verdict == "wins" and dis.verdict_reason.code == "pools_pay"
            assert "set --ttft to bound it" in word_serve_issue(dis.verdict_reason, cli_flag)
            assert "set TTFT to bound it" in word_serve_issue(dis.verdict_reason, _upper)


def test_pool_reasons_word():
    assert word_serve_issue(ServeIssue("layout", {"pool": "pools"}), cli_flag) == "layout: no layout within --max-chips"
    assert word_serve_issue(ServeIssue("network", {"pool": "decode"}), cli_flag).startswith("network: no decode replica")
    assert word_serve_issue(ServeIssue("memory", {"pool": "prefill"}), cli_flag) == (
        "memory: no prefill layout fits the weights")
