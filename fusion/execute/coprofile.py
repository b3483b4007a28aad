"""Predicting and measuring splits of one operator between two devices (fusion.execute.coexec).

    layers = model_layers(resolution=96)               # the six DNNs' conv and FC layers
    profile = profile_pair(pair, layers)               # slices measured on each device
    model = fit_pair(profile)                          # a latency model per device + sync
    op = SplitOperator(pair, layer.kind, layer.shape)
    choice = model.choose(op)                          # fusion.plan.split.Choice
    truth = grid(op)                                   # every 5 % measured

The per-device model is the latency model's operator regressor (fusion.plan.latency,
gradient boosting on a launch's facts), fitted on slices of the layers — fractions of their
work-groups, each launched with a global offset and waited for, so dispatch is part of every
sample. The synchronisation is a line in the bytes it moves (least squares), fitted on its own
measurements. How the parts combine (fusion.plan.split) is learnt from whole splits measured
beside their parts: a third regressor predicts log(whole / (slower part + sync)) from the two
parts and the sync — about 0 for a GPU beside a CPU, large for two CPU runtimes that share the
cores and the host thread. Its median error on layers it was not fitted on is the margin a
split must be predicted to win by (4 % for the H200 and its CPU, 17-20 % for two CPU devices
on this 2-core machine), so the choice does not bet on gains smaller than its own error. `fit_pair(profile, exclude=...)` leaves layers out, so that a layer's split can be
predicted by a model that never saw it.
"""
from __future__ import annotations

import dataclasses
import json
import math
import os
import random
import statistics
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import numpy as np

from ..plan.latency import OpFacts, OperatorModel, Sample, fit_operators
from ..plan.split import GRID, Choice, choose
from .coexec import DevicePair, SplitOperator, median_seconds

#: Fractions of an operator's work-groups measured on each device by the profile.
FRACTIONS = (0.1, 0.25, 0.4, 0.6, 0.8, 1.0)
#: Splits the profile times whole, beside their parts and their synchronisation (the small
#: shares too: a second device given 10 % can still cost the first one its speed).
SYNC_FRACTIONS = (0.1, 0.25, 0.5, 0.75, 0.9)
SPLIT_KINDS = ("conv2d", "conv2d_1x1", "depthwise_conv2d", "fully_connected")
SCHEMA = 2


@dataclasses.dataclass(frozen=True)
class Layer:
    kind: str
    shape: dict
    models: tuple[str, ...]

    @property
    def key(self) -> str:
        return f"{self.kind}(" + ",".join(f"{k}={self.shape[k]}" for k in sorted(self.shape)) + ")"


def model_layers(resolution: int | None = None, models: Sequence[str] | None = None,
                 kinds: Sequence[str] = SPLIT_KINDS) -> list[Layer]:
    """The distinct layers of `kinds` in the models (default: the six), each once, with the
    models that hold it."""
    from .. import graph
    from .profile import model_graph
    found: dict[str, Layer] = {}
    for name in models or graph.MODELS:
        for node in model_graph(name, resolution).nodes:
            if node.kind in kinds:
                layer = Layer(node.kind, dict(node.shape), (name,))
                known = found.get(layer.key)
                found[layer.key] = layer if known is None else dataclasses.replace(
                    known, models=tuple(dict.fromkeys(known.models + (name,))))
    return list(found.values())


@dataclasses.dataclass
class PairProfile:
    """Measured slices: parts[side] = [(layer key, facts, µs)], sync[mode] = [(bytes, µs)],
    splits = [(layer key, first part µs, second part µs, sync µs, whole split µs)]."""

    devices: list[str]
    parts: list[list[tuple[str, OpFacts, float]]]
    sync: dict[str, list[tuple[int, float]]]
    settings: dict
    splits: list[tuple] = dataclasses.field(default_factory=list)

    def as_dict(self) -> dict:
        return dict(devices=self.devices, settings=self.settings, sync=self.sync,
                    splits=self.splits,
                    parts=[[(key, facts.as_dict(), us) for key, facts, us in side]
                           for side in self.parts])

    @classmethod
    def from_dict(cls, data: dict) -> "PairProfile":
        return cls(data["devices"], [[(key, OpFacts.from_dict(f), us) for key, f, us in side]
                                     for side in data["parts"]],
                   {mode: [tuple(p) for p in points] for mode, points in data["sync"].items()},
                   data["settings"], [tuple(row) for row in data.get("splits", [])])


