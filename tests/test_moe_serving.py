"""MoE serving (issue 13): MTP (DeepSeek's multi-token prediction) as a speculative method: tokens per step, the
default acceptance per depth against its published source, the module's memory per chip by hand, its cost
per drafted token, the options and the engines' flags."""

import json

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from cli_helpers import one_line, run_cli
from gpt4plan.physics import arch
from gpt4plan.physics.step import roofline_s, stage_model
from gpt4plan.serving import (
    Speculation,
    Workload,
    evaluate,
    expected_tokens_per_chain,
    expected_tokens_per_cycle,
    mtp_acceptances,
)
from gpt4plan.specs.catalog import resolve_hardware, resolve_model

DSV3 = resolve_model("deepseek-v3")
H100 = resolve_hardware("h100-sxm")


def test_tokens_per_step_by_hand():
    """One MTP token accepted 85% of the time: 1 + 0.85 = 1.85 tokens per verification pass (DeepSeek-V3
    report sec. 5.4.3: 85-90% acceptance, 1.8x tokens per second).  Three deep at 0.85, 0.63, 0.63:
    1 + 0.85 + 0.85 * 0.63 + 0.85 * 0.63^2 = 1 + 0.85 + 0.5355 + 0.337365 = 2.722865."""
    assert expected_tokens_per_chain([0.85]) == pytest.approx(1.85)
    assert expected_tokens_per_chain([0.85, 0.63, 0.63]) == pytest.approx(2.722865)
    sp = Speculation(3, 0.85, mtp=True, acceptances=mtp_acceptances(3))
    assert sp.expected_tokens == pytest.approx(2.722865)


def test_default_acceptance_reproduces_the_published_acceptance_length():
    """nebius/MTP-DeepSeek-V3-0324's model card: DeepSeek-V3-0324's original MTP module, 7 drafted tokens,
    temperature 0: mean acceptance length 3.20.  The defaults give 1 + 0.85 (1 - 0.63^7) / (1 - 0.63)."""
    assert expected_tokens_per_chain(mtp_acceptances(7)) == pytest.approx(3.20, abs=0.01)
    assert mtp_acceptances(3, 0.7) == (0.7, 0.7, 0.7)


@given(a=st.floats(0.0, 0.999), g=st.integers(1, 16))
def test_chain_with_one_acceptance_is_leviathan(a, g):
    """A constant acceptance: the chain is Leviathan et al.'s geometric sum (1 - a^(g+1)) / (1 - a)."""
    assert expected_tokens_per_chain([a] * g) == pytest.approx(expected_tokens_per_cycle(a, g), rel=1e-12)


def test_mtp_module_memory_per_chip_by_hand():
    """DP-attn 16 x EP 16 (TP 1) with 16 redundant experts, fp8 weights and KV: each chip holds the MTP
    module's layer as it holds a MoE layer of the model.  By hand from DeepSeek-V3's config.json:
    MLA attention q: 7168*1536 + 1536 + 1536*128*192 = 48,760,320; kv: 7168*576 + 512 + 512*128*256 =
    20,906,496 (the 1536 and 512 are the latent norms); o: 128*128*7168 = 117,440,512 (187,107,328 in all),
    the layer's two RMSNorms 2*7168 = 14,336; the shared expert 3*7168*2048 = 44,040,192 and the router 256*7168 + 256 (bias) = 1,835,264; the
    (256 + 16) / 16 = 17 expert slots of 44,040,192 each; the projection 2*7168*7168 = 102,760,448.  One
    byte each.  KV: one layer of 576 bytes per token (fp8) for the 64 sequences of the chip's group, of
    2048 + 256 tokens each."""
    expert = 3 * 7168 * 2048
    weights = 187_107_328 + 14_336 + expert + 256 * 7168 + 256 + 17 * expert + 2 * 7168 * 7168
    kv = 64 * (2048 + 256) * 576
    sp = Speculation(1, 0.85, mtp=True, acceptances=(0.85,))
    wl = Workload(2048, 256, "fp8", "fp8", sp)
    r = evaluate(DSV3, H100, wl, np.array([1]), np.array([1]), np.array([16]), np.array([64.0 * 16]),
                 attention_dp=np.array([16]), redundant=np.array([16]))
    # the parameters' final norm (7168) is averaged into every layer's share: 7168 / 61 = 118 bytes off
    assert r.draft_mem[0] - r.draft_kv[0] == pytest.approx(weights, abs=200)
    assert r.draft_kv[0] == pytest.approx(kv, rel=1e-9)


