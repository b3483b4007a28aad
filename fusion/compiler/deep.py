"""Room for deep kernels: the compiler's stages recurse (pycparser's recursive-descent parser and
generator, the tree visitors), and real generated kernels — unrolled loops, long `else if`
chains — nest deeper than Python's default recursion limit (a 300-term sum already exceeded it).

`deep(function)` runs the function in a worker thread with a large stack and a raised recursion
limit (restored afterwards), so that nesting up to MAX_DEPTH works (tests/test_deep.py measures
it); deeper still is a DepthError, never a RecursionError. Calls made from inside a deep call
run directly.
"""
from __future__ import annotations

import functools
import sys
import threading

from ..errors import UnsupportedError

#: Nesting the compiler is tested to handle (parentheses, operator chains, else-if chains).
MAX_DEPTH = 10_000
RECURSION_LIMIT = 1_000_000
STACK_BYTES = 1024 * 1024 * 1024   # address space; only the pages a deep kernel touches are used

_state = threading.local()
_limit_lock = threading.Lock()
_active = 0
_saved_limit = None


DEPTH_MESSAGE = (f"the kernel nests expressions or statements more deeply than the compiler "
                 f"follows (it handles {MAX_DEPTH:,} levels)")


class DepthError(UnsupportedError):
    """A kernel nested more deeply than the compiler can follow."""


def deep(function):
    """The function, run with room for deep recursion (see the module docstring)."""
    @functools.wraps(function)
    def run(*args, **kwargs):
        if getattr(_state, "inside", False):
            return function(*args, **kwargs)

        def work():
            _state.inside = True
            try:
                return function(*args, **kwargs)
            except RecursionError:
                raise DepthError(DEPTH_MESSAGE) from None
        _raise_limit()
        try:
            return with_large_stack(work)
        finally:
            _restore_limit()
    return run


def with_large_stack(function, *args, stack_bytes: int = STACK_BYTES):
    """function(*args) in a worker thread with a stack of `stack_bytes`; its result, or its
    exception raised here. For recursion in C too: device compilers recurse on deep
    expressions in the thread that builds (Intel's crashed building a 2,000-term sum on an 8 MiB
    main-thread stack)."""
    outcome: dict = {}

    def work():
        try:
            outcome["value"] = function(*args)
        except BaseException as error:  # re-raised in the caller's thread
            outcome["error"] = error
    with _limit_lock:
        previous = threading.stack_size(stack_bytes)
        try:
            worker = threading.Thread(target=work, name="fusion-deep")
        finally:
            threading.stack_size(previous)
    worker.start()
    worker.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def _raise_limit() -> None:
    global _active, _saved_limit
    with _limit_lock:
        if _active == 0:
            _saved_limit = sys.getrecursionlimit()
            sys.setrecursionlimit(max(_saved_limit, RECURSION_LIMIT))
        _active += 1


def _restore_limit() -> None:
    global _active
    with _limit_lock:
        _active -= 1
        if _active == 0:
            sys.setrecursionlimit(_saved_limit)
