"""Property-based tests: the planners obey the physics' invariants on random valid specs (hypothesis).

Models, chips, workloads and targets are drawn at random (small models: a plan takes ~1 ms) and built
through the pydantic schemas, so every draw is a spec a user could write.  Each property runs
``GPT4PLAN_PROPERTY_EXAMPLES`` examples (default 1,000); the ``nightly`` marker reruns every property
with ``GPT4PLAN_NIGHTLY_EXAMPLES`` (default 20,000): ``python3 -m pytest -m nightly tests/test_properties.py``.

Invariants:
* every returned plan meets its memory, TTFT, TPOT, chip, demand and user constraints when its layout is
  evaluated again, and the plan reports what the evaluation gives;
* every number of a plan (and of the JSON contract) is finite, and positive where it is a size, a time,
  a rate or a price;
* more memory bandwidth never raises the min-cost price; more HBM never raises the min chip count; a
  looser latency target never raises the min cost (nor the min chips);
* doubling the price doubles every dollar figure and changes no layout;
* a dense model and the same model written as a 1-expert MoE are one model (params, FLOPs, plans);
* training at a fixed layout per replica: doubling DP (and the global batch, so the microbatches per
  step stay) keeps the step's compute time and halves the steps, so with communication and failures
  negligible the days halve.
"""

from __future__ import annotations

import json
import math
import os
import random

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gpt4plan.physics import arch
from gpt4plan.report import infer_message
from gpt4plan.serving import Pins, Targets, Workload, evaluate, plan_inference
from gpt4plan.specs import HardwareSpec, ModelSpec
from gpt4plan.training import Reliability, TrainPins, TrainWorkload, goodput, plan_training

EXAMPLES = int(os.environ.get("GPT4PLAN_PROPERTY_EXAMPLES", 1000))
NIGHTLY_EXAMPLES = int(os.environ.get("GPT4PLAN_NIGHTLY_EXAMPLES", 20_000))
_HEALTH = [HealthCheck.too_slow, HealthCheck.data_too_large]
_PROPERTIES: dict[str, tuple] = {}


def prop(*strategies):
    """A property: a CI test with EXAMPLES examples, and a twin run by ``test_nightly`` with more."""

    def deco(body):
        _PROPERTIES[body.__name__] = (body, strategies)
        return settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=_HEALTH, database=None)(
            given(*strategies)(body))

    return deco


REL = 1e-9  # float noise allowed in a comparison


# ---------------------------------------------------------------------------------------------
# Strategies: dicts validated by the spec schemas


def _divisors(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0]


def _log_uniform(lo: float, hi: float):
    return st.floats(math.log10(lo), math.log10(hi)).map(lambda x: 10.0 ** x)


# Speed: hypothesis costs ~50 us per drawn value, a plan ~1 ms.  Structural choices (head counts, layers,
# experts, which options and targets are set, precisions) are drawn by hypothesis; the many continuous
# numbers (widths, bandwidths, prices, targets' values) come from a seeded generator drawn as one value,
# with the ends of each range drawn often (edges are where bugs live).
SEED = st.integers(0, 2**32 - 1)
LAYERS = st.integers(1, 8)
UNIT = st.floats(0.0, 1.0)  # picks from a list or range that depends on earlier draws


class _Gen:
    """Numbers from a seeded generator; each range's ends come up one time in five."""

    def __init__(self, seed: int):
        self.r = random.Random(seed)

    def int(self, lo: int, hi: int) -> int:
        x = self.r.random()
        return lo if x < 0.1 else hi if x < 0.2 else self.r.randint(lo, hi)

    def log(self, lo: float, hi: float) -> float:
        x = self.r.random()
        return lo if x < 0.1 else hi if x < 0.2 else 10 ** self.r.uniform(math.log10(lo), math.log10(hi))

    def frac(self, lo: float, hi: float) -> float:
        x = self.r.random()
        return lo if x < 0.1 else hi if x < 0.2 else self.r.uniform(lo, hi)

    def choice(self, seq):
        return self.r.choice(seq)