def _distinct_units(units: int, fractions: Iterable[float]) -> list[int]:
    return sorted({max(1, min(units, round(f * units))) for f in fractions})


def profile_layer(op: SplitOperator, profile: PairProfile, key: str, *,
                  fractions: Sequence[float] = FRACTIONS, target_s: float = 0.03) -> None:
    """Measure `op`'s slices on both devices and its synchronisation into `profile`."""
    for side in (0, 1):
        for units in _distinct_units(op.axis.units, fractions):
            us = median_seconds(lambda: op.part_seconds(side, units), target_s=target_s) * 1e6
            profile.parts[side].append((key, op.facts(units), us))
    for fraction in SYNC_FRACTIONS:
        split = op.split(fraction)
        if split.region is None:
            continue
        us = median_seconds(lambda: op.sync_seconds(split), target_s=target_s / 3) * 1e6
        profile.sync.setdefault(op.sync_mode, []).append((op.sync_bytes(split), us))
        a, b = split.units
        parts = [median_seconds(lambda s=side, u=units: op.part_seconds(s, u),
                                target_s=target_s / 3) * 1e6 for side, units in ((0, a), (1, b))]
        whole = median_seconds(lambda: op.timed(split), target_s=target_s / 3) * 1e6
        profile.splits.append((key, *parts, us, whole))


def profile_pair(pair: DevicePair, layers: Sequence[Layer], *, fractions=FRACTIONS,
                 progress: Callable[[str], None] | None = None, seed: int = 0) -> PairProfile:
    """Every layer's slices measured on both devices (each layer built on both, then freed)."""
    profile = PairProfile([d.name.strip() for d in pair.devices], [[], []], {},
                          dict(fractions=list(fractions), layers=len(layers), seed=seed))
    for index, layer in enumerate(layers):
        op = SplitOperator(pair, layer.kind, layer.shape, seed=seed)
        profile_layer(op, profile, layer.key, fractions=fractions)
        if progress:
            progress(f"{index + 1}/{len(layers)} {layer.key}")
    return profile


@dataclasses.dataclass
class PairModel:
    """Predicted µs of a slice on each device and of a synchronisation of some bytes."""

    parts: tuple[OperatorModel, OperatorModel]
    sync: dict[str, tuple[float, float]]     # mode -> (µs per byte, fixed µs)
    overlap: object | None = None            # regressor of combine_features -> log factor
    #: how much faster than the better device alone a split must be predicted to be chosen:
    #: the overlap regressor's median error on layers it was not fitted on (at least 3 %)
    margin: float = 0.03

    def combine(self, a: float, b: float, sync: float) -> float:
        """Predicted completion of parts of a and b µs with a sync of `sync` µs."""
        return combined_us(self.overlap, a, b, sync)

    def sync_us(self, mode: str, nbytes: int) -> float:
        if mode == "svm" or nbytes == 0:   # both write one allocation: nothing moves
            return 0.0
        slope, fixed = self.sync.get(mode, (0.0, 0.0))
        return max(0.0, slope * nbytes + fixed)

    def choose(self, op: SplitOperator, ratios: Sequence[float] = GRID,
               scale: tuple[float, float] = (1.0, 1.0)) -> Choice:
        """The predicted best ratio for `op`; `scale` multiplies each device's predictions
        (calibrate() measures it)."""
        def sync(units_b):
            split = op.split(_ratio_of(op, op.axis.units - units_b))
            return self.sync_us(op.sync_mode, op.sync_bytes(split))
        return choose(op.axis.units, lambda u: scale[0] * self.parts[0].us(op.facts(u)),
                      lambda u: scale[1] * self.parts[1].us(op.facts(u)), sync, ratios,
                      margin=self.margin, combine=self.combine)

    def calibrate(self, op: SplitOperator) -> tuple[float, float]:
        """Measured over predicted time of the whole operator on each device, now: two
        launches' worth of measurement that catch what the profile cannot know (a device
        slower today than when it was profiled, another workload, a layer unlike the
        profile's)."""
        scale = []
        for side in (0, 1):
            measured = median_seconds(lambda: op.part_seconds(side, op.axis.units),
                                      target_s=0.01) * 1e6
            scale.append(measured / max(1e-3, self.parts[side].us(op.facts(op.axis.units))))
        return scale[0], scale[1]


