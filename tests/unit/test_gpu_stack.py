"""The GPU driver and RDMA stack (issue 12, items 1-8), proven without a GPU.

No GPU in CI: what is checked here is what reaches a GPU host. The versions lock and its validation
rules; the catalog facts rendered into ``host_vars`` (NVSwitch, NVLSM); the nvidia_driver and bench_env
role variables evaluated by Ansible's own templating from the rendered inventory of HGX H100, HGX H200
and DGX B200 stacks (packages and exact pins, services, GPUDirect path); the role's templates rendered
(persistence drop-in, GRUB drop-in, tuning script and unit, irqbalance policy, LIMITMEMLOCK drop-ins),
the shell scripts syntax-checked and the irqbalance policy run against a fake sysfs; and one role file
run by ansible-playbook in check mode on this machine (nothing written).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from dcinfra import Stack, Versions
from dcinfra.catalog.versions import CUDA_MIN_DRIVER, torch_cuda_version
from dcinfra.errors import Problem
from dcinfra.plan import compile_plan, validate
from dcinfra.render.inventory import load_yaml, render_inventory
from tests.unit.test_validation import base_stack, mutate

ROOT = Path(__file__).resolve().parents[2]
ROLE = ROOT / "playbooks" / "roles" / "nvidia_driver"
BENCH = ROOT / "playbooks" / "roles" / "bench_env"

PROFILES = ("hgx-h100", "hgx-h200", "dgx-b200")


def gpu_stack(profile: str, **versions: Any) -> Stack:
    """The base bare-metal stack (NDR InfiniBand) with both GPU pools on ``profile``."""
    changes: dict[str, Any] = {
        "compute.pools[0].hardware.profile": profile,
        "compute.pools[1].hardware.profile": profile,
    }
    changes.update({f"versions.{k}": v for k, v in versions.items()})
    return mutate(base_stack(), changes)


def version_problems(stack: Stack) -> list[Problem]:
    return [p for p in validate(stack) if p.rule.startswith("versions.")]


def show(problems: list[Problem]) -> str:
    return "\n".join(f"[{p.rule}] {p.render()}" for p in problems) or "(no problems)"


# --- the lock and its rules -----------------------------------------------------------------------------


@pytest.mark.parametrize("profile", PROFILES)
def test_the_default_lock_passes_on_every_gpu_profile(profile: str) -> None:
    assert version_problems(gpu_stack(profile)) == [], show(version_problems(gpu_stack(profile)))


def test_the_default_lock_is_one_consistent_set() -> None:
    v = Versions()
    assert v.driver.split(".")[0] == v.driver_branch
    cuda = torch_cuda_version(v.torch_cuda)
    assert cuda is not None and CUDA_MIN_DRIVER[cuda] <= int(v.driver_branch)
    assert CUDA_MIN_DRIVER[v.cuda] <= int(v.driver_branch)
    assert (v.kernel_modules, v.gpudirect, v.doca_ofed) == ("open", "dmabuf", None)


def test_torch_cuda_versions() -> None:
    assert [torch_cuda_version(v) for v in ("cu130", "cu124", "cu118", "cpu")] == [
        "13.0",
        "12.4",
        "11.8",
        None,
    ]


def test_the_old_default_lock_is_rejected_for_torch() -> None:
    # Issue 12's finding: driver 550 / CUDA 12.4 with torch built for CUDA 13 fails on every rank.
    stack = gpu_stack("hgx-h100", driver_branch="550", driver="550.127.08", cuda="12.4", nccl="2.21.5")
    [p] = [p for p in version_problems(stack) if p.rule == "versions.torch-cuda"]
    assert p.path == "versions.torch_cuda"
    assert p.message == (
        "torch 2.13.0 build 'cu130' needs CUDA 13.0, which needs driver branch 580 or newer; the lock pins "
        "driver branch '550', so every rank would fail to initialise CUDA"
    )
    assert p.hint == (
        "raise driver_branch to 580 or newer (and driver to a 580.x release), or an older torch built for "
        "CUDA 12.4 (torch_cuda='cu124')"
    )
    ok = gpu_stack(
        "hgx-h100",
        driver_branch="550",
        driver="550.127.08",
        cuda="12.4",
        nccl="2.21.5",
        torch="2.6.0",
        torch_cuda="cu124",
    )
    assert version_problems(ok) == [], show(version_problems(ok))


def test_a_cpu_torch_on_gpu_pools_and_an_unknown_build_are_rejected() -> None:
    [p] = [
        p
        for p in version_problems(gpu_stack("hgx-h200", torch_cuda="cpu"))
        if p.rule == "versions.torch-cuda"
    ]
    assert p.message == "torch build 'cpu' has no CUDA, but pool(s) gpu-a, gpu-b have GPUs"
    [p] = [
        p
        for p in version_problems(gpu_stack("hgx-h200", torch_cuda="cu127"))
        if p.rule == "versions.torch-cuda"
    ]
    assert p.message == "torch build 'cu127' (CUDA 12.7) is not in the driver compatibility table"
    assert "https://download.pytorch.org/whl/<build>" in p.hint and "cu130" in p.hint


def test_the_exact_driver_must_belong_to_its_branch() -> None:
    [p] = [
        p
        for p in version_problems(gpu_stack("hgx-h100", driver="575.64.05"))
        if p.rule != "versions.torch-cuda"
    ]
    assert (p.rule, p.path) == ("versions.driver-version", "versions.driver")
    assert p.message == "driver '575.64.05' is not a release of the pinned branch '580'"
    assert p.hint == "set driver to a 580.x release, or driver_branch='575'"


def test_blackwell_requires_the_open_kernel_modules() -> None:
    stack = gpu_stack("dgx-b200", kernel_modules="proprietary", gpudirect="peermem", doca_ofed="3.1.0")
    [p] = version_problems(stack)
    assert (p.rule, p.path, p.severity) == ("versions.kernel-modules", "versions.kernel_modules", "error")
    assert p.message == (
        "the proprietary kernel modules do not support 'b200' (compute capability 10.0) of pool(s) gpu-a, "
        "gpu-b: Blackwell and newer GPUs run only on the open kernel modules"
    )


@pytest.mark.parametrize("profile", ["hgx-h100", "hgx-h200"])
def test_proprietary_modules_on_hopper_are_a_warning(profile: str) -> None:
    stack = gpu_stack(profile, kernel_modules="proprietary", gpudirect="peermem", doca_ofed="3.1.0")
    [p] = version_problems(stack)
    assert (p.rule, p.severity) == ("versions.kernel-modules", "warning")
    assert "NVIDIA recommends the open kernel modules" in p.message
    compile_plan(stack)  # a warning: the stack still builds


def test_dmabuf_needs_open_modules_and_nccl_2_19() -> None:
    found = version_problems(gpu_stack("hgx-h100", kernel_modules="proprietary"))
    # errors first, then warnings
    assert [q.rule for q in found] == ["versions.gpudirect", "versions.kernel-modules"]
    p = found[0]
    assert (p.rule, p.path) == ("versions.gpudirect", "versions.gpudirect")
    assert p.message == (
        "GPUDirect RDMA through DMA-BUF (gpudirect='dmabuf') needs the open kernel modules, the lock pins "
        "kernel_modules='proprietary'"
    )
    old = gpu_stack("hgx-h100", driver_branch="550", driver="550.127.08", cuda="12.4", nccl="2.18.5")
    old = mutate(old, {"versions.torch": "2.6.0", "versions.torch_cuda": "cu124"})
    [p] = version_problems(old)
    assert p.message == (
        "NCCL '2.18.5' predates DMA-BUF GPUDirect RDMA (gpudirect='dmabuf' needs NCCL 2.19.3 or newer)"
    )


def test_peermem_needs_doca_ofed() -> None:
    [p] = version_problems(gpu_stack("hgx-h100", gpudirect="peermem"))
    assert (p.rule, p.path) == ("versions.gpudirect", "versions.doca_ofed")
    assert "with the inbox rdma-core `modprobe nvidia-peermem` fails" in p.message
    assert version_problems(gpu_stack("hgx-h100", gpudirect="peermem", doca_ofed="3.1.0")) == []


def test_gpudirect_rules_apply_only_to_gpus_on_an_rdma_fabric() -> None:
    ethernet = mutate(
        gpu_stack("hgx-h100", gpudirect="peermem"),
        {"fabric.compute.kind": "ethernet", "fabric.compute.switch": "sn5600"},
    )
    assert not [p for p in validate(ethernet) if p.rule == "versions.gpudirect"]


# --- what reaches the hosts -----------------------------------------------------------------------------


def inventory(stack: Stack) -> tuple[dict[str, Any], dict[str, Any]]:
    """group_vars/all.yml and the host_vars of the first GPU host, as plain data."""
    files = render_inventory(compile_plan(stack))
    all_vars = load_yaml(files["inventory/group_vars/all.yml"])
    host = load_yaml(files["inventory/host_vars/gpu-a-001.yml"])
    return all_vars, host


@pytest.mark.parametrize(
    ("profile", "nvlsm", "capability"),
    [("hgx-h100", False, "9.0"), ("hgx-h200", False, "9.0"), ("dgx-b200", True, "10.0")],
)
def test_gpu_hosts_get_nvswitch_and_nvlsm_from_the_catalog(
    profile: str, nvlsm: bool, capability: str
) -> None:
    all_vars, host = inventory(gpu_stack(profile))
    assert host["dcinfra_gpu_stack"] == {"nvswitch": True, "nvlsm": nvlsm, "cuda_capability": capability}
    assert all_vars["dcinfra_versions"]["driver"] == "580.95.05"
    assert "doca_ofed" not in all_vars["dcinfra_versions"]  # unset pins stay out (not the string 'None')


def test_cpu_hosts_get_no_gpu_stack() -> None:
    files = render_inventory(compile_plan(base_stack()))
    assert "dcinfra_gpu_stack" not in load_yaml(files["inventory/host_vars/stor-001.yml"])


def test_a_four_gpu_board_has_no_nvswitch() -> None:
    stack = mutate(gpu_stack("hgx-h100"), {"compute.pools[0].hardware.gpu_count": 4})
    _, host = inventory(stack)
    assert host["dcinfra_gpu_stack"]["nvswitch"] is False


# Ansible's own templating of the role variables, as a host would see them.
templar_mod = pytest.importorskip("ansible.template")


def _trusted(obj: Any) -> Any:
    if isinstance(obj, str):
        return templar_mod.trust_as_template(obj)
    if isinstance(obj, dict):
        return {k: _trusted(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_trusted(v) for v in obj]
    return obj


class Role:
    """The nvidia_driver role's variables for one host: inventory data (untrusted, as Ansible reads
    ``!unsafe`` values) under the role defaults and the distribution's vars (trusted templates)."""

    def __init__(self, stack: Stack, distribution: str = "Ubuntu", **extra: Any) -> None:
        from ansible.parsing.dataloader import DataLoader

        all_vars, host = inventory(stack)
        variables: dict[str, Any] = {}
        for path in (ROLE / "defaults" / "main.yml", ROLE / "vars" / f"{distribution}.yml"):
            variables.update(_trusted(yaml.safe_load(path.read_text())))
        variables.update(_trusted(yaml.safe_load((BENCH / "defaults" / "main.yml").read_text())))
        variables.update(all_vars)
        variables.update(host)
        variables.update(
            inventory_hostname="gpu-a-001",
            group_names=[],
            ansible_check_mode=False,
            ansible_facts={"service_mgr": "systemd", "distribution": distribution},
            role_path=str(ROLE),
        )
        variables.update(extra)
        self.templar = templar_mod.Templar(loader=DataLoader(), variables=variables)

    def eval(self, expr: str) -> Any:
        return self.templar.template(templar_mod.trust_as_template(expr))

    def var(self, name: str) -> Any:
        return self.eval("{{ " + name + " }}")

    def render(self, template: str) -> str:
        text = (ROLE / "templates" / template).read_text()
        return str(self.eval(text))


