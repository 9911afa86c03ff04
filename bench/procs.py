"""Start and stop the bench's processes (each in its own session), and sample their CPU and RSS in /proc."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_port(port: int, timeout: float, proc: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before listening on {port}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return
        time.sleep(0.1)
    raise TimeoutError(f"nothing listening on 127.0.0.1:{port} after {timeout:.0f}s")


@dataclass
class Managed:
    name: str
    proc: subprocess.Popen[bytes]
    log: Path

    @property
    def pid(self) -> int:
        return self.proc.pid

    def tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


@dataclass
class Processes:
    """Every process the bench starts; `stop_all` (also on errors and Ctrl-C) ends each one by its id."""

    log_dir: Path
    started: list[Managed] = field(default_factory=list)

    def start(self, name: str, cmd: list[str], env: dict[str, str], cwd: Path) -> Managed:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log = self.log_dir / f"{name}.log"
        with log.open("wb") as out:
            # A session of its own: stopping the group reaches workers the server forked.
            proc = subprocess.Popen(
                cmd, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        managed = Managed(name, proc, log)
        self.started.append(managed)
        return managed

    def stop(self, managed: Managed, timeout: float = 10.0) -> None:
        proc = managed.proc
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5)
        # Workers left behind by a master that died first still hold the group id.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        if managed in self.started:
            self.started.remove(managed)

    def stop_all(self) -> None:
        for managed in reversed(list(self.started)):
            self.stop(managed)


def _stat_fields(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name may hold spaces and parentheses: fields start after the last ')'.
    return raw[raw.rindex(")") + 2 :].split()


def _children() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        fields = _stat_fields(int(entry.name))
        if fields is not None:
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    return children


def serving_groups(pid: int) -> list[list[int]]:
    """Each serving process with its own helpers below it (a worker and its request-log process):
    one group per worker when the root forked some, else one group for the root's whole tree."""
    children = _children()
    workers = children.get(pid, [])
    return [descendants(worker, children) for worker in workers] or [descendants(pid, children)]


def descendants(pid: int, children: dict[int, list[int]] | None = None) -> list[int]:
    """pid and every live process below it."""
    children = _children() if children is None else children
    tree, todo = [], [pid]
    while todo:
        current = todo.pop()
        tree.append(current)
        todo.extend(children.get(current, []))
    return tree


def cpu_seconds(pid: int, children: dict[int, list[int]] | None = None) -> float:
    """utime+stime of the tree, plus the reaped children's cutime+cstime."""
    ticks = 0
    for member in descendants(pid, children):
        fields = _stat_fields(member)
        if fields is not None:
            # fields[11..14] are utime, stime, cutime, cstime (stat fields 14-17).
            ticks += sum(int(v) for v in fields[11:15])
    return ticks / CLOCK_TICKS


def machine_busy_seconds() -> float:
    """CPU seconds the whole machine spent busy since boot, summed over its cores (/proc/stat)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    idle = fields[3] + fields[4]  # idle + iowait
    return (sum(fields) - idle) / CLOCK_TICKS


def vmrss_kb(pids: list[int]) -> int:
    """VmRSS (KB) summed over live processes (gone ones count 0)."""
    total_kb = 0
    for member in pids:
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{member}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total_kb += int(line.split()[1])
    return total_kb


def rss_mb(pid: int) -> float:
    """RSS of the serving processes: the workers when the root forked some, else the root itself."""
    tree = descendants(pid)
    return vmrss_kb(tree[1:] or tree) / 1024


def service_roots(command: str) -> list[int]:
    """Pids of a system service's top processes by command name (`postgres`, `redis-server`): those
    whose parent is not the same command, so each tree is counted once with its reaped children."""
    comm: dict[int, str] = {}
    parent: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = _stat_fields(int(entry.name))
            with contextlib.suppress(OSError):
                comm[int(entry.name)] = (entry / "comm").read_text().strip()
                if fields is not None:
                    parent[int(entry.name)] = int(fields[1])
    return [pid for pid, name in comm.items() if name == command and comm.get(parent.get(pid, 0)) != command]


def _steal_seconds() -> float:
    return int(Path("/proc/stat").read_text().split("\n", 1)[0].split()[8]) / CLOCK_TICKS


@dataclass
class CpuLedger:
    """Where the machine's CPU went during a run, by role: which process had the cores.

    `roles` maps a role to the root pids of its process trees; the load generator is this process with
    its reaped children (wrk), steal is time the hypervisor gave elsewhere, and `other` whatever else
    was busy (the machine's busy time minus all of these). The kernel's interrupt time is not a role of
    its own: it is charged to the processes it ran in as well, so it would be counted twice.
    """

    roles: dict[str, list[int]]

    def snapshot(self) -> dict[str, float]:
        children = _children()  # one walk of /proc for every role
        snap = {role: sum(cpu_seconds(pid, children) for pid in pids) for role, pids in self.roles.items()}
        own = os.times()
        snap["load generator"] = own.user + own.system + own.children_user + own.children_system
        snap["steal"] = _steal_seconds()
        snap["busy"] = machine_busy_seconds()
        return snap

    def cores_since(self, before: dict[str, float], seconds: float) -> tuple[float, dict[str, float]]:
        """(cores the whole machine had busy, the same by role) since the `before` snapshot."""
        after = self.snapshot()
        used = {role: (after[role] - before[role]) / seconds for role in before}
        busy = used.pop("busy")
        used["other"] = max(0.0, busy - sum(used.values()))
        return busy, {role: round(value, 3) for role, value in used.items()}
