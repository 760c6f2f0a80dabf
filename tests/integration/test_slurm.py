"""Slurm on a real 3-node lab, through the CLI: request -> schedule -> allocate -> run -> account.

One lab for the module (stack 'slurmit', 172.31.232-233.0/24): two tenants' pools (alpha: 2 nodes,
beta: 1 node), Ceph with CephFS on every node (the health check watches the mount), Slurm with the
controller and accounting on alpha-001, a partition over both pools, 2 stand-in GPUs per node and a
15 s health-check interval. The tests run in order; the last one destroys the lab (the fixture destroys
it too if a test fails on the way).
"""

from __future__ import annotations

import itertools
import json
import re
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from dcinfra.config import Config
from dcinfra.loader import load_stack
from dcinfra.plan import compile_plan
from dcinfra.plan.types import Plan
from dcinfra.sites.lab import Lab
from dcinfra.state import StateDir
from tests.integration.conftest import cli_argv, cli_env, leftovers, requires_lab

pytestmark = requires_lab

NAME = "slurmit"
CANARY = "dcinfra-canary-5b1e0d44"
CONTROLLER = "alpha-001"
NODES = ("alpha-001", "alpha-002", "beta-001")

STACK = f'''
from dcinfra import *

stack = Stack(
    name="{NAME}",
    site=LabSite(),
    racks=[Rack(name="lab")],
    compute=Compute(pools=[
        NodePool(name="alpha", count=2, hardware=Hardware(profile="lab-cpu"), roles=["compute", "storage"]),
        NodePool(name="beta", count=1, hardware=Hardware(profile="lab-cpu"), roles=["compute", "storage"]),
    ]),
    fabric=Fabric(
        management=Network(cidr="172.31.232.0/24"),
        compute=ComputeFabric(kind="ethernet", switch="lab-bridge", cidr="172.31.233.0/24", mtu=1500),
    ),
    storage=Storage(ceph=CephCluster(
        mons=Placement(pools=["alpha", "beta"], count=3),
        osds=Placement(pools=["alpha", "beta"]),
        pools=[CephPool(name="rbd", size=3, min_size=2, application="rbd")],
        failure_domain="host",
        public_network="management",
        cephfs=CephFs(name="datasets", mount_path="/mnt/datasets"),
    )),
    security=Security(
        default="deny",
        tenants=[Tenant(name="team-a", pools=["alpha"]), Tenant(name="team-b", pools=["beta"])],
    ),
    scheduler=Slurm(
        controller=Placement(hosts=["{CONTROLLER}"]),
        accounting=SlurmAccounting(database=Placement(hosts=["{CONTROLLER}"])),
        partitions=[SlurmPartition(name="all", pools=["alpha", "beta"], default=True)],
        tenants=[SlurmTenant(name="team-a", fairshare=90), SlurmTenant(name="team-b", fairshare=10)],
        standin_gpus=2,
        health_check_interval_s=15,
    ),
    verify=VerifySettings(max_message_mb=16, iters=5, warmup_iters=1, training_steps=10, timeout_s=300,
                          min_busbw_fraction=0.2),
)
'''


