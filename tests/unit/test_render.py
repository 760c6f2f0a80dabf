"""The render stage: Plan -> files. Determinism, the build-dir manifest, and that every rendered config
is accepted by the program that reads it (nft, sshd, YAML, XML), plus a golden copy of the lab render.

Regenerate the golden files after an intended change with::

    DCINFRA_UPDATE_GOLDEN=1 pytest tests/unit/test_render.py -k golden   # rewrites, then fails
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import os
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from dcinfra.errors import RenderError
from dcinfra.model.stack import Stack
from dcinfra.plan import compile_plan
from dcinfra.plan.types import FirewallRule, Plan, to_jsonable
from dcinfra.render import MANIFEST, hostfiles, render, render_template, write_tree
from dcinfra.render.hostfiles import HOST_FILES, render_host_files
from dcinfra.render.inventory import load_yaml
from tests.conftest import REPO_ROOT, rewrote, updating_golden

GOLDEN = Path(__file__).resolve().parent.parent / "fixtures" / "render_lab"
HEADER = "Managed by dcinfra (stack {stack}) — do not edit; change the stack and re-render."
# Files whose format has no comment syntax (or must start with a CSV header).
NO_HEADER = {"plan.json", "cabling.csv"}


LoadStack = Callable[..., Stack]  # the `load` fixture of tests/conftest.py


@pytest.fixture(scope="module")
def lab_plan(load: LoadStack) -> Plan:
    return compile_plan(load("lab"))


@pytest.fixture(scope="module")
def h100_plan(load: LoadStack) -> Plan:
    return compile_plan(load("h100_su"))


@pytest.fixture(scope="module")
def lab(lab_plan: Plan) -> dict[str, bytes]:
    return render(lab_plan)


@pytest.fixture(scope="module")
def h100(h100_plan: Plan) -> dict[str, bytes]:
    return render(h100_plan)


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


# --- determinism and the build dir -----------------------------------------------------------------


def test_render_is_deterministic(lab_plan: Plan, lab: dict[str, bytes]) -> None:
    again = render(lab_plan)
    assert again == lab
    assert list(again) == sorted(again)
    assert all(isinstance(v, bytes) for v in again.values())


def test_write_tree_twice_is_identical_and_prunes_only_its_own_files(
    lab: dict[str, bytes], tmp_path: Path
) -> None:
    out = tmp_path / "build"
    written = write_tree(lab, out)
    assert sorted(written) == sorted(out / p for p in lab)
    first = _tree(out)
    write_tree(lab, out)
    assert _tree(out) == first
    assert {p for p in first if p != MANIFEST} == set(lab)

    user_file = out / "files" / "notes.txt"
    user_file.write_text("mine\n")
    stale = "files/node-002/etc/nccl.conf"
    assert stale in lab
    smaller = {k: v for k, v in lab.items() if not k.startswith("files/node-002/")}
    write_tree(smaller, out)
    assert not (out / stale).exists()
    assert not (out / "files" / "node-002").exists(), "directories emptied by pruning are removed"
    assert user_file.read_text() == "mine\n"
    assert (out / "plan.json").read_bytes() == lab["plan.json"]
    manifest = (out / MANIFEST).read_text()
    assert stale not in manifest and "files/node-001/etc/nftables.conf" in manifest


def test_write_tree_never_deletes_outside_the_build_dir(lab: dict[str, bytes], tmp_path: Path) -> None:
    out = tmp_path / "build"
    outside = tmp_path / "precious"
    outside.write_text("keep\n")
    write_tree(lab, out)
    with (out / MANIFEST).open("a") as f:
        f.write("../precious\n")
    write_tree(lab, out)
    assert outside.read_text() == "keep\n"
    with pytest.raises(RenderError, match="not a plain relative path"):
        write_tree({"../escape": b"x"}, out)
    with pytest.raises(RenderError, match="not a plain relative path"):
        write_tree({"/etc/passwd": b"x"}, out)


def test_write_tree_marks_scripts_executable(h100: dict[str, bytes], tmp_path: Path) -> None:
    write_tree(h100, tmp_path)
    assert os.access(tmp_path / "files/stor-001/etc/hadoop/topology.sh", os.X_OK)
    assert not os.access(tmp_path / "files/stor-001/etc/hadoop/workers", os.X_OK)


# --- nftables --------------------------------------------------------------------------------------


def _need_root_tool(tool: str) -> str:
    path = shutil.which(tool) or (f"/usr/sbin/{tool}" if Path(f"/usr/sbin/{tool}").exists() else None)
    if path is None:
        pytest.skip(
            f"{tool} is not installed (apt-get install {'nftables' if tool == 'nft' else 'openssh-server'})"
        )
    if os.geteuid() != 0:
        pytest.skip(
            f"{tool} needs root to check a config (nft -c needs CAP_NET_ADMIN; sshd -t reads host keys)"
        )
    return path


@pytest.mark.parametrize("which", ["lab", "h100"])
def test_every_nftables_file_passes_nft_check(
    which: str, lab: dict[str, bytes], h100: dict[str, bytes], tmp_path: Path
) -> None:
    nft = _need_root_tool("nft")
    files = lab if which == "lab" else h100
    rulesets = {v for k, v in files.items() if k.endswith("/etc/nftables.conf")}
    hosts = {k.split("/")[1] for k in files if k.startswith("files/") and not k.startswith("files/_all/")}
    assert all(f"files/{h}/etc/nftables.conf" in files for h in hosts), "every host gets a ruleset"
    for i, content in enumerate(sorted(rulesets)):
        path = tmp_path / f"ruleset-{i}.nft"
        path.write_bytes(content)
        proc = subprocess.run([nft, "-c", "-f", str(path)], capture_output=True, text=True, check=False)
        assert proc.returncode == 0, f"nft -c rejected:\n{content.decode()}\n{proc.stderr}"
        text = content.decode()
        # Only our table is replaced: a full flush would wipe Docker/Kubernetes rules.
        statements = [ln.strip() for ln in text.splitlines() if not ln.lstrip().startswith("#")]
        assert "flush ruleset" not in statements
        assert text.index("table inet dcinfra {}") < text.index("delete table inet dcinfra")
        assert "policy drop;" in text.split("chain forward")[0]


def test_every_rule_shape_passes_nft_check(lab_plan: Plan, tmp_path: Path) -> None:
    nft = _need_root_tool("nft")
    rules = (
        FirewallRule("tcp ports", "accept", "tcp", ("22", "6800-7300"), ("10.0.0.0/24",), "mgmt0"),
        FirewallRule("udp all ports", "accept", "udp", (), (), None),
        FirewallRule("icmp v4+v6", "accept", "icmp", (), ("10.0.0.0/8", "fd00::/8"), None),
        FirewallRule("any proto with ports", "drop", "any", ("80", "443"), ("192.0.2.0/24",), None),
        FirewallRule("any proto, v6 only", "accept", "any", (), ("2001:db8::/32",), "eth1"),
        FirewallRule('a "quoted" ' + "very long comment " * 10, "accept", "tcp", ("1",), (), None),
        FirewallRule(
            "many sources", "accept", "tcp", ("5201",), tuple(f"10.9.{i}.0/24" for i in range(9)), None
        ),
    )
    security = dataclasses.replace(lab_plan.security, default="allow", rulesets={"x": rules})
    hosts = tuple(dataclasses.replace(h, firewall="x") for h in lab_plan.hosts)
    files = render(dataclasses.replace(lab_plan, security=security, hosts=hosts))
    content = files[f"files/{hosts[0].name}/etc/nftables.conf"]
    path = tmp_path / "rules.nft"
    path.write_bytes(content)
    proc = subprocess.run([nft, "-c", "-f", str(path)], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, f"nft -c rejected:\n{content.decode()}\n{proc.stderr}"
    text = content.decode()
    assert "policy accept;" in text.split("chain forward")[0], "default allow keeps the input chain open"
    assert "ip saddr 10.0.0.0/8 meta l4proto icmp accept" in text
    assert "ip6 saddr fd00::/8 meta l4proto ipv6-icmp" in text
    assert "meta l4proto { tcp, udp } th dport { 80, 443 } drop" in text


def test_unknown_ruleset_is_a_render_error(lab_plan: Plan) -> None:
    hosts = (dataclasses.replace(lab_plan.hosts[0], firewall="nope"), *lab_plan.hosts[1:])
    with pytest.raises(RenderError, match="'nope'"):
        render(dataclasses.replace(lab_plan, hosts=hosts))


def test_nftables_rules_carry_comment_ports_and_sources(h100_plan: Plan, h100: dict[str, bytes]) -> None:
    host = h100_plan.host("stor-001")
    text = h100[f"files/{host.name}/etc/nftables.conf"].decode()
    rules = h100_plan.security.rulesets[host.firewall]
    assert rules, "a storage host accepts some flows"
    for rule in rules:
        assert f'comment "{rule.comment}"' in text
        for port in rule.ports:
            assert port in text
        for src in rule.sources:
            assert src in text


# --- sshd ------------------------------------------------------------------------------------------


def test_sshd_dropin_passes_sshd_t_and_restricts_sources(
    h100_plan: Plan, h100: dict[str, bytes], tmp_path: Path
) -> None:
    sshd = _need_root_tool("sshd")
    keygen = shutil.which("ssh-keygen")
    if keygen is None:
        pytest.skip("ssh-keygen is not installed")
    # sshd -t insists on its privilege-separation directory; the sshd service normally creates it.
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
    dropin = tmp_path / "10-dcinfra.conf"
    dropin.write_bytes(h100["files/_all/etc/ssh/sshd_config.d/10-dcinfra.conf"])
    cfg = tmp_path / "sshd_config"
    cfg.write_text(f"Include {dropin}\nX11Forwarding yes\nPasswordAuthentication yes\n")
    key = tmp_path / "host_ed25519"
    subprocess.run([keygen, "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    base = [sshd, "-f", str(cfg), "-h", str(key)]
    proc = subprocess.run([*base, "-t"], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr

    def effective(addr: str) -> dict[str, str]:
        out = subprocess.run(
            [*base, "-T", "-C", f"user=ops,host=client,addr={addr}"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        return dict(line.split(" ", 1) for line in out.splitlines() if " " in line)

    sec = h100_plan.security
    inside = effective("10.0.0.50")
    assert inside["passwordauthentication"] == "no", "the drop-in wins over the main config"
    assert inside["x11forwarding"] == "no"
    assert inside["maxauthtries"] == str(sec.ssh_max_auth_tries)
    # sshd -T prints prohibit-password under its old name.
    aliases = {"without-password": "prohibit-password"}
    assert aliases.get(inside["permitrootlogin"], inside["permitrootlogin"]) == sec.ssh_permit_root_login
    assert "denyusers" not in inside
    assert effective("10.0.1.50").get("denyusers") == "*", "outside the ssh sources nobody may log in"


# --- inventory -------------------------------------------------------------------------------------


def test_inventory_parses_and_groups_lab_hosts(lab_plan: Plan, lab: dict[str, bytes]) -> None:
    inv = load_yaml(lab["inventory/hosts.yml"])
    all_hosts = inv["all"]["hosts"]
    assert set(all_hosts) == {h.name for h in lab_plan.hosts}
    assert len(all_hosts) == 3
    for h in lab_plan.hosts:
        assert all_hosts[h.name]["ansible_host"] == h.addresses["management"]
    groups = {g: set((body or {}).get("hosts") or {}) for g, body in inv["all"]["children"].items()}
    names = set(all_hosts)
    for group in ("compute", "storage", "ceph_mon", "ceph_osd", "pool_node", "rack_lab"):
        assert groups[group] == names, group
    assert groups["service"] == set()
    assert groups["hdfs_namenode"] == set()
    assert all(members <= names for members in groups.values())


def test_inventory_vars_parse_and_carry_the_plan(lab_plan: Plan, lab: dict[str, bytes]) -> None:
    ceph = lab_plan.ceph
    assert ceph is not None
    all_vars = load_yaml(lab["inventory/group_vars/all.yml"])
    assert all_vars["dcinfra_stack"] == "lab"
    assert all_vars["ansible_user"] == lab_plan.ssh_user
    assert all_vars["dcinfra_versions"] == lab_plan.versions
    assert all_vars["dcinfra_ceph"]["fsid"] == ceph.fsid
    for h in lab_plan.hosts:
        hv = load_yaml(lab[f"inventory/host_vars/{h.name}.yml"])
        assert hv["dcinfra_addresses"] == h.addresses
        assert hv["dcinfra_roles"] == list(h.roles)
        assert hv["dcinfra_firewall"] == h.firewall
        assert hv["dcinfra_rails"] == [to_jsonable(r) for r in h.rails]
        assert [o["id"] for o in hv["dcinfra_ceph_osds"]] == [o.id for o in ceph.osds if o.host == h.name]


def _untagged(obj: dict[str, Any]) -> Any:
    """ansible-inventory's JSON writes a value Ansible holds as unsafe as ``{"__ansible_unsafe": v}``."""
    return obj["__ansible_unsafe"] if set(obj) == {"__ansible_unsafe"} else obj