def _model_dict(heads: int, kv: int, layers: int, experts: int, top_k: int, f: int, g: _Gen,
                moe: bool | None = None, mla: bool | None = None) -> dict:
    bit = [bool(f >> i & 1) for i in range(16)]
    head_dim = g.choice([8, 16, 32, 64, 128])
    d = {"name": "random", "layers": layers, "heads": heads, "kv_heads": kv, "ffn": 64 * g.int(1, 96),
         "ffn_gated": bit[0], "vocab": g.int(2, 160_000), "tied_embeddings": bit[1], "max_context": g.int(2, 131_072),
         "qkv_bias": bit[2], "linear_bias": bit[3] and bit[4]}
    if bit[5]:  # d_model = heads x head_dim, head_dim implied
        d["d_model"] = heads * head_dim
    else:  # head_dim given; heads x head_dim may differ from d_model (Gemma, Mistral Nemo)
        d["d_model"] = 64 * g.int(1, 96)
        d["head_dim"] = head_dim
    if bit[6] and bit[7]:
        d["sliding_window"] = g.int(1, 8192)
        if bit[8]:
            d["sliding_window_layers"] = g.int(0, layers)
    if moe if moe is not None else bit[9]:
        m = {"experts": experts, "top_k": top_k, "expert_ffn": 64 * g.int(1, 32), "router_bias": bit[10]}
        if bit[11]:
            m["shared_experts"] = g.int(1, 2)
            m["shared_expert_ffn"] = 64 * g.int(1, 32)
        if bit[12]:
            m["first_dense_layers"] = g.int(0, layers)
        if bit[13]:
            m["every"] = g.int(1, 3)
        d["moe"] = m
    if mla if mla is not None else (bit[14] and bit[15] and bit[0]):
        d["mla"] = {"q_lora_rank": g.choice([0, 64, 256]), "kv_lora_rank": g.choice([32, 128, 512]),
                    "qk_rope_head_dim": g.choice([16, 32, 64]), "qk_nope_head_dim": g.choice([32, 64, 128]),
                    "v_head_dim": g.choice([32, 64, 128])}
    return d


def _hardware_dict(f: int, g: _Gen) -> dict:
    bf16 = g.log(1e13, 5e15)
    peak = {"bf16": bf16}
    if f & 1:
        peak["fp8"] = 2 * bf16
    if f & 2:
        peak["fp32"] = bf16 / g.choice([2, 8, 16])
    if f & 4:
        peak["int8"] = 2 * bf16
    if f & 8:
        peak["fp4"] = 4 * bf16
    return {
        "name": "random-chip",
        "memory": g.log(1e8, 3e11),  # small HBM too: multi-chip layouts
        "memory_bandwidth": g.log(1e11, 2e13),
        "peak_flops": peak,
        "scale_up": {"domain": g.choice([1, 2, 4, 8, 16, 64, 72]), "bandwidth": g.log(1e10, 2e12),
                     "latency": g.frac(0, 2e-5)},
        "scale_out": {"bandwidth": g.log(1e9, 2e11), "latency": g.frac(0, 5e-5)},
        "price": g.log(0.05, 50),
        "efficiency": {"compute": g.frac(0.2, 1.0), "memory": g.frac(0.2, 1.0), "network": g.frac(0.2, 1.0)},
        "usable_memory": g.frac(0.5, 1.0),
    }


def _workload(g: _Gen, max_context: int, dtypes: tuple[str, str]) -> Workload:
    output = g.int(1, min(1024, max_context - 1))
    prompt = g.int(1, min(8192, max_context - output))
    return Workload(prompt, output, *dtypes)


