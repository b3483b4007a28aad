import os

import pytest
from hypothesis import HealthCheck, settings

# CI runs fewer hypothesis examples than a developer's run; `--hypothesis-profile=thorough` more.
settings.register_profile("default", max_examples=12, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow,
                                                 HealthCheck.function_scoped_fixture])
settings.register_profile("thorough", max_examples=200, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow,
                                                 HealthCheck.function_scoped_fixture])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


def pytest_addoption(parser):
    parser.addoption("--update-golden", action="store_true",
                     help="rewrite tests/golden/*.cl from the current generator")


@pytest.fixture(scope="session")
def pocl():
    from fusion.testing import pocl_context
    return pocl_context()


@pytest.fixture(scope="session")
def oclgrind():
    from fusion.testing import oclgrind_context
    return oclgrind_context()


@pytest.fixture(scope="session")
def fusers(pocl):
    from fusion import Fuser
    return {layout: Fuser(pocl, layout=layout, strict=True) for layout in ("groups", "wave")}
