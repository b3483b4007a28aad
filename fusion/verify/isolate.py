"""Run a function in a child process, so that a device compiler that crashes (PoCL 3.0 was seen
to segfault and to abort in LLVM on real kernels) takes the child down, not the caller.

`isolated(function, *args)` returns what the function returns, re-raises a `FusionError` it
raised, and turns a child killed by a signal into a `DeviceCrash` that names the signal.
"""
from __future__ import annotations

import multiprocessing
import signal

from ..errors import FusionError


class DeviceCrash(FusionError):
    """The process running the device work died (a signal, or an exit without a result)."""


def _child(pipe, function, args, kwargs) -> None:
    try:
        pipe.send(("value", function(*args, **kwargs)))
    except FusionError as error:
        pipe.send(("error", error))
    except BrokenPipeError:  # its standard output closed (`check ... | head`): not a failure
        pipe.send(("broken pipe", None))
    except BaseException as error:  # noqa: BLE001 - reported by the parent as a bug
        pipe.send(("bug", f"{type(error).__name__}: {error}"))
    finally:
        pipe.close()


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def isolated(function, *args, what: str = "the device work", **kwargs):
    """function(*args, **kwargs) in a spawned child process (picklable function and arguments)."""
    context = multiprocessing.get_context("spawn")
    receive, send = context.Pipe(duplex=False)
    child = context.Process(target=_child, args=(send, function, args, kwargs), daemon=True)
    child.start()
    send.close()
    try:
        kind, payload = receive.recv()
    except EOFError:
        kind, payload = None, None
    finally:
        child.join()
        receive.close()
    if kind == "value":
        return payload
    if kind == "error":
        raise payload
    if kind == "broken pipe":
        raise BrokenPipeError()
    if kind == "bug":
        raise RuntimeError(f"in the child process: {payload}")
    code = child.exitcode
    how = (f"was killed by {_signal_name(-code)}" if code is not None and code < 0
           else f"exited with status {code} before it finished")
    raise DeviceCrash(f"the process running {what} {how}: the OpenCL device's compiler or "
                      "runtime crashed (try another --device, or --oclgrind to find an "
                      "out-of-bounds access)")
