"""Preflight: what a node really has, compared with what the plan declared for it.

Facts come from the kernel and the driver, never from configuration: GPUs from ``torch.cuda`` (and
``nvidia-smi`` for the driver version and ECC counters when present), CPUs from ``/proc/cpuinfo`` and
the affinity mask, memory from ``/proc/meminfo``, interfaces and addresses from ``ip -j addr`` (or
``/sys/class/net`` plus an ioctl when ``ip`` is missing), link speed from
``/sys/class/net/<if>/speed``, RDMA devices and port state from ``/sys/class/infiniband``.

The declared side is a JSON object per node (``dcinfra.verify.declared`` builds it from the plan)::

    {"gpu_count": 8, "gpu_model": "H100", "cpu_cores": 112, "memory_gb": 2048,
     "interfaces": {"ib0": {"address": "10.1.0.11", "mtu": 4092}},
     "link_speed_mbps": {"eth1": 400000}, "rdma": {"mlx5_0": {"rate_gbps": 400}}}

Every key is optional; a missing key is not checked. :func:`compare` is pure and names the node and
the item of every mismatch.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import shutil
import socket
import struct
import subprocess
from pathlib import Path
from typing import Any

import torch

MEMORY_TOLERANCE = 0.90  # MemTotal excludes kernel and firmware reservations: accept >= 90% of declared
_SIOCGIFADDR = 0x8915  # Linux ioctl: an interface's primary IPv4 address
_TIMEOUT_S = 20  # per external command (nvidia-smi, ip)


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def _run(argv: list[str]) -> str | None:
    if shutil.which(argv[0]) is None:
        return None
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=_TIMEOUT_S, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout if done.returncode == 0 else None


def _gpus() -> dict[str, Any]:
    names: list[str] = []
    if torch.cuda.is_available():
        names = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    out: dict[str, Any] = {
        "count": len(names),
        "names": names,
        "driver_loaded": Path("/proc/driver/nvidia/version").exists(),
        "driver_version": None,
        "ecc_uncorrected": None,  # index -> volatile uncorrected ECC errors; None: not readable
    }
    smi = _run(
        [
            "nvidia-smi",
            "--query-gpu=index,name,driver_version,ecc.errors.uncorrected.volatile.total",
            "--format=csv,noheader,nounits",
        ]
    )
    if smi is not None:
        out["driver_loaded"] = True
        ecc: dict[str, int | None] = {}
        for line in smi.strip().splitlines():
            parts = [p.strip() for p in line.split(",")]
            if len(parts) < 4:
                continue
            out["driver_version"] = parts[2]
            try:
                ecc[parts[0]] = int(parts[3])
            except ValueError:
                ecc[parts[0]] = None  # "[N/A]": ECC off or not supported
        out["ecc_uncorrected"] = ecc
    return out


def _cpus() -> dict[str, Any]:
    physical: int | None = None
    text = _read(Path("/proc/cpuinfo"))
    if text:
        cores: set[tuple[str, str]] = set()
        phys, core = "0", None
        for line in text.splitlines():
            key, _, value = line.partition(":")
            key, value = key.strip(), value.strip()
            if key == "physical id":
                phys = value
            elif key == "core id":
                core = value
            elif not key and core is not None:
                cores.add((phys, core))
                phys, core = "0", None
        if core is not None:
            cores.add((phys, core))
        physical = len(cores) or None
    try:
        usable = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        usable = os.cpu_count() or 0
    return {"logical": os.cpu_count() or 0, "physical": physical, "usable": usable}


def _memory_gib() -> float | None:
    text = _read(Path("/proc/meminfo"))
    if not text:
        return None
    m = re.search(r"^MemTotal:\s+(\d+)\s+kB", text, re.MULTILINE)
    return round(int(m.group(1)) * 1024 / 2**30, 3) if m else None


def _speed(iface: str) -> int | None:
    raw = _read(Path("/sys/class/net") / iface / "speed")
    try:
        speed = int(raw) if raw is not None else -1
    except ValueError:
        speed = -1
    return speed if speed > 0 else None  # -1 / EINVAL: no carrier, or a virtual device without a speed


def _ipv4_ioctl(iface: str) -> str | None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            packed = fcntl.ioctl(s.fileno(), _SIOCGIFADDR, struct.pack("256s", iface[:15].encode()))
        except OSError:
            return None
    return socket.inet_ntoa(packed[20:24])


def _interfaces() -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    raw = _run(["ip", "-j", "addr"])
    if raw:
        with contextlib.suppress(ValueError):
            for link in json.loads(raw):
                name = str(link.get("ifname", ""))
                if not name:
                    continue
                addrs = [
                    f"{a['local']}/{a['prefixlen']}"
                    for a in link.get("addr_info", [])
                    if a.get("family") in ("inet", "inet6") and "local" in a
                ]
                out[name] = {
                    "addresses": addrs,
                    "up": "UP" in link.get("flags", []),
                    "mtu": link.get("mtu"),
                    "speed_mbps": _speed(name),
                }
    if not out:  # no `ip`: the kernel's view through /sys and an ioctl (primary IPv4 only)
        base = Path("/sys/class/net")
        for dev in sorted(p.name for p in base.iterdir()) if base.is_dir() else []:
            addr = _ipv4_ioctl(dev)
            flags = _read(base / dev / "flags")
            mtu = _read(base / dev / "mtu")
            out[dev] = {
                "addresses": [addr] if addr else [],
                "up": bool(int(flags, 16) & 0x1) if flags else False,
                "mtu": int(mtu) if mtu and mtu.isdigit() else None,
                "speed_mbps": _speed(dev),
            }
    return out


def _rdma() -> dict[str, dict[str, Any]]:
    base = Path("/sys/class/infiniband")
    out: dict[str, dict[str, Any]] = {}
    if not base.is_dir():
        return out
    for dev in sorted(p.name for p in base.iterdir()):
        ports: dict[str, dict[str, Any]] = {}
        pdir = base / dev / "ports"
        for port in sorted(p.name for p in pdir.iterdir()) if pdir.is_dir() else []:
            rate = _read(pdir / port / "rate")  # e.g. "400 Gb/sec (4X NDR)"
            m = re.match(r"([\d.]+)\s*Gb/sec", rate or "")
            ports[port] = {
                "state": _read(pdir / port / "state"),  # e.g. "4: ACTIVE"
                "rate_gbps": float(m.group(1)) if m else None,
                "link_layer": _read(pdir / port / "link_layer"),
            }
        out[dev] = {"ports": ports}
    return out


def collect_facts(node: str) -> dict[str, Any]:
    """What this node has, as JSON-ready data (a few seconds at most)."""
    return {
        "node": node,
        "hostname": socket.gethostname(),
        "gpu": _gpus(),
        "cpu": _cpus(),
        "memory_gib": _memory_gib(),
        "interfaces": _interfaces(),
        "rdma": _rdma(),
    }


def _mismatch(
    node: str, item: str, declared: Any, found: Any, message: str, severity: str = "error"
) -> dict[str, Any]:
    return {
        "node": node,
        "item": item,
        "declared": declared,
        "found": found,
        "severity": severity,  # "error" fails the preflight check; "warning" is reported only
        "message": f"{node}: {item}: {message}",
    }


def compare(node: str, declared: dict[str, Any], facts: dict[str, Any]) -> list[dict[str, Any]]:
    """Every way ``facts`` fall short of ``declared`` for ``node``. Pure."""
    out: list[dict[str, Any]] = []
    gpu = facts.get("gpu", {})
    want_gpus = declared.get("gpu_count")
    if want_gpus is not None:
        if gpu.get("count") != want_gpus:
            out.append(
                _mismatch(
                    node,
                    "gpu.count",
                    want_gpus,
                    gpu.get("count"),
                    f"declared {want_gpus} GPUs, found {gpu.get('count')}",
                )
            )
        if want_gpus > 0 and not gpu.get("driver_loaded"):
            out.append(
                _mismatch(
                    node,
                    "gpu.driver",
                    "loaded",
                    "not loaded",
                    "the NVIDIA driver is not loaded (no /proc/driver/nvidia)",
                )
            )
    model = declared.get("gpu_model")
    if model:
        wrong = [n for n in gpu.get("names", []) if str(model).lower() not in n.lower()]
        if wrong:
            out.append(
                _mismatch(
                    node, "gpu.model", model, wrong, f"expected {model!r} GPUs, found {sorted(set(wrong))}"
                )
            )
    for idx, errors in sorted((gpu.get("ecc_uncorrected") or {}).items()):
        if errors:
            out.append(
                _mismatch(
                    node,
                    f"gpu[{idx}].ecc",
                    0,
                    errors,
                    f"GPU {idx} has {errors} uncorrected volatile ECC errors",
                )
            )
    cores = declared.get("cpu_cores")
    if cores is not None:
        cpu = facts.get("cpu", {})
        found = cpu.get("physical") or cpu.get("logical")
        if found is None or found < cores:
            out.append(_mismatch(node, "cpu.cores", cores, found, f"declared {cores} cores, found {found}"))
    mem = declared.get("memory_gb")
    if mem is not None:
        found_mem = facts.get("memory_gib")
        if found_mem is None or found_mem < mem * MEMORY_TOLERANCE:
            out.append(
                _mismatch(
                    node,
                    "memory",
                    mem,
                    found_mem,
                    f"declared {mem} GB, found {found_mem} GiB (under {MEMORY_TOLERANCE:.0%} of declared)",
                )
            )
    ifaces = facts.get("interfaces", {})
    for name, want in sorted((declared.get("interfaces") or {}).items()):
        have = ifaces.get(name)
        if have is None:
            out.append(_mismatch(node, f"interface.{name}", want, None, f"interface {name!r} does not exist"))
            continue
        if not have.get("up"):
            out.append(
                _mismatch(node, f"interface.{name}.state", "UP", "DOWN", f"interface {name!r} is down")
            )
        addr = want.get("address")
        if addr and addr not in [a.split("/")[0] for a in have.get("addresses", [])]:
            out.append(
                _mismatch(
                    node,
                    f"interface.{name}.address",
                    addr,
                    have.get("addresses"),
                    f"interface {name!r} lacks address {addr}",
                )
            )
        mtu = want.get("mtu")
        if mtu and (have.get("mtu") or 0) < mtu:
            out.append(
                _mismatch(
                    node,
                    f"interface.{name}.mtu",
                    mtu,
                    have.get("mtu"),
                    f"interface {name!r} MTU {have.get('mtu')} < {mtu}",
                )
            )
    for name, want_mbps in sorted((declared.get("link_speed_mbps") or {}).items()):
        have_mbps = (ifaces.get(name) or {}).get("speed_mbps")
        if have_mbps is None:
            out.append(
                _mismatch(
                    node,
                    f"link_speed.{name}",
                    want_mbps,
                    None,
                    f"the link speed of {name!r} is not readable (no carrier, or a virtual device)",
                    "warning",
                )
            )
        elif have_mbps < want_mbps:
            out.append(
                _mismatch(
                    node,
                    f"link_speed.{name}",
                    want_mbps,
                    have_mbps,
                    f"{name!r} runs at {have_mbps} Mb/s, declared {want_mbps}",
                )
            )
    rdma = facts.get("rdma", {})
    for dev, want in sorted((declared.get("rdma") or {}).items()):
        have = rdma.get(dev)
        if have is None:
            out.append(
                _mismatch(
                    node,
                    f"rdma.{dev}",
                    "present",
                    None,
                    f"RDMA device {dev!r} is missing from /sys/class/infiniband",
                )
            )
            continue
        port = (have.get("ports") or {}).get("1", {})
        state = str(port.get("state") or "")
        if "ACTIVE" not in state:
            out.append(
                _mismatch(
                    node, f"rdma.{dev}.state", "ACTIVE", state or None, f"RDMA port {dev}:1 is not ACTIVE"
                )
            )
        rate = (want or {}).get("rate_gbps")
        if rate and (port.get("rate_gbps") or 0) < rate:
            out.append(
                _mismatch(
                    node,
                    f"rdma.{dev}.rate",
                    rate,
                    port.get("rate_gbps"),
                    f"RDMA port {dev}:1 runs below {rate} Gb/s",
                )
            )
    return out
