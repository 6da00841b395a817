"""The sandbox's parts, each on its own: the bwrap command line, the kernels' users, the
kernels' cgroups, finding and stopping a sandbox's processes, the kernel manager's settings.

No kernel is started here (``test_sandbox_resources`` grades notebooks); processes are
plain ``python -c`` and ``sleep``. Tests that need root, cgroups or bubblewrap skip with
the reason.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time

import pytest

from autograder.grading import sandbox
from autograder.grading.sandbox import cgroups, processes

#: Forks ``n`` double-fork sleepers in sessions of their own (orphans), prints "ready", sleeps.
ORPHANS = ("import os, sys, time\n"
           "for _ in range(int(sys.argv[1])):\n"
           "    if os.fork() == 0:\n"
           "        os.setsid()\n"
           "        if os.fork() == 0:\n"
           "            time.sleep(60)\n"
           "        os._exit(0)\n"
           "    os.wait()\n"
           "print('ready', flush=True)\n"
           "time.sleep(60)\n")


def cgroup_parent() -> cgroups.CgroupParent:
    parent, why = cgroups.find_parent()
    if parent is None:
        pytest.skip(f"no cgroup can be made here ({why}): run as root where cgroups are mounted")
    return parent


def start(cmd: list[str]) -> subprocess.Popen:
    """``cmd`` started; returns once it printed "ready"."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ready"
    return proc


def test_sandbox_binds_only_python_the_kernel_package_and_fresh_scratch(monkeypatch, tmp_path):
    """Nothing of the repository, the input or the output: the Python installation and the
    environment read-only (bound back after /tmp's fresh tmpfs, CI may clone under /tmp),
    size-capped scratch folders, the connection file and the referee's socket."""
    from autograder import REPO_ROOT

    venv = tmp_path / "venv"
    venv.mkdir()
    monkeypatch.setattr(sys, "prefix", str(venv))
    policy = sandbox.Policy(bwrap="/usr/bin/bwrap", uid=61000, limits=sandbox.Limits(processes=64, scratch_mb=10))
    cmd = policy.wrap(["python", "-m", "ipykernel_launcher", "-f", "/run/autograder-kernel/kernel.json"],
                      tmp_path / "kernel.json", tmp_path / "referee.sock")
    text = " ".join(cmd)
    assert "--ro-bind / /" not in text and str(REPO_ROOT) + " " not in text + " "
    assert f"--ro-bind {venv} {venv}" in text
    assert cmd.index("/tmp") < cmd.index(str(venv))  # the tmpfs first, the environment bound back into it
    for inside in ("/tmp", "/home/student", "/dev/shm"):
        at = cmd.index(inside)
        assert cmd[at - 1] == "--tmpfs" and cmd[at - 2] == str(10 * 1024 * 1024)
    assert "--nproc=64" in text and "--cpu=" in text and "--unshare-net" in text and "--clearenv" in text
    assert "setpriv --reuid=61000 --regid=61000" in text
    assert f"--ro-bind {tmp_path / 'referee.sock'} /run/autograder-kernel/referee.sock" in text
    assert f"--ro-bind {sandbox.kernel_package()} /opt/autograder-kernel/autograder_kernel" in text


def test_each_worker_claims_a_kernel_user_no_one_else_holds(tmp_path):
    """Process limits count per user: two batches graded side by side must not share one."""
    first, second = sandbox.claim_uid(tmp_path), sandbox.claim_uid(tmp_path)
    assert first and second and first[0] != second[0]
    first[1].close()  # a worker that ends gives its user back
    third = sandbox.claim_uid(tmp_path)
    assert third[0] == first[0]
    second[1].close()
    third[1].close()


def test_the_kernel_manager_takes_its_policy_and_folder_from_its_caller(tmp_path):
    """Passed in (as nbclient does, through the config it hands to the managers it makes),
    never set on the class: a manager made without them has the defaults."""
    from traitlets.config import Config

    config = Config()
    config.SandboxKernelManager.policy = sandbox.Policy(bwrap="/usr/bin/bwrap", uid=61001)
    config.SandboxKernelManager.runtime_root = str(tmp_path)
    managers = [sandbox.SandboxKernelManager(config=config),
                sandbox.SandboxKernelManager(policy=sandbox.Policy(uid=61002), runtime_root=str(tmp_path)),
                sandbox.SandboxKernelManager()]
    try:
        assert [m.policy.uid for m in managers] == [61001, 61002, None]
        assert [m.sandboxed for m in managers] == [True, False, False]
        assert [m.run_dir.parent == tmp_path for m in managers] == [True, True, False]
        assert managers[0].referee_path == "/run/autograder-kernel/referee.sock"
    finally:
        for m in managers:
            m.referee_listener.close()
            shutil.rmtree(m.run_dir)


