"""Numeric edge cases of the serving planner: batch 1, the shortest and the longest context, one chip,
a model no cluster holds, TP beyond the scale-up domain, EP = experts, 4-bit weights."""

from __future__ import annotations

import math

import numpy as np
import pytest

from gpt4plan.cli import main
from gpt4plan.physics.comm import link
from gpt4plan.report import infer_message
from gpt4plan.serving import Pins, Plan, Targets, Workload, evaluate, plan_inference
from gpt4plan.specs import ModelSpec
from gpt4plan.specs.banded import contract_fields
from gpt4plan.specs.catalog import resolve_hardware, resolve_model

H100 = resolve_hardware("h100-sxm")


def _finite(res) -> None:
    for p in res.plans + res.frontier + ([res.nearest] if res.nearest else []):
        for k, v in p.as_dict().items():
            if isinstance(v, float):
                assert math.isfinite(v), (k, v)


def test_batch_one():
    m = resolve_model("llama-3.1-8b")
    res = plan_inference(m, H100, Workload(1024, 256), Targets(tpot_max_s=0.05), Pins(batch=1))
    assert res.feasible
    p = res.plans[0]
    assert (p.batch, p.pp, p.microbatch) == (1, 1, 1.0)
    # one sequence: 255 of 256 passes decode only, 1 also carries the next request's whole prompt (mixed
    # batching); that pass costs at least the longer and at most the sum of the decode pass and the prefill.
    # The replica's round holds it; the sequence's TPOT does not (the prompt is its own, prefilled before its
    # first token)
    assert p.round_s == pytest.approx((255 * p.decode_step_s + p.mixed_step_s) / 256, rel=1e-12)
    assert p.tpot_s == pytest.approx(p.decode_step_s, rel=1e-12)
    assert (p.cycle_s, p.others_prefills_s) == (p.decode_step_s, 0.0)  # no other sequence's prompt to wait for
    # the tables' breakdown stays out of the JSON and CSV contract
    assert not {"cycle_s", "others_prefills_s", "prefill_latency_s"} & (set(p.as_dict()) | set(contract_fields(Plan)))
    assert max(p.decode_step_s, p.prefill_stage_s) <= p.mixed_step_s <= p.decode_step_s + p.prefill_stage_s
    assert p.tpot_s > 16e9 / H100.memory_bandwidth
    _finite(res)


@pytest.mark.parametrize(("prompt", "output"), [(1, 1), (4095, 1), (1, 4095), (2048, 2048)])
def test_context_from_one_token_to_max_context(prompt, output):
    m = resolve_model("llama-2-7b")  # max_context 4096
    assert prompt + output <= m.max_context
    res = plan_inference(m, H100, Workload(prompt, output), Targets(tpot_max_s=0.1))
    assert res.feasible
    _finite(res)
    for p in res.plans:
        assert p.kv_cache_per_chip_bytes > 0 and p.ttft_s > 0


def test_context_beyond_max_context_is_bad_input(capsys):
    assert main(["infer", "-m", "llama-2-7b", "--prompt-tokens", "4096", "--output-tokens", "1"]) == 2
    err = capsys.readouterr().err
    assert "max_context 4096" in err and len(err.strip().splitlines()) == 1


def test_model_that_fits_one_chip():
    m = resolve_model("llama-3.1-8b")
    res = plan_inference(m, H100, Workload(1024, 256), Targets(tpot_max_s=0.1))
    p = res.plans[0]
    assert (p.objective, p.chips, p.tp, p.pp, p.replicas) == ("min_chips", 1, 1, 1, 1)


GIANT = {"name": "giant", "layers": 512, "d_model": 163840, "heads": 1280, "ffn": 655360, "vocab": 256000}


def test_model_no_cluster_holds(capsys):
    """~165T dense parameters (330 TB in bf16) on A100-40GB within 4,096 chips (147 TB usable): memory binds."""
    giant = ModelSpec.model_validate(GIANT)
    res = plan_inference(giant, resolve_hardware("a100-40gb"), Workload(1024, 256), Targets(max_chips=4096))
    assert not res.feasible and res.binding_constraint == "memory"
    assert "per chip" in infer_message(res) and "usable" in infer_message(res)
    assert res.nearest is not None and res.nearest.memory_per_chip_bytes > 36e9
    _finite(res)


