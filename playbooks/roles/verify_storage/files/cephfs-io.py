#!/usr/bin/python3
"""cephfs-io: one timed write or read of a whole file (the verify stage's CephFS check; do not edit).

    cephfs-io write MOUNT PATH BYTES   write BYTES of random data to PATH, fsync, close
    cephfs-io read MOUNT PATH          read all of PATH (its cached pages dropped first)

MOUNT must be a CephFS mount (ceph-fuse or the kernel client) and PATH lie under it: without the mount
a write would land on the host's own disk and prove nothing. Prints ONE JSON object on stdout:
{"op", "path", "fstype", "bytes", "seconds", "MBps", "sha256"} (MB = 1e6 bytes; seconds cover open to
close, fsync included for a write; the data is made and hashed outside the timed part). On an error:
{"op", "path", "error"} and exit 1. Python stdlib only.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from typing import Any

CHUNK = 4 * 1024 * 1024  # bytes per write/read call (Ceph's default object size)
CEPHFS_TYPES = ("ceph", "fuse.ceph-fuse")  # /proc/self/mountinfo: kernel client, ceph-fuse


def cephfs_type(mount: str) -> str:
    """The file system type mounted at ``mount``; OSError unless it is a CephFS."""
    found = None
    with open("/proc/self/mountinfo", encoding="utf-8") as f:
        for line in f:
            head, _, tail = line.partition(" - ")
            fields = head.split()
            point = fields[4].encode().decode("unicode_escape") if len(fields) > 4 else ""
            if point == mount.rstrip("/") or (mount == "/" and point == "/"):
                found = tail.split()[0]  # the last one listed is the one on top
    if found not in CEPHFS_TYPES:
        what = f"a {found} mount" if found else "not a mount point"
        raise OSError(f"{mount} is {what}, not a CephFS ({' or '.join(CEPHFS_TYPES)}): is it mounted?")
    return found


def write(path: str, size: int) -> dict[str, Any]:
    if size < 1:
        raise ValueError(f"size must be at least 1 byte, got {size}")
    data = os.urandom(size)  # random: nothing on the way can compress or deduplicate it
    os.makedirs(os.path.dirname(path), exist_ok=True)
    if os.path.exists(path):
        os.unlink(path)  # a file left by a crashed run: write a new one, not over the old one
    view = memoryview(data)
    start = time.perf_counter()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        done = 0
        while done < size:
            done += os.write(fd, view[done : done + CHUNK])
        os.fsync(fd)  # on the OSDs, not only in the client's cache
    finally:
        os.close(fd)
    seconds = time.perf_counter() - start
    return _result("write", path, size, seconds, hashlib.sha256(data).hexdigest())


def read(path: str) -> dict[str, Any]:
    fd = os.open(path, os.O_RDONLY)
    try:
        size = os.fstat(fd).st_size
        # Pages this host may hold already (one compute host reads its own file) come from the OSDs.
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)
    buf = bytearray(size)
    view = memoryview(buf)
    start = time.perf_counter()
    fd = os.open(path, os.O_RDONLY)
    try:
        done = 0
        while done < size:
            n = os.readv(fd, [view[done : done + CHUNK]])
            if n == 0:
                raise OSError(f"{path} ended after {done} of {size} bytes")
            done += n
    finally:
        os.close(fd)
    seconds = time.perf_counter() - start
    return _result("read", path, size, seconds, hashlib.sha256(buf).hexdigest())


def _result(op: str, path: str, size: int, seconds: float, digest: str) -> dict[str, Any]:
    return {
        "op": op,
        "path": path,
        "bytes": size,
        "seconds": round(seconds, 6),
        "MBps": round(size / seconds / 1e6, 3) if seconds > 0 else None,
        "sha256": digest,
    }


def main(argv: list[str]) -> int:
    if len(argv) < 3 or argv[0] not in ("write", "read") or len(argv) != (4 if argv[0] == "write" else 3):
        print(__doc__, file=sys.stderr)
        return 2
    op, mount, path = argv[0], argv[1], argv[2]
    try:
        if os.path.commonpath([os.path.abspath(mount), os.path.abspath(path)]) != os.path.abspath(mount):
            raise ValueError(f"{path} is not under {mount}")
        fstype = cephfs_type(os.path.abspath(mount))
        result = write(path, int(argv[3])) if op == "write" else read(path)
    except (OSError, ValueError) as e:
        print(json.dumps({"op": op, "path": path, "error": str(e)}, sort_keys=True))
        return 1
    print(json.dumps({**result, "fstype": fstype}, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