def test_ansible_reads_the_inventory(h100_plan: Plan, h100: dict[str, bytes], tmp_path: Path) -> None:
    tool = shutil.which("ansible-inventory")
    if tool is None:
        pytest.skip("ansible-inventory (ansible-core) is not installed")
    write_tree(h100, tmp_path)
    inv = str(tmp_path / "inventory" / "hosts.yml")
    env = {**os.environ, "ANSIBLE_INVENTORY_UNPARSED_WARNING": "true", "ANSIBLE_NOCOLOR": "1"}
    listing = subprocess.run([tool, "-i", inv, "--list"], capture_output=True, text=True, check=True, env=env)
    data = json.loads(listing.stdout, object_hook=_untagged)
    assert h100_plan.ceph is not None
    assert set(data["ceph_mon"]["hosts"]) == set(h100_plan.ceph.mons)
    assert set(data["hdfs_namenode"]["hosts"]) == {"stor-001"}
    assert set(data["rack_r09"]["hosts"]) == {h.name for h in h100_plan.hosts if h.rack == "r09"}
    host = subprocess.run(
        [tool, "-i", inv, "--host", "gpu-001"], capture_output=True, text=True, check=True, env=env
    )
    hv = json.loads(host.stdout, object_hook=_untagged)
    gpu = h100_plan.host("gpu-001")
    assert hv["ansible_host"] == gpu.addresses["management"]
    assert hv["dcinfra_stack"] == "h100-su", "group_vars/all.yml is picked up next to hosts.yml"
    assert hv["dcinfra_nccl_env"] == gpu.nccl_env, "host_vars/<host>.yml is picked up"