def test_model_no_cluster_holds_cli(tmp_path, capsys):
    p = tmp_path / "giant.yaml"
    p.write_text("".join(f"{k}: {v}\n" for k, v in GIANT.items()), encoding="utf-8")
    assert main(["infer", "-m", str(p), "-H", "a100-40gb"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("gpt4plan: no feasible plan: memory:") and len(err.strip().splitlines()) == 1


def test_tp_beyond_the_scale_up_domain_uses_scale_out():
    m = resolve_model("llama-3.1-70b")  # 64 heads, 8 KV heads; H100 domain = 8
    res = plan_inference(m, H100, Workload(1024, 256), Targets(tpot_max_s=0.1), Pins(tp=16))
    assert res.feasible and res.plans[0].tp == 16
    bw, alpha = link(np.array([8, 16]), H100)
    assert bw[0] == H100.scale_up.bandwidth * H100.efficiency.network
    assert bw[1] == H100.scale_out.bandwidth * H100.efficiency.network and alpha[1] == H100.scale_out.latency
    # the same layout on a chip whose domain holds 16 communicates faster
    big_domain = H100.model_copy(update={"scale_up": H100.scale_up.model_copy(update={"domain": 16})})
    args = (Workload(1024, 256), np.array([16]), np.array([1]), np.array([1]), np.array([8.0]))
    assert evaluate(m, H100, *args).t_comm[0] > evaluate(m, big_domain, *args).t_comm[0]
    _finite(res)


def test_ep_equals_experts():
    m = resolve_model("mixtral-8x7b")
    res = plan_inference(m, H100, Workload(1024, 256), Targets(tpot_max_s=0.1), Pins(tp=8, ep=8))
    assert res.feasible
    p = res.plans[0]
    assert (p.tp, p.ep) == (8, 8)
    assert 2 <= p.experts_touched_per_layer <= 8  # one expert per chip: a decode step reads the touched ones
    r = evaluate(m, H100, Workload(1024, 256), np.array([8, 8]), np.array([1, 1]), np.array([8, 1]), np.array([8.0, 8.0]))
    assert r.t_comm[0] != r.t_comm[1]  # EP's all-to-all replaces the expert all-reduce
    assert r.weights_mem[0] == pytest.approx(r.weights_mem[1], rel=1e-12)  # 8 ways either way
    _finite(res)


@pytest.mark.parametrize("weights", ["int4", "fp4"])
def test_four_bit_weights(weights):
    m = resolve_model("llama-3.1-70b")
    b200 = resolve_hardware("b200")
    pins = Pins(tp=1, pp=1, batch=8)
    q = plan_inference(m, b200, Workload(1024, 256, weights, "bf16"), Targets(tpot_max_s=1.0), pins)
    bf = plan_inference(m, b200, Workload(1024, 256, "bf16", "bf16"), Targets(tpot_max_s=1.0), Pins(tp=2, pp=1, batch=8))
    assert q.feasible
    # bytes per weight: int4 0.5 (payload only); NVFP4 0.5625 (4 bits + one FP8 scale per 16 values: 4.5 bits)
    ratio = {"int4": 0.5, "fp4": 0.5625}[weights] / 2.0
    assert q.model["weights_bytes"] == pytest.approx(bf.model["weights_bytes"] * ratio, rel=1e-12)
    # int4 is weight-only (matmuls in 16-bit); fp4 (NVFP4) runs on the B200's FP4 tensor cores
    assert q.workload["compute"] == {"int4": "fp16", "fp4": "fp4"}[weights]
    assert q.plans[0].weights_per_chip_bytes == pytest.approx(2 * bf.plans[0].weights_per_chip_bytes * ratio,
                                                              rel=1e-12)
    _finite(q)