def _targets(f: int, g: _Gen) -> Targets:
    return Targets(
        tpot_max_s=g.log(1e-4, 2.0) if f & 3 else None,  # set three times in four
        ttft_max_s=g.log(1e-3, 100.0) if f & 4 else None,
        demand_tokens_per_s=g.log(1.0, 1e6) if f & 8 else None,
        users=g.int(1, 100_000) if f & 16 and f & 32 else None,
        max_chips=g.choice([1, 2, 8, 64, 512, 4096]),
    )


def _pins(f: int, g: _Gen, model: ModelSpec) -> Pins:
    """Mostly no pins; one time in four a tp, pp, ep or batch the model allows."""
    if f & 3:
        return Pins()
    E = model.moe.experts if model.moe else 1
    return Pins(tp=g.choice(arch.allowed_tp(model)) if f & 4 else None,
                pp=g.int(1, model.layers) if f & 8 else None,
                ep=g.choice(_divisors(E)) if f & 16 else None,
                batch=g.int(1, 512) if f & 32 else None)


HEADS_KV = st.sampled_from([(h, kv) for h in (1, 2, 3, 4, 6, 8, 12, 16, 32) for kv in _divisors(h)])
EXPERTS_TOP_K = st.sampled_from([(e, k) for e in (1, 2, 4, 8, 16, 64) for k in range(1, min(e, 8) + 1)])
DTYPES = ["fp32", "bf16", "fp16", "fp8", "int8", "int4", "fp4"]
DTYPE_PAIR = st.sampled_from([(w, kv) for w in DTYPES for kv in DTYPES])
FLAGS64 = st.integers(0, 2**64 - 1)


@st.composite
def model_dicts(draw, moe: bool | None = None, mla: bool | None = None) -> dict:
    (heads, kv), (experts, top_k) = draw(HEADS_KV), draw(EXPERTS_TOP_K)
    g = _Gen(draw(SEED))
    return _model_dict(heads, kv, draw(LAYERS), experts, top_k, draw(FLAGS64) ^ g.r.getrandbits(64), g, moe, mla)


@st.composite
def cases(draw, moe: bool | None = None):
    """(model, hardware, workload, targets, pins): a random valid serving question (eight drawn values)."""
    (heads, kv), (experts, top_k), layers = draw(HEADS_KV), draw(EXPERTS_TOP_K), draw(LAYERS)
    g, dtypes = _Gen(draw(SEED)), draw(DTYPE_PAIR)
    f = draw(FLAGS64) ^ g.r.getrandbits(64)  # hypothesis favours small integers: mix in uniform bits
    model = ModelSpec.model_validate(_model_dict(heads, kv, layers, experts, top_k, f & 0xFFFF, g, moe))
    hw = HardwareSpec.model_validate(_hardware_dict(f >> 16 & 0xFF, g))
    return model, hw, _workload(g, model.max_context, dtypes), _targets(f >> 24 & 0xFF, g), _pins(f >> 32 & 0xFF, g, model)


def _plans(res) -> list:
    return res.plans + res.frontier + ([res.nearest] if res.nearest is not None else [])


def _min_cost(res):
    return next(p for p in res.plans if p.objective == "min_cost")


def _min_chips(res):
    return next(p for p in res.plans if p.objective == "min_chips")


def _scaled(hw: HardwareSpec, **factors) -> HardwareSpec:
    return hw.model_copy(update={k: getattr(hw, k) * f for k, f in factors.items()})


# ---------------------------------------------------------------------------------------------
# Serving