def test_mtp_step_cost_is_one_layer_and_the_head():
    """A drafted token costs one of the stage's layers of the plain decode pass plus the projection and LM
    head over the sequences (roofline): for TP 8 at 32 sequences, 2*32*(7168*129280 + 2*7168^2)/8 FLOPs and
    (7168*129280 + 2*7168^2)/8 weight bytes; the verification pass carries 2 tokens per sequence."""
    sp = Speculation(1, 0.85, mtp=True, acceptances=(0.85,))
    wl = Workload(2048, 256, "fp8", "fp8", sp)
    tp, b = np.array([8]), np.array([32.0])
    r = evaluate(DSV3, H100, wl, tp, np.array([1]), np.array([8]), b)
    st_ = stage_model(DSV3, H100, tp, np.array([1]), np.array([8]), prompt_tokens=2048, output_tokens=256,
                      weights="fp8", kv_cache="fp8")
    plain = st_.forward(b, 1.0, np.zeros(1))
    head = 7168 * 129280 + 2 * 7168 * 7168
    expect = plain.t / 61 + roofline_s(2 * 32 * head / 8 / st_.peak, head / 8 / st_.bw)
    assert r.t_draft[0] == pytest.approx(expect[0], rel=1e-12)
    assert r.t_dec[0] == pytest.approx(st_.forward(b, 2.0, np.zeros(1)).t[0], rel=1e-12)
    assert r.tpot_decode[0] == pytest.approx((r.t_draft[0] + r.t_dec[0]) / 1.85, rel=1e-12)
    assert arch.layer_costs(DSV3).head == 7168 * 129280


def test_mtp_cli_json_and_attention_dp(capsys):
    """--mtp N: JSON says so in the workload and on each plan; the attention-DP layouts are searched with it."""
    code, out, _ = run_cli(capsys, "infer", "-m", "deepseek-v3", "-H", "h100-sxm", "--weights", "fp8",
                           "--prompt-tokens", "2048", "--output-tokens", "256", "--ttft", "2s", "--tpot", "50ms",
                           "--mtp", "2", "--chips", "16", "--attention-dp", "8", "--format", "json")
    assert code == 0
    d = json.loads(out)
    sp = d["workload"]["speculation"]
    assert sp["method"] == "mtp" and sp["mtp"] == 2 and sp["acceptance_per_depth"] == [0.85, 0.63]
    assert sp["expected_tokens_per_cycle"] == pytest.approx(1 + 0.85 + 0.85 * 0.63)
    p = d["plans"][0]
    assert p["mtp"] == 2 and p["attention_dp"] == 8 and p["ep"] == 16


@pytest.mark.parametrize("args, words", [
    (["-m", "llama-3.1-70b", "--mtp", "2"], "has no multi-token-prediction module"),
    (["-m", "deepseek-v3", "--mtp", "2", "--draft-tokens", "3"], "drop --draft-model"),
    (["-m", "deepseek-v3", "--mtp", "2", "--draft-model", "llama-3.1-8b"], "drop --draft-model"),
    (["-m", "deepseek-v3", "--mtp", "0"], "1 to 16"),
    (["-m", "deepseek-v3", "--mtp", "2", "--acceptance", "1.5"], "[0, 1]"),
])
def test_mtp_bad_input(capsys, args, words):
    code, _, err = run_cli(capsys, "infer", *args)
    assert code == 2
    assert words in one_line(err)


