"""The seccomp program that keeps a sandboxed command off every socket when network is off.

Why a filter at all: ``--unshare-net`` gives the command an empty network namespace, so
TCP/UDP (even to loopback) and abstract unix sockets are unreachable. Unix sockets bound
to a *path* are not: they live in the filesystem, which the sandbox shows read-only but
whole, and ``connect()`` on a read-only socket inode still works. That reaches
``/var/run/docker.sock``, an ssh agent, the D-Bus system bus. No filesystem rule hides
them all, so the filter removes the means instead: the command cannot create a socket.

The program (classic BPF, handed to bubblewrap with ``--seccomp FD``, which loads it
right before it executes the command, after ``PR_SET_NO_NEW_PRIVS``):

* ``seccomp_data.arch`` must be x86_64 or aarch64; every syscall made under any other
  ABI (i386 ``int 0x80`` compat calls, arm32 compat) fails with ``EPERM``. On x86_64
  the x32 ABI (syscall numbers with bit ``0x40000000`` set) is refused the same way.
* ``socket()`` fails with ``EPERM`` for every address family (unix, inet, inet6,
  netlink, packet, vsock, …).
* ``socketpair()`` works for ``AF_UNIX`` only. A pair has no address: it connects the
  two ends the caller holds and nothing else, and tools need it (event loops' self
  pipes, ``cargo``, ``make`` job servers, Python's ``asyncio``).
* ``io_uring_setup``/``io_uring_enter``/``io_uring_register`` fail with ``EPERM``:
  ``IORING_OP_SOCKET`` and ``IORING_OP_CONNECT`` would create and connect sockets
  without the ``socket``/``connect`` syscalls this filter sees.
* everything else is allowed.

How this differs from Codex's Linux sandbox (``codex-rs/linux-sandbox``, built with the
``seccompiler`` crate): Codex lets ``socket(AF_UNIX, …)`` through and instead refuses
``connect``, ``bind``, ``listen``, ``accept``, ``sendto``, ``getsockopt`` and friends for
every socket. Refusing the creation is the smaller rule with the same reach (no socket
can be opened, so none can be connected; the sandbox inherits no socket descriptors,
and ``SCM_RIGHTS`` can only pass descriptors between its own processes), and it keeps
``send``/``sendto``/``setsockopt`` working on ``socketpair`` descriptors, which Codex's
list breaks. Codex also refuses ``ptrace``; here the PID namespace already limits
``ptrace`` to the command's own processes, and debuggers keep working. Like Codex, the
filter only exists when network is off: with network access a socket is allowed anyway.
"""

from __future__ import annotations

import functools
import os
import struct
from collections.abc import Sequence
from dataclasses import dataclass

# ---- constants from <linux/filter.h>, <linux/seccomp.h>, <linux/audit.h> ---------------------

_BPF_LD_W_ABS = 0x20
_BPF_JMP_JEQ_K = 0x15
_BPF_JMP_JGE_K = 0x35
_BPF_RET_K = 0x06

SECCOMP_RET_ALLOW = 0x7FFF0000
SECCOMP_RET_ERRNO = 0x00050000
_EPERM = 1
_DENY = SECCOMP_RET_ERRNO | _EPERM

AUDIT_ARCH_X86_64 = 0xC000003E
AUDIT_ARCH_AARCH64 = 0xC00000B7
X32_SYSCALL_BIT = 0x40000000

AF_UNIX = 1

# struct seccomp_data { int nr; __u32 arch; __u64 instruction_pointer; __u64 args[6]; }
_OFF_NR = 0
_OFF_ARCH = 4
_OFF_ARG0_LOW = 16
"""Low 32 bits of args[0] (both supported ABIs are little-endian); ``domain`` is an int."""


@dataclass(frozen=True, slots=True)
class _SyscallTable:
    arch: int
    socket: int
    socketpair: int
    io_uring: tuple[int, ...]
    x32_bit: bool
    """Refuse numbers with ``X32_SYSCALL_BIT`` (x86_64 only)."""


_X86_64 = _SyscallTable(
    arch=AUDIT_ARCH_X86_64, socket=41, socketpair=53, io_uring=(425, 426, 427), x32_bit=True
)
_AARCH64 = _SyscallTable(
    arch=AUDIT_ARCH_AARCH64, socket=198, socketpair=199, io_uring=(425, 426, 427), x32_bit=False
)
TABLES: tuple[_SyscallTable, ...] = (_X86_64, _AARCH64)

