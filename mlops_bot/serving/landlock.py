"""Landlock (Linux 5.13+): a process giving up, for itself and its children, every file access
outside a few read-only folders, TCP, and signals to processes outside its sandbox.

The smoke-test child (mlops_bot.serving.isolation) calls `restrict` after importing what it
needs and before unpickling the candidate, so a hostile pickle can open neither the job's files
(the workspace, credential files, /proc/<job>/environ) nor a connection (a metadata server).
Only the standard library: the syscalls are made through ctypes.
"""

from __future__ import annotations

import ctypes
import os
import sys
from collections.abc import Iterable

__all__ = ["abi_version", "restrict"]

# Syscall numbers are the same on every architecture (they were added after the tables merged).
_CREATE_RULESET, _ADD_RULE, _RESTRICT_SELF = 444, 445, 446
_CREATE_RULESET_VERSION = 1
_RULE_PATH_BENEATH = 1
_PR_SET_NO_NEW_PRIVS = 38
# Access rights (include/uapi/linux/landlock.h), by the ABI version that introduced them.
_EXECUTE, _WRITE_FILE, _READ_FILE, _READ_DIR = 1 << 0, 1 << 1, 1 << 2, 1 << 3
_FS_V1 = (1 << 13) - 1  # execute ... make_sym
_FS_BY_ABI = {1: _FS_V1, 2: _FS_V1 | 1 << 13, 3: _FS_V1 | 1 << 13 | 1 << 14}
_FS_IOCTL_DEV = 1 << 15  # ABI 5
_NET_ALL = (1 << 0) | (1 << 1)  # bind_tcp, connect_tcp: ABI 4
_SCOPE_ALL = (1 << 0) | (1 << 1)  # abstract unix sockets, signals: ABI 6
_FILE_RIGHTS = _EXECUTE | _READ_FILE
_DIR_RIGHTS = _FILE_RIGHTS | _READ_DIR


class _Ruleset(ctypes.Structure):
    _fields_ = [("handled_access_fs", ctypes.c_uint64), ("handled_access_net", ctypes.c_uint64),
                ("scoped", ctypes.c_uint64)]


class _PathBeneath(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


def _libc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(None, use_errno=True)
    except OSError:
        return None


def abi_version() -> int:
    """The kernel's Landlock ABI version; 0 when it has none (or it is disabled, or a seccomp
    filter such as a container's forbids it)."""
    libc = _libc()
    if libc is None:
        return 0
    version = int(libc.syscall(_CREATE_RULESET, None, 0, _CREATE_RULESET_VERSION))
    return max(version, 0)


def restrict(readable: Iterable[str]) -> int:
    """Sandboxes this process: files may only be read (and executed) beneath `readable`; no
    TCP; no signals out. Returns the ABI version used; raises OSError when it cannot."""
    libc, abi = _libc(), abi_version()
    if libc is None or abi < 1:
        raise OSError("Landlock is not available in this kernel")
    fs = _FS_BY_ABI.get(abi, _FS_BY_ABI[3] | _FS_IOCTL_DEV)
    ruleset = _Ruleset(fs, _NET_ALL if abi >= 4 else 0, _SCOPE_ALL if abi >= 6 else 0)
    size = 8 if abi < 4 else 16 if abi < 6 else 24
    fd = int(libc.syscall(_CREATE_RULESET, ctypes.byref(ruleset), size, 0))
    if fd < 0:
        raise OSError(ctypes.get_errno(), "landlock_create_ruleset failed")
    try:
        for path in dict.fromkeys(readable):
            _allow(libc, fd, path)
        if libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS) failed")
        if libc.syscall(_RESTRICT_SELF, fd, 0) != 0:
            raise OSError(ctypes.get_errno(), "landlock_restrict_self failed")
    finally:
        os.close(fd)
    return abi


def _allow(libc: ctypes.CDLL, ruleset: int, path: str) -> None:
    try:
        fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
    except OSError:
        return  # a folder this system does not have
    try:
        rights = _DIR_RIGHTS if os.path.isdir(path) else _FILE_RIGHTS
        rule = _PathBeneath(rights, fd)
        if libc.syscall(_ADD_RULE, ruleset, _RULE_PATH_BENEATH, ctypes.byref(rule), 0) != 0:
            raise OSError(ctypes.get_errno(), f"landlock_add_rule failed for {path}")
    finally:
        os.close(fd)