class Env:
    """The stack file, state root and helpers to run the CLI and Slurm commands against them."""

    def __init__(self, tmp: Path) -> None:
        self.stack_file = tmp / f"{NAME}.py"
        self.stack_file.write_text(STACK)
        self.state_root = tmp / "state"
        self.plan: Plan = compile_plan(load_stack(self.stack_file, Config()))
        self.lab = Lab(self.plan, StateDir(self.state_root / NAME))
        self.outputs: list[str] = []

    def run(self, *args: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
        res = subprocess.run(
            cli_argv(self.stack_file, self.state_root, *args),
            capture_output=True,
            text=True,
            timeout=timeout,
            env=cli_env(CANARY),
            check=False,
        )
        self.outputs.append(res.stdout + res.stderr)
        return res

    def ok(self, *args: str) -> subprocess.CompletedProcess[str]:
        res = self.run(*args)
        assert res.returncode == 0, (
            f"rc={res.returncode}\nstdout:\n{res.stdout[-4000:]}\nstderr:\n{res.stderr[-4000:]}"
        )
        return res

    def sh(self, host: str, command: str, *, check: bool = True) -> str:
        res = self.lab.exec(host, ["sh", "-c", command])
        if check:
            assert res.returncode == 0, f"{host}: {command}: rc={res.returncode}\n{res.stdout}\n{res.stderr}"
        return res.stdout

    def slurm(self, command: str, *, check: bool = True) -> str:
        """A Slurm client command on the controller."""
        return self.sh(CONTROLLER, command, check=check)


def wait_for(what: str, probe: Callable[[], bool], timeout: float = 120, every: float = 1.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if probe():
            return
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    e = Env(tmp_path_factory.mktemp(NAME))
    try:
        yield e
    finally:
        e.run("destroy", "--yes", "--destroy-data", "--force-unlock")
        e.lab.teardown(_Quiet())


class _Quiet:
    def step(self, message: str) -> None:
        del message


STATE: dict[str, object] = {}


def node_states(env: Env) -> dict[str, tuple[str, str]]:
    """node -> (state, reason) from sinfo."""
    out = env.slurm("sinfo -h -N -o '%N|%T|%E'")
    states = {}
    for line in out.splitlines():
        name, state, reason = line.split("|", 2)
        states[name] = (state, reason)
    return states


def test_up_runs_verify_as_a_slurm_job_and_leaves_every_node_idle(env: Env) -> None:
    res = env.run("up", "--yes", "--json")
    report = json.loads(res.stdout)
    assert res.returncode == 0, f"rc={res.returncode}\n{res.stderr[-4000:]}"
    job = report["verify"]["scheduler"]
    assert job is not None and job["state"] == "COMPLETED", job
    assert job["queue_wait_s"] >= 0 and job["run_s"] > 0
    STATE["verify_job"] = str(job["job_id"])
    assert node_states(env) == dict.fromkeys(NODES, ("idle", "none"))


def test_a_three_node_job_runs_on_three_distinct_nodes(env: Env) -> None:
    out = env.slurm("srun -N3 --ntasks-per-node=1 hostname")
    assert sorted(out.split()) == sorted(NODES)


def test_sacct_reports_the_verify_job_completed_with_its_tres(env: Env) -> None:
    job = STATE["verify_job"]
    out = env.slurm(f"sacct -j {job} -X -n -P -o JobID,JobName,State,AllocTRES,NNodes")
    job_id, name, state, tres, nnodes = out.strip().splitlines()[0].split("|")
    assert (job_id, name, state, nnodes) == (job, "dcinfra-verify", "COMPLETED", "3"), out
    assert "node=3" in tres and "cpu=" in tres, tres


def test_gpu_requests_schedule_on_stand_ins_and_pend_when_none_are_free(env: Env) -> None:
    # 2 stand-ins per node: a job for 3 per node can never run and is refused at submission.
    res = env.lab.exec(CONTROLLER, ["sbatch", "--gres=gpu:3", "--wrap", "hostname"])
    assert res.returncode != 0 and "Requested node configuration is not available" in res.stderr, res.stderr
    holder = env.slurm("sbatch --parsable -N3 --gres=gpu:2 --wrap 'sleep 120'").strip()
    wait_for("the holder to run", lambda: env.slurm(f"squeue -h -j {holder} -o %T").strip() == "RUNNING")
    waiting = env.slurm("sbatch --parsable -N1 --gres=gpu:1 --wrap hostname").strip()

    def pending_on_resources() -> bool:
        state = env.slurm(f"squeue -h -j {waiting} -o '%T %r'").split()
        return state in (["PENDING", "Resources"], ["PENDING", "Priority"])

    wait_for("the GPU job to pend", pending_on_resources, timeout=30)
    tres = env.slurm(f"scontrol show job {holder}")
    assert re.search(r"gres/gpu(:standin)?=6", tres), tres
    env.slurm(f"scancel {holder} {waiting}")
    wait_for("the queue to empty", lambda: env.slurm("squeue -h").strip() == "", timeout=60)


def test_two_tenants_fairshare_shows_in_sprio(env: Env) -> None:
    shares = {}
    for line in env.slurm("sshare -h -P -o Account,User,RawShares,NormShares").splitlines():
        account, user, raw, norm = line.split("|")
        if account.strip() in ("team-a", "team-b") and not user:
            shares[account.strip()] = (int(raw), float(norm))
    assert shares["team-a"][0] == 90 and shares["team-b"][0] == 10, shares
    assert shares["team-a"][1] > shares["team-b"][1], shares
    # team-b uses the whole cluster for a while; then one job of each tenant waits behind it.
    holder = env.slurm("sbatch --parsable -A team-b -N3 --exclusive --wrap 'sleep 150'").strip()
    wait_for("the holder to run", lambda: env.slurm(f"squeue -h -j {holder} -o %T").strip() == "RUNNING")
    a = env.slurm("sbatch --parsable -A team-a -N1 --wrap hostname").strip()
    b = env.slurm("sbatch --parsable -A team-b -N1 --wrap hostname").strip()
    accounts = dict(line.split() for line in env.slurm(f"squeue -h -j {a},{b} -o '%i %a'").splitlines())
    assert accounts == {a: "team-a", b: "team-b"}, accounts
    fairshare: dict[str, float] = {}

    def team_b_ranks_lower() -> bool:
        # PriorityCalcPeriod=1: within about a minute the usage of team-b's running job is counted.
        fairshare.clear()
        for line in env.slurm("sprio -h -o '%i|%F'").splitlines():
            job, weighted = (x.strip() for x in line.split("|"))
            fairshare[job] = float(weighted)
        return a in fairshare and b in fairshare and fairshare[a] > fairshare[b]

    try:
        wait_for("sprio to rank team-a's job above team-b's", team_b_ranks_lower, timeout=140, every=5)
    finally:
        env.slurm(f"scancel {holder} {a} {b}")
    assert fairshare[a] > fairshare[b], fairshare
    wait_for("the queue to empty", lambda: env.slurm("squeue -h").strip() == "", timeout=60)


def test_a_failing_health_check_drains_the_node_and_it_resumes_when_healthy(env: Env) -> None:
    victim = "beta-001"
    env.sh(victim, "fusermount -u /mnt/datasets || umount -l /mnt/datasets")

    def drained() -> bool:
        state, reason = node_states(env)[victim]
        return state.startswith("drain") and "dcinfra-health" in reason and "/mnt/datasets" in reason

    wait_for("the health check to drain " + victim, drained, timeout=90)
    out = env.slurm("srun -N2 hostname")
    assert victim not in out.split() and len(set(out.split())) == 2
    # `up` repairs the mount; the next health check resumes the node.
    env.ok("up", "--yes", "--skip-verify")
    wait_for(victim + " to resume", lambda: node_states(env)[victim] == ("idle", "none"), timeout=90)


def test_second_up_changes_nothing(env: Env) -> None:
    second = json.loads(env.ok("up", "--yes", "--json", "--skip-verify").stdout)
    changed = {h: c["changed"] for h, c in second["configure"]["hosts"].items()}
    assert changed == dict.fromkeys((h.name for h in env.plan.hosts), 0), second["configure"]["changes"]


def test_preview_sees_a_hand_edit_of_slurm_conf(env: Env) -> None:
    path = "/etc/slurm/slurm.conf"
    original = env.sh("alpha-002", f"cat {path}")
    env.sh("alpha-002", f"echo '# hand edit' >> {path}")
    res = env.run("preview", "--expect-no-changes", "--json")
    assert res.returncode == 2, res.stdout + res.stderr
    changes = json.loads(res.stdout)["check"]["changes"]
    assert any(c["host"] == "alpha-002" and "slurm.conf" in json.dumps(c) for c in changes), changes
    env.lab.exec("alpha-002", ["sh", "-c", f"cat > {path}"], input=original)
    env.ok("preview", "--expect-no-changes")


ROLLING = "dcinfra: rolling restart of slurmd"
OPERATOR = "operator: bad DIMM"


def test_a_gres_change_rolls_node_by_node_with_drain_and_keeps_an_operators_drain(env: Env) -> None:
    """standin_gpus 2 -> 1 changes gres.conf and the node lines of slurm.conf: slurmctld restarts, then
    each running slurmd restarts in a batch of one, drained first and resumed after its health check."""
    env.slurm(f"scontrol update nodename=beta-001 state=drain reason='{OPERATOR}'")
    job = env.slurm("sbatch --parsable -N1 -w alpha-002 --wrap 'sleep 90'").strip()
    wait_for("the job to run", lambda: env.slurm(f"squeue -h -j {job} -o %T").strip() == "RUNNING")
    variant = env.stack_file.with_name(f"{NAME}_rolling.py")
    variant.write_text(
        STACK.replace("standin_gpus=2,", "standin_gpus=1,").replace(
            "    verify=VerifySettings(",
            "    rollout=Rollout(batch=1, drain_timeout_s=300),\n    verify=VerifySettings(",
        )
    )
    res = subprocess.run(
        cli_argv(variant, env.state_root, "up", "--yes", "--json", "--skip-verify"),
        capture_output=True,
        text=True,
        timeout=900,
        env=cli_env(CANARY),
        check=False,
    )
    env.outputs.append(res.stdout + res.stderr)
    assert res.returncode == 0, f"rc={res.returncode}\n{res.stdout[-4000:]}\n{res.stderr[-4000:]}"
    changes = json.loads(res.stdout)["configure"]["changes"]
    steps = {
        "drain": "Drain the nodes and wait for their jobs to finish",
        "restart": "Start or restart the daemon - slurmd",
        "resume": "Resume the nodes dcinfra drained",
    }
    seen: dict[str, dict[str, int]] = {n: {} for n in NODES}
    for i, c in enumerate(changes):
        for step, task in steps.items():
            if c["task"] == task and c["host"] in seen:
                seen[c["host"]].setdefault(step, i)
    # Each node restarted once; the two dcinfra drained were drained before and resumed after.
    for node in ("alpha-001", "alpha-002"):
        assert seen[node].keys() == set(steps), (node, seen, changes)
        assert seen[node]["drain"] < seen[node]["restart"] < seen[node]["resume"], seen
    # beta-001, drained by its operator: restarted, never drained again nor resumed by dcinfra.
    assert seen["beta-001"].keys() == {"restart"}, seen
    # Batches of one: a node's drain..resume window never overlaps another node's steps.
    windows = sorted((min(v.values()), max(v.values())) for v in seen.values())
    for (_, end), (start, _) in itertools.pairwise(windows):
        assert end < start, (windows, seen)
    # The job submitted before the change ran to its end before alpha-002 was restarted (without the
    # wait, this up takes about 30 s, the job 90 s); slurmd runs with one stand-in everywhere.
    assert env.slurm(f"squeue -h -j {job} -o %T", check=False).strip() != "RUNNING"
    wait_for(
        f"job {job} COMPLETED in sacct",
        lambda: env.slurm(f"sacct -j {job} -X -n -P -o State,ExitCode").strip() == "COMPLETED|0:0",
        timeout=30,
    )
    states = node_states(env)
    assert states["alpha-001"] == ("idle", "none") and states["alpha-002"] == ("idle", "none"), states
    assert states["beta-001"][0] == "drained" and states["beta-001"][1] == OPERATOR, states
    assert "Stand-ins: 1 GPUs per node" in env.sh("alpha-002", "cat /etc/slurm/gres.conf")
    # Nothing left to roll: a second up restarts and drains nothing, the operator's drain still kept.
    again = json.loads(
        subprocess.run(
            cli_argv(variant, env.state_root, "up", "--yes", "--json", "--skip-verify"),
            capture_output=True,
            text=True,
            timeout=900,
            env=cli_env(CANARY),
            check=True,
        ).stdout
    )
    assert not [c for c in again["configure"]["changes"] if c["task"] in steps.values()], again
    assert node_states(env)["beta-001"] == ("drained", OPERATOR)
    env.slurm("scontrol update nodename=beta-001 state=resume")


def test_no_secret_in_runs_build_reports_or_output(env: Env) -> None:
    munge_key = bytes.fromhex(env.sh(CONTROLLER, "od -An -vtx1 /etc/munge/munge.key | tr -d ' \\n'"))
    db_pass = env.sh(CONTROLLER, "sed -n 's/^StoragePass=//p' /etc/slurm/slurmdbd.conf").strip()
    assert len(munge_key) >= 32 and len(db_pass) >= 16
    needles = [munge_key[:24], db_pass.encode(), CANARY.encode()]
    state = env.state_root / NAME
    scanned = 0
    for sub in ("runs", "build", "reports"):
        for path in (state / sub).rglob("*"):
            if path.is_file():
                data = path.read_bytes()
                scanned += 1
                for needle in needles:
                    assert needle not in data, f"{path} holds a secret"
    assert scanned > 0
    for text in env.outputs:
        assert db_pass not in text and CANARY not in text


def _lab_daemons(env: Env) -> list[int]:
    """PIDs of Slurm, munge and MariaDB processes inside this lab's nodes (by network namespace)."""
    netns = {Path(f"/run/netns/{env.lab.netns(h)}").stat().st_ino for h in NODES}
    names = {"slurmctld", "slurmd", "slurmdbd", "munged", "mariadbd", "mysqld", "slurmstepd"}
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            comm = (entry / "comm").read_text().strip()
            if comm in names and (entry / "ns" / "net").stat().st_ino in netns:
                pids.append(int(entry.name))
        except OSError:
            continue
    return pids


def test_destroy_stops_every_slurm_and_munge_process(env: Env) -> None:
    pids = _lab_daemons(env)
    assert len(pids) >= 3 + 3 + 1 + 1, pids  # slurmd + munged per node, slurmctld, slurmdbd at least
    env.ok("destroy", "--yes", "--destroy-data")
    alive = [p for p in pids if Path(f"/proc/{p}").exists()]
    assert alive == []
    assert leftovers(env.plan, env.lab) == []