SUPPORTED_MACHINES = frozenset({"x86_64", "amd64", "aarch64", "arm64"})


class SeccompUnavailable(Exception):
    """No network filter can be built or installed here; sandboxed commands must not run."""


# ---- a tiny assembler with symbolic jump targets ---------------------------------------------


@dataclass(frozen=True, slots=True)
class _Label:
    name: str


@dataclass(frozen=True, slots=True)
class _Insn:
    code: int
    k: int = 0
    jt: str | None = None
    jf: str | None = None


def _assemble(program: Sequence[_Insn | _Label]) -> bytes:
    positions: dict[str, int] = {}
    index = 0
    for entry in program:
        if isinstance(entry, _Label):
            if entry.name in positions:
                raise ValueError(f"label {entry.name!r} defined twice")
            positions[entry.name] = index
        else:
            index += 1
    out = bytearray()
    index = 0
    for entry in program:
        if isinstance(entry, _Label):
            continue
        jt = _offset(positions, entry.jt, index)
        jf = _offset(positions, entry.jf, index)
        out += struct.pack("=HBBI", entry.code, jt, jf, entry.k)
        index += 1
    return bytes(out)


def _offset(positions: dict[str, int], label: str | None, index: int) -> int:
    if label is None:
        return 0
    delta = positions[label] - index - 1
    if not 0 <= delta <= 255:
        raise ValueError(f"jump to {label!r} out of range ({delta})")
    return delta


def _load(offset: int) -> _Insn:
    return _Insn(_BPF_LD_W_ABS, offset)


def _ret(action: int) -> _Insn:
    return _Insn(_BPF_RET_K, action)


def _jeq(value: int, target: str, otherwise: str | None = None) -> _Insn:
    return _Insn(_BPF_JMP_JEQ_K, value, jt=target, jf=otherwise)


def _jge(value: int, target: str) -> _Insn:
    return _Insn(_BPF_JMP_JGE_K, value, jt=target)


def _table_block(table: _SyscallTable) -> list[_Insn | _Label]:
    tag = f"{table.arch:x}"
    block: list[_Insn | _Label] = [_Label(f"arch-{tag}"), _load(_OFF_NR)]
    if table.x32_bit:
        block.append(_jge(X32_SYSCALL_BIT, "deny"))
    block.append(_jeq(table.socket, "deny"))
    block += [_jeq(nr, "deny") for nr in table.io_uring]
    block += [
        _jeq(table.socketpair, f"pair-{tag}"),
        _ret(SECCOMP_RET_ALLOW),
        _Label(f"pair-{tag}"),
        _load(_OFF_ARG0_LOW),
        _jeq(AF_UNIX, "allow", "deny"),
    ]
    return block


@functools.cache
def network_filter() -> bytes:
    """The filter as the raw ``struct sock_filter`` array bubblewrap reads from its fd."""
    program: list[_Insn | _Label] = [_load(_OFF_ARCH)]
    program += [_jeq(t.arch, f"arch-{t.arch:x}") for t in TABLES]
    program.append(_ret(_DENY))  # any other ABI
    for table in TABLES:
        program += _table_block(table)
    program += [_Label("allow"), _ret(SECCOMP_RET_ALLOW), _Label("deny"), _ret(_DENY)]
    return _assemble(program)


def filter_fd() -> int:
    """A fresh descriptor (close-on-exec, read position 0) holding :func:`network_filter`.

    Raises :class:`SeccompUnavailable` on a machine whose syscall table the filter does
    not know: the command would otherwise run with sockets the policy forbids.
    """
    machine = os.uname().machine
    if machine not in SUPPORTED_MACHINES:
        raise SeccompUnavailable(
            f"the network seccomp filter supports x86_64 and aarch64, not {machine}; "
            "allow network access or use sandbox mode danger-full-access"
        )
    fd = os.memfd_create("threadline-seccomp", os.MFD_CLOEXEC)
    try:
        os.write(fd, network_filter())
        os.lseek(fd, 0, os.SEEK_SET)
    except BaseException:
        os.close(fd)
        raise
    return fd


__all__ = [
    "AUDIT_ARCH_AARCH64",
    "AUDIT_ARCH_X86_64",
    "SUPPORTED_MACHINES",
    "SeccompUnavailable",
    "filter_fd",
    "network_filter",
]