def test_inventory_passes_yamllint_relaxed(h100: dict[str, bytes]) -> None:
    linter = pytest.importorskip("yamllint.linter", reason="yamllint is not installed")
    from yamllint.config import YamlLintConfig

    conf = YamlLintConfig("extends: relaxed")
    for path, content in h100.items():
        if path.endswith(".yml"):
            errors = [p for p in linter.run(content.decode(), conf) if p.level == "error"]
            assert not errors, f"{path}: {errors}"


# --- per-host files --------------------------------------------------------------------------------


def test_files_common_to_every_host_are_written_once(lab_plan: Plan, lab: dict[str, bytes]) -> None:
    hosts_file = lab["files/_all/etc/hosts"].decode()
    for h in lab_plan.hosts:
        assert re.search(rf"^{re.escape(h.addresses['management'])}\s+{h.name}$", hosts_file, re.M)
        for r in h.rails:
            assert f"{r.address}\t{h.name}-r{r.rail}" in hosts_file
    assert "127.0.0.1\tlocalhost" in hosts_file
    assert not any(k.endswith("/etc/hosts") and "/_all/" not in k for k in lab)
    assert "files/_all/etc/ssh/sshd_config.d/10-dcinfra.conf" in lab


def test_nccl_conf_on_compute_hosts_only(h100_plan: Plan, h100: dict[str, bytes]) -> None:
    for h in h100_plan.hosts:
        path = f"files/{h.name}/etc/nccl.conf"
        assert (path in h100) == ("compute" in h.roles), h.name
        if path in h100:
            lines = [ln for ln in h100[path].decode().splitlines() if not ln.startswith("#")]
            assert all(re.fullmatch(r"NCCL_[A-Z0-9_]+=\S.*", ln) for ln in lines), lines
            assert not any(ln.startswith("NCCL_DEBUG") for ln in lines)
            expected = {k: v for k, v in h.nccl_env.items() if k.startswith("NCCL_") and k != "NCCL_DEBUG"}
            assert dict(ln.split("=", 1) for ln in lines) == expected