@pytest.mark.parametrize("engine, flags", [
    ("sglang", ["--speculative-algorithm EAGLE", "--speculative-num-steps 2", "--speculative-eagle-topk 1",
                "--speculative-num-draft-tokens 3"]),
    ("vllm", ['"method": "deepseek_mtp", "num_speculative_tokens": 2']),
    ("trtllm", ["decoding_type: MTP", "num_nextn_predict_layers: 2"]),
])
def test_mtp_emitted_flags(capsys, engine, flags):
    code, out, _ = run_cli(capsys, "infer", "-m", "deepseek-v3", "-H", "h100-sxm", "--weights", "fp8", "--mtp", "2",
                           "--tpot", "50ms", "--emit", engine)
    assert code == 0
    for f in flags:
        assert f in out


def test_two_batch_overlap_pin_and_flags(capsys):
    """DeepSeek-V3 as DP-attn 8 x TP 2 x EP 16 with 2048-token prompts: the planner takes two-batch overlap
    where it is faster and says so (JSON, SGLang's --enable-two-batch-overlap, vLLM's --enable-dbo);
    --no-two-batch-overlap keeps the passes whole, the flags go, and the plan is no faster."""
    base = ["infer", "-m", "deepseek-v3", "-H", "h100-sxm", "--weights", "fp8", "--tpot", "50ms", "--chips", "16",
            "--attention-dp", "8"]
    code, out, _ = run_cli(capsys, *base, "--format", "json")
    on = json.loads(out)["plans"][1]
    code_off, out_off, _ = run_cli(capsys, *base, "--no-two-batch-overlap", "--format", "json")
    off = json.loads(out_off)["plans"][1]
    assert code == code_off == 0
    assert on["two_batch_overlap"] is True and off["two_batch_overlap"] is False
    assert off["ttft_s"] >= on["ttft_s"]
    _, sglang_on, _ = run_cli(capsys, *base, "--emit", "sglang")
    _, sglang_off, _ = run_cli(capsys, *base, "--no-two-batch-overlap", "--emit", "sglang")
    _, vllm_on, _ = run_cli(capsys, *base, "--emit", "vllm")
    assert "--enable-two-batch-overlap" in sglang_on and "--enable-two-batch-overlap" not in sglang_off
    assert "--deepep-mode auto" in sglang_on and "--enable-dbo" in vllm_on


def test_remote_nodes_per_token_by_hand():
    """DeepSeek-V3 (top-8, 4 of 8 groups): over 4 nodes of 2 groups each a node is missed with probability
    C(6, 4) / C(8, 4) = 15/70, so 4 * 55/70 = 3.143 nodes are touched, 3/4 of them remote: 2.357.  Over 8
    nodes, one group each: 8 * (1 - C(7, 4) / C(8, 4)) = 4 touched, 3.5 remote.  Without group limits over 2
    nodes: 2 * (1 - 0.5^8) = 1.992 touched, half remote: 0.996."""
    from gpt4plan.physics.moe import remote_nodes_per_token

    got = remote_nodes_per_token(np.array([4.0, 8.0]), 8, 8, 4)
    assert got[0] == pytest.approx(4 * 55 / 70 * 3 / 4)
    assert got[1] == pytest.approx(3.5)
    assert remote_nodes_per_token(np.array([2.0]), 8)[0] == pytest.approx(2 * (1 - 0.5 ** 8) / 2)


