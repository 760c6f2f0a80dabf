"""PID 1 of a lab node (runs with the host's /usr/bin/python3, stdlib only, no dcinfra import).

Started by the lab site as
``nsenter --net=/run/netns/<ns> unshare --mount --uts --pid --fork --propagation private
/usr/bin/python3 -I lab_init.py <config.json>``, it:

1. records its host PID (read through the host's /proc before a new one is mounted),
2. mounts the node's root: overlayfs with the host's ``/`` as the lower layer and an upper dir in
   the stack's state dir, plus fresh /proc, /sys, /run, /dev/shm and the host's /dev,
3. sets the hostname and pivots into the new root,
4. gives the node its own SSH host keys and the stack's authorized key (first boot only),
5. supervises sshd (restarting it if it dies) and reaps orphans, as an init must,
6. on SIGTERM stops everything; the kernel then kills whatever is left in the PID namespace.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path


def sh(*argv: str) -> None:
    subprocess.run(argv, check=True)


def main() -> int:
    cfg = json.loads(Path(sys.argv[1]).read_text())
    Path(cfg["pidfile"]).write_text(os.readlink("/proc/self"))
    merged, upper, work = cfg["merged"], cfg["upper"], cfg["work"]
    for d in (merged, upper, work):
        os.makedirs(d, exist_ok=True)
    sh("mount", "-t", "overlay", "overlay", "-o", f"lowerdir=/,upperdir={upper},workdir={work}", merged)
    sh("mount", "--rbind", "/dev", f"{merged}/dev")
    sh("mount", "-t", "tmpfs", "-o", "mode=1777,size=1g", "shm", f"{merged}/dev/shm")
    sh("mount", "-t", "proc", "proc", f"{merged}/proc")
    sh("mount", "-t", "sysfs", "sysfs", f"{merged}/sys")
    sh("mount", "-t", "tmpfs", "-o", "mode=755", "run", f"{merged}/run")
    socket.sethostname(cfg["hostname"])
    os.chdir(merged)
    os.makedirs(".oldroot", exist_ok=True)
    sh("pivot_root", ".", ".oldroot")
    os.chdir("/")
    sh("umount", "-l", "/.oldroot")
    os.rmdir("/.oldroot")
    first_boot = not Path("/etc/dcinfra-lab-node").exists()
    if first_boot:
        # The lower layer holds the host's own host keys: replace them so each node has its own.
        for key in Path("/etc/ssh").glob("ssh_host_*"):
            key.unlink()
        sh("ssh-keygen", "-A")
        Path("/etc/hostname").write_text(cfg["hostname"] + "\n")
        # The lower layer also holds the host's root shell setup (pyenv init and the like), which every
        # SSH command would run; a node starts with Debian's defaults instead.
        for name in (".bashrc", ".profile"):
            skel = Path("/etc/skel") / name
            if skel.exists():
                Path("/root", name).write_text(skel.read_text())
        Path("/etc/dcinfra-lab-node").write_text(cfg["hostname"] + "\n")
    ssh_dir = Path("/root/.ssh")
    ssh_dir.mkdir(mode=0o700, exist_ok=True)
    auth = ssh_dir / "authorized_keys"
    auth.write_text(cfg["authorized_key"] + "\n")
    auth.chmod(0o600)
    conf = Path("/etc/ssh/sshd_config.d")
    conf.mkdir(parents=True, exist_ok=True)
    # Sorted before the hardening drop-in (10-dcinfra.conf): sshd keeps the first value it reads. Both
    # sort before distribution drop-ins such as Ubuntu's 50-cloud-init.conf, which may allow passwords.
    (conf / "00-dcinfra-lab.conf").write_text(
        "# Managed by dcinfra lab: listen on the management address only, keys only.\n"
        f"ListenAddress {cfg['listen']}\n"
        "PasswordAuthentication no\nKbdInteractiveAuthentication no\nUseDNS no\n"
    )
    os.makedirs("/run/sshd", mode=0o755, exist_ok=True)
    stopping = False

    def stop(_signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    sshd: subprocess.Popen[bytes] | None = None
    last_start = 0.0
    while not stopping:
        if (sshd is None or sshd.poll() is not None) and time.monotonic() - last_start > 1.0:
            sshd = subprocess.Popen(["/usr/sbin/sshd", "-D", "-e"])
            last_start = time.monotonic()
        try:
            # Reap every child, ours or orphaned into this PID namespace.
            while True:
                pid, _ = os.waitpid(-1, os.WNOHANG)
                if pid == 0:
                    break
        except ChildProcessError:
            pass
        time.sleep(0.2)
    if sshd is not None and sshd.poll() is None:
        sshd.terminate()
    return 0


if __name__ == "__main__":
    sys.exit(main())