@prop(cases())
def test_every_plan_meets_its_constraints_when_reevaluated(case):
    model, hw, wl, tg, pins = case
    res = plan_inference(model, hw, wl, tg, pins)
    capacity = hw.memory * hw.usable_memory
    if not res.feasible:
        assert res.binding_constraint in ("memory", "tpot", "ttft", "demand", "layout")
        msg = infer_message(res)
        assert msg and "\n" not in msg
        assert (res.nearest is None) == (res.binding_constraint == "layout")
        return
    assert [p.objective for p in res.plans] == ["min_chips", "min_cost"]
    for p in res.plans + res.frontier:
        r = evaluate(model, hw, wl, np.array([p.tp]), np.array([p.pp]), np.array([p.ep]), np.array([p.microbatch]),
                     attention_dp=np.array([p.attention_dp]), redundant=np.array([p.redundant_experts]))
        again = {k: float(v[0]) for k, v in vars(r).items() if isinstance(v, np.ndarray) and v.ndim == 1}
        assert again["mem"] <= capacity * (1 + 1e-12)
        if tg.tpot_max_s is not None:
            assert again["tpot"] <= tg.tpot_max_s * (1 + REL)
        if tg.ttft_max_s is not None:
            assert again["ttft"] <= tg.ttft_max_s * (1 + REL)
        assert p.chips == p.attention_dp * p.tp * p.pp * p.replicas <= tg.max_chips
        if tg.demand_tokens_per_s:
            assert p.replicas * again["throughput"] >= tg.demand_tokens_per_s * (1 - REL)
        if tg.users:
            assert p.replicas * p.batch >= tg.users
        for pin, v in (("tp", p.tp), ("pp", p.pp), ("ep", p.ep), ("batch", p.batch)):
            assert getattr(pins, pin) in (None, v)
        # the plan reports what its layout evaluates to
        assert p.tpot_s == pytest.approx(again["tpot"], rel=1e-12)
        assert p.ttft_s == pytest.approx(again["ttft"], rel=1e-12)
        assert p.memory_per_chip_bytes == pytest.approx(again["mem"], rel=1e-12)
    best_chips, best_cost = _min_chips(res), _min_cost(res)
    for p in res.frontier + res.plans:
        assert best_chips.chips <= p.chips
        assert best_cost.usd_per_1k_tokens_blended <= p.usd_per_1k_tokens_blended * (1 + REL)


_POSITIVE = {"chips", "replicas", "tp", "pp", "ep", "batch", "microbatch", "layers_per_stage", "ttft_s", "tpot_s",
             "tokens_per_s_per_user", "throughput_tokens_per_s", "memory_per_chip_bytes", "weights_per_chip_bytes",
             "kv_cache_per_chip_bytes", "usd_per_1k_input_tokens", "usd_per_1k_output_tokens",
             "usd_per_1k_tokens_blended", "usd_per_hour", "mfu", "mbu", "decode_step_s", "decode_compute_s",
             "decode_memory_s", "prefill_stage_s"}


def _numbers(obj, path=""):
    """Every int/float in a nested JSON-like structure, with its path."""
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _numbers(v, f"{path}.{k}")
    elif isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            yield from _numbers(v, f"{path}[{i}]")
    elif isinstance(obj, (int, float, np.floating, np.integer)) and not isinstance(obj, bool):
        yield path, float(obj)


@prop(cases())
def test_all_outputs_finite_and_positive(case):
    from gpt4plan.report import infer_json

    model, hw, wl, tg, pins = case
    res = plan_inference(model, hw, wl, tg, pins)
    for p in _plans(res):
        d = p.as_dict()
        for k, v in d.items():
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                assert math.isfinite(v), (k, v)
                if k in _POSITIVE:
                    assert v > 0, (k, v)
        assert d["decode_comm_s"] >= 0 and d["reserve_per_chip_bytes"] >= 0
        assert p.mfu <= 1 + REL and p.mbu <= 1 + REL, (p.mfu, p.mbu)
        assert p.bound in ("compute", "memory", "network")
        if p.objective != "nearest":
            assert p.free_per_chip_bytes >= -1e-12 * hw.memory
    # the JSON contract holds no NaN or infinity (report.to_json would print them as null)
    for path, v in _numbers(infer_json(res)):
        assert math.isfinite(v), (path, v)
    json.dumps(infer_json(res), allow_nan=False, default=float)