@pytest.mark.parametrize("which", ["lab", "h100"])
def test_ceph_conf_has_identity_and_no_keys(
    which: str, lab_plan: Plan, h100_plan: Plan, lab: dict[str, bytes], h100: dict[str, bytes]
) -> None:
    plan, files = (lab_plan, lab) if which == "lab" else (h100_plan, h100)
    ceph = plan.ceph
    assert ceph is not None
    confs = {k: v.decode() for k, v in files.items() if k.endswith(f"/etc/ceph/{ceph.name}.conf")}
    members = {*ceph.mons, *ceph.clients, *(o.host for o in ceph.osds)}
    assert {k.split("/")[1] for k in confs} == members
    for path, text in confs.items():
        assert not re.search(r"^\s*key\s*=", text, re.M), path
        assert not re.search(r"AQ[A-Za-z0-9+/]{38}==", text), path
        assert "keyring" not in text.lower().replace("keyring is created", "")
        assert f"fsid = {ceph.fsid}" in text
        mon_host = re.search(r"^mon_host = (.*)$", text, re.M)
        assert mon_host is not None
        for ip in ceph.mon_addresses:
            assert f"[v2:{ip}:3300,v1:{ip}:6789]" in mon_host.group(1)
        assert "auth_client_required = cephx" in text
        assert "mon_allow_pool_delete = false" in text


