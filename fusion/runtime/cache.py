"""Building programs, once: the package's one build cache, keyed by (source, options, device,
context), thread-safe, used by the fuser, the operator library, the graph executor, the checks
and the scripts alike.
"""
from __future__ import annotations

import hashlib
import os
import tempfile
import threading
from collections.abc import Callable, Hashable, Sequence
from concurrent.futures import Future
from typing import Generic, TypeVar

import pyopencl as cl

from ..compiler.deep import with_large_stack
from ..compiler.source import KernelSource
from ..errors import BuildError

T = TypeVar("T")


class Once(Generic[T]):
    """Values made at most once per key, by whichever thread asks first; the others wait for it.
    A failure is not kept: the next caller tries again."""

    def __init__(self):
        self._lock = threading.Lock()
        self._entries: dict[Hashable, Future] = {}

    def get(self, key: Hashable, make: Callable[[], T]) -> T:
        with self._lock:
            entry = self._entries.get(key)
            owner = entry is None
            if owner:
                entry = self._entries[key] = Future()
        if not owner:
            return entry.result()
        try:
            value = make()
        except BaseException as error:
            with self._lock:
                del self._entries[key]
            entry.set_exception(error)
            raise
        entry.set_result(value)
        return value

    def discard(self, keys) -> None:
        """Forget the values of `keys` (a value being made stays with its maker)."""
        with self._lock:
            for key in keys:
                entry = self._entries.get(key)
                if entry is not None and entry.done():
                    del self._entries[key]

    def __len__(self) -> int:
        return len(self._entries)


class ProgramCache:
    """Built programs keyed by a digest of (source, options, device, context)."""

    def __init__(self):
        self._programs: Once[cl.Program] = Once()
        self._keys_of: dict[int, set[str]] = {}    # a context's address -> its programs' keys
        self.builds = 0
        self.rebuilds = 0   # builds repeated because a program came back without its kernel

    @staticmethod
    def key(source: str, options: Sequence[str], device: cl.Device,
            context: cl.Context | None = None) -> str:
        digest = hashlib.sha256()
        for part in (source, "\0".join(options), device.name, device.platform.name,
                     device.driver_version, str(device.int_ptr),
                     str(context.int_ptr if context is not None else "")):
            digest.update(part.encode())
            digest.update(b"\1")
        return digest.hexdigest()

    def get(self, context: cl.Context, device: cl.Device, source: str,
            options: Sequence[str], kernel_name: str | None = None) -> cl.Program:
        """The program built for `device` of `context` (pyopencl's cl.Error when it fails).
        With `kernel_name`: a program that holds no such kernel although the build succeeded
        (PoCL 3.0 was seen to hand back one from its cache on a second build of a source) is
        built once more with no cache in the way; still none is a MissingKernel."""
        def build() -> cl.Program:
            quoted = [device_option(option) for option in options]
            program = _compile(context, device, source, quoted)
            self.builds += 1
            if kernel_name is None or _holds(program, kernel_name):
                return program
            # PoCL keys its cache on the source: a comment makes it compile afresh, and
            # pyopencl's own binary cache is bypassed
            program = _compile(context, device, source + "\n/* rebuilt: no kernel came back */\n",
                               quoted, cache_dir=False)
            self.builds += 1
            self.rebuilds += 1
            if _holds(program, kernel_name):
                return program
            raise MissingKernel(kernel_name)
        # A program belongs to its context: the key holds it, and the cached program keeps the
        # context alive, so its address cannot be reused by another one (until forget()).
        key = self.key(source, options, device, context)
        if context is not None:
            self._keys_of.setdefault(context.int_ptr, set()).add(key)
        return self._programs.get(key, build)

    def forget(self, context: cl.Context) -> None:
        """Let go of every program built for `context`. A cached program retains its OpenCL
        context — on NVIDIA's driver a CUDA context and its device memory — for as long as the
        cache lives, after the last Python object of the context is gone: call this when a
        context is done with (the profile does, when the device failed and is opened again)."""
        self._programs.discard(self._keys_of.pop(context.int_ptr, ()))


