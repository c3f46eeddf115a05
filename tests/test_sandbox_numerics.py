"""An isolated run computes with the AVX2 kernels on any x86-64 machine (sandbox/numerics.py), so its numbers, and
the recorded runs that hash them, are the same on an AVX-512 machine as on the AVX2 ones that recorded them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from scientist.sandbox import Sandbox
from scientist.sandbox.numerics import (
    NUMPY_AVX512_FEATURES,
    OPENBLAS_AVX2_CORE,
    host_cpu_flags,
    pinned_numerics_env,
)
from tests.test_sandbox_docker import make_workspace, require, run

AVX512_HOST = frozenset({"sse2", "avx", "avx2", "fma", "avx512f", "avx512bw"})


def test_an_avx512_host_gets_the_avx2_kernels_of_both_libraries() -> None:
    assert pinned_numerics_env(AVX512_HOST, {}) == {
        "OPENBLAS_CORETYPE": "Haswell",
        "NPY_DISABLE_CPU_FEATURES": " ".join(NUMPY_AVX512_FEATURES),
    }


def test_an_avx2_host_pins_openblas_only_and_an_old_cpu_nothing() -> None:
    assert pinned_numerics_env(frozenset({"sse2", "avx2", "fma"}), {}) == {"OPENBLAS_CORETYPE": "Haswell"}
    assert pinned_numerics_env(frozenset({"sse2", "avx"}), {}) == {}  # Haswell kernels would not run there
    assert pinned_numerics_env(frozenset(), {}) == {}  # no /proc/cpuinfo flags (another platform)


def test_the_operators_core_type_is_not_overridden() -> None:
    pinned = pinned_numerics_env(AVX512_HOST, {"OPENBLAS_CORETYPE": "SkylakeX"})
    assert "OPENBLAS_CORETYPE" not in pinned and "NPY_DISABLE_CPU_FEATURES" in pinned


def test_cpu_flags_are_read_from_the_first_flags_line(tmp_path: Path) -> None:
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nmodel name\t: Some CPU\nflags\t\t: fpu sse2 avx2 fma\n\nflags\t: other\n")
    assert host_cpu_flags.__wrapped__(cpuinfo) == {"fpu", "sse2", "avx2", "fma"}
    assert host_cpu_flags.__wrapped__(tmp_path / "missing") == frozenset()


PROBE = """
    import ctypes, ctypes.util, json
    from numpy.core._multiarray_umath import __cpu_dispatch__, __cpu_features__
    corename = None
    for name in ("openblas", "blas"):
        found = ctypes.util.find_library(name)
        if found and hasattr(ctypes.CDLL(found), "openblas_get_corename"):
            get = ctypes.CDLL(found).openblas_get_corename
            get.restype = ctypes.c_char_p
            corename = get().decode()
            break
    enabled = sorted(k for k in __cpu_dispatch__ if __cpu_features__[k] and k.startswith("AVX512"))  # loops in use
    json.dump({"corename": corename, "avx512": enabled}, open("out/kernels.json", "w"))
"""


@pytest.mark.parametrize("backend", [pytest.param("docker", marks=pytest.mark.docker), "local"])
def test_inside_the_sandbox_numpy_and_openblas_use_the_pinned_kernels(
    backend: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OPENBLAS_CORETYPE", raising=False)  # as on a machine whose operator set none
    sandbox: Sandbox = require(backend)
    workspace = make_workspace(sandbox, tmp_path, PROBE)
    result = run(sandbox, workspace)
    assert result.ok, result.stderr_tail
    assert "cannot disable" not in result.stderr_tail  # numpy accepts every name: the image's dispatch list
    seen = json.loads((workspace / "out" / "kernels.json").read_text())
    flags = host_cpu_flags()
    if not {"avx2", "fma"} <= flags:
        pytest.skip("this CPU has no AVX2: nothing is pinned")
    assert seen["corename"] == OPENBLAS_AVX2_CORE, seen
    assert seen["avx512"] == [], seen  # on an AVX-512 host the image's numpy dispatches none of it
