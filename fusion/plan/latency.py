"""A latency model per device: what a launch costs, alone or fused, learnt from measurements.

    model = fit(samples)                          # samples: Sample(ops, measured_us)
    model.alone_us(op)                            # one operator launched on its own
    model.group_us((op_a, op_b, op_c))            # the three as one fused launch
    model.launch_us(ops)                          # what the launch costs a replay: device or host

An operator is described by its launch (`OpFacts`: kind, work-items, work-groups, dimensions,
FLOPs and bytes from the operator library, images, barriers, arguments), so the model needs no
device. Two gradient-boosted regressors (scikit-learn): one predicts the log time of an
operator alone from its facts, the other the log of a fused group's time over the sum of its
members' alone times (a bounded quantity: about 1 where the device runs the members one after
another anyway, towards 1/n where fusion hides launches and idle units) from the group's facts
(sums, maxima, imbalance, the kinds it holds) and its members' alone times. Where the profile measured an operator alone,
that time is used as is (`known`); the regressor fills in operators it never saw. A launch in a
replay costs at least the host's enqueue (`host_us`, measured by the profile): a queue cannot
run launches faster than the host submits them; and where the device is the bound, a launch
that follows a different kernel costs `switch_us` more than in a stream of copies of itself
(what the samples measure; the profile measures the difference on a stream of different
kernels).

Pure Python (no pyopencl); scikit-learn is imported when a model is fitted or used.
"""
from __future__ import annotations

import dataclasses
import math
import statistics
from collections.abc import Iterable, Sequence


@dataclasses.dataclass(frozen=True)
class OpFacts:
    """One operator's launch as the latency model sees it.

    key: identifies the operator's launch (kind, shape, sizes): two nodes with one key cost
        the same. kind: the operator library's kind. work_items / work_groups / local_items:
        products over the launch's dimensions (work_groups 0 without a local size).
    flops / bytes: arithmetic and memory traffic (inputs, weights, outputs) of one launch.
    """

    key: str
    kind: str
    work_items: int
    work_groups: int
    local_items: int
    dims: int
    flops: int
    bytes: int
    images: bool
    barriers: bool
    args: int

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, row: dict) -> "OpFacts":
        return cls(**row)


@dataclasses.dataclass(frozen=True)
class Sample:
    """One measurement: the operators of one launch (one: alone; several: fused) and its
    time per launch in a stream of such launches, in µs."""

    ops: tuple[OpFacts, ...]
    measured_us: float


def _log(value: float) -> float:
    return math.log1p(max(0.0, float(value)))


def op_features(op: OpFacts) -> list[float]:
    per_item = op.flops / max(1, op.work_items)
    return [_log(op.work_items), _log(op.work_groups), _log(op.local_items), op.dims,
            _log(op.flops), _log(op.bytes), _log(per_item), _log(op.bytes / max(1, op.work_items)),
            float(op.images), float(op.barriers), op.args]


def _kind_counts(ops: Sequence[OpFacts], kinds: Sequence[str]) -> list[float]:
    return [float(sum(op.kind == kind for op in ops)) for kind in kinds]


def group_features(ops: Sequence[OpFacts], alone_us: Sequence[float],
                   kinds: Sequence[str]) -> list[float]:
    """The fused group's facts: size, sums and maxima, imbalance, kinds, members' alone times."""
    items = [op.work_items for op in ops]
    groups = [op.work_groups for op in ops]
    flops = [op.flops for op in ops]
    per_item = [op.flops / max(1, op.work_items) for op in ops]
    data = [op.bytes for op in ops]
    mean_alone = statistics.fmean(alone_us)
    return [len(ops), _log(sum(items)), _log(max(items)), _log(sum(groups)), _log(max(groups)),
            _log(sum(flops)), _log(max(flops)), _log(max(per_item)), _log(sum(per_item)),
            _log(sum(data)), _log(max(data)),
            max(flops) / max(1.0, statistics.fmean(flops)),
            max(alone_us) / max(1e-9, mean_alone),
            float(sum(op.barriers for op in ops)), float(sum(op.images for op in ops)),
            float(sum(op.args for op in ops)),
            _log(sum(alone_us)), _log(max(alone_us)), _log(min(alone_us)),
            *_kind_counts(ops, kinds)]