class MissingKernel(Exception):
    """A build that succeeded but holds no kernel of the name asked for, twice."""

    def __init__(self, kernel_name: str):
        self.kernel_name = kernel_name
        super().__init__(f"the build succeeded but the program holds no kernel '{kernel_name}', "
                         "also when built again without any cache: a defect of the device's "
                         "compiler")


def _compile(context: cl.Context, device: cl.Device, source: str, options: list[str],
             cache_dir=None) -> cl.Program:
    """Build on a thread with a large stack (compilers recurse on deep expressions)."""
    return with_large_stack(lambda: cl.Program(context, source).build(
        options=options, devices=[device], cache_dir=cache_dir))


def _holds(program: cl.Program, kernel_name: str) -> bool:
    """Whether the built program has the kernel: asked by creating it, as every caller will
    (NVIDIA's driver was seen to crash when asked for the kernel names of a program that has
    none)."""
    try:
        cl.Kernel(program, kernel_name)
        return True
    except cl.Error:
        return False


def device_option(option: str) -> str:
    """One build option as the device compiler's option string needs it. KernelSource splits
    options as a shell does (`'-DNAME="a b"'` is the one option `-DNAME=a b`), and OpenCL
    compilers split the string they get at spaces, outside double quotes: an option with a space
    or a quote goes back in double quotes (`-DNAME="a b"`)."""
    if not any(char.isspace() or char == '"' for char in option):
        return option
    name, equals, value = option.partition("=")
    escaped = lambda text: text.replace('"', '\\"')  # noqa: E731
    if option.startswith("-D") and equals:
        return f'{name}="{escaped(value)}"'
    return f'"{escaped(option)}"'


#: The package's build cache (a Fuser may be given another).
PROGRAMS = ProgramCache()


def save_source(source: str, name: str) -> str:
    """Write a generated source where the user can read it; returns the path."""
    directory = os.path.join(tempfile.gettempdir(), "parallel-fusion")
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, f"{name}-{hashlib.sha1(source.encode()).hexdigest()[:10]}.cl")
    with open(path, "w", encoding="utf-8") as f:
        f.write(source)
    return path


def build_generated(context: cl.Context, device: cl.Device, source: str, options: Sequence[str],
                    kernel_name: str, cache: ProgramCache = PROGRAMS) -> cl.Program:
    """A generated (fused) program, built once; BuildError with the source saved on failure."""
    try:
        return cache.get(context, device, source, options, kernel_name)
    except (cl.Error, MissingKernel) as error:
        what = ("the OpenCL compiler rejected" if isinstance(error, cl.Error)
                else "the OpenCL compiler lost")
        raise BuildError(f"{what} the fused kernel '{kernel_name}'",
                         kernel_name=kernel_name, options=options,
                         saved_source=save_source(source, kernel_name),
                         log=str(error).strip()) from None


def alone_options(kernel: KernelSource) -> list[str]:
    """A kernel's build options when it is built on its own: its own, and its file's directory
    as an include path (the preprocessor of the fused build looks there too)."""
    options = list(kernel.options)
    if kernel.filename:
        options.append(f"-I{os.path.dirname(os.path.abspath(kernel.filename))}")
    return options


def build_alone(context: cl.Context, device: cl.Device, kernel: KernelSource,
                cache: ProgramCache = PROGRAMS) -> cl.Kernel:
    """One kernel built on its own (unfused), once per (source, options, device, context); a
    new cl.Kernel each call, so that callers never share argument state."""
    options = alone_options(kernel)
    try:
        program = cache.get(context, device, kernel.source, options, kernel.name)
    except (cl.Error, MissingKernel) as error:
        what = "rejected" if isinstance(error, cl.Error) else "lost"
        raise BuildError(f"{kernel.display_name}: the OpenCL compiler {what} kernel "
                         f"'{kernel.name}'", kernel_name=kernel.name, options=options,
                         log=str(error).strip()) from None
    return cl.Kernel(program, kernel.name)