def test_normal_mode_sends_one_copy_per_remote_node():
    """A prefill pass over EP 32 (4 nodes of 8 H100s) in DeepEP's normal mode: 1,000 tokens per rank send
    1,000 * 2.357 FP8 copies of 7,392 bytes over the scale-out link (50 GB/s x the network efficiency) and
    1,000 * 8 * 7/8 over NVLink (450 GB/s x efficiency): the scale-out share binds, after one scale-out
    latency.  A decode pass (low-latency mode) sends each of the 8 copies to its rank instead."""
    from gpt4plan.physics.comm import all_to_all_two_tier_s
    from gpt4plan.physics.moe import moe_a2a_s

    eff = H100.efficiency.network
    tokens = 1000.0
    disp, comb = moe_a2a_s(H100, np.array([32.0]), tokens * 8, 0.0, 7168, 8, True, True, None, 8, 4)
    out = tokens * (4 * 55 / 70 * 3 / 4)
    assert disp[0] == pytest.approx(10e-6 + out * 7392 / (50e9 * eff))
    assert comb[0] == pytest.approx(10e-6 + out * 14336 / (50e9 * eff))
    dec, _ = moe_a2a_s(H100, np.array([32.0]), tokens * 8, 0.0, 7168, 8, True, False, None, 8, 4)
    assert dec[0] == pytest.approx(all_to_all_two_tier_s(32.0, tokens * 8 * 31 / 32 * 7392, H100))


def test_measured_deepep_floor():
    """The shipped DeepEP tables return aiconfigurator-core's measured points (H100, SGLang 0.5.6.post2,
    DeepSeek-V3 shape): low-latency dispatch of 128 tokens per rank over 4 nodes 142.97 us, combine
    263.27 us.  At two tokens per rank over 2 nodes the measured latency (low-latency dispatch 22.57 us; 22.25
    after the monotone repair of the noisy neighbouring points) is above the model's, so it is the floor."""
    from gpt4plan.physics.kernels import deepep_tables
    from gpt4plan.physics.moe import moe_a2a_s

    kt = deepep_tables(H100)
    d, c = kt.deepep_s("ll", np.array([4.0]), np.array([128.0]), 1.0, 1.0)
    assert d[0] == pytest.approx(142.97e-6, rel=1e-5) and c[0] == pytest.approx(263.27e-6, rel=1e-5)
    floor, _ = moe_a2a_s(H100, np.array([16.0]), 2 * 8, 0.0, 7168, 8, True, False, kt)
    model, _ = moe_a2a_s(H100, np.array([16.0]), 2 * 8, 0.0, 7168, 8, True, False, None)
    assert floor[0] == pytest.approx(22.57e-6, rel=0.02) and floor[0] > model[0]
    assert deepep_tables(resolve_hardware("gb200")) is None  # 72-GPU NVLink domains: not what was measured


def test_disaggregated_pools_take_attention_dp():
    """DeepSeek-V3 on H100 (fp8, 2048 in / 256 out, TTFT 2 s, TPOT 50 ms): both pools search the attention-DP
    layouts; a prefill replica of A groups prefills A prompts at once (its service rate A / t_pre)."""
    from gpt4plan.serving import Targets
    from gpt4plan.serving.disaggregate import plan_disaggregated

    wl = Workload(2048, 256, "fp8", "fp8")
    res = plan_disaggregated(DSV3, H100, wl, Targets(ttft_max_s=2.0, tpot_max_s=0.05))
    assert res.feasible
    cheap = res.plans[1]
    assert cheap.decode_attention_dp > 1 and cheap.prefill_attention_dp > 1
    d = cheap.as_dict()
    assert d["decode_chips"] == cheap.decode_replicas * cheap.decode_attention_dp * cheap.decode_tp
    # one prefill replica of DP-attn A serves A prompts per prefill pass: utilisation = load / (R_p A / t_pre)
    load = cheap.throughput_tokens_per_s / 256
    from gpt4plan.serving import evaluate as ev

    a, tp, ep = cheap.prefill_attention_dp, cheap.prefill_tp, cheap.prefill_ep
    rp = ev(DSV3, H100, wl, np.array([tp]), np.array([1]), np.array([ep]), np.array([float(a)]),
            prefill_seqs=np.array([float(a)]), attention_dp=np.array([a]), redundant=np.array([ep]))
    rp0 = ev(DSV3, H100, wl, np.array([tp]), np.array([1]), np.array([ep]), np.array([float(a)]),
             prefill_seqs=np.array([float(a)]), attention_dp=np.array([a]), redundant=np.array([0]))
    rates = [cheap.prefill_replicas * a / float(x.t_pre[0]) for x in (rp, rp0)]
    assert any(load / r == pytest.approx(cheap.prefill_utilization, rel=1e-6) for r in rates)


