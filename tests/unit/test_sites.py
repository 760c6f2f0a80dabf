"""Sites without a lab: the bare-metal provider reaches real sshds and names unreachable hosts (loopback)."""

from __future__ import annotations

import getpass
import socket
import sys
from pathlib import Path

import pytest

from dcinfra.config import Config
from dcinfra.engines.ansible import run_playbook
from dcinfra.loader import load_stack
from dcinfra.plan import compile_plan
from dcinfra.render import render, write_tree
from dcinfra.sites import provider_for
from dcinfra.sites.baremetal import BareMetal, UnreachableHosts
from dcinfra.state import StateDir
from tests.conftest import SshServer

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


def test_baremetal_reaches_a_real_sshd_and_configures_it_over_ssh(
    tmp_path: Path, ssh_server: SshServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A reachable bare-metal host, for real: an sshd on loopback at the site's ssh_port. The provider
    probes it (TCP and the SSH banner), the plan admits SSH on that port, the inventory carries it,
    and Ansible runs a play on the host over SSH with the provider's identity."""
    stack_text = STACK.replace(
        'BareMetalHost(name="nd-002", management_ip="127.0.0.2")]',
        f'BareMetalHost(name="nd-002", management_ip="127.0.0.2")], ssh_port={ssh_server.port}, '
        f"ssh_key_file={str(ssh_server.client_key)!r}",
    )
    (tmp_path / "bm.py").write_text(stack_text)
    monkeypatch.delenv("DCINFRA_SSH_KEY", raising=False)
    plan = compile_plan(load_stack(tmp_path / "bm.py", Config()))
    assert plan.site.ssh_port == ssh_server.port
    ssh = next(f for f in plan.security.flows if f.name == "ssh")
    assert ssh.ports == (str(ssh_server.port),)
    state = StateDir(tmp_path / "state" / "bm")
    provider = provider_for(plan, state)  # the key comes from the stack's ssh_key_file
    assert isinstance(provider, BareMetal)
    hosts = provider.provision(_Steps())
    assert [(h.name, h.state) for h in hosts.hosts] == [("nd-001", "reachable"), ("nd-002", "reachable")]
    assert all(h.detail.startswith("SSH-2.0-OpenSSH") for h in hosts.hosts)
    assert hosts.site == "baremetal" and hosts.ssh_key == str(ssh_server.client_key)

    build = tmp_path / "build"
    write_tree(render(plan), build)
    inventory = build / "inventory" / "hosts.yml"
    assert f"ansible_port: {ssh_server.port}" in (build / "inventory" / "group_vars" / "all.yml").read_text()
    playbook = tmp_path / "ping.yml"
    playbook.write_text(
        "- name: Reach the host\n  hosts: all\n  gather_facts: false\n"
        "  tasks:\n    - name: Ping\n      ansible.builtin.ping:\n"
    )
    python = "/usr/bin/python3" if Path("/usr/bin/python3").exists() else sys.executable
    record = run_playbook(
        playbook,
        inventory,
        runs_dir=state.ensure().runs,
        ssh_key=Path(hosts.ssh_key),
        ssh_user=getpass.getuser(),
        extravars={"ansible_python_interpreter": python},
        forks=2,
    )
    assert record.ok, (record.error, record.failures)
    assert sorted(record.hosts) == ["nd-001", "nd-002"]