@prop(cases(), st.floats(1.0, 20.0))
def test_more_memory_bandwidth_never_raises_the_min_cost_price(case, k):
    model, hw, wl, tg, pins = case
    a = plan_inference(model, hw, wl, tg, pins)
    b = plan_inference(model, _scaled(hw, memory_bandwidth=k), wl, tg, pins)
    if a.feasible:
        assert b.feasible
        assert _min_cost(b).usd_per_1k_tokens_blended <= _min_cost(a).usd_per_1k_tokens_blended * (1 + REL)


@prop(cases(), st.floats(1.0, 20.0))
def test_more_hbm_never_raises_the_min_chips(case, k):
    model, hw, wl, tg, pins = case
    a = plan_inference(model, hw, wl, tg, pins)
    b = plan_inference(model, _scaled(hw, memory=k), wl, tg, pins)
    if a.feasible:
        assert b.feasible
        assert _min_chips(b).chips <= _min_chips(a).chips


@prop(cases(), st.floats(1.0, 10.0), st.floats(1.0, 10.0))
def test_a_looser_latency_target_never_raises_the_min_cost(case, k_tpot, k_ttft):
    model, hw, wl, tg, pins = case
    loose = Targets(tpot_max_s=None if tg.tpot_max_s is None else tg.tpot_max_s * k_tpot,
                    ttft_max_s=None if tg.ttft_max_s is None else tg.ttft_max_s * k_ttft,
                    demand_tokens_per_s=tg.demand_tokens_per_s, users=tg.users, max_chips=tg.max_chips)
    a = plan_inference(model, hw, wl, tg, pins)
    b = plan_inference(model, hw, wl, loose, pins)
    if a.feasible:
        assert b.feasible
        assert _min_cost(b).usd_per_1k_tokens_blended <= _min_cost(a).usd_per_1k_tokens_blended * (1 + REL)
        assert _min_chips(b).chips <= _min_chips(a).chips


_LAYOUT = ("objective", "chips", "replicas", "tp", "pp", "ep", "batch")


@prop(cases())
def test_doubling_the_price_doubles_every_dollar_figure(case):
    model, hw, wl, tg, pins = case
    a = plan_inference(model, hw, wl, tg, pins)
    b = plan_inference(model, hw.with_price(2 * hw.price), wl, tg, pins)
    assert a.feasible == b.feasible and a.binding_constraint == b.binding_constraint
    pa, pb = _plans(a), _plans(b)
    assert len(pa) == len(pb)
    for x, y in zip(pa, pb, strict=True):
        assert [getattr(x, k) for k in _LAYOUT] == [getattr(y, k) for k in _LAYOUT]
        usd = [k for k in x.as_dict() if k.startswith("usd_")]
        assert len(usd) >= 4
        for k in usd:
            assert getattr(y, k) == pytest.approx(2 * getattr(x, k), rel=REL), k
        assert y.tpot_s == x.tpot_s and y.memory_per_chip_bytes == x.memory_per_chip_bytes