def _props(xml: bytes) -> dict[str, str]:
    root = ET.fromstring(xml)
    assert root.tag == "configuration"
    return {p.findtext("name", ""): p.findtext("value", "") for p in root.iter("property")}


def test_hdfs_xml_parses_and_matches_the_plan(h100_plan: Plan, h100: dict[str, bytes]) -> None:
    hdfs = h100_plan.hdfs
    assert hdfs is not None
    for host in (hdfs.namenode, *hdfs.datanodes):
        core = _props(h100[f"files/{host}/etc/hadoop/core-site.xml"])
        site = _props(h100[f"files/{host}/etc/hadoop/hdfs-site.xml"])
        assert core == hdfs.core_site
        assert site == hdfs.hdfs_site
        assert site["dfs.replication"] == str(hdfs.replication)
    nn = f"files/{hdfs.namenode}/etc/hadoop"
    workers = [ln for ln in h100[f"{nn}/workers"].decode().splitlines() if not ln.startswith("#")]
    assert workers == list(hdfs.datanodes)
    assert hdfs.rack_awareness
    mapping = dict(
        ln.split() for ln in h100[f"{nn}/topology.map"].decode().splitlines() if not ln.startswith("#")
    )
    assert mapping == hdfs.rack_map


def test_topology_script_looks_up_the_map(h100_plan: Plan, h100: dict[str, bytes], tmp_path: Path) -> None:
    hdfs = h100_plan.hdfs
    assert hdfs is not None
    nn = f"files/{hdfs.namenode}/etc/hadoop"
    script = h100[f"{nn}/topology.sh"].decode()
    mapfile = tmp_path / "topology.map"
    mapfile.write_bytes(h100[f"{nn}/topology.map"])
    sh = tmp_path / "topology.sh"
    sh.write_text(script.replace("/etc/hadoop/topology.map", str(mapfile)))
    node, rack = sorted(hdfs.rack_map.items())[0]
    out = subprocess.run(["sh", str(sh), node, "unknown-host"], capture_output=True, text=True, check=True)
    assert out.stdout.split() == [rack, "/default-rack"]


