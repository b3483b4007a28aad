import os

import pytest
from hypothesis import HealthCheck, settings

# CI runs fewer hypothesis examples than a developer's run; `--hypothesis-profile=thorough` more.
settings.register_profile("default", max_examples=20, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow,
                                                 HealthCheck.function_scoped_fixture])
settings.register_profile("thorough", max_examples=200, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow,
                                                 HealthCheck.function_scoped_fixture])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


def pytest_addoption(parser):
    from fusion.runtime.devices import DEFAULT_PLATFORM
    parser.addoption("--update-golden", action="store_true",
                     help="rewrite tests/golden/*.cl from the current generator")
    parser.addoption("--platform", default=DEFAULT_PLATFORM,
                     help="OpenCL platform (part of its name) for the device tests; default: "
                          "Intel's CPU runtime")


@pytest.fixture(scope="session")
def cpu(request):
    """The device-test context: the default CPU device (Intel's CPU runtime) unless --platform
    names another (e.g. NVIDIA)."""
    import pyopencl as cl
    from fusion.runtime import resolve_platform
    name = request.config.getoption("--platform")
    platform = resolve_platform(name)
    if platform is None:
        pytest.fail(f"no OpenCL platform matching '{name}'")
    return cl.Context(platform.get_devices()[:1])


@pytest.fixture(scope="session")
def pocl():
    """A context on PoCL, for the tests of PoCL's own defects. PoCL 3.0-rc2's LLVM 14 cannot
    build anything on CPUs it does not know ("unknown target CPU 'generic'", seen on an AMD EPYC
    of family 26): those tests are then skipped, saying so."""
    import pyopencl as cl
    from fusion.runtime import PLATFORMS, find_platform
    platform = find_platform(PLATFORMS["pocl"])
    if platform is None:
        pytest.fail("PoCL is not installed (the test environment installs it)")
    context = cl.Context(platform.get_devices()[:1])
    try:
        cl.Program(context, "__kernel void k(__global int *a) { a[0] = 1; }").build()
    except cl.Error as error:
        reason = str(error).strip().splitlines()
        pytest.skip("PoCL cannot build a trivial kernel on this machine: "
                    + next((line for line in reason if "error" in line), reason[-1]))
    return context


@pytest.fixture(scope="session")
def oclgrind():
    from fusion.verify.testing import oclgrind_context
    return oclgrind_context()


@pytest.fixture(scope="session")
def fusers(cpu):
    from fusion import Fuser
    return {layout: Fuser(cpu, layout=layout, strict=True) for layout in ("groups", "wave")}
