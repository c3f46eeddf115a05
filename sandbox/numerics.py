"""The same numbers on every x86-64 machine: pin the numeric kernels an isolated run's numpy and OpenBLAS pick.

numpy and OpenBLAS choose their kernels at run time from the CPU: on a machine with AVX-512 numpy's exp/log loops and
OpenBLAS's matrix kernels differ from the AVX2 ones in the last bits. An experiment's numbers (final_info.json, the
evaluator's measurement, its sha256 in the paper) then depend on the machine, so a recorded run no longer replays
and re-evaluation on another machine sees a "different" number. Measured on reward_model_overoptimization: the
AVX-512 kernels give another final_info.json than the AVX2 ones; pinned as below, an AVX-512 EPYC gives the same
digest as the AVX2 machines that recorded the fixtures.

Pinned from outside the run (the sandbox's environment, like the thread counts), so the agent's code cannot choose.
An operator's own OPENBLAS_CORETYPE (set for CPUs that OpenBLAS misdetects) still wins: see PASSTHROUGH_VARS.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from pathlib import Path

# OpenBLAS's AVX2 kernel set: runs on every CPU with AVX2 and FMA (Intel since 2013, AMD since Zen).
OPENBLAS_AVX2_CORE = "Haswell"
# The AVX-512 groups the sandbox image's numpy (Debian bookworm, 1.24) dispatches to; numpy refuses to disable a name
# it does not dispatch, so this is that image's list (tests/test_sandbox_numerics.py checks none is left enabled).
NUMPY_AVX512_FEATURES = ("AVX512F", "AVX512CD", "AVX512_SKX", "AVX512_CLX", "AVX512_CNL", "AVX512_ICL")


@cache
def host_cpu_flags(cpuinfo: Path = Path("/proc/cpuinfo")) -> frozenset[str]:
    """The first CPU's feature flags (x86 Linux); empty where there is no such file or line (other platforms)."""
    try:
        text = cpuinfo.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return frozenset()
    for line in text.splitlines():
        name, _, value = line.partition(":")
        if name.strip() == "flags":
            return frozenset(value.split())
    return frozenset()


def pinned_numerics_env(flags: frozenset[str], operator_env: Mapping[str, str]) -> dict[str, str]:
    """The variables that make an isolated run compute with the AVX2 kernels wherever the CPU has more.

    Nothing on a CPU without AVX2 and FMA (OpenBLAS's Haswell kernels would not run there), and no core type where the
    operator set one."""
    env: dict[str, str] = {}
    if {"avx2", "fma"} <= flags and "OPENBLAS_CORETYPE" not in operator_env:
        env["OPENBLAS_CORETYPE"] = OPENBLAS_AVX2_CORE
    if "avx512f" in flags:
        env["NPY_DISABLE_CPU_FEATURES"] = " ".join(NUMPY_AVX512_FEATURES)
    return env