def _ratio_of(op: SplitOperator, units_a: int) -> float:
    return units_a / op.axis.units


def fit_pair(profile: PairProfile, exclude: Iterable[str] = ()) -> PairModel:
    """Both devices' models and the synchronisation lines, without the layers in `exclude`."""
    exclude = set(exclude)
    parts = tuple(fit_operators(Sample((facts,), us) for key, facts, us in side
                                if key not in exclude) for side in profile.parts)
    sync = {}
    for mode, points in profile.sync.items():
        x = np.array([p[0] for p in points], float)
        y = np.array([p[1] for p in points], float)
        if len(points) >= 2 and np.ptp(x) > 0:
            slope, fixed = np.polyfit(x, y, 1)
        else:
            slope, fixed = 0.0, float(np.median(y)) if len(y) else 0.0
        sync[mode] = (float(slope), float(fixed))
    splits = [row for row in profile.splits if row[0] not in exclude]
    return PairModel(parts, sync, fit_overlap(splits),  # type: ignore[arg-type]
                     margin=max(0.03, overlap_error(splits)))


def overlap_error(splits: Sequence[tuple], folds: int = 5) -> float:
    """The overlap regressor's median |log(predicted / measured)| of whole splits, each
    predicted by a regressor fitted without its layer (layers in `folds` groups)."""
    keys = sorted({row[0] for row in splits})
    random.Random(0).shuffle(keys)
    errors = []
    for fold in range(folds):
        held = set(keys[fold::folds])
        regressor = fit_overlap([row for row in splits if row[0] not in held])
        errors += [abs(math.log(combined_us(regressor, a, b, sync) / whole))
                   for key, a, b, sync, whole in splits if key in held and min(a, b) > 0]
    return float(statistics.median(errors)) if errors else 0.0


def combined_us(overlap, a: float, b: float, sync: float) -> float:
    """Parts of a and b µs and a sync of `sync` µs as one split: the slower part plus the sync,
    times what the overlap regressor (None: nothing) says running together costs."""
    base = max(a, b) + sync
    if overlap is None:
        return base
    return base * math.exp(float(overlap.predict([combine_features(a, b, sync)])[0]))


def combine_features(a: float, b: float, sync: float) -> list[float]:
    return [math.log1p(a), math.log1p(b), math.log1p(sync), min(a, b) / max(a, b, 1e-9)]


def fit_overlap(splits: Iterable[tuple]):
    """The regressor of log(whole / (max(a, b) + sync)) over measured splits (None: too few)."""
    from sklearn.ensemble import GradientBoostingRegressor
    rows = [(combine_features(a, b, sync), math.log(whole / (max(a, b) + sync)))
            for key, a, b, sync, whole in splits if min(a, b) > 0]
    if len(rows) < 8:
        return None
    return GradientBoostingRegressor(n_estimators=200, max_depth=3, learning_rate=0.05,
                                     subsample=0.8, min_samples_leaf=5, random_state=0).fit(
        [r[0] for r in rows], [r[1] for r in rows])


def grid(op: SplitOperator, ratios: Sequence[float] = GRID, *, rounds: int = 5,
         iterations: int | None = None, seed: int = 0, sample_s: float = 0.01) -> dict:
    """Every ratio measured: rounds alternate over the ratios, in a new random order each
    round (a ratio that follows a CPU-heavy one meets a GPU clocked down), each round running
    each ratio `iterations` times; a ratio's time is the median of its rounds. Ratio 1 also
    runs a second time as the null comparison. Returns ms per ratio, samples, null ratio."""
    splits = {r: op.split(r) for r in ratios}
    distinct = distinct_splits(op, ratios)
    variants = [(r, splits[r]) for r in distinct.values()] + [("null", op.split(1.0))]
    for _, split in variants:
        op.run(split)
    if iterations is None:
        slowest = max(op.timed(split) for _, split in variants)
        iterations = int(min(50, max(1, sample_s / max(slowest, 1e-6))))
    samples: dict = {name: [] for name, _ in variants}
    order = random.Random(seed)
    for _ in range(rounds):
        for name, split in order.sample(variants, len(variants)):
            start = time.perf_counter()
            for _ in range(iterations):
                op.run(split)
            samples[name].append((time.perf_counter() - start) / iterations * 1e3)
    ms = {r: statistics.median(samples[distinct[splits[r].units]]) for r in ratios}
    whole = samples[distinct[splits[1.0].units]] if 1.0 in splits else samples["null"]
    null = statistics.median(a / b for a, b in zip(samples["null"], whole))
    return dict(ms=ms, samples={str(k): v for k, v in samples.items()}, null_ratio=null,
                distinct=sorted(distinct.values()), iterations=iterations, rounds=rounds)