def _regressor():
    """Gradient boosting with a Huber loss: a launch measured in a replay now and then takes
    twice its usual time (on the GPU the same fused launch is bimodal from one replay to the
    next), and squared error chases those. Depth 5, alpha 0.7 were chosen on the H100's three
    in-context journals and the CPU device's (`python -m benchmarks.context_repeatability`):
    held-out fused groups within ±10 % 63 % -> 67 % on the GPU, 75 % -> 76 % on the CPU."""
    from sklearn.ensemble import GradientBoostingRegressor
    return GradientBoostingRegressor(n_estimators=400, max_depth=5, learning_rate=0.05,
                                     subsample=0.8, min_samples_leaf=3, loss="huber",
                                     alpha=0.7, random_state=0)


class LatencyModel:
    """Predicted µs of launches on one device (see the module docstring); build it with fit(),
    correct it with recalibrated()."""

    # what recalibrated() corrects (class defaults: a model stored before it existed has none)
    group_scale = 1.0
    measured_groups: dict = {}
    # the median relative error on fused groups the fit did not see (set by the profile from
    # its held-out groups); the auto policy asks a fused group to save more than this
    group_error = 0.0
    # µs a launch costs a replay beyond its stream-of-copies time when the kernel before it
    # was another (set by the profile; 0 in a model stored before it was measured)
    switch_us = 0.0
    # what its samples were: "streams" (copies of one launch back to back, fusion.execute.
    # profile) or "context" (launches inside replays of plans, fusion.execute.incontext);
    # recalibration measures the same way
    measured_in = "streams"

    def __init__(self, *, alone, group, kinds: Sequence[str], known: dict[str, float],
                 host_us: float):
        self._alone = alone
        self._group = group
        self.kinds = tuple(kinds)
        self.known = dict(known)
        self.host_us = float(host_us)
        self._cache: dict[tuple[str, ...], float] = {}

    def alone_us(self, op: OpFacts, *, measured: bool = True) -> float:
        """An operator launched alone: the profile's measurement where there is one
        (`measured`), else the regressor's prediction."""
        if measured and op.key in self.known:
            return self.known[op.key]
        return math.expm1(float(self._alone.predict([op_features(op)])[0]))

    def group_us(self, ops: Sequence[OpFacts], *, measured: bool = True) -> float:
        """The operators as one fused launch (one operator: alone)."""
        if len(ops) == 1:
            return self.alone_us(ops[0], measured=measured)
        ops = sorted(ops, key=lambda op: op.key)
        keys = tuple(op.key for op in ops)
        if measured and keys in self.measured_groups:
            return self.measured_groups[keys]
        cache_key = (str(measured), *keys)
        if cache_key not in self._cache:
            self._cache[cache_key] = self.group_scale * self._fitted_group_us(ops, measured)
        return self._cache[cache_key]

    def _fitted_group_us(self, ops: Sequence[OpFacts], measured: bool) -> float:
        alone = [self.alone_us(op, measured=measured) for op in ops]
        row = group_features(ops, alone, self.kinds)
        return math.exp(float(self._group.predict([row])[0])) * sum(alone)

    def recalibrated(self, alone_us: dict[str, float], groups: Sequence[Sample],
                     host_us: float | None = None) -> "LatencyModel":
        """A copy corrected by measurements taken now (the device under another load, clocks
        changed): operators' alone times replaced by `alone_us` (key -> µs), the fused groups
        measured (`groups`) taken as measured, and every other group's prediction scaled by
        the median of measured / predicted over them (the regressor's ratio, learnt on the
        device as it was, applied to the new alone times, is off by that much now)."""
        model = LatencyModel(alone=self._alone, group=self._group, kinds=self.kinds,
                             known={**self.known, **alone_us},
                             host_us=self.host_us if host_us is None else host_us)
        model.group_error, model.switch_us = self.group_error, self.switch_us
        model.measured_in = self.measured_in
        fused = [g for g in groups if len(g.ops) > 1]
        if fused:
            model.group_scale = statistics.median(
                g.measured_us / model._fitted_group_us(sorted(g.ops, key=lambda op: op.key),
                                                       True) for g in fused)
        model.measured_groups = {tuple(sorted(op.key for op in g.ops)): g.measured_us
                                 for g in fused}
        return model

    def launch_us(self, ops: Sequence[OpFacts]) -> float:
        """What the launch costs one replay: its device time after another kernel, or the
        host's enqueue if longer."""
        return max(self.group_us(ops) + self.switch_us, self.host_us)


