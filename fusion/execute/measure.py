"""Timing by alternating rounds: variants A, B, ... run in turn, round after round, so that slow
drift of the machine (clocks, other load) hits them alike; results are per-round ratios.

On the lent GPU, separately timed runs drifted by +-40 %, alternating rounds by +-5 %: only
ratios taken within one round are trusted, and their median is quoted.

Where time goes inside a replay is measured on a profiling queue: `profiled_replay` gives each
launch's (start, end), `added_us` what each launch adds to a replay (the gap before it
included), the median of several.
"""
from __future__ import annotations

import dataclasses
import math
import statistics
import time
from collections.abc import Callable

import pyopencl as cl


def busy(queue, enqueue: Callable) -> Callable[[int], None]:
    """A variant that keeps the queue busy: `run(k)` enqueues k iterations back to back
    (`enqueue(queue)` each) and waits once."""
    def run(iterations: int) -> None:
        for _ in range(iterations):
            enqueue(queue)
        queue.finish()
    return run


def choose_iterations(run: Callable[[int], None], sample_seconds: float,
                      limit: int = 400) -> int:
    """How many iterations make one sample of `run` last about sample_seconds."""
    run(2)  # warm
    start = time.perf_counter()
    run(4)
    per = max((time.perf_counter() - start) / 4, 1e-7)
    return int(min(limit, max(1, math.ceil(sample_seconds / per))))


def alternating(variants: dict[str, Callable[[int], None]], *, rounds: int, iterations: int = 1,
                warmup: int = 2) -> dict[str, list[float]]:
    """Seconds per iteration of each variant, one sample per round, variants in turn; a
    variant is `run(iterations)` and waits for its own work."""
    for _ in range(warmup):
        for run in variants.values():
            run(iterations)
    samples = {name: [] for name in variants}
    for _ in range(rounds):
        for name, run in variants.items():
            start = time.perf_counter()
            run(iterations)
            samples[name].append((time.perf_counter() - start) / iterations)
    return samples


def ratios(numerator: list[float], denominator: list[float]) -> list[float]:
    return [a / b for a, b in zip(numerator, denominator)]


def summary(values: list[float]) -> dict:
    return dict(median=statistics.median(values), min=min(values), max=max(values),
                n=len(values))


def warm_up(run: Callable[[int], None], seconds: float = 2.0) -> int:
    """Keep the device busy with `run` for about `seconds` before anything is timed.

    Seen on the lent H200: idle at 345 MHz, 1980 MHz once busy; the first rounds of a run then
    time fused (compute-bound) launches at low clocks while unfused (launch-bound) ones hardly
    change, and the ratio of one command ranged 2.08x-2.64x with the same plan. Returns the
    iterations run."""
    done, iterations = 0, 1
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        run(iterations)
        done += iterations
        iterations = min(iterations * 2, 256)
    return done


def head_to_head(queue, a: Callable, b: Callable, *, rounds: int, sample_seconds: float,
                 limit: int = 200) -> dict:
    """Replay `a` against `b` (each `enqueue(queue)` of one inference), rounds alternating
    a, b, a again (the null comparison): per-round ratios a / b and a / a again, summarised,
    with the samples in ms."""
    variants = {"a": busy(queue, a), "b": busy(queue, b), "a again": busy(queue, a)}
    iterations = choose_iterations(variants["a"], sample_seconds, limit=limit)
    samples = alternating(variants, rounds=rounds, iterations=iterations)
    return dict(a_over_b=summary(ratios(samples["a"], samples["b"])),
                null=summary(ratios(samples["a"], samples["a again"])), iterations=iterations,
                samples_ms={k: [v * 1e3 for v in vs] for k, vs in samples.items()})


@dataclasses.dataclass
class Profile:
    """One profiled replay: per launch (start, end) in ms from the first launch's start."""

    spans: list[tuple[float, float]]

    @property
    def total_ms(self) -> float:
        return max(end for _, end in self.spans) if self.spans else 0.0

    def added_ms(self) -> list[float]:
        """Per launch, what it added to the replay: from the end of the launch before it (the
        replay's start for the first) to its own end — any idle gap before it included."""
        ends = [0.0] + [end for _, end in self.spans]
        return [ends[k + 1] - ends[k] for k in range(len(self.spans))]


def profiled_replay(context: cl.Context, plan, warm: int = 2) -> Profile:
    """Device times of one replay of `plan` (a fusion.execute.plan.Plan), after `warm` replays
    on the same queue. The queue is in order, so a launch starts when the one before ends:
    where a runtime reports an earlier start (Intel's CPU runtime reports when a command was
    queued), the start is moved there."""
    queue = cl.CommandQueue(context, properties=cl.command_queue_properties.PROFILING_ENABLE)
    for _ in range(warm):
        plan.replay(queue)
    queue.finish()
    events = [cl.enqueue_nd_range_kernel(queue, launch.kernel, launch.global_size,
                                         launch.local_size) for launch in plan.launches]
    queue.finish()
    first = min(event.profile.start for event in events)
    spans, previous_end = [], 0.0
    for event in events:
        start = max((event.profile.start - first) * 1e-6, previous_end)
        end = max((event.profile.end - first) * 1e-6, start)
        spans.append((start, end))
        previous_end = end
    return Profile(spans)


def added_us(context: cl.Context, plan, replays: int) -> list[float]:
    """Per launch of `plan`, the µs it adds to a replay (Profile.added_ms), the median over
    `replays` profiled replays."""
    added = [profiled_replay(context, plan).added_ms() for _ in range(replays)]
    return [statistics.median(replay[k] for replay in added) * 1e3
            for k in range(len(plan.launches))]
