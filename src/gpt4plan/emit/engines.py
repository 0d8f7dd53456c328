"""Launch arguments of serving engines for a planned layout (``gpt4plan infer --emit vllm|sglang|trtllm``).

Presentation only: turns a :class:`gpt4plan.serving.Plan` into one server's command line, with flag names
as each engine documents them:

* vLLM ``vllm serve`` (docs.vllm.ai, engine arguments): ``--tensor-parallel-size``,
  ``--pipeline-parallel-size``, ``--enable-expert-parallel`` (attention DP: ``--data-parallel-size``,
  ``--all2all-backend deepep_low_latency``, ``--enable-dbo`` for two-batch overlap: vLLM docs, expert parallel
  deployment and design/dbo), ``--max-num-seqs``, ``--max-model-len``,
  ``--kv-cache-dtype``, ``--quantization fp8``, ``--gpu-memory-utilization``, ``--dtype``,
  ``--speculative-config '{"model": ..., "num_speculative_tokens": g}'`` (``"method": "ngram"`` without a
  draft model, ``"method": "deepseek_mtp"`` for MTP: vLLM docs, speculative decoding, MTP).
* SGLang ``python -m sglang.launch_server`` (docs.sglang.io, server arguments; attention DP:
  ``--enable-dp-attention --dp-size --ep-size --moe-a2a-backend deepep --deepep-mode auto`` (DeepEP's normal
  kernels for prefill, low-latency for decode), ``--enable-two-batch-overlap``): ``--tp-size``,
  ``--pp-size``, ``--ep-size``, ``--max-running-requests``, ``--context-length``, ``--kv-cache-dtype``,
  ``--quantization fp8``, ``--mem-fraction-static``, ``--speculative-algorithm STANDALONE``,
  ``--speculative-draft-model-path``, ``--speculative-num-steps``, ``--speculative-eagle-topk``,
  ``--speculative-num-draft-tokens`` (MTP: ``--speculative-algorithm EAGLE`` on the model's own module, top-k 1,
  N steps, N + 1 draft tokens: SGLang docs, DeepSeek usage, multi-token prediction).
* TensorRT-LLM ``trtllm-serve`` (nvidia.github.io/TensorRT-LLM, commands/trtllm-serve): ``--tp_size``,
  ``--pp_size``, ``--ep_size``, ``--max_batch_size``, ``--max_seq_len``, ``--max_num_tokens``,
  ``--kv_cache_free_gpu_memory_fraction``, ``--extra_llm_api_options`` (a YAML file: ``kv_cache_config``,
  ``speculative_config`` with ``decoding_type: DraftTarget`` or ``NGram`` and ``max_draft_len``, or
  ``decoding_type: MTP`` and ``num_nextn_predict_layers``: TensorRT-LLM DeepSeek-V3 guide), written
  by a here-document before the command.

Chunked prefill (``Workload.max_batched_tokens``): vLLM ``--max-num-batched-tokens N
--enable-chunked-prefill``, SGLang ``--chunked-prefill-size N``, TensorRT-LLM ``--max_num_tokens N`` (else
the prompt plus the batch).  Prefix caching (``Workload.prefix_tokens``): vLLM ``--enable-prefix-caching``,
TensorRT-LLM ``kv_cache_config: enable_block_reuse: true``; SGLang's radix cache is on by default.

Lines starting with ``#`` are notes; the output runs as a shell script.  One server runs one replica; a plan with several replicas runs that
many servers behind a load balancer.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING

from gpt4plan.serving import Plan, Speculation, Workload, layout_words
from gpt4plan.specs.units import plural
from gpt4plan.specs.vocabulary import Engine, values

if TYPE_CHECKING:  # the schemas import pydantic; planning never needs it (a fast start)
    from gpt4plan.specs import HardwareSpec, ModelSpec

__all__ = ["ENGINES", "engine_args", "checkpoint_of"]

ENGINES = values(Engine)
_HF_ID = re.compile(r"config\.json of ([A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+)")


def checkpoint_of(model: ModelSpec) -> str:
    """The Hugging Face repository a catalog spec was read from (``config.json of org/name`` in its source),
    else a placeholder path the user replaces."""
    m = _HF_ID.search(model.source or "")
    return m.group(1) if m else f"/path/to/{model.name}"


def _torch_dtype(weights: str) -> str | None:
    return {"bf16": "bfloat16", "fp16": "float16", "fp32": "float32"}.get(weights)


def _notes(plan: Plan, model: ModelSpec, wl: Workload, engine: str, objective: str) -> list[str]:
    lay = layout_words(plan.tp, plan.pp, plan.ep, plan.attention_dp, plan.redundant_experts)
    out = [f"# gpt4plan {objective} plan for {model.name}: {plural(plan.chips, 'chip')} = "
           f"{plural(plan.replicas, 'replica')} × ({lay}), {plural(plan.batch, 'sequence')} in flight per replica, "
           f"{wl.prompt_tokens} + {wl.output_tokens} tokens per request"]
    if plan.replicas > 1:
        extra = " (vLLM also: --data-parallel-size)" if engine == "vllm" else ""
        out.append(f"# run {plan.replicas} copies of this server behind a load balancer{extra}")
    if plan.tp * plan.pp * plan.attention_dp > 8:
        out.append(f"# {plan.tp * plan.pp * plan.attention_dp} chips per replica span several nodes: start the engine's multi-node "
                   "launcher (Ray / --nnodes / mpirun) with these arguments")
    if wl.weights in ("int8", "int4"):
        out.append(f"# {wl.weights} weights: serve a pre-quantised checkpoint (AWQ/GPTQ/ModelOpt); the engine "
                   "reads its quantisation from the checkpoint's config")
    if wl.kv_cache in ("int8", "int4", "fp32"):
        out.append(f"# {wl.kv_cache} KV cache: not an engine option; emitted as the model's dtype")
    return out


def _spec_json_vllm(sp: Speculation) -> str:
    if sp.mtp:
        return json.dumps({"method": "deepseek_mtp", "num_speculative_tokens": sp.tokens})
    if sp.draft is not None:
        cfg = {"model": checkpoint_of(sp.draft), "num_speculative_tokens": sp.tokens}
    else:
        cfg = {"method": "ngram", "num_speculative_tokens": sp.tokens, "prompt_lookup_max": 4}
    return json.dumps(cfg)


def engine_args(engine: str, plan: Plan, model: ModelSpec, wl: Workload, hw: HardwareSpec,
                objective: str = "min_cost") -> str:
    """One server's launch command for ``plan`` on ``engine`` (``vllm``, ``sglang`` or ``trtllm``)."""
    if engine not in ENGINES:
        raise ValueError(f"unknown engine {engine!r}; choose from {', '.join(ENGINES)}")
    notes = _notes(plan, model, wl, engine, objective)
    build = {"vllm": _vllm_args, "sglang": _sglang_args, "trtllm": _trtllm_args}[engine]
    args = build(plan, checkpoint_of(model), wl, f"{hw.usable_memory:.2f}", notes)
    return "\n".join(notes + [" \\\n  ".join(args)])