def test_deepep_normal_kernels_take_sms_from_an_overlapped_prefill():
    """H100 SXM5 has 132 SMs (NVIDIA H100 whitepaper); DeepEP's normal kernels hold 20 (Buffer.num_sms): the
    GEMMs of a two-batch-overlapped prefill run on 112 / 132 = 0.848 of the chip.  A decode step (low-latency
    kernels, no SMs held) and a chip without an SM count keep the whole chip."""
    from gpt4plan.physics.moe import deepep_sm_share

    assert deepep_sm_share(H100) == pytest.approx(112 / 132)
    assert deepep_sm_share(resolve_hardware("a100-40gb")) == 1.0
    st_ = stage_model(DSV3, H100, np.array([1]), np.array([1]), np.array([32]), prompt_tokens=4096, output_tokens=1,
                      weights="fp8", kv_cache="fp8", attention_dp=np.array([32]), redundant=np.array([0]))
    h = st_.wide_parts(np.zeros(1), 1.0, np.array([64.0]))
    tbo = st_.wide_forward(np.zeros(1), 1.0, np.array([128.0]), overlap=True)
    c = 2 * (roofline_s(h["t_c"], h["t_m"]) + h["t_elem"]) / st_.Ls
    from gpt4plan.physics.comm import two_batch_overlap_layer_s
    from gpt4plan.physics.step import LAYER_OVERHEAD_S

    comm = 2 * h["dispatch_s"] + 2 * h["combine_s"]
    c_moe = c * (1 + (132 / 112 - 1) * min(1.0, float(comm[0] / c[0])))
    f = st_.moe_frac
    expect = st_.Ls * ((1 - f) * c + f * two_batch_overlap_layer_s(c_moe, 2 * h["dispatch_s"], 2 * h["combine_s"])) \
        + 2 * h["serial_s"] + st_.Ls * LAYER_OVERHEAD_S
    assert tbo.t[0] == pytest.approx(expect[0], rel=1e-12)


def test_expert_tp_inside_attention_dp_for_gpt4():
    """GPT-4's 16 experts cannot fill 128 chips one per chip: the layout DP-attn 16 x TP 8 splits each expert
    over 128 / 16 = 8 chips (expert TP 8, as SGLang's moe_tp_size = tp_size / ep_size).  Memory per chip by
    hand (bf16): every group holds the non-expert weights split over its 8 chips, the experts are split over
    all 128: (non-expert / 8 + experts / 128) x 2 bytes; each chip computes 1/8 of its expert's matmuls."""
    from gpt4plan.serving import Pins, Targets, wide_ep_grid
    from gpt4plan.serving.plan import layout_words

    gpt4, a100 = resolve_model("gpt-4"), resolve_hardware("a100-80gb")
    T, EP, A, R, _ = wide_ep_grid(gpt4, a100, Targets(), Pins(chips=128))
    rows = set(zip(T.tolist(), EP.tolist(), A.tolist(), R.tolist(), strict=True))
    assert (8.0, 16.0, 16.0, 0.0) in rows
    p = arch.params(gpt4)
    r = evaluate(gpt4, a100, Workload(2048, 512), np.array([8]), np.array([1]), np.array([16]), np.array([16.0]),
                 attention_dp=np.array([16]), redundant=np.array([0]))
    assert r.weights_mem[0] == pytest.approx(((p.total - p.experts) / 8 + p.experts / 128) * 2, rel=1e-9)
    assert layout_words(8, 1, 16, 16) == "DP-attn 16 × TP 8 × EP 16 (expert TP 8)"
