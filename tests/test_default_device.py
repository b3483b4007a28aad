"""The default device: Intel's CPU OpenCL runtime where it can be installed (x86-64); elsewhere
PoCL stands in, and the user is told once."""
import warnings

import pytest

from fusion.runtime import devices


@pytest.fixture
def without_intel(monkeypatch):
    real = devices.find_platform

    def find(name_part):
        if devices.PLATFORMS.get(name_part, name_part) == devices.DEFAULT_PLATFORM:
            return None
        return real(name_part)
    monkeypatch.setattr(devices, "find_platform", find)
    monkeypatch.setattr(devices, "_fallback_said", [])


def test_the_default_is_intels_cpu_runtime():
    assert devices.resolve_platform("intel-cpu").name == "Intel(R) OpenCL"


def test_without_intels_runtime_pocl_stands_in_and_says_so_once(without_intel):
    if devices.find_platform("pocl") is None:
        pytest.skip("PoCL is not installed")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        first = devices.platform_context()
        second = devices.resolve_platform("intel-cpu")
    assert first.devices[0].platform.name == "Portable Computing Language"
    assert second.name == "Portable Computing Language"
    said = [w for w in caught if issubclass(w.category, devices.DeviceFallbackWarning)]
    assert len(said) == 1
    assert "Intel's CPU OpenCL runtime, the default device, is not installed" in str(said[0].message)


def test_a_platform_asked_for_by_name_does_not_fall_back(without_intel):
    assert devices.resolve_platform("nvidia") is None or "NVIDIA" in devices.resolve_platform("nvidia").name
    with pytest.raises(devices.FusionError, match="no OpenCL platform matching 'abacus'"):
        devices.platform_context("abacus")


def test_registering_the_runtime_on_another_machine_is_not_an_error(monkeypatch, capsys):
    from fusion.runtime import icd
    monkeypatch.setattr(icd, "register_intel_cpu", lambda: None)
    monkeypatch.setattr(icd.platform, "machine", lambda: "aarch64")
    assert icd.main() == 0
    assert "exists for x86-64 only (this is aarch64): PoCL is the default device" in capsys.readouterr().err