@pytest.mark.parametrize(
    ("profile", "extra"),
    [("hgx-h100", []), ("hgx-h200", []), ("dgx-b200", ["nvlsm"])],
)
def test_ubuntu_packages_are_the_open_flavour_pinned_exactly(profile: str, extra: list[str]) -> None:
    role = Role(gpu_stack(profile))
    assert role.var("nvidia_driver_pinned") == [
        "nvidia-driver-580-server-open=580.95.05-*",
        "nvidia-utils-580-server=580.95.05-*",
        "nvidia-fabricmanager-580=580.95.05-*",
        "libnvidia-nscq-580=580.95.05-*",
        *extra,
        "datacenter-gpu-manager-4-core=1:4.4.1-*",
        "datacenter-gpu-manager-4-cuda13=1:4.4.1-*",
    ]
    assert role.var("nvidia_driver_pinned_names")[:4] == [
        "nvidia-driver-580-server-open",
        "nvidia-utils-580-server",
        "nvidia-fabricmanager-580",
        "libnvidia-nscq-580",
    ]
    assert role.var("nvidia_driver_fabricmanager") is True
    services = [s["name"] for s in role.var("nvidia_driver_services")]
    assert services == ["nvidia-persistenced", "nvidia-fabricmanager", "nvidia-dcgm"]