def test_a_kernels_cgroup_bounds_its_processes_together_and_counts_what_it_stopped():
    """Three children of 100 MB each, under a 200 MB limit for the cgroup: the out-of-memory
    killer stops one, and the counter says so; a fork loop stops at the process limit."""
    group = cgroup_parent().create(200, 20)
    try:
        hogs = ("import subprocess, sys\n"
                "code = \"import time; x = b'x' * (100 << 20); time.sleep(1)\"\n"
                "for p in [subprocess.Popen([sys.executable, '-c', code]) for _ in range(3)]:\n"
                "    p.wait()\n")
        subprocess.run(group.enter() + [sys.executable, "-c", hogs], timeout=60)
        assert group.usage().oom_kills >= 1
        forks = ("import os, time\n"
                 "for _ in range(40):\n"
                 "    try:\n"
                 "        if os.fork() == 0:\n"
                 "            time.sleep(5)\n"
                 "            os._exit(0)\n"
                 "    except OSError:\n"
                 "        pass\n")
        subprocess.run(group.enter() + [sys.executable, "-c", forks], timeout=60)
        assert 0 < len(group.pids()) <= 20  # the children still sleeping, orphans now
        usage = group.usage()
        assert usage.forks_refused >= 20 and usage.memory_mb == 200
    finally:
        processes.stop(group)
        assert group.remove()
    assert not group.memory_dir.exists() and not group.pids_dir.exists()


def test_a_cgroup_lists_orphans_and_stop_ends_all_but_the_kept():
    group = cgroup_parent().create(None, 64)
    proc = start(group.enter() + [sys.executable, "-c", ORPHANS, "5"])
    try:
        members = group.pids()
        assert proc.pid in members and len(members) == 6  # the parent and five orphans (re-parented away)
        assert not set(members) & set(processes.Descendants(proc.pid).pids())
        assert processes.stop(group, keep={proc.pid}) == 5
        assert group.pids() == [proc.pid] and proc.poll() is None
    finally:
        proc.kill()
        proc.wait()
        processes.stop(group)
        group.remove()


def test_a_cgroup_left_by_a_worker_that_died_is_swept():
    parent = cgroup_parent()
    group = parent.create(None, 8, name=f"{cgroups.PREFIX}{_dead_pid()}-0")
    proc = subprocess.Popen(group.enter() + ["sleep", "60"])
    time.sleep(0.2)
    assert group.pids() == [proc.pid]
    mine = parent.create(None, 8)  # a live worker's: left alone
    try:
        assert parent.sweep() == 1
        assert proc.wait(timeout=5) == -9 and not group.memory_dir.exists()
        assert mine.memory_dir.exists()
    finally:
        mine.remove()


def _dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def test_a_pid_namespace_holds_the_sandboxs_orphans():
    """Without a cgroup, a sandbox's members are its pid namespace: orphans the sandbox's init
    adopted are in it, and nothing of the machine is."""
    bwrap = sandbox.bwrap_path()
    if not bwrap:
        pytest.skip("bubblewrap is needed (scripts/system-packages.sh installs it)")
    outer = start([bwrap, "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--unshare-pid",
                   "--die-with-parent", "--", sys.executable, "-c", ORPHANS, "4"])
    try:
        init = processes.first_child(outer.pid)
        adopted = processes.children(init)  # the "kernel" (the first) and its four orphans
        kernel = min(adopted)
        members = processes.PidNamespace.of(init)
        assert len(adopted) == 5 and sorted(members.pids()) == sorted([init, *adopted])
        assert os.getpid() not in members.pids()
        assert processes.stop(members, keep={init, kernel}) == 4
        assert sorted(members.pids()) == [init, kernel]
    finally:
        outer.kill()
        outer.wait()


def test_stop_never_signals_a_process_that_left_the_members_meanwhile():
    """Between listing and signalling, a pid may die and be taken by another process: it is
    asked again once held by a pidfd, and left alone when it is no longer a member."""
    bystander = subprocess.Popen(["sleep", "60"])

    class Vanishing:
        def __init__(self):
            self.calls = 0

        def pids(self) -> list[int]:
            self.calls += 1
            return [bystander.pid] if self.calls == 1 else []

    try:
        assert processes.stop(Vanishing()) == 0
        assert bystander.poll() is None
    finally:
        bystander.kill()
        bystander.wait()


def test_stop_leaves_a_sandbox_below_the_watchdogs_limit_alone():
    children = start([sys.executable, "-c", "import subprocess, time\n"
                      "kids = [subprocess.Popen(['sleep', '60']) for _ in range(3)]\n"
                      "print('ready', flush=True)\ntime.sleep(60)\n"])
    members = processes.Descendants(children.pid)
    try:
        assert processes.stop(members, above=3) == 0 and len(members.pids()) == 3
        assert processes.stop(members, above=2) == 3 and members.pids() == []
    finally:
        children.kill()
        children.wait()
