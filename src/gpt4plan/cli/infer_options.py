"""The validated options of ``infer`` and ``compare``: :class:`InferOptions` and :func:`infer_options`.
"""

from __future__ import annotations

from dataclasses import dataclass

from gpt4plan.cli.console import BadInput
from gpt4plan.cli.options import Dtype, check_positive, parse_rate, parse_target, parse_whole
from gpt4plan.cli.replay_options import ReplayOptions


@dataclass(frozen=True)
class InferOptions:
    """The validated options of ``infer`` (and ``compare``): everything but the model and the chip."""

    prompt_tokens: int | None
    output_tokens: int | None
    weights: str
    kv_cache: str
    ttft_s: float | None
    tpot_s: float
    tps_source: str | None
    demand: float | None
    users: int | None
    tp: int | None
    pp: int | None
    ep: int | None
    batch: int | None
    chips: int | None
    max_chips: int
    price_per_hour: float | None
    draft_model: str | None = None
    draft_tokens: int = 4
    acceptance: float = 0.8
    draft_cost_fraction: float | None = None
    performance_model: str = "roofline"
    engine: str = "trtllm"
    attention_dp: int | None = None
    redundant_experts: int | None = None
    mtp: int | None = None  # MTP speculation: draft depth (the model's multi-token-prediction module)
    mtp_acceptance: float | None = None  # --acceptance with --mtp: the same at every depth
    two_batch_overlap: bool = True  # --no-two-batch-overlap: attention-DP passes stay whole
    #: the percentile a --ttft / --tpot target holds (p99:2s); None: the steady-state mean
    ttft_percentile: float | None = None
    tpot_percentile: float | None = None
    replay: ReplayOptions = ReplayOptions()
    images_per_request: int = 0  # --images-per-request: through the model's vision encoder
    #: prefix caching (tokens shared by every prompt; fraction of requests that find them cached) and the
    #: engine's token budget per pass (chunked prefill)
    prefix_tokens: int = 0
    prefix_hit_rate: float = 1.0
    max_batched_tokens: int | None = None

    @property
    def percentile_targets(self) -> bool:
        return self.ttft_percentile is not None or self.tpot_percentile is not None

    def hardware(self, h):
        """The chip's spec with ``--price-per-hour`` applied."""
        return h if self.price_per_hour is None else h.with_price(self.price_per_hour)

    def request_shape(self, m) -> tuple[int, int]:
        """(prompt, output) tokens for model ``m``; the defaults fit its context (a trace's means, with --trace)."""
        if self.replay.trace is not None or self.replay.lengths is not None:
            prompt, output = self.replay.trace_means()
            output = min(output, m.max_context - 1)
            return min(prompt, m.max_context - output), output
        prompt, output = self.prompt_tokens, self.output_tokens
        if output is None:
            output = max(1, min(512, m.max_context // 4) if prompt is None else min(512, m.max_context - prompt))
        if prompt is None:
            prompt = max(1, min(2048, m.max_context - output))
        return prompt, output

    def shape_notes(self, m) -> list[str]:
        """One note per default length shortened to fit model ``m``'s context (none when both were given)."""
        prompt, output = self.request_shape(m)
        clipped = self.replay.clipped(m.max_context)
        if clipped:
            return [f"{clipped:,} logged request{'s' if clipped > 1 else ''} longer than {m.name}'s context of "
                    f"{m.max_context:,} tokens: prompt shortened to fit in the replay"]
        if prompt + output > m.max_context or self.replay.trace is not None or self.replay.lengths is not None:
            return []
        ctx = f"{m.name}'s context of {m.max_context:,} tokens"
        notes = []
        if self.output_tokens is None and output < 512:
            why = (f"the {prompt:,}-token prompt leaves {output:,} of {ctx}" if self.prompt_tokens is not None
                   else f"a quarter of {ctx}")
            notes.append(f"output tokens: {output:,}, not the default 512: {why}; set --output-tokens to choose")
        if self.prompt_tokens is None and prompt < 2048:
            notes.append(f"prompt tokens: {prompt:,}, not the default 2,048: {output:,} output tokens leave {prompt:,} "
                         f"of {ctx}; set --prompt-tokens to choose")
        return notes

    def workload(self, m):
        """The request shape for model ``m``: defaults fit its context; a request longer than it is bad input."""
        from gpt4plan.serving import Workload

        prompt, output = self.request_shape(m)
        inline = self.inline_image_tokens(m)
        if inline and prompt + inline + output > m.max_context:
            raise BadInput(f"--images-per-request {self.images_per_request}: {inline:,} image tokens + {prompt:,} prompt "
                           f"+ {output:,} output tokens exceed {m.name}'s max_context {m.max_context:,}")
        if prompt + output > m.max_context:
            if self.output_tokens is None:  # the default output was shrunk to nothing: the prompt alone is too long
                raise BadInput(f"--prompt-tokens {prompt} leaves no room for an output token in {m.name}'s "
                               f"max_context {m.max_context}")
            raise BadInput(f"--prompt-tokens + --output-tokens = {prompt + output} exceeds "
                           f"{m.name}'s max_context {m.max_context}")
        if self.prefix_tokens >= prompt:
            raise BadInput(f"--prefix-tokens {self.prefix_tokens}: must be below the {prompt:,} prompt tokens "
                           "(at least one token of a prompt is prefilled)")
        return Workload(prompt, output, self.weights, self.kv_cache, self.speculation(m),
                        performance_model=self.performance_model, engine=self.engine,
                        images_per_request=self.images_per_request, prefix_tokens=self.prefix_tokens,
                        prefix_hit_rate=self.prefix_hit_rate, max_batched_tokens=self.max_batched_tokens)

    def inline_image_tokens(self, m) -> int:
        """Image tokens that join each prompt of model ``m`` (0 without images or with cross-attention)."""
        v = getattr(m, "vision", None)
        if not self.images_per_request or v is None or v.injection != "inline":
            return 0
        return self.images_per_request * v.tokens_per_image

    def check_images(self, m, disaggregate: bool = False, profile: bool = False) -> None:
        """``--images-per-request`` needs a model with a vision block, and is not modelled with
        ``--disaggregate``, ``--demand-profile`` or the pass-by-pass replay yet (bad input)."""
        if not self.images_per_request:
            return
        n = self.images_per_request
        if getattr(m, "vision", None) is None:
            raise BadInput(f"--images-per-request {n}: {m.name} has no vision encoder; give a model spec with a "
                           "'vision:' block (see examples/llava-1.5-7b.yaml)")
        for given, what in ((disaggregate, "--disaggregate"), (profile, "--demand-profile"),
                            (self.percentile_targets or bool(self.replay.given), "percentile targets or the replay"),
                            (self.attention_dp is not None and m.vision.injection == "cross_attention",
                             "--attention-dp with cross-attention image tokens")):
            if given:
                raise BadInput(f"--images-per-request {n}: not modelled with {what} yet")

    def speculation(self, m=None):
        """Speculative decoding settings for target model ``m``, or None without a draft."""
        if self.mtp is not None:
            return self._mtp(m)
        if self.draft_model is None and self.draft_cost_fraction is None:
            return None
        from gpt4plan.serving import Speculation
        from gpt4plan.specs import SpecError
        from gpt4plan.specs.catalog import resolve_model

        draft = None
        if self.draft_model is not None:
            try:
                draft = resolve_model(self.draft_model)
            except SpecError as exc:  # name the option the user typed
                if exc.file == "--model":
                    raise SpecError("--draft-model", exc.line, exc.field, exc.message) from None
                raise
        return Speculation(self.draft_tokens, self.acceptance, draft, self.draft_cost_fraction)

    def _mtp(self, m):
        """MTP speculation ``self.mtp`` tokens deep; a model without an MTP module is bad input."""
        from gpt4plan.serving import Speculation, mtp_acceptances

        if m is not None and not m.mtp_layers:
            raise BadInput(f"--mtp: {m.name} has no multi-token-prediction module (mtp_layers: 0 in its spec; "
                           "Hugging Face config.json num_nextn_predict_layers); use --draft-model or "
                           "--draft-cost-fraction")
        acc = mtp_acceptances(self.mtp, self.mtp_acceptance)
        return Speculation(self.mtp, acc[0], mtp=True, acceptances=acc)

    def targets(self):
        from gpt4plan.serving import Targets

        demand = self.replay.trace_demand() if self.replay.trace is not None else self.demand
        return Targets(ttft_max_s=self.ttft_s, tpot_max_s=self.tpot_s, demand_tokens_per_s=demand,
                       users=self.users, max_chips=self.max_chips, ttft_percentile=self.ttft_percentile,
                       tpot_percentile=self.tpot_percentile)

    def pins(self):
        from gpt4plan.serving import Pins

        return Pins(tp=self.tp, pp=self.pp, ep=self.ep, batch=self.batch, chips=self.chips,
                    attention_dp=self.attention_dp, redundant_experts=self.redundant_experts,
                    two_batch_overlap=self.two_batch_overlap)

    @property
    def pinned(self) -> bool:
        """The layout is fixed (chips, or both tp and pp): the headline says 'pinned layout'."""
        return self.chips is not None or (self.tp is not None and self.pp is not None)

    def sources(self, h) -> dict[str, str]:
        src = {"price": f"{h.price:.4g} USD/chip-hour " + ("(--price-per-hour)" if self.price_per_hour
                                                           else f"from the {h.name} spec ({h.price_date or 'undated'})")}
        if self.tps_source:
            src["target source"] = self.tps_source
        return src


def infer_options(
    prompt_tokens: int | None = None, output_tokens: int | None = None, weights: Dtype = Dtype.bf16,
    kv_cache: Dtype = Dtype.bf16, ttft: str | None = None, tpot: str | None = None,
    tokens_per_s_per_user: float | None = None, demand: str | float | None = None, users: str | int | None = None,
    tp: int | None = None, pp: int | None = None, ep: int | None = None, batch: int | None = None,
    chips: int | None = None, max_chips: str | int = 4096, price_per_hour: float | None = None,
    draft_model: str | None = None, draft_tokens: int | None = None, acceptance: float | None = None,
    draft_cost_fraction: float | None = None, performance_model: str = "roofline", engine: str | None = None,
    attention_dp: int | None = None, redundant_experts: int | None = None, mtp: int | None = None,
    no_two_batch_overlap: bool = False, replay: ReplayOptions | None = None,
    images_per_request: int | None = None,
    prefix_tokens: int | None = None, prefix_hit_rate: float | None = None, max_batched_tokens: int | None = None,
) -> InferOptions:
    """Check the options of ``infer``/``compare`` (bad ones raise :class:`BadInput`) and resolve defaults."""
    from gpt4plan.serving import SEED_TOKENS_PER_S_PER_USER

    if tpot is not None and tokens_per_s_per_user is not None:
        raise BadInput("--tpot and --tokens-per-s-per-user set the same target; give one")
    check_positive(tokens_per_s_per_user, "--tokens-per-s-per-user", 1e6)
    demand = check_positive(parse_rate(demand, "--demand"), "--demand", 1e12)
    users = parse_whole(users, "--users")
    max_chips = parse_whole(max_chips, "--max-chips")
    check_positive(price_per_hour, "--price-per-hour", 1e4)
    tpot_s, tpot_p = parse_target(tpot, "--tpot")
    ttft_s, ttft_p = parse_target(ttft, "--ttft")
    replay = replay or ReplayOptions()
    replay.check_clash(prompt_tokens, output_tokens, demand, users)
    for name, v in (("--users", users), ("--batch", batch), ("--chips", chips), ("--max-chips", max_chips),
                    ("--tp", tp), ("--pp", pp), ("--ep", ep), ("--attention-dp", attention_dp),
                    ("--redundant-experts", redundant_experts)):
        if v is not None and v > 10_000_000:
            raise BadInput(f"{name}: {v} is beyond any real deployment (max 10,000,000)")
    if (prompt_tokens or 0) > 10_000_000 or (output_tokens or 0) > 10_000_000:
        raise BadInput("--prompt-tokens/--output-tokens: at most 10,000,000 tokens")
    tps_source = None
    if tpot_s is None:
        if tokens_per_s_per_user is None:
            tokens_per_s_per_user = SEED_TOKENS_PER_S_PER_USER
            tps_source = "8.33 tokens/s per user = reading speed, seed figure S20 (default)"
        tpot_s = 1.0 / tokens_per_s_per_user
    performance_model = getattr(performance_model, "value", performance_model)
    if engine is not None and performance_model != "measured":
        raise BadInput(f"--engine {getattr(engine, 'value', engine)}: picks whose measured kernel tables price the "
                       "passes; add --performance-model measured")
    _check_speculation(draft_model, draft_tokens, acceptance, draft_cost_fraction, mtp)
    _check_prefix_and_budget(prefix_tokens, prefix_hit_rate, max_batched_tokens)
    return InferOptions(prompt_tokens, output_tokens, Dtype(weights).value, Dtype(kv_cache).value, ttft_s, tpot_s,
                        tps_source, demand, users, tp, pp, ep, batch, chips, max_chips, price_per_hour,
                        draft_model, 4 if draft_tokens is None else draft_tokens,
                        0.8 if acceptance is None else acceptance, draft_cost_fraction,
                        performance_model, getattr(engine, "value", engine) or "trtllm", attention_dp,
                        redundant_experts, mtp=mtp, mtp_acceptance=acceptance if mtp is not None else None,
                        two_batch_overlap=not no_two_batch_overlap, ttft_percentile=ttft_p, tpot_percentile=tpot_p,
                        replay=replay, images_per_request=images_per_request or 0, prefix_tokens=prefix_tokens or 0,
                        prefix_hit_rate=1.0 if prefix_hit_rate is None else prefix_hit_rate,
                        max_batched_tokens=max_batched_tokens)


def _check_speculation(draft_model: str | None, draft_tokens: int | None, acceptance: float | None,
                       draft_cost_fraction: float | None, mtp: int | None) -> None:
    """The speculative-decoding options describe one draft, with values in range (else :class:`BadInput`)."""
    if mtp is not None:
        if draft_model is not None or draft_cost_fraction is not None or draft_tokens is not None:
            raise BadInput("--mtp drafts with the model's own MTP module, N tokens deep; drop --draft-model, "
                           "--draft-cost-fraction and --draft-tokens")
        if not 1 <= mtp <= 16:
            raise BadInput(f"--mtp: a draft depth of 1 to 16 tokens, got {mtp}")
    if draft_model is not None and draft_cost_fraction is not None:
        raise BadInput("--draft-model and --draft-cost-fraction both describe the draft; give one")
    if (draft_model is None and draft_cost_fraction is None and mtp is None
            and (draft_tokens is not None or acceptance is not None)):
        raise BadInput("--draft-tokens/--acceptance need a draft: add --draft-model M, --draft-cost-fraction F or "
                       "--mtp N")
    if acceptance is not None and not (0.0 <= acceptance <= 1.0):
        raise BadInput(f"--acceptance: a probability in [0, 1], got {acceptance!r}")
    if draft_cost_fraction is not None and not (0.0 <= draft_cost_fraction <= 1.0):
        raise BadInput(f"--draft-cost-fraction: a fraction of a target step in [0, 1], got {draft_cost_fraction!r}")


def _check_prefix_and_budget(prefix_tokens: int | None, prefix_hit_rate: float | None,
                             max_batched_tokens: int | None) -> None:
    """--prefix-tokens, --prefix-hit-rate and --max-batched-tokens (bad ones raise :class:`BadInput`); a
    prefix as long as the prompt is refused where the prompt is known (:meth:`InferOptions.workload`)."""
    if prefix_hit_rate is not None and not prefix_tokens:
        raise BadInput("--prefix-hit-rate: the fraction of requests that find the --prefix-tokens prefix cached; "
                       "add --prefix-tokens N")
    if prefix_hit_rate is not None and not (0.0 <= prefix_hit_rate <= 1.0):
        raise BadInput(f"--prefix-hit-rate: a fraction of the requests in [0, 1], got {prefix_hit_rate!r}")
    for name, v in (("--prefix-tokens", prefix_tokens), ("--max-batched-tokens", max_batched_tokens)):
        if v is not None and v > 10_000_000:
            raise BadInput(f"{name}: at most 10,000,000 tokens, got {v:,}")
