"""fusion.execute.affinity: the host CPU a replay runs on (fusion run --pin-cpu)."""
import os

import pytest

from fusion.execute.affinity import allowed_cpus, cpu_speeds, fastest_cpu, pinned


def test_every_cpu_is_timed_and_the_thread_gets_its_cpus_back():
    before = allowed_cpus()
    speeds = cpu_speeds(iterations=2000, tries=2)
    assert set(speeds) == before and all(seconds > 0 for seconds in speeds.values())
    assert allowed_cpus() == before
    assert fastest_cpu() in before
    assert cpu_speeds([max(before) + 1]) == {}        # a CPU it may not use is not tried


def test_pinned_keeps_the_thread_on_one_cpu_for_the_block_only():
    before = allowed_cpus()
    cpu = max(before)
    with pinned(cpu) as chosen:
        assert chosen == cpu and os.sched_getaffinity(0) == {cpu}
    assert allowed_cpus() == before
    with pinned(None) as chosen:
        assert chosen is None and allowed_cpus() == before


def test_pinned_refuses_a_cpu_it_may_not_use():
    cpu = max(allowed_cpus()) + 1
    with pytest.raises(ValueError, match=f"CPU {cpu} is not one this process may run on"):
        with pinned(cpu):
            pass
    assert os.sched_getaffinity(0) == allowed_cpus()