def distinct_splits(op: SplitOperator, ratios: Iterable[float]) -> dict:
    """Ratios that cut at the same work-group are one split (measured once): its units -> the
    ratio nearest the cut (so that 0 and 1 stand for theirs)."""
    distinct: dict = {}
    for r in ratios:
        units = op.split(r).units
        exact = units[0] / op.axis.units
        if units not in distinct or abs(r - exact) < abs(distinct[units] - exact):
            distinct[units] = r
    return distinct


def sync_ms(op: SplitOperator, ratio: float) -> float:
    """ms of the synchronisation of a split at `ratio`, alone (0 where nothing moves)."""
    split = op.split(ratio)
    if split.region is None:
        return 0.0
    return median_seconds(lambda: op.sync_seconds(split), target_s=0.01) * 1e3


def evaluate(op: SplitOperator, choice: Choice, measured: dict) -> dict:
    """The predicted choice against the grid: its measured time, the grid optimum, the best
    single device, and the two ratios that judge it."""
    ms = measured["ms"]
    best_ratio = min(measured.get("distinct", ms), key=ms.get)
    singles = {r: ms[r] for r in (0.0, 1.0) if r in ms}
    best_single_ratio = min(singles, key=singles.get)
    chosen_ms = ms.get(choice.ratio)
    if chosen_ms is None:
        chosen_ms = grid(op, (choice.ratio,))["ms"][choice.ratio]
    return dict(chosen_ratio=choice.ratio, chosen_ms=chosen_ms,
                predicted_ms=choice.predicted_us / 1e3, grid_best_ratio=best_ratio,
                grid_best_ms=ms[best_ratio], best_single_ratio=best_single_ratio,
                best_single_ms=singles[best_single_ratio],
                of_optimum=ms[best_ratio] / chosen_ms,
                over_best_single=singles[best_single_ratio] / chosen_ms,
                grid_speedup=singles[best_single_ratio] / ms[best_ratio],
                sync_ms=sync_ms(op, choice.ratio), grid_best_sync_ms=sync_ms(op, best_ratio))


# -- the profile on disk --------------------------------------------------------------------

def cache_path(pair: DevicePair, settings: dict) -> Path:
    """Where a pair's profile is kept: the user's cache (or $PARALLEL_FUSION_CACHE), keyed by
    both devices, their drivers, the project's version and the profile's settings."""
    from platformdirs import user_cache_dir
    from .profile import _slug, project_version
    root = Path(os.environ.get("PARALLEL_FUSION_CACHE") or user_cache_dir("parallel-fusion"))
    devices = "--".join(_slug(f"{d.name}-{d.driver_version}-{d.max_compute_units}cu")
                        for d in pair.devices)
    tail = _slug("-".join(f"{k}{v}" for k, v in sorted(settings.items())))
    return root / "coexec" / f"{devices}-{_slug(project_version())}-s{SCHEMA}" / f"{tail}.json"


def cached_profile(pair: DevicePair, *, resolution: int | None, layers: int | None, seed: int = 0,
                   progress: Callable[[str], None] | None = None,
                   fresh: bool = False) -> PairProfile:
    """The pair's profile from the cache, or measured now (and kept). `layers`: profile that
    many of the six models' layers (a seeded sample), all when None."""
    settings = dict(resolution=resolution or 0, layers=layers or 0, seed=seed)
    path = cache_path(pair, settings)
    if path.exists() and not fresh:
        return PairProfile.from_dict(json.loads(path.read_text(encoding="utf-8")))
    chosen = model_layers(resolution)
    if layers and layers < len(chosen):
        chosen = random.Random(seed).sample(chosen, layers)
    profile = profile_pair(pair, chosen, progress=progress, seed=seed)
    profile.settings.update(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(profile.as_dict()), encoding="utf-8")
    temporary.replace(path)
    return profile