@prop(st.data())
def test_dense_model_equals_the_same_model_as_a_one_expert_moe(data):
    d = data.draw(model_dicts(moe=False))
    dense = ModelSpec.model_validate(d)
    moe = ModelSpec.model_validate({**d, "moe": {"experts": 1, "top_k": 1, "expert_ffn": d["ffn"]}})
    assert moe.moe_layers == moe.layers and moe.dense_layers == 0
    pd, pm = arch.params(dense), arch.params(moe)
    for k in ("attention", "embeddings", "lm_head", "norms", "total", "active", "active_matmul"):
        assert getattr(pd, k) == getattr(pm, k), k
    assert pd.dense_ffn == pm.experts and pm.router == 0  # the FFN is the one expert; one expert needs no router
    c = float(int(data.draw(UNIT) * dense.max_context))
    assert arch.flops_per_token(dense, c) == pytest.approx(arch.flops_per_token(moe, c), rel=REL)
    assert arch.kv_bytes_per_token(dense) == arch.kv_bytes_per_token(moe)
    g = _Gen(data.draw(SEED))
    f = data.draw(FLAGS64) ^ g.r.getrandbits(64)
    hw = HardwareSpec.model_validate(_hardware_dict(f & 0xFF, g))
    wl, tg = _workload(g, dense.max_context, data.draw(DTYPE_PAIR)), _targets(f >> 8 & 0xFF, g)
    a, b = plan_inference(dense, hw, wl, tg), plan_inference(moe, hw, wl, tg)
    assert (a.feasible, a.binding_constraint) == (b.feasible, b.binding_constraint)
    pa, pb = _plans(a), _plans(b)
    assert len(pa) == len(pb)
    for x, y in zip(pa, pb, strict=True):
        assert [getattr(x, k) for k in _LAYOUT] == [getattr(y, k) for k in _LAYOUT]
        for k in ("tpot_s", "ttft_s", "memory_per_chip_bytes", "throughput_tokens_per_s", "usd_per_1k_output_tokens",
                  "usd_per_1k_input_tokens", "mfu", "mbu"):
            assert getattr(y, k) == pytest.approx(getattr(x, k), rel=REL), k


# ---------------------------------------------------------------------------------------------
# Training


@st.composite
def training_cases(draw):
    """A dense or MoE model, a chip with comm made negligible, and a pinned layout per replica."""
    (heads, kv), (experts, top_k), layers = draw(HEADS_KV), draw(EXPERTS_TOP_K), draw(LAYERS)
    g = _Gen(draw(SEED))
    f = draw(FLAGS64) ^ g.r.getrandbits(64)
    model = ModelSpec.model_validate(_model_dict(heads, kv, layers, experts, top_k, f & 0xFFFF, g, mla=False))
    h = _hardware_dict(f >> 16 & 0xFF, g)
    h["scale_up"] = {"domain": h["scale_up"]["domain"], "bandwidth": 1e16, "latency": 0}
    h["scale_out"] = {"bandwidth": 1e16, "latency": 0}
    h["memory"] = 1e18  # memory is not the question here
    hw = HardwareSpec.model_validate(h)
    seq, mb, dp, m = g.int(1, min(model.max_context, 4096)), g.choice([1, 2, 4]), g.int(1, 64), g.int(1, 16)
    pins = TrainPins(tp=g.choice(arch.allowed_tp(model)), pp=g.int(1, model.layers), dp=dp, ep=1, zero=0,
                     microbatch=mb, recompute=g.choice(["none", "selective", "full"]), interleave=1)
    wl = TrainWorkload(tokens=g.log(1e9, 1e13), seq_len=seq, global_batch_tokens=float(seq * mb * dp * m),
                       precision=g.choice(["bf16", "fp16"]))
    return model, hw, wl, pins


NO_FAILURES = Reliability(failure_rate_per_gpu_hour=1e-15, checkpoint_s=0.0, restart_s=0.0)  # goodput 1