def test_the_proprietary_flavour_and_debian_packages() -> None:
    role = Role(gpu_stack("hgx-h100", kernel_modules="proprietary", gpudirect="peermem", doca_ofed="3.1.0"))
    pinned = role.var("nvidia_driver_pinned")
    assert pinned[0] == "nvidia-driver-580-server=580.95.05-*"
    assert pinned[-1] == "doca-ofed=3.1.0-*"  # the peermem path installs DOCA-OFED
    assert role.var("nvidia_driver_peermem") is True
    debian = Role(gpu_stack("dgx-b200"), distribution="Debian")
    assert debian.var("nvidia_driver_pinned")[0] == "nvidia-open=580.95.05-*"


def test_peermem_is_loaded_only_on_the_peermem_path() -> None:
    assert Role(gpu_stack("hgx-h100")).var("nvidia_driver_peermem") is False  # DMA-BUF, the default
    assert (
        Role(gpu_stack("hgx-h100", gpudirect="peermem", doca_ofed="3.1.0")).var("nvidia_driver_peermem")
        is True
    )


def test_a_pcie_server_gets_no_fabric_manager() -> None:
    # An HGX chassis with PCIe L40S cards instead of the SXM baseboard: no NVSwitch.
    role = Role(mutate(gpu_stack("hgx-h100"), {"compute.pools[0].hardware.gpu": "l40s"}))
    assert role.var("nvidia_driver_fabricmanager") is False
    assert not any(p.startswith("nvidia-fabricmanager") for p in role.var("nvidia_driver_pinned"))


