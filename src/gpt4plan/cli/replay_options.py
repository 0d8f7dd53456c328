"""The latency replay's options of ``infer`` (``--prompt-cv``, ``--output-cv``, ``--length-dist``,
``--arrival-cv``, ``--lengths-from``, ``--trace``, ``--replay-requests``, ``--seed``): :class:`ReplayOptions`
and :func:`replay_options`.  Files are read here, at the boundary (:func:`gpt4plan.specs.trace.read_trace`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from gpt4plan.cli.console import BadInput

#: Most requests a drawn replay may hold (a replay of 10,000 takes ~0.15 s: benchmarks/bench_replay.py).
MAX_REPLAY_REQUESTS = 200_000
#: Largest coefficient of variation taken (a lognormal of CV 10 already puts most requests far below the mean).
MAX_CV = 10.0


@dataclass(frozen=True)
class ReplayOptions:
    """How the plans' latency replay draws its requests, or the request log it replays (``trace``, a
    :class:`gpt4plan.specs.trace.Trace`); ``given``: the options given, for the combinations refused."""

    prompt_cv: float = 0.0
    output_cv: float = 0.0
    length_dist: str = "lognormal"
    arrival_cv: float = 1.0
    requests: int | None = None
    seed: int = 0
    trace: object | None = None
    trace_path: str | None = None
    lengths: object | None = None
    lengths_path: str | None = None
    given: tuple[str, ...] = field(default=())

    def trace_means(self) -> tuple[int, int]:
        """The trace's (or the lengths file's) mean prompt and output tokens, rounded (>= 1)."""
        t = self.trace or self.lengths
        return (max(1, round(sum(t.prompt_tokens) / len(t.prompt_tokens))),
                max(1, round(sum(t.output_tokens) / len(t.output_tokens))))

    def trace_demand(self) -> float:
        """The trace's output tokens per second: all its output tokens over its first to last arrival."""
        t = self.trace
        return sum(t.output_tokens) / t.arrival_s[-1]

    def check_clash(self, prompt_tokens, output_tokens, demand, users) -> None:
        """A file that gives the lengths (and a trace, the load) beside options that give them: bad input."""
        if self.trace is None and self.lengths is None:
            return
        given = (("--prompt-tokens", prompt_tokens), ("--output-tokens", output_tokens))
        given += (("--demand", demand), ("--users", users)) if self.trace is not None else ()
        clash = [o for o, v in given if v is not None]
        if clash:
            what = ("--trace gives the request lengths and the load" if self.trace is not None
                    else "--lengths-from gives the request lengths")
            raise BadInput(f"{what}: drop {', '.join(clash)}")

    def clipped(self, max_context: int) -> int:
        """Logged requests longer than a model's context of ``max_context`` tokens (their prompts are shortened)."""
        t = self.trace or self.lengths
        if t is None:
            return 0
        return sum(p + o > max_context for p, o in zip(t.prompt_tokens, t.output_tokens, strict=True))

    def traffic(self, max_context: int):
        """The :class:`gpt4plan.serving.traffic.Traffic` of these options for a model of ``max_context`` tokens
        (a logged request longer than it keeps its output and has its prompt shortened)."""
        from gpt4plan.serving.traffic import DEFAULT_REPLAY_REQUESTS, Traffic

        def requests(t):
            if t is None:
                return None
            import numpy as np

            from gpt4plan.serving.traffic import Requests

            out = np.minimum(np.array(t.output_tokens, dtype=np.int64), max_context - 1)
            prompt = np.maximum(np.minimum(np.array(t.prompt_tokens, dtype=np.int64), max_context - out), 1)
            return Requests(np.array(t.arrival_s, float), prompt, out)

        return Traffic(self.prompt_cv, self.output_cv, self.length_dist, self.arrival_cv,
                       self.requests or DEFAULT_REPLAY_REQUESTS, self.seed, requests(self.trace), requests(self.lengths))

    def describe(self) -> dict:
        """The replay's settings as the JSON's ``traffic`` object."""
        from gpt4plan.serving.traffic import DEFAULT_REPLAY_REQUESTS
        from gpt4plan.serving.verify import DEFAULT_UTILISATION, VERIFY_CANDIDATES

        if self.trace is not None:
            return {"trace": self.trace_path, "trace_layout": self.trace.layout, "requests": len(self.trace.arrival_s),
                    "failed_requests_skipped": self.trace.skipped, "seed": self.seed,
                    "verify_candidates": VERIFY_CANDIDATES}
        return {"prompt_cv": self.prompt_cv, "output_cv": self.output_cv, "length_distribution": self.length_dist,
                "lengths_from": self.lengths_path, "arrival_cv": self.arrival_cv,
                "requests": self.requests or DEFAULT_REPLAY_REQUESTS, "seed": self.seed,
                "default_utilisation": DEFAULT_UTILISATION, "verify_candidates": VERIFY_CANDIDATES}


def _cv(value: float | None, option: str, default: float) -> float:
    if value is None:
        return default
    if not 0.0 <= value <= MAX_CV:
        raise BadInput(f"{option}: a coefficient of variation from 0 to {MAX_CV:g}, got {value!r}")
    return float(value)


def replay_options(prompt_cv: float | None = None, output_cv: float | None = None, length_dist=None,
                   arrival_cv: float | None = None, lengths_from: str | None = None, trace: str | None = None,
                   replay_requests: int | None = None, seed: int | None = None) -> ReplayOptions:
    """Check the replay's options (bad ones raise :class:`BadInput`; a bad file, a SpecError) and read files."""
    given = tuple(name for name, v in (("--prompt-cv", prompt_cv), ("--output-cv", output_cv),
                                       ("--length-dist", length_dist), ("--arrival-cv", arrival_cv),
                                       ("--lengths-from", lengths_from), ("--replay-requests", replay_requests),
                                       ("--trace", trace), ("--seed", seed)) if v is not None)
    if trace is not None:
        drawn = [g for g in given if g not in ("--trace", "--seed")]
        if drawn:
            raise BadInput(f"--trace replays the log as it is: drop {', '.join(drawn)}")
    if replay_requests is not None and not 1 <= replay_requests <= MAX_REPLAY_REQUESTS:
        raise BadInput(f"--replay-requests: from 1 to {MAX_REPLAY_REQUESTS:,}, got {replay_requests}")
    if seed is not None and not 0 <= seed < 2**63:
        raise BadInput(f"--seed: a whole number from 0, got {seed}")
    if lengths_from is not None and (prompt_cv is not None or output_cv is not None or length_dist is not None):
        raise BadInput("--lengths-from draws the lengths from the file: drop --prompt-cv/--output-cv/--length-dist")
    opts = ReplayOptions(_cv(prompt_cv, "--prompt-cv", 0.0), _cv(output_cv, "--output-cv", 0.0),
                         getattr(length_dist, "value", length_dist) or "lognormal", _cv(arrival_cv, "--arrival-cv", 1.0),
                         replay_requests, seed or 0, given=given)
    if trace is not None:
        from gpt4plan.specs.trace import read_trace  # imported where used: a fast start

        t = read_trace(trace)
        if t.arrival_s[-1] <= 0:
            raise BadInput(f"--trace: {trace}: every request arrives at the same time: no rate to size the fleet by")
        opts = ReplayOptions(seed=opts.seed, trace=t, trace_path=trace, given=given)
    elif lengths_from is not None:
        from gpt4plan.specs.trace import read_trace

        opts = ReplayOptions(arrival_cv=opts.arrival_cv, requests=replay_requests, seed=opts.seed,
                             lengths=read_trace(lengths_from), lengths_path=lengths_from, given=given)
    return opts