def _vllm_args(plan: Plan, ckpt: str, wl: Workload, mem: str, notes: list[str]) -> list[str]:
    """``vllm serve``'s arguments (notes on what vLLM cannot express go to ``notes``)."""
    max_len = wl.prompt_tokens + wl.output_tokens
    sp = wl.speculation
    fp8_kv = wl.kv_cache == "fp8"
    args = [f"vllm serve {ckpt}", f"--tensor-parallel-size {plan.tp}", f"--pipeline-parallel-size {plan.pp}"]
    if plan.attention_dp > 1:  # attention data parallelism, the experts over all DP x TP ranks
        args += [f"--data-parallel-size {plan.attention_dp}", "--enable-expert-parallel",
                 "--all2all-backend deepep_low_latency"]
        if plan.two_batch_overlap:
            args.append("--enable-dbo")
        if plan.ep < plan.attention_dp * plan.tp:
            notes.append(f"# vLLM's expert parallelism spans all {plan.attention_dp * plan.tp} ranks; the plan split "
                         f"each expert over {plan.attention_dp * plan.tp // plan.ep} chips (EP {plan.ep})")
        if plan.redundant_experts:
            notes.append(f"# the plan assumed {plan.redundant_experts} redundant expert slots (EPLB); enable vLLM's "
                         "expert load balancer to match it")
    elif plan.ep > 1:
        args.append("--enable-expert-parallel")
        if plan.ep != plan.tp:
            notes.append(f"# vLLM's expert parallelism spans the whole TP group (EP = {plan.tp}); the plan "
                         f"assumed EP {plan.ep}")
    args += [f"--max-num-seqs {plan.batch}", f"--max-model-len {max_len}", f"--gpu-memory-utilization {mem}",
             f"--kv-cache-dtype {'fp8' if fp8_kv else 'auto'}"]
    if wl.weights == "fp8":
        args.append("--quantization fp8")
    elif _torch_dtype(wl.weights):
        args.append(f"--dtype {_torch_dtype(wl.weights)}")
    if sp is not None:
        args.append(f"--speculative-config '{_spec_json_vllm(sp)}'")
    if wl.max_batched_tokens is not None:
        args += [f"--max-num-batched-tokens {wl.max_batched_tokens}", "--enable-chunked-prefill"]
    if wl.prefix_tokens:
        args.append("--enable-prefix-caching")
    return args