def test_bench_env_installs_torch_from_the_locks_cuda_index() -> None:
    role = Role(gpu_stack("hgx-h100"))
    assert role.var("bench_env_pip_index_url") == "https://download.pytorch.org/whl/cu130"
    venv = (BENCH / "tasks" / "venv.yml").read_text()
    assert "--index-url ' ~ bench_env_pip_index_url" in venv


def test_dcgm_diag_level_1_by_default_3_on_demand() -> None:
    role = Role(gpu_stack("hgx-h100"))
    assert (
        role.var("nvidia_driver_dcgm_diag_level"),
        int(role.var("nvidia_driver_dcgm_diag_timeout_s")),
    ) == (1, 600)
    deep = Role(gpu_stack("hgx-h100"), nvidia_driver_dcgm_diag_level=3)
    assert int(deep.var("nvidia_driver_dcgm_diag_timeout_s")) == 3600
    tasks = yaml.safe_load((ROLE / "tasks" / "dcgm.yml").read_text())
    assert tasks[0]["ansible.builtin.command"]["argv"][2:5] == ["dcgmi", "diag", "--run"]


def test_the_reboot_decision() -> None:
    tasks = yaml.safe_load((ROLE / "tasks" / "reboot.yml").read_text())
    decide = tasks[0]
    expr = decide["ansible.builtin.set_fact"]["nvidia_driver_reboot_reasons"]
    local = decide["vars"]

    def reasons(missing: list[str], loaded: list[str]) -> list[str]:
        role = Role(
            gpu_stack("hgx-h100"),
            nvidia_driver_cmdline_missing=missing,
            nvidia_driver_loaded={"stdout_lines": loaded},
            **_trusted(local),
        )
        return list(role.eval(expr))

    assert reasons([], ["nvidia=580.95.05", "nouveau="]) == []
    assert reasons([], ["nvidia=", "nouveau="]) == []  # nothing loaded yet: nvidia-smi loads the new one
    assert reasons(["iommu=pt"], ["nvidia=580.95.05", "nouveau="]) == ["kernel command line lacks iommu=pt"]
    assert reasons([], ["nvidia=550.127.08", "nouveau=loaded"]) == [
        "nouveau holds the GPUs",
        "loaded driver 550.127.08 is not the pinned 580.95.05",
    ]
    # The reboot itself only in the rolling driver play (serial batches, drained), never all at once.
    reboot = tasks[-1]
    assert "ansible.builtin.reboot" in reboot
    assert "'nvidia_driver_rollout' in group_names" in reboot["when"]