def fit(samples: Iterable[Sample], *, host_us: float, use_known: bool = True) -> LatencyModel:
    """Fit both regressors. `use_known=False` keeps measured alone times out of the model's
    lookup (for judging it on operators it has not seen)."""
    samples = list(samples)
    singles = [s for s in samples if len(s.ops) == 1]
    groups = [s for s in samples if len(s.ops) > 1]
    if len(singles) < 8 or len(groups) < 8:
        raise ValueError(f"too few measurements to fit a latency model: {len(singles)} "
                         f"operators alone and {len(groups)} fused groups (at least 8 each)")
    alone = _regressor().fit([op_features(s.ops[0]) for s in singles],
                             [math.log1p(s.measured_us) for s in singles])
    known: dict[str, list[float]] = {}
    for s in singles:
        known.setdefault(s.ops[0].key, []).append(s.measured_us)
    known_us = {key: statistics.median(values) for key, values in known.items()}
    kinds = sorted({op.kind for s in samples for op in s.ops})
    partial = LatencyModel(alone=alone, group=None, kinds=kinds,
                           known=known_us if use_known else {}, host_us=host_us)
    rows, targets = [], []
    for s in groups:
        alone_us = [partial.alone_us(op) for op in s.ops]
        rows.append(group_features(s.ops, alone_us, kinds))
        targets.append(math.log(s.measured_us / sum(alone_us)))
    group = _regressor().fit(rows, targets)
    return LatencyModel(alone=alone, group=group, kinds=kinds,
                        known=known_us if use_known else {}, host_us=host_us)


class OperatorModel:
    """Predicted µs of one operator's launch on its own, from its facts only (the alone
    regressor without the group model or lookups): what splitting an operator between devices
    needs for slices it never measured. Build it with fit_operators()."""

    def __init__(self, regressor):
        self._regressor = regressor

    def us(self, op: OpFacts) -> float:
        return math.expm1(float(self._regressor.predict([op_features(op)])[0]))


def fit_operators(samples: Iterable[Sample]) -> OperatorModel:
    """The alone regressor of fit(), on samples of one operator each."""
    samples = [s for s in samples if len(s.ops) == 1]
    if len(samples) < 8:
        raise ValueError(f"too few measurements to fit a latency model: {len(samples)} "
                         "operators (at least 8)")
    return OperatorModel(_regressor().fit([op_features(s.ops[0]) for s in samples],
                                          [math.log1p(s.measured_us) for s in samples]))


def errors(model: LatencyModel, samples: Iterable[Sample], *, measured: bool = True) -> list[float]:
    """Relative errors (predicted / measured - 1) of each sample."""
    return [model.group_us(s.ops, measured=measured) / s.measured_us - 1.0 for s in samples]


def within(errors_: Sequence[float], tolerance: float = 0.10) -> float:
    """The fraction of errors within ±tolerance (1.0 for none)."""
    if not errors_:
        return 1.0
    return sum(abs(e) <= tolerance for e in errors_) / len(errors_)
