"""Vision tokens (issue 15, item 3): the encoder's counts against published figures, image tokens in serving
(prefill, KV cache, TTFT, $/1k input) and the data loading of training, each against hand arithmetic."""

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cli_helpers import run_cli
from gpt4plan.physics import vision
from gpt4plan.serving import Workload
from gpt4plan.serving.evaluation import evaluate
from gpt4plan.specs import VisionSpec
from gpt4plan.specs.catalog import resolve_hardware, resolve_model
from gpt4plan.training import TrainWorkload, plan_training

ROOT = Path(__file__).resolve().parents[1]
LLAVA = str(ROOT / "examples" / "llava-1.5-7b.yaml")
GPT4V = str(ROOT / "examples" / "gpt-4-vision-assumed.yaml")


def vit_b16(**kw):
    return VisionSpec(layers=12, width=768, heads=12, image_size=224, patch=16, class_token=True, **kw)


def test_vit_b16_macs_match_the_paper():
    # 197 tokens (196 patches + [CLS]); per block 4*768^2 + 2*768*3072 = 7,077,888 MACs per token:
    #   197 * 12 * 7,077,888 = 16,732,127,232;  scores 12 * 2 * 197^2 * 768 = 715,327,488;
    #   patch embedding 196 * (3*16*16) * 768 = 115,605,504;  total 17,563,060,224 MACs.
    # Dosovitskiy et al. 2021, Table 6: ViT-B/16 "17.6 GFLOPs" -- multiply-adds, as the sum shows.
    v = vit_b16()
    assert vision.encoder_sequence(v) == 197
    assert vision.encoder_macs_per_image(v) == 17_563_060_224
    assert vision.encoder_macs_per_image(v) == pytest.approx(17.6e9, rel=0.01)
    assert vision.encoder_flops_per_image(v) == 2 * 17_563_060_224  # FLOP = 2 x MACs


def test_vit_b16_params_match_timm():
    # timm's vit_base_patch16_224 has 86,567,656 parameters with its 1000-class head (768*1000 + 1000 =
    # 769,000): 85,798,656 without it.
    assert vision.encoder_params(vit_b16()) == 86_567_656 - 769_000


@pytest.mark.parametrize("layers, width, heads, size, patch, published_gflop", [
    (12, 768, 12, 224, 16, 35.13),    # open_clip docs/model_profile.csv ViT-B-16 image_gflops (2 x MACs)
    (24, 1024, 16, 224, 14, 162.03),  # ViT-L-14
    (24, 1024, 16, 336, 14, 381.92),  # ViT-L-14-336 (LLaVA-1.5's encoder)
])
def test_clip_towers_match_open_clip_profile(layers, width, heads, size, patch, published_gflop):
    v = VisionSpec(layers=layers, width=width, heads=heads, image_size=size, patch=patch, class_token=True)
    assert vision.encoder_flops_per_image(v) / 1e9 == pytest.approx(published_gflop, rel=0.005)


def test_patches_given_directly_and_defaults():
    v = VisionSpec(layers=2, width=64, heads=4, patches_per_image=100)
    assert (v.mlp, v.tokens_per_image, vision.encoder_sequence(v)) == (256, 100, 100)
    # no patch size: no patch embedding; 100 * 2 * (4*64^2 + 2*64*256) + 2 * 2 * 100^2 * 64 = 9,113,600
    assert vision.encoder_macs_per_image(v) == 100 * 2 * (4 * 64 * 64 + 2 * 64 * 256) + 2 * 2 * 100**2 * 64


