"""A seccomp filter for the `local` backend (issue 21, item 12): bubblewrap applies it (`--seccomp FD`) just before
it executes the experiment, so it binds the experiment and everything it starts, never bwrap's own set-up.

Docker applies its default profile; bubblewrap applies none unless given one. This is a deny-list in classic BPF,
built here (no libseccomp needed): the kernel-facing calls an experiment has no use for and that widen the
attack surface or reach host state — the kernel keyring (the operator's session keyring is otherwise inherited:
`keyctl`, `add_key`, `request_key`), `ptrace`, `process_vm_*`, `bpf`, `perf_event_open`, `userfaultfd`,
`io_uring_*`, namespaces (`unshare`, `setns`), mounts, modules, kexec, swap, reboot, `open_by_handle_at`,
`personality`, `syslog`, `acct`, `quotactl`, `fanotify_init`. They fail with EPERM, as do x32 syscalls; a syscall
made through a foreign architecture's ABI kills the process. Architectures: x86_64 and aarch64; elsewhere `program()`
returns None and the backend says so (no filter, as before).
"""

from __future__ import annotations

import errno
import os
import platform
import struct

# linux/audit.h, linux/seccomp.h, linux/filter.h
AUDIT_ARCH = {"x86_64": 0xC000003E, "aarch64": 0xC00000B7}
SECCOMP_RET_KILL_PROCESS = 0x80000000
SECCOMP_RET_ERRNO = 0x00050000
SECCOMP_RET_ALLOW = 0x7FFF0000
X32_SYSCALL_BIT = 0x40000000
BPF_LD_W_ABS = 0x20
BPF_JEQ_K = 0x15
BPF_JGE_K = 0x35
BPF_RET_K = 0x06
OFFSET_NR, OFFSET_ARCH = 0, 4

# name: (x86_64, aarch64) syscall numbers (arch/x86/entry/syscalls/syscall_64.tbl, include/uapi/asm-generic/unistd.h)
DENIED: dict[str, tuple[int, int]] = {
    "keyctl": (250, 219),
    "add_key": (248, 217),
    "request_key": (249, 218),
    "ptrace": (101, 117),
    "process_vm_readv": (310, 270),
    "process_vm_writev": (311, 271),
    "bpf": (321, 280),
    "perf_event_open": (298, 241),
    "userfaultfd": (323, 282),
    "io_uring_setup": (425, 425),
    "io_uring_enter": (426, 426),
    "io_uring_register": (427, 427),
    "unshare": (272, 97),
    "setns": (308, 268),
    "mount": (165, 40),
    "umount2": (166, 39),
    "pivot_root": (155, 41),
    "init_module": (175, 105),
    "finit_module": (313, 273),
    "delete_module": (176, 106),
    "kexec_load": (246, 104),
    "kexec_file_load": (320, 294),
    "swapon": (167, 224),
    "swapoff": (168, 225),
    "reboot": (169, 142),
    "open_by_handle_at": (304, 265),
    "name_to_handle_at": (303, 264),
    "personality": (135, 92),
    "syslog": (103, 116),
    "acct": (163, 89),
    "quotactl": (179, 60),
    "fanotify_init": (300, 262),
}


def _insn(code: int, k: int, jt: int = 0, jf: int = 0) -> bytes:
    return struct.pack("=HBBI", code, jt, jf, k)


def program(machine: str | None = None) -> bytes | None:
    """The compiled filter for this machine's architecture (None where it is not supported)."""
    machine = machine or platform.machine()
    if machine not in AUDIT_ARCH:
        return None
    column = 0 if machine == "x86_64" else 1
    numbers = sorted({numbers[column] for numbers in DENIED.values()})
    deny = SECCOMP_RET_ERRNO | errno.EPERM
    body = [_insn(BPF_LD_W_ABS, OFFSET_ARCH), _insn(BPF_JEQ_K, AUDIT_ARCH[machine], jt=1, jf=0)]
    body.append(_insn(BPF_RET_K, SECCOMP_RET_KILL_PROCESS))
    body.append(_insn(BPF_LD_W_ABS, OFFSET_NR))
    checks = ([(BPF_JGE_K, X32_SYSCALL_BIT)] if machine == "x86_64" else []) + [(BPF_JEQ_K, nr) for nr in numbers]
    for index, (code, value) in enumerate(checks):
        # jump forward to the final "deny" over the remaining checks and the "allow"
        body.append(_insn(code, value, jt=len(checks) - index, jf=0))
    body.append(_insn(BPF_RET_K, SECCOMP_RET_ALLOW))
    body.append(_insn(BPF_RET_K, deny))
    return b"".join(body)


def program_fd(machine: str | None = None) -> int | None:
    """A file descriptor holding the filter, positioned at its start, for `bwrap --seccomp FD` (caller closes)."""
    code = program(machine)
    if code is None:
        return None
    fd = os.memfd_create("scientist-seccomp", os.MFD_CLOEXEC)
    os.write(fd, code)
    os.lseek(fd, 0, os.SEEK_SET)
    return fd
