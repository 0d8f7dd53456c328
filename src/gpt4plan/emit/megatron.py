"""Megatron-LM launch arguments for a training plan (``gpt4plan train --emit megatron``).

Presentation only: turns a :class:`gpt4plan.training.TrainPlan` into a command line.
"""

from __future__ import annotations

__all__ = ["megatron_args"]


def megatron_args(p, model, seq_len: int, precision: str = "bf16") -> str:
    """Megatron-LM launch arguments for a training plan (flag names of Megatron-LM's arguments.py;
    ZeRO-2/3 through Megatron-FSDP's --data-parallel-sharding-strategy).  Lines starting with '#' are notes."""
    notes: list[str] = []
    if model.mla is None and p.tp > 1 and model.kv_heads % p.tp:
        notes.append(f"# note: Megatron-core needs --num-query-groups ({model.kv_heads}) divisible by TP ({p.tp}); "
                     "this plan replicates KV heads across TP ranks, which Megatron-LM does not support")
    args = _model_args(model, seq_len, notes) + _parallel_args(p, model, seq_len, precision, notes)
    return "\n".join(notes + [" \\\n  ".join(args)])


def _model_args(model, seq_len: int, notes: list[str]) -> list[str]:
    """The model's shape: layers, widths, attention, MoE (notes on what the spec does not record go to ``notes``)."""
    args = [f"--num-layers {model.layers}", f"--hidden-size {model.d_model}",
             f"--num-attention-heads {model.heads}", f"--seq-length {seq_len}",
             f"--max-position-embeddings {model.max_context}"]
    if model.ffn:
        args.append(f"--ffn-hidden-size {model.ffn}")
    if model.head_dim and model.mla is None and model.head_dim * model.heads != model.d_model:
        args.append(f"--kv-channels {model.head_dim}")
    if model.mla is None and model.kv_heads < model.heads:
        args += ["--group-query-attention", f"--num-query-groups {model.kv_heads}"]
    if model.ffn_gated:
        args.append("--swiglu")
    if not model.tied_embeddings:
        args.append("--untie-embeddings-and-output-weights")
    # the spec does not record the position encoding or the norm: the Llama-style choice is assumed
    args += ["--position-embedding-type rope", "--normalization RMSNorm"]
    notes.append("# note: RoPE and RMSNorm assumed (the model spec does not record them); set --rotary-base "
                 "to the model's rope theta")
    if not model.linear_bias:
        args.append("--disable-bias-linear")
    if model.qkv_bias:
        args.append("--add-qkv-bias")
    if model.mla is not None:
        m = model.mla
        args += ["--multi-latent-attention", f"--q-lora-rank {m.q_lora_rank}", f"--kv-lora-rank {m.kv_lora_rank}",
                 f"--qk-head-dim {m.qk_nope_head_dim}", f"--qk-pos-emb-head-dim {m.qk_rope_head_dim}",
                 f"--v-head-dim {m.v_head_dim}"]
    if model.moe is not None:
        args += [f"--num-experts {model.moe.experts}", f"--moe-router-topk {model.moe.top_k}",
                 f"--moe-ffn-hidden-size {model.moe.expert_ffn}"]
        if model.moe.shared_experts:
            args.append(f"--moe-shared-expert-intermediate-size {model.moe.shared_experts * model.moe.shared_expert_ffn}")
        if model.moe.first_dense_layers or model.moe.every > 1:
            notes.append("# note: set --moe-layer-freq for the dense/MoE layer pattern "
                         f"(first {model.moe.first_dense_layers} dense, then every {model.moe.every})")
    return args


def _parallel_args(p, model, seq_len: int, precision: str, notes: list[str]) -> list[str]:
    """Parallelism, batch, recompute, ZeRO and precision of plan ``p``, then the world-size note."""
    args = [f"--tensor-model-parallel-size {p.tp}", f"--pipeline-model-parallel-size {p.pp}",
             f"--expert-model-parallel-size {p.ep}", f"--micro-batch-size {p.microbatch}",
             *([f"--context-parallel-size {p.cp}"] if p.cp > 1 else []),
             f"--global-batch-size {int(round(p.global_batch_tokens / seq_len))}"]
    per_stage = -(-model.layers // p.pp)
    if model.layers % p.pp:  # uneven split: the model's largest stages first, the remainder on the last
        args.append(f"--decoder-last-pipeline-num-layers {model.layers - (p.pp - 1) * per_stage}")
    if p.interleave > 1:
        args.append(f"--num-layers-per-virtual-pipeline-stage {per_stage // p.interleave}")
        if model.layers % p.pp:
            notes.append("# note: an uneven pipeline split with virtual stages needs a Megatron-LM release that "
                         "supports --decoder-last-pipeline-num-layers with interleaving")
    if p.sequence_parallel:
        args.append("--sequence-parallel")
    if p.recompute == "full":
        args += ["--recompute-granularity full", "--recompute-method uniform", "--recompute-num-layers 1"]
    elif p.recompute == "selective":
        args.append("--recompute-granularity selective")
    if p.zero_stage == 1:
        args.append("--use-distributed-optimizer")
    elif p.zero_stage >= 2:
        strategy = "optim_grads" if p.zero_stage == 2 else "optim_grads_params"
        args += ["--use-megatron-fsdp", f"--data-parallel-sharding-strategy {strategy}", "--use-distributed-optimizer",
                 "--ckpt-format fsdp_dtensor", "--no-gradient-accumulation-fusion"]
    args.append("--bf16")
    if precision == "fp8":
        args.append("--fp8-format hybrid")
    cps = f" x CP {p.cp}" if p.cp > 1 else ""
    notes.append(f"# world size {p.chips} GPUs = TP {p.tp} x PP {p.pp} x DP {p.dp}{cps} (EP {p.ep} within DP); launch "
                 "with torchrun or your scheduler, plus --data-path, --tokenizer-type and the optimizer settings")
    return args
