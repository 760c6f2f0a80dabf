"""Sites without a lab: the bare-metal provider reports unreachable hosts clearly (loopback only)."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from dcinfra.config import Config
from dcinfra.loader import load_stack
from dcinfra.plan import compile_plan
from dcinfra.sites import provider_for
from dcinfra.sites.baremetal import BareMetal, UnreachableHosts
from dcinfra.state import StateDir

STACK = """
from dcinfra import *
stack = Stack(
    name="bm",
    site=BareMetalSite(hosts=[BareMetalHost(name="nd-001", management_ip="127.0.0.1"),
                              BareMetalHost(name="nd-002", management_ip="127.0.0.2")]),
    compute=Compute(pools=[NodePool(name="nd", count=2, hardware=Hardware(profile="lab-cpu", rails=0))]),
    fabric=Fabric(management=Network(cidr="127.0.0.0/24", gateway=False)),
)
"""


class _Steps:
    def step(self, message: str) -> None:
        del message


def test_baremetal_names_every_unreachable_host(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "bm.py").write_text(STACK)
    plan = compile_plan(load_stack(tmp_path / "bm.py", Config()))
    # an SSH-like listener on 127.0.0.1:22 is not ours to start; point the probe at our own port instead
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    port = server.getsockname()[1]
    real = socket.create_connection

    def connect(addr: tuple[str, int], timeout: float | None = None) -> socket.socket:
        return real((addr[0], port), timeout=timeout)

    monkeypatch.setattr(socket, "create_connection", connect)
    provider = provider_for(plan, StateDir(tmp_path / "state" / "bm"))
    assert isinstance(provider, BareMetal)
    with pytest.raises(UnreachableHosts) as err:
        provider.provision(_Steps())
    server.close()
    text = str(err.value)
    # 127.0.0.1 accepted but sent no SSH banner; 127.0.0.2 refused: both named with their address
    assert "2 of 2 hosts do not answer SSH" in text
    assert "nd-001 (127.0.0.1)" in text and "nd-002 (127.0.0.2)" in text