# --- the rendered files ---------------------------------------------------------------------------------


def test_the_persistenced_drop_in_turns_persistence_mode_on() -> None:
    text = Role(gpu_stack("hgx-h100")).render("nvidia-persistenced.conf.j2")
    lines = [line for line in text.splitlines() if not line.startswith("#")]
    assert lines == [
        "[Service]",
        "ExecStart=",
        "ExecStart=/usr/bin/nvidia-persistenced --user nvidia-persistenced --persistence-mode --verbose",
    ]
    assert "--no-persistence-mode" not in "\n".join(lines)
    # The assert of check.yml still reads the persistence_mode column last.
    check = (ROLE / "tasks" / "check.yml").read_text()
    assert "--query-gpu=index,name,persistence_mode" in check and "'Disabled$'" in check


def test_the_grub_drop_in_adds_iommu_pt() -> None:
    text = Role(gpu_stack("hgx-h100")).render("grub.cfg.j2")
    assert 'GRUB_CMDLINE_LINUX="${GRUB_CMDLINE_LINUX} iommu=pt"' in text.splitlines()


def test_the_memlock_drop_in_and_its_units() -> None:
    role = Role(gpu_stack("hgx-h100"))
    assert "LimitMEMLOCK=infinity" in role.render("memlock.conf.j2").splitlines()
    assert role.var("nvidia_driver_memlock_units") == ["slurmd", "containerd"]


def test_the_tuning_unit_runs_the_script_once_at_boot() -> None:
    text = Role(gpu_stack("hgx-h100")).render("dcinfra-gpu-tuning.service.j2")
    assert "Type=oneshot" in text and "ExecStart=/usr/local/sbin/dcinfra-gpu-tuning" in text
    assert "WantedBy=multi-user.target" in text
    assert "Before=nvidia-persistenced.service" in text


def test_the_tuning_script_disables_acs_on_bridges_and_sets_the_governor() -> None:
    text = Role(gpu_stack("hgx-h100")).render("dcinfra-gpu-tuning.sh.j2")
    assert "lspci -D -n -d ::0604" in text  # PCI bridges: root and PCIe switch ports
    assert 'setpci -s "$bdf" ECAP_ACS+0x6.w=0000' in text
    assert "echo performance >" in text
    assert "local_cpulist" in text and "smp_affinity_list" in text
    subprocess.run(["sh", "-n"], input=text, text=True, check=True)


def test_the_irqbalance_policy_bans_hca_interrupts(tmp_path: Path) -> None:
    text = Role(gpu_stack("hgx-h100")).render("dcinfra-irqbalance-policy.sh.j2")
    script = tmp_path / "policy"
    script.write_text(text)
    script.chmod(0o755)
    out: dict[str, str] = {}
    for driver in ("mlx5_core", "nvme"):
        dev = tmp_path / driver / "device"
        (tmp_path / driver / "drivers" / driver).mkdir(parents=True)
        dev.mkdir()
        (dev / "driver").symlink_to(tmp_path / driver / "drivers" / driver)
        out[driver] = subprocess.run(
            [str(script), str(dev), "42"], capture_output=True, text=True, check=True
        ).stdout
    assert out == {"mlx5_core": "ban=true\n", "nvme": ""}


# --- a role file run by Ansible in check mode -----------------------------------------------------------