@prop(training_cases())
def test_training_days_halve_when_dp_doubles(case):
    """Training days scale inversely with chips at fixed efficiency.

    Fixed layout per replica (tp, pp, microbatch, microbatches per step, recompute; ZeRO-0, so the
    optimizer's per-chip work does not shrink with DP), failures negligible (goodput 1): doubling dp and
    the global batch keeps every per-step term but the data-parallel all-reduce (compute, bubble, TP/PP
    sends, optimizer) and halves the steps.  So ``2 x days(2 dp) / days(dp) = step(2 dp) / step(dp)``
    exactly, and the days halve up to the exposed DP communication's share of a step (here at 1e16 B/s).
    """
    model, hw, wl, pins = case
    wl2 = TrainWorkload(wl.tokens, wl.seq_len, 2 * wl.global_batch_tokens, wl.precision)
    pins2 = TrainPins(**{**pins.__dict__, "dp": 2 * pins.dp})
    a = plan_training(model, hw, wl, chips=pins.tp * pins.pp * pins.dp, pins=pins, rel=NO_FAILURES)
    b = plan_training(model, hw, wl2, chips=2 * pins.tp * pins.pp * pins.dp, pins=pins2, rel=NO_FAILURES)
    assert a.feasible and b.feasible, (a.reason, b.reason)
    pa, pb = a.plan, b.plan
    assert pb.chips == 2 * pa.chips and pb.microbatches_per_step == pa.microbatches_per_step
    assert pa.goodput == pb.goodput == 1.0
    for k in ("compute_s", "bubble_s", "tp_comm_s", "pp_comm_s", "ep_comm_s", "optimizer_s", "memory_per_chip_bytes"):
        assert getattr(pb, k) == pytest.approx(getattr(pa, k), rel=1e-12), k
    assert pb.step_time_s - pb.dp_comm_s == pytest.approx(pa.step_time_s - pa.dp_comm_s, rel=1e-12)
    assert 2 * pb.days / pa.days == pytest.approx(pb.step_time_s / pa.step_time_s, rel=1e-12)
    # days halve, up to the extra exposed DP communication per step (it grows with dp, never shrinks)
    assert pb.dp_comm_s >= pa.dp_comm_s
    assert 2 * pb.days / pa.days - 1 == pytest.approx((pb.dp_comm_s - pa.dp_comm_s) / pa.step_time_s, abs=1e-12)
    assert pb.gpu_hours == pytest.approx(pa.gpu_hours * pb.step_time_s / pa.step_time_s, rel=1e-12)
    for p in (pa, pb):
        for k, v in p.as_dict().items():
            if isinstance(v, float):
                assert math.isfinite(v), (k, v)


@prop(training_cases(), _log_uniform(0.01, 100.0))
def test_training_price_doubling_doubles_dollars(case, price):
    model, hw, wl, pins = case
    chips = pins.tp * pins.pp * pins.dp
    free = TrainPins(tp=pins.tp, pp=pins.pp)  # dp, ZeRO, microbatch and recompute searched
    a = plan_training(model, hw.with_price(price), wl, chips=chips, pins=free)
    b = plan_training(model, hw.with_price(2 * price), wl, chips=chips, pins=free)
    assert a.feasible == b.feasible
    if a.feasible:
        assert (a.plan.tp, a.plan.pp, a.plan.dp, a.plan.zero_stage) == (b.plan.tp, b.plan.pp, b.plan.dp, b.plan.zero_stage)
        assert b.plan.usd == pytest.approx(2 * a.plan.usd, rel=REL)
        assert b.plan.days == a.plan.days


def test_free_checkpoints_lose_only_restarts():
    """Regression: --checkpoint-s 0 gave the checkpoint interval = MTBF and a goodput of 2/3 (half an MTBF
    of lost work per failure) where 1 ms checkpoints gave 0.998: free checkpoints are taken continuously."""
    g0, tau0, mtbf = goodput(1024, 0.0, 300.0)
    g1, _, _ = goodput(1024, 1e-3, 300.0)
    assert float(tau0) == 0.0
    assert float(g0) == pytest.approx(1 / (1 + 300.0 / float(mtbf)), rel=1e-12)
    assert float(g1) < float(g0) and float(g1) == pytest.approx(float(g0), rel=1e-3)


# ---------------------------------------------------------------------------------------------
# Nightly: every property again, with many more examples


@pytest.mark.nightly
@pytest.mark.parametrize("name", sorted(_PROPERTIES))
def test_nightly(name):
    body, strategies = _PROPERTIES[name]
    settings(max_examples=NIGHTLY_EXAMPLES, deadline=None, suppress_health_check=_HEALTH, database=None)(
        given(*strategies)(body))()
