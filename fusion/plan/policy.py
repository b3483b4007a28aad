"""The grouping policy: which ready operators share a fused launch, chosen from predicted costs.

    best_partition(items, cost, allowed, max_group=6)  ->  [(0, 2), (1,), (3, 4)]
    schedule(levels, cost, allowed)                    ->  [[item, ...] per launch, in order]

`cost(group)` is what one launch of the group costs a replay (a latency model's `launch_us`);
`allowed(group)` says whether the planner fuses the whole group (barrier local sizes, program
flags, device limits). `best_partition` minimises the summed cost of a ready set's launches:
exactly (dynamic programming over subsets) up to EXACT_LIMIT items, greedily above (merge the
pair of launches that saves most while anything saves). Every item alone is always a candidate,
so the answer is never predicted to cost more than running the set one by one, and a fused group
survives only where it is predicted to beat splitting it.

`schedule` plans several models at once, not in lock step: model m may start `shift[m]` steps
late, so that a fused launch can hold different layers of different models (a short kernel beside
a long one, instead of four copies of the slowest). It searches the shifts by coordinate descent
from lock step, each step's ready set partitioned by `best_partition`, and keeps lock step unless
a shift is predicted to pay. Against the best constant shifts it also tries `align`: the
models' steps aligned by dynamic programming (a shift that may change along the way, so that a
long step of one model meets a long step of the other wherever they are), judged by the same
predicted cost; the cheaper of the two is kept.

`with_margin(cost, margin)` asks more of a fused group: its cost counts `1 + margin` times, so
it is chosen only where it is predicted to save more than `margin` (a model's typical error)
over the alternatives; a prediction inside the model's error is no reason to fuse.

Pure Python: items are opaque (hashable); the caller's functions know what they are.
"""
from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Hashable, Sequence

EXACT_LIMIT = 10
ALIGN_ORDERS_LIMIT = 4      # models whose every order is tried by the alignment

Cost = Callable[[tuple], float]
Allowed = Callable[[tuple], bool]


def with_margin(cost: Cost, margin: float) -> Cost:
    """`cost`, with every group of two or more items counted `1 + margin` times."""
    if margin < 0:
        raise ValueError(f"a margin is at least 0, not {margin}")
    return lambda group: cost(group) * (1.0 + margin if len(group) > 1 else 1.0)


def best_partition(items: Sequence[Hashable], cost: Cost, allowed: Allowed, *,
                   max_group: int = 6) -> list[tuple[int, ...]]:
    """Groups (indices into items, each in ascending order) covering every item once."""
    n = len(items)
    if n == 0:
        return []
    if n > EXACT_LIMIT:
        return _greedy(items, cost, allowed, max_group)
    group_cost: dict[int, float] = {}
    for mask in range(1, 1 << n):
        members = _members(mask, n)
        if len(members) == 1 or (len(members) <= max_group and allowed(_pick(items, members))):
            group_cost[mask] = cost(_pick(items, members))
    best = {0: (0.0, ())}
    for mask in range(1, 1 << n):
        lowest = mask & -mask
        rest = mask ^ lowest
        choice = None
        sub = rest
        while True:  # every subset of rest, each joined with the lowest item
            group = sub | lowest
            if group in group_cost:
                total = group_cost[group] + best[mask ^ group][0]
                if choice is None or total < choice[0]:
                    choice = (total, (group,) + best[mask ^ group][1])
            if sub == 0:
                break
            sub = (sub - 1) & rest
        best[mask] = choice
    return sorted(_members(group, n) for group in best[(1 << n) - 1][1])


def _members(mask: int, n: int) -> tuple[int, ...]:
    return tuple(i for i in range(n) if mask >> i & 1)


def _pick(items: Sequence, members: Sequence[int]) -> tuple:
    return tuple(items[i] for i in members)


def _greedy(items, cost, allowed, max_group) -> list[tuple[int, ...]]:
    groups = [(i,) for i in range(len(items))]
    costs = [cost(_pick(items, g)) for g in groups]
    while True:
        best = None
        for a in range(len(groups)):
            for b in range(a + 1, len(groups)):
                merged = tuple(sorted(groups[a] + groups[b]))
                if len(merged) > max_group or not allowed(_pick(items, merged)):
                    continue
                saving = costs[a] + costs[b] - cost(_pick(items, merged))
                if saving > 0 and (best is None or saving > best[0]):
                    best = (saving, a, b, merged)
        if best is None:
            return sorted(groups)
        _, a, b, merged = best
        merged_cost = costs[a] + costs[b] - best[0]
        for index in (b, a):
            del groups[index], costs[index]
        groups.append(merged)
        costs.append(merged_cost)


def partition_cost(items: Sequence, groups: Sequence[Sequence[int]], cost: Cost) -> float:
    return sum(cost(_pick(items, g)) for g in groups)