def run_role(tmp_path: Path, tasks_from: str, extra: dict[str, Any]) -> subprocess.CompletedProcess[str]:
    """``tasks_from`` of the nvidia_driver role run by ansible-playbook on this machine in check mode
    (with --diff): nothing is written."""
    playbook = tmp_path / "play.yml"
    play = {
        "name": "Run a file of the nvidia_driver role",
        "hosts": "localhost",
        "gather_facts": False,
        "tasks": [
            {
                "name": "The role file",
                "ansible.builtin.include_role": {"name": "nvidia_driver", "tasks_from": tasks_from},
            }
        ],
    }
    playbook.write_text(yaml.safe_dump([play]))
    env = {
        **os.environ,
        "ANSIBLE_ROLES_PATH": str(ROOT / "playbooks" / "roles"),
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_LOCALHOST_WARNING": "false",
        "ANSIBLE_INVENTORY_UNPARSED_WARNING": "false",
    }
    extra = {
        "ansible_python_interpreter": sys.executable,
        "dcinfra_versions": {k: str(v) for k, v in Versions().model_dump().items() if v is not None},
        **extra,
    }
    argv = ["ansible-playbook", "-i", "localhost,", "-c", "local", "--check", "--diff", str(playbook)]
    return subprocess.run(
        [*argv, "-e", json.dumps(extra)], capture_output=True, text=True, env=env, timeout=300, check=False
    )


needs_ansible = pytest.mark.skipif(shutil.which("ansible-playbook") is None, reason="no ansible-playbook")


@needs_ansible
def test_persistence_drop_in_in_check_mode(tmp_path: Path) -> None:
    run = run_role(
        tmp_path,
        "persistence.yml",
        {"nvidia_driver_systemd": True, "nvidia_driver_persistenced_user": "nvidia-persistenced"},
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    # The diff of the drop-in (check mode: would be written, nothing is).
    assert "TASK [nvidia_driver : Start nvidia-persistenced with persistence mode on]" in run.stdout
    assert (
        "+ExecStart=\n+ExecStart=/usr/bin/nvidia-persistenced --user nvidia-persistenced --persistence-mode"
        in (run.stdout)
    ), run.stdout[-3000:]
    assert "failed=0" in run.stdout
    assert not Path("/etc/systemd/system/nvidia-persistenced.service.d/90-dcinfra-persistence.conf").exists()


@needs_ansible
@pytest.mark.parametrize("tasks_from", ["main.yml", "probe.yml"])
def test_a_host_without_gpus_skips_every_gpu_branch(tmp_path: Path, tasks_from: str) -> None:
    # The lab (no GPU): the role and the rollout probe change nothing and install nothing.
    run = run_role(tmp_path, tasks_from, {"dcinfra_gpu_count": 0})
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "changed=0" in run.stdout and "failed=0" in run.stdout, run.stdout[-3000:]
    assert "Install the driver packages" not in run.stdout and "dcgmi" not in run.stdout


def test_an_exact_version_change_triggers_the_rolling_driver_play() -> None:
    # site.yml drains and rolls the hosts whose probe reports a change. The probe asks apt, in check mode,
    # for the same exact pins the install uses: another installed release of any of them is a change.
    probe = yaml.safe_load((ROLE / "tasks" / "probe.yml").read_text())
    install = yaml.safe_load((ROLE / "tasks" / "install.yml").read_text())
    [probe_apt] = [t for t in probe if "ansible.builtin.apt" in t]
    install_apt = install[0]["block"][0]["ansible.builtin.apt"]
    assert probe_apt["check_mode"] is True
    assert probe_apt["ansible.builtin.apt"] == install_apt
    assert install_apt["name"] == "{{ nvidia_driver_pinned }}"
    decide = probe[-1]["ansible.builtin.set_fact"]["nvidia_driver_would_change"]
    assert "nvidia_driver_probe is changed" in decide and "nvidia_driver_kernel_cmdline" in decide
    site = (ROOT / "playbooks" / "site.yml").read_text()
    assert "key: nvidia_driver_rollout" in site and "nvidia_driver_would_change" in site
    role = Role(gpu_stack("hgx-h100", driver="580.82.07"))
    assert role.var("nvidia_driver_pinned")[0] == "nvidia-driver-580-server-open=580.82.07-*"