def test_xml_values_are_escaped(h100_plan: Plan) -> None:
    assert h100_plan.hdfs is not None
    odd = dataclasses.replace(h100_plan.hdfs, hdfs_site={"x.odd": "a<b & 'c' \"d\""})
    storage = dataclasses.replace(h100_plan.storage, hdfs=odd)
    files = render(dataclasses.replace(h100_plan, storage=storage))
    assert _props(files[f"files/{odd.namenode}/etc/hadoop/hdfs-site.xml"]) == {"x.odd": "a<b & 'c' \"d\""}


def test_every_config_file_says_it_is_managed(lab: dict[str, bytes], h100: dict[str, bytes]) -> None:
    for stack, files in (("lab", lab), ("h100-su", h100)):
        for path, content in files.items():
            if path in NO_HEADER:
                continue
            head = content.decode().splitlines()[:3]  # after a "#!" or an XML declaration at most
            assert any(HEADER.format(stack=stack) in line for line in head), path


# --- review artifacts ------------------------------------------------------------------------------


def test_cabling_csv_and_plan_json(h100_plan: Plan, h100: dict[str, bytes]) -> None:
    assert h100_plan.fabric is not None
    rows = h100["cabling.csv"].decode().splitlines()
    assert rows[0] == "tier,a_end,b_end"
    assert len(rows) == 1 + len(h100_plan.fabric.cabling)
    first = h100_plan.fabric.cabling[0]
    assert rows[1] == f"{first.tier},{first.a},{first.b}"
    assert json.loads(h100["plan.json"]) == to_jsonable(h100_plan)
    assert h100["plan.json"].endswith(b"}\n")


def test_topology_svg_for_large_and_absent_fabrics(load: LoadStack, lab_plan: Plan) -> None:
    big = compile_plan(load("superpod", su_count=16))
    assert big.fabric is not None and big.fabric.tiers == 3
    svg = render(big)["topology.svg"].decode()
    root = ET.fromstring(svg)
    assert root.tag.endswith("svg")
    boxes = [el for el in root.iter() if el.tag.endswith("rect") and el.get("class") in {"core", "spine"}]
    assert len(boxes) <= 2 * 16
    assert re.search(r"\.\.\. [\d,]+ more", svg)
    assert big.fabric.switch in svg and f"radix {big.fabric.radix}" in svg
    assert f"{big.fabric.cables['leaf_spine']:,}" in svg

    bare = dataclasses.replace(lab_plan, fabric=None)
    files = render(bare)
    assert "cabling.csv" not in files
    note = files["topology.svg"].decode()
    ET.fromstring(note)
    assert "no compute fabric" in note


# --- templates -------------------------------------------------------------------------------------


def test_missing_template_variable_is_a_render_error() -> None:
    ctx = {"stack": "lab", "keys_only": True, "permit_root_login": "no", "sources": []}
    with pytest.raises(RenderError, match=r"sshd_config\.conf\.j2.*max_auth_tries"):
        render_template("access/sshd_config.conf.j2", ctx)
    with pytest.raises(RenderError, match="not found"):
        render_template("no-such-template.j2", ctx)


# --- the host-file registry ------------------------------------------------------------------------


def test_each_layer_renders_its_own_files_and_shares_identical_bytes(
    h100_plan: Plan, h100: dict[str, bytes]
) -> None:
    seen: dict[str, str] = {}
    for layer, produce in HOST_FILES:
        produced = produce(h100_plan)
        for path, content in produced.items():
            assert path not in seen, f"{path}: from {seen[path]} and {layer}"
            seen[path] = layer
            assert h100[path] == content
    assert {p for p in h100 if p.startswith("files/")} == set(seen)
    assert set(seen.values()) == {layer for layer, _ in HOST_FILES}, "every layer renders here"
    # Hosts with one ruleset share one bytes object: a 2,000-node plan must not hold 2,000 copies.
    host_files = render_host_files(h100_plan)
    by_ruleset: dict[str, set[int]] = {}
    for h in h100_plan.hosts:
        by_ruleset.setdefault(h.firewall, set()).add(id(host_files[f"files/{h.name}/etc/nftables.conf"]))
    assert all(len(ids) == 1 for ids in by_ruleset.values()), by_ruleset