def schedule(levels: Sequence[Sequence[Sequence[Hashable]]], cost: Cost, allowed: Allowed, *,
             max_group: int = 6, max_shift: int = 3, passes: int = 2, align_steps: bool = True
             ) -> tuple[list[list[Hashable]], tuple[int, ...], float]:
    """Launches for several models, each a list of its steps' ready items (`levels[m][k]`):
    (launches in order, each a list of items; the shift chosen per model — for an alignment,
    the step where each model starts; predicted cost). `align_steps=False`: constant shifts
    only."""
    memo: dict[frozenset, tuple[float, list]] = {}

    def step_plan(ready: list) -> tuple[float, list]:
        key = frozenset(ready)
        if key not in memo:
            groups = best_partition(ready, cost, allowed, max_group=max_group)
            memo[key] = (partition_cost(ready, groups, cost),
                         [[ready[i] for i in group] for group in groups])
        return memo[key]

    def steps(shifts) -> list[list]:
        depth = max(len(lv) + s for lv, s in zip(levels, shifts))
        return [[item for lv, s in zip(levels, shifts) if 0 <= k - s < len(lv)
                 for item in lv[k - s]] for k in range(depth)]

    def total(shifts) -> float:
        return sum(step_plan(ready)[0] for ready in steps(shifts) if ready)

    shifts = [0] * len(levels)
    best = total(shifts)
    for _ in range(passes if len(levels) > 1 else 0):
        improved = False
        for m in range(1, len(levels)):  # model 0 stays put: only relative shifts matter
            for shift in range(max_shift + 1):
                if shift == shifts[m]:
                    continue
                trial = shifts[:m] + [shift] + shifts[m + 1:]
                value = total(trial)
                if value < best - 1e-9:
                    best, shifts, improved = value, trial, True
        if not improved:
            break
    chosen = [ready for ready in steps(shifts) if ready]
    # against constant shifts: the alignment of the models' steps, the models taken in every
    # order (up to ALIGN_ORDERS_LIMIT models; the progressive alignment depends on it)
    orders = []
    if align_steps and len(levels) > 1:
        orders = (itertools.permutations(range(len(levels)))
                  if len(levels) <= ALIGN_ORDERS_LIMIT else [range(len(levels))])
    for order in orders:
        aligned = align([levels[m] for m in order], lambda item: cost((item,)))
        value = sum(step_plan(ready)[0] for ready in aligned)
        if value < best - 1e-9:
            best, chosen = value, aligned
            shifts = [next(k for k, ready in enumerate(aligned) if set(lv[0]) <= set(ready))
                      if lv else 0 for lv in levels]
    launches = [group for ready in chosen for group in step_plan(ready)[1]]
    return launches, tuple(shifts), best


def align(levels: Sequence[Sequence[Sequence[Hashable]]],
          alone: Callable[[Hashable], float]) -> list[list[Hashable]]:
    """Steps for several models that let any step of one model share a launch with any step
    of another, in order (a shift that changes along the way, which constant shifts cannot
    express): the models aligned one after another (progressive pairwise alignment, dynamic
    programming over both models' steps), where a step costs its slowest item alone (`alone`)
    — what a fused launch would cost if fusion were free. Each step holds at most one step of
    each model, and every model's steps stay in order."""
    merged = [list(level) for level in levels[0]]
    for other in levels[1:]:
        merged = _align_two(merged, [list(level) for level in other], alone)
    return merged


def _align_two(a: list[list], b: list[list], alone: Callable) -> list[list]:
    cost_a = [max(alone(item) for item in step) for step in a]
    cost_b = [max(alone(item) for item in step) for step in b]
    la, lb = len(a), len(b)
    best = [[math.inf] * (lb + 1) for _ in range(la + 1)]
    move = [[None] * (lb + 1) for _ in range(la + 1)]
    best[0][0] = 0.0
    for i in range(la + 1):
        for j in range(lb + 1):
            here = best[i][j]
            if here == math.inf:
                continue
            options = []
            if i < la and j < lb:   # first: on a tie, steps share a launch
                options.append((i + 1, j + 1, max(cost_a[i], cost_b[j]), "ab"))
            if i < la:
                options.append((i + 1, j, cost_a[i], "a"))
            if j < lb:
                options.append((i, j + 1, cost_b[j], "b"))
            for ni, nj, step_cost, kind in options:
                if here + step_cost < best[ni][nj] - 1e-12:
                    best[ni][nj], move[ni][nj] = here + step_cost, kind
    merged, i, j = [], la, lb
    while i or j:
        kind = move[i][j]
        if kind == "ab":
            merged.append(a[i - 1] + b[j - 1])
            i, j = i - 1, j - 1
        elif kind == "a":
            merged.append(a[i - 1])
            i -= 1
        else:
            merged.append(b[j - 1])
            j -= 1
    return merged[::-1]
