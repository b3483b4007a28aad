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
    parser.addoption("--update-golden", action="store_true",
                     help="rewrite tests/golden/*.cl from the current generator")
    parser.addoption("--platform", default="Portable Computing Language",
                     help="OpenCL platform (part of its name) for the device tests; default PoCL")


@pytest.fixture(scope="session")
def pocl(request):
    """The device-test context: PoCL unless --platform names another (e.g. NVIDIA)."""
    import pyopencl as cl
    from fusion.testing import find_platform
    name = request.config.getoption("--platform")
    platform = find_platform(name)
    if platform is None:
        pytest.fail(f"no OpenCL platform matching '{name}'")
    return cl.Context(platform.get_devices()[:1])


@pytest.fixture(scope="session")
def oclgrind():
    from fusion.testing import oclgrind_context
    return oclgrind_context()


@pytest.fixture(scope="session")
def fusers(pocl):
    from fusion import Fuser
    return {layout: Fuser(pocl, layout=layout, strict=True) for layout in ("groups", "wave")}