@pytest.mark.parametrize("fields, message", [
    ({"image_size": 225, "patch": 16}, "image_size: 225 is not divisible by patch (16)"),
    ({"image_size": 224}, "patch: give image_size and patch together"),
    ({}, "patches_per_image: give image_size and patch, or patches_per_image"),
    ({"image_size": 224, "patch": 16, "patches_per_image": 100}, "patches_per_image: 100, but"),
    ({"patches_per_image": 9, "injection": "cross_attention"}, "cross_attention_every: required"),
    ({"patches_per_image": 9, "cross_attention_every": 4}, "cross_attention_every: only with"),
])
def test_bad_vision_blocks_name_the_field(fields, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        VisionSpec(layers=2, width=64, heads=4, **fields)


def _eval(model, hw, images, tp=1, b=8.0, prompt=1024, output=256):
    wl = Workload(prompt, output, images_per_request=images)
    return evaluate(model, hw, wl, np.array([tp]), np.array([1]), np.array([1]), np.array([b]))


def test_inline_image_tokens_join_the_prompt():
    m, h = resolve_model(LLAVA), resolve_hardware("h100-sxm")
    with_images, text = _eval(m, h, 2), _eval(m, h, 0)
    # KV per token: 2 * 32 layers * 32 heads * 128 * 2 B = 524,288; 2 images x 576 tokens more per sequence
    assert (with_images.kv_mem - text.kv_mem)[0] / 8 == 2 * 576 * 524_288
    # the same as a text prompt 1,152 tokens longer, but for the encoder
    longer = _eval(m, h, 0, prompt=1024 + 1152)
    assert with_images.t_pre[0] == longer.t_pre[0] and with_images.t_dec[0] == longer.t_dec[0]
    assert with_images.ttft[0] > longer.ttft[0] + with_images.t_encoder[0] * 0.999


def test_encoder_time_by_hand():
    m, h = resolve_model(LLAVA), resolve_hardware("h100-sxm")
    r = _eval(m, h, 2)
    # CLIP ViT-L/14-336: 190,959,108,096 MACs per image (577 tokens); 2 images = 763.8 GFLOP; weights
    # 303,506,432 params (open_clip: 304.29 M with its 0.79 M projection) in bf16 = 607 MB.
    macs = 577 * 24 * (4 * 1024**2 + 2 * 1024 * 4096) + 24 * 2 * 577**2 * 1024 + 576 * 588 * 1024
    assert macs == 190_959_108_096
    params = 24 * (4 * 1024**2 + 4 * 1024 + 2 * 1024 * 4096 + 4096 + 1024 + 4 * 1024) + 2 * 1024 + (588 * 1024 + 1024) \
        + 577 * 1024 + 1024
    c = 2 * 2 * macs / (989.4e12 * 0.71)          # h100-sxm bf16 peak x compute efficiency
    mem = params * 2 / (3.35e12 * 0.6)            # bandwidth x memory efficiency
    expected = max(c, mem) + 0.75 * min(c, mem) + 24 * 15e-6   # roofline overlap 0.25, 15 us per layer
    assert r.t_encoder[0] == pytest.approx(expected, rel=1e-9)
    # its weights sit on the chip next to the language model's
    assert (r.weights_mem - _eval(m, h, 0).weights_mem)[0] == params * 2


def test_cross_attention_kv_by_hand():
    m, h = resolve_model(GPT4V), resolve_hardware("a100-40gb")
    assert vision.cross_attention_layers(m) == 30  # 120 // 4
    wl = Workload(2048, 512, images_per_request=3)
    args = (np.array([8]), np.array([1]), np.array([1]), np.array([4.0]))
    r, text = evaluate(m, h, wl, *args), evaluate(m, h, replace(wl, images_per_request=0), *args)
    # MQA: one KV head of 128, bf16: 512 B per token per layer on each TP rank; 3 x 577 image tokens in 30 layers
    assert (r.kv_mem - text.kv_mem)[0] / 4 == 3 * 577 * 512 * 30
    assert r.t_dec[0] > text.t_dec[0] and r.ttft[0] > text.ttft[0]


def test_vision_model_without_images_is_the_text_model():
    m, h = resolve_model(LLAVA), resolve_hardware("h100-sxm")
    text_only = m.model_copy(update={"vision": None})
    a, b = _eval(m, h, 0), _eval(text_only, h, 0)
    for f in ("ttft", "tpot", "mem", "usd_in", "usd_out", "usd_blend", "mfu", "mbu"):
        assert np.array_equal(getattr(a, f), getattr(b, f)), f


@settings(max_examples=15, deadline=None)
@given(st.integers(0, 6), st.integers(1, 3))
def test_more_images_cost_more(n, extra):
    m, h = resolve_model(LLAVA), resolve_hardware("h100-sxm")
    a, b = _eval(m, h, n, prompt=256), _eval(m, h, n + extra, prompt=256)
    assert b.ttft[0] > a.ttft[0] and b.kv_mem[0] > a.kv_mem[0] and b.t_encoder[0] > a.t_encoder[0]
    # the prefill spend per request grows: $/1k input x input tokens (image tokens count as input)
    spend = lambda r, k: r.usd_in[0] * (256 + 576 * k)  # noqa: E731
    assert spend(b, n + extra) > spend(a, n)


def test_infer_json_and_table(capsys):
    rc, out, _ = run_cli(capsys, "infer", "--model", LLAVA, "--hardware", "h100-sxm", "--images-per-request", "2",
                         "--prompt-tokens", "1024", "--output-tokens", "256", "--tpot", "50ms", "--format", "json")
    assert rc == 0
    d = json.loads(out)
    assert d["workload"]["images_per_request"] == 2 and d["workload"]["image_tokens_per_request"] == 1152
    assert d["model"]["vision"]["encoder_flops_per_image"] == 2 * 190_959_108_096
    p = d["plans"][0]
    assert p["image_encoder_s"] > 0 and 0 < p["image_prefill_s"] < p["ttft_s"]
    rc, out, _ = run_cli(capsys, "infer", "--model", LLAVA, "--hardware", "h100-sxm", "--images-per-request", "2",
                         "--prompt-tokens", "1024", "--output-tokens", "256", "--tpot", "50ms")
    assert rc == 0 and "images: encoder" in out and "2 images × 576 tokens" in " ".join(out.split())
    rc, out, _ = run_cli(capsys, "infer", "--model", LLAVA, "--hardware", "h100-sxm", "--format", "json")
    assert rc == 0 and json.loads(out)["plans"][0]["image_encoder_s"] is None


def test_training_data_loading_by_hand():
    m, h = resolve_model("llama-3.1-8b"), resolve_hardware("h100-sxm")
    wl = TrainWorkload(tokens=1e12, seq_len=8192, global_batch_tokens=4 * 2**20, image_token_fraction=0.3)
    res = plan_training(m, h, wl, chips=64)
    p, d = res.plan, res.data_loading
    # 0.3 x 600 B + 0.7 x 4 B = 182.8 B per token (the seed's 600 vs 4)
    assert d["bytes_per_token"] == pytest.approx(182.8)
    assert d["bytes_per_step"] == pytest.approx(4 * 2**20 * 182.8)
    assert d["bytes_per_s_per_chip"] == pytest.approx(4 * 2**20 * 182.8 / p.step_time_s / (p.dp * p.cp))
    assert d["host_io_bytes_per_s"] == 64e9  # PCIe Gen5 x16, one direction
    assert d["fraction_of_host_io"] < 0.5 and not any(w.code == "host_io" for w in res.warnings)
    # a host link of 1 MB/s cannot feed it: warned
    slow = plan_training(m, h.model_copy(update={"host_io": 1e6}), wl, chips=64)
    assert any(w.code == "host_io" for w in slow.warnings)
    # without a fraction: no check
    assert plan_training(m, h, replace(wl, image_token_fraction=None), chips=64).data_loading is None


def test_train_cli_reports_loading(capsys):
    rc, out, _ = run_cli(capsys, "train", "--model", "llama-3.1-8b", "--hardware", "tpu-v5e", "--tokens", "1T",
                         "--chips", "64", "--image-token-fraction", "0.5", "--format", "json")
    d = json.loads(out)["data_loading"]
    assert rc == 0 and d["bytes_per_token"] == pytest.approx(302.0) and d["fraction_of_host_io"] is None
    rc, out, _ = run_cli(capsys, "train", "--model", "llama-3.1-8b", "--hardware", "h100-sxm", "--tokens", "1T",
                         "--chips", "64", "--image-token-fraction", "0.5")
    assert rc == 0 and "data loading: 50% image tokens" in " ".join(out.split())