def test_two_layers_writing_one_path_is_a_render_error(
    lab_plan: Plan, monkeypatch: pytest.MonkeyPatch
) -> None:
    def clash(plan: Plan) -> dict[str, bytes]:
        return {"files/_all/etc/hosts": b"x\n"}

    monkeypatch.setattr(hostfiles, "HOST_FILES", (*hostfiles.HOST_FILES, ("clash", clash)))
    with pytest.raises(RenderError, match=r"'access' and 'clash' both write 'files/_all/etc/hosts'"):
        render(lab_plan)

    def outside(plan: Plan) -> dict[str, bytes]:
        return {"inventory/hosts.yml": b"x\n"}

    monkeypatch.setattr(hostfiles, "HOST_FILES", (("outside", outside),))
    with pytest.raises(
        RenderError, match=r"'outside' wrote 'inventory/hosts.yml', which is not under files/"
    ):
        render(lab_plan)


def test_templates_live_under_a_registered_layer() -> None:
    root = Path(hostfiles.__file__).resolve().parent.parent / "templates"
    templates = sorted(root.rglob("*.j2"))
    assert templates
    layers = {layer for layer, _ in HOST_FILES}
    for t in templates:
        rel = t.relative_to(root)
        assert len(rel.parts) == 2 and rel.parts[0] in layers, f"{rel}: not in templates/<layer>/"


# --- golden ----------------------------------------------------------------------------------------


def test_lab_render_matches_golden_files(lab: dict[str, bytes]) -> None:
    if updating_golden():
        write_tree(lab, GOLDEN)  # the manifest prunes golden files the render no longer produces
        rewrote(GOLDEN.relative_to(REPO_ROOT))
    assert GOLDEN.is_dir(), f"no golden files; create them with DCINFRA_UPDATE_GOLDEN=1 ({GOLDEN})"
    expected = {k: v for k, v in _tree(GOLDEN).items() if k != MANIFEST}
    missing, extra = sorted(set(expected) - set(lab)), sorted(set(lab) - set(expected))
    assert not missing and not extra, f"files no longer rendered: {missing}; new files: {extra}"
    for path in sorted(lab):
        if lab[path] != expected[path]:
            diff = difflib.unified_diff(
                expected[path].decode().splitlines(keepends=True),
                lab[path].decode().splitlines(keepends=True),
                f"golden/{path}",
                f"rendered/{path}",
            )
            pytest.fail(
                f"{path} differs from the golden copy (DCINFRA_UPDATE_GOLDEN=1 regenerates):\n"
                + "".join(diff)
            )


@pytest.mark.parametrize(
    ("storage", "deployer"), [("ceph-csi", "hosts"), ("none", "hosts"), ("rook", "rook")]
)
def test_rook_takes_ceph_off_the_host_plays(storage: str, deployer: str) -> None:
    # With platform.kubernetes.storage="rook", Rook runs the stack's Ceph cluster on the planned hosts
    # and devices: the host plays must not deploy a second cluster there (each would find the other's
    # OSDs), so the ceph_* groups are empty, no ceph.conf is rendered, the verify stage has no key to
    # probe with. The placement itself stays in the plan.
    from tests.fixtures.platform.stacks import with_platform

    stack = with_platform("h100_su", storage=storage)
    # Rook 1.17 runs reef or squid, not the stack's pinned pacific
    stack = stack.model_copy(update={"versions": stack.versions.model_copy(update={"ceph": "squid"})})
    plan = compile_plan(stack)
    assert plan.ceph is not None and plan.ceph.deployed_by == deployer
    assert plan.ceph.mons and plan.ceph.osds  # Rook's placement comes from here
    files = render(plan)
    groups = load_yaml(files["inventory/hosts.yml"])["all"]["children"]
    ceph_groups = [g for g in groups if g.startswith("ceph_")]
    assert ceph_groups
    host_ceph = deployer == "hosts"
    assert all(bool(groups[g]["hosts"]) == host_ceph for g in ceph_groups if g != "ceph_conf_rollout")
    assert any("/etc/ceph/" in path for path in files) == host_ceph
    assert load_yaml(files["inventory/group_vars/all.yml"])["dcinfra_ceph"]["deployed_by"] == deployer
    assert (plan.verify is not None and plan.verify.storage is not None) == host_ceph
