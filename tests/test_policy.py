"""The grouping policy's search (fusion.plan.policy), pure: against brute force over every set
partition, and the model-shift search on cost functions whose best schedule is known."""
from __future__ import annotations

import itertools

from hypothesis import given, settings, strategies as st

from fusion.plan.policy import (EXACT_LIMIT, align, best_partition, partition_cost, schedule,
                               with_margin)


def set_partitions(items):
    if not items:
        yield []
        return
    first, rest = items[0], items[1:]
    for partition in set_partitions(rest):
        yield [(first,)] + partition
        for k in range(len(partition)):
            yield partition[:k] + [(first,) + partition[k]] + partition[k + 1:]


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 6), st.integers(0, 2**32 - 1), st.integers(2, 6))
def test_best_partition_is_the_brute_force_optimum(n, seed, max_group):
    import random
    rng = random.Random(seed)
    weights = {frozenset(g): rng.uniform(1, 10) for size in range(1, n + 1)
               for g in itertools.combinations(range(n), size)}
    forbidden = {g for g in weights if len(g) > 1 and rng.random() < 0.2}
    cost = lambda group: weights[frozenset(group)]
    allowed = lambda group: frozenset(group) not in forbidden
    items = list(range(n))
    chosen = best_partition(items, cost, allowed, max_group=max_group)
    assert sorted(i for g in chosen for i in g) == items
    assert all(len(g) == 1 or (len(g) <= max_group and allowed(g)) for g in chosen)
    best = min(sum(cost(g) for g in p) for p in set_partitions(items)
               if all(len(g) == 1 or (len(g) <= max_group and allowed(g)) for g in p))
    assert abs(partition_cost(items, chosen, cost) - best) < 1e-9
    assert partition_cost(items, chosen, cost) <= sum(cost((i,)) for i in items) + 1e-9


def test_a_group_predicted_to_lose_is_never_chosen():
    # fusing costs more than the members alone: every item runs alone
    chosen = best_partition("abcd", lambda g: 10.0 * len(g) + (1 if len(g) > 1 else 0),
                            lambda g: True)
    assert chosen == [(0,), (1,), (2,), (3,)]


def test_a_saving_inside_the_margin_is_no_reason_to_fuse():
    # the pair is predicted 5 % cheaper than its members one by one
    cost = lambda g: 10.0 if len(g) == 1 else 19.0
    assert best_partition("ab", cost, lambda g: True) == [(0, 1)]
    assert best_partition("ab", with_margin(cost, 0.10), lambda g: True) == [(0,), (1,)]
    assert best_partition("ab", with_margin(cost, 0.04), lambda g: True) == [(0, 1)]
    assert with_margin(cost, 0.10)(("a",)) == 10.0


def test_above_the_exact_limit_the_greedy_search_covers_every_item_once():
    items = list(range(EXACT_LIMIT + 4))
    cost = lambda g: 5.0 + max(g)          # a launch costs 5 plus its largest member
    chosen = best_partition(items, cost, lambda g: True, max_group=4)
    assert sorted(i for g in chosen for i in g) == items
    assert all(len(g) <= 4 for g in chosen)
    assert partition_cost(items, chosen, cost) < sum(cost((i,)) for i in items)


def test_schedule_keeps_lock_step_when_it_is_best():
    levels = [[["a0"], ["a1"], ["a2"]], [["b0"], ["b1"], ["b2"]]]
    cost = lambda g: 1.0 + 0.1 * len(g)    # fusing anything pays
    launches, shifts, total = schedule(levels, cost, lambda g: True)
    assert shifts == (0, 0)
    assert launches == [["a0", "b0"], ["a1", "b1"], ["a2", "b2"]]
    assert abs(total - 3 * 1.2) < 1e-9


def test_schedule_shifts_a_model_when_mixing_layers_pays():
    # two copies of a model whose layers alternate heavy (H) and light (L): two heavy layers
    # fused cost as much as apart, a heavy beside a light one costs the heavy one only
    kind = lambda item: item[0]
    def cost(group):
        heavy = sum(kind(i) == "H" for i in group)
        return 10.0 * heavy + (1.0 if heavy == 0 else 0.0)
    a = [[f"H{k}a"] if k % 2 == 0 else [f"L{k}a"] for k in range(6)]
    b = [[f"H{k}b"] if k % 2 == 0 else [f"L{k}b"] for k in range(6)]
    launches, shifts, total = schedule([a, b], cost, lambda g: True)
    assert shifts[1] % 2 == 1
    # every model's layers still come in their order
    for model in (a, b):
        order = [item for launch in launches for item in launch if [item] in model]
        assert order == [level[0] for level in model]
    lock_step = sum(cost(tuple(x[0] for x in pair)) for pair in zip(a, b))
    assert total < lock_step


def test_an_alignment_pairs_long_steps_that_no_constant_shift_can():
    # model a: long, short, short, long; model b: long, long. Fused, a launch costs its
    # longest member. Lock step or any constant shift pairs a long step with a short one.
    duration = {"a0": 10, "a1": 1, "a2": 1, "a3": 10, "b0": 10, "b1": 10}
    cost = lambda group: max(duration[item] for item in group)
    levels = [[["a0"], ["a1"], ["a2"], ["a3"]], [["b0"], ["b1"]]]
    launches, shifts, predicted = schedule(levels, cost, lambda g: True)
    assert predicted == 22 and launches == [["a0", "b0"], ["a1"], ["a2"], ["a3", "b1"]]
    assert shifts == (0, 0)
    # every model's steps stay in order, each step holds at most one of each model's
    steps = align(levels, lambda item: duration[item])
    assert [item for step in steps for item in step if item[0] == "a"] == ["a0", "a1", "a2", "a3"]
    assert all(sum(item[0] == "b" for item in step) <= 1 for step in steps)


def test_identical_models_stay_in_lock_step():
    duration = {f"{m}{k}": d for m in "ab" for k, d in enumerate([3, 1, 4, 1, 5])}
    cost = lambda group: max(duration[item] for item in group) + 0.5   # a launch's overhead
    levels = [[[f"{m}{k}"] for k in range(5)] for m in "ab"]
    launches, shifts, predicted = schedule(levels, cost, lambda g: True)
    assert launches == [[f"a{k}", f"b{k}"] for k in range(5)] and shifts == (0, 0)