def _sglang_args(plan: Plan, ckpt: str, wl: Workload, mem: str, notes: list[str]) -> list[str]:
    """``python -m sglang.launch_server``'s arguments (notes on what it cannot express go to ``notes``)."""
    max_len = wl.prompt_tokens + wl.output_tokens
    sp = wl.speculation
    fp8_kv = wl.kv_cache == "fp8"
    if plan.attention_dp > 1:  # SGLang's tp-size is every GPU of the instance; dp-size the attention groups
        args = [f"python -m sglang.launch_server --model-path {ckpt}", f"--tp-size {plan.tp * plan.attention_dp}",
                f"--dp-size {plan.attention_dp}", "--enable-dp-attention", f"--ep-size {plan.ep}",
                "--moe-a2a-backend deepep", "--deepep-mode auto"]
        if plan.two_batch_overlap:
            args.append("--enable-two-batch-overlap")
        if plan.redundant_experts:
            args += [f"--ep-num-redundant-experts {plan.redundant_experts}", "--enable-eplb"]
    else:
        args = [f"python -m sglang.launch_server --model-path {ckpt}", f"--tp-size {plan.tp}", f"--pp-size {plan.pp}"]
    if plan.ep > 1 and plan.attention_dp == 1:
        args.append(f"--ep-size {plan.ep}")
    args += [f"--max-running-requests {plan.batch}", f"--context-length {max_len}", f"--mem-fraction-static {mem}",
             f"--kv-cache-dtype {'fp8_e4m3' if fp8_kv else 'auto'}"]
    if wl.weights == "fp8":
        args.append("--quantization fp8")
    elif _torch_dtype(wl.weights):
        args.append(f"--dtype {_torch_dtype(wl.weights)}")
    if sp is not None:
        if sp.mtp:
            args += ["--speculative-algorithm EAGLE", f"--speculative-num-steps {sp.tokens}",
                     "--speculative-eagle-topk 1", f"--speculative-num-draft-tokens {sp.tokens + 1}"]
        elif sp.draft is not None:
            args += ["--speculative-algorithm STANDALONE", f"--speculative-draft-model-path {checkpoint_of(sp.draft)}",
                     f"--speculative-num-steps {sp.tokens}", "--speculative-eagle-topk 1",
                     f"--speculative-num-draft-tokens {sp.tokens + 1}"]
        else:
            notes.append(f"# draft given as a cost fraction: choose the --speculative-algorithm of your draft "
                         f"(EAGLE head, n-gram) with --speculative-num-steps {sp.tokens} "
                         f"--speculative-num-draft-tokens {sp.tokens + 1}")
    if wl.max_batched_tokens is not None:
        args.append(f"--chunked-prefill-size {wl.max_batched_tokens}")
    if wl.prefix_tokens:
        notes.append("# prefix caching: SGLang's radix cache is on by default (do not pass --disable-radix-cache)")
    return args


def _trtllm_args(plan: Plan, ckpt: str, wl: Workload, mem: str, notes: list[str]) -> list[str]:
    """``trtllm-serve``'s arguments; its extra options YAML is written by a here-document added to ``notes``."""
    max_len = wl.prompt_tokens + wl.output_tokens
    sp = wl.speculation
    fp8_kv = wl.kv_cache == "fp8"
    yaml_lines = ["kv_cache_config:", f"  dtype: {'fp8' if fp8_kv else 'auto'}"]
    if wl.prefix_tokens:
        yaml_lines.append("  enable_block_reuse: true")
    if sp is not None:
        yaml_lines += ["speculative_config:"]
        if sp.mtp:
            yaml_lines += ["  decoding_type: MTP", f"  num_nextn_predict_layers: {sp.tokens}"]
        elif sp.draft is not None:
            yaml_lines += ["  decoding_type: DraftTarget", f"  max_draft_len: {sp.tokens}",
                           f"  speculative_model: {checkpoint_of(sp.draft)}"]
        else:
            yaml_lines += ["  decoding_type: NGram", f"  max_draft_len: {sp.tokens}", "  max_matching_ngram_size: 4"]
    if wl.weights == "fp8":
        notes.append("# fp8 weights: serve an FP8 checkpoint (e.g. quantised with TensorRT Model Optimizer)")
    if plan.attention_dp > 1:  # attention DP over the whole tp_size; experts over ep_size
        yaml_lines.append("enable_attention_dp: true")
        args = [f"trtllm-serve {ckpt}", "--backend pytorch", f"--tp_size {plan.tp * plan.attention_dp}",
                f"--pp_size {plan.pp}"]
    else:
        args = [f"trtllm-serve {ckpt}", "--backend pytorch", f"--tp_size {plan.tp}", f"--pp_size {plan.pp}"]
    if plan.ep > 1:
        args.append(f"--ep_size {plan.ep}")
    args += [f"--max_batch_size {plan.batch}", f"--max_seq_len {max_len}",
             f"--max_num_tokens {wl.max_batched_tokens or wl.prompt_tokens + plan.batch}",
             f"--kv_cache_free_gpu_memory_fraction {mem}", "--extra_llm_api_options extra_llm_api_options.yaml"]
    notes += ["cat > extra_llm_api_options.yaml <<'YAML'", *yaml_lines, "YAML"]
    return args
