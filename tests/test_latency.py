"""The latency model (fusion.plan.latency), pure: fitted on synthetic launches whose cost law
is known, it predicts held-out groups; it uses measured alone times where it has them."""
from __future__ import annotations

import numpy as np
import pytest

from fusion.plan import latency
from fusion.plan.latency import OpFacts, Sample


def op(rng, index: int) -> OpFacts:
    items = int(rng.integers(1, 64)) * 1024
    per_item = int(rng.integers(2, 400))
    return OpFacts(key=f"op{index}", kind=str(rng.choice(["conv2d", "eltwise_add"])),
                   work_items=items, work_groups=items // 64, local_items=64, dims=2,
                   flops=items * per_item, bytes=items * 16, images=True, barriers=False,
                   args=8)


def alone_us(o: OpFacts) -> float:       # a launch floor plus work
    return 8.0 + o.flops / 2e6


def fused_us(ops) -> float:               # the longest member, plus 2 µs per member
    return max(alone_us(o) for o in ops) + 2.0 * len(ops)


def synthetic(seed=0, ops=120, groups=400):
    rng = np.random.default_rng(seed)
    pool = [op(rng, i) for i in range(ops)]
    samples = [Sample((o,), alone_us(o)) for o in pool]
    for _ in range(groups):
        members = tuple(pool[i] for i in rng.choice(ops, size=int(rng.integers(2, 5)),
                                                    replace=False))
        samples.append(Sample(members, fused_us(members)))
    return samples


def test_held_out_groups_are_predicted_within_ten_percent():
    samples = synthetic()
    model = latency.fit(samples, host_us=5.0)
    test = [s for s in synthetic(seed=0, groups=520)[-120:]]  # groups not in the fit
    errs = latency.errors(model, test)
    assert latency.within(errs, 0.10) >= 0.9, sorted(errs)


def test_measured_alone_times_are_used_and_the_host_floor_applies():
    samples = synthetic()
    model = latency.fit(samples, host_us=50.0)
    single = samples[0]
    assert model.alone_us(single.ops[0]) == pytest.approx(single.measured_us)
    assert model.launch_us(single.ops) == pytest.approx(max(single.measured_us, 50.0))
    unknown = latency.fit(samples, host_us=5.0, use_known=False)
    assert unknown.alone_us(single.ops[0]) != single.measured_us  # a prediction, not a lookup


def test_a_launch_after_another_kernel_costs_the_switch_unless_the_host_is_slower():
    samples = synthetic()
    model = latency.fit(samples, host_us=5.0)
    assert model.switch_us == 0.0                      # as a model stored before it existed
    group = next(s for s in samples if len(s.ops) > 1)
    device = model.group_us(group.ops)
    model.switch_us = 4.0
    assert model.launch_us(group.ops) == pytest.approx(max(device + 4.0, 5.0))
    model.host_us = device + 100.0                     # host-bound: the switch is hidden
    assert model.launch_us(group.ops) == pytest.approx(device + 100.0)
    again = model.recalibrated({}, [], host_us=1.0)
    assert again.switch_us == 4.0


def test_too_few_measurements_is_a_clear_error():
    with pytest.raises(ValueError, match="too few measurements"):
        latency.fit(synthetic(ops=5, groups=3), host_us=1.0)


def test_a_recalibrated_model_takes_the_new_measurements_and_scales_the_rest():
    samples = synthetic()
    model = latency.fit(samples, host_us=5.0)
    pool = [s.ops[0] for s in samples if len(s.ops) == 1]
    slower = {o.key: 3.0 * alone_us(o) for o in pool}          # everything 3x slower now
    measured = [Sample(s.ops, 3.0 * s.measured_us) for s in samples[len(pool):len(pool) + 20]]
    again = model.recalibrated(slower, measured, host_us=9.0)
    assert again.alone_us(pool[0]) == pytest.approx(slower[pool[0].key])
    assert again.group_us(measured[0].ops) == pytest.approx(measured[0].measured_us)
    assert again.host_us == 9.0
    other = samples[-1]                                         # a group not re-measured
    assert again.group_us(other.ops) == pytest.approx(3.0 * fused_us(other.ops), rel=0.15)
    assert model.group_us(other.ops) == pytest.approx(fused_us(other.ops), rel=0.15)
