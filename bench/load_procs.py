"""bench/load.py's processes: the app server's pid and memory, and the browsers' priority."""

from __future__ import annotations

import argparse
import os
import threading
from pathlib import Path


def server_pid(port_url: str) -> int | None:
    """The pid of the ``streamlit run`` child of this process serving ``port_url``."""
    port = port_url.rsplit(":", 1)[-1]
    me = str(os.getpid())
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            stat = (proc / "stat").read_text()
            cmd = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        ppid = stat.rsplit(")", 1)[1].split()[1]
        if ppid == me and f"--server.port={port}".encode() in cmd:
            return int(proc.name)
    return None


def rss_mb(pid: int) -> float:
    """Resident memory of ``pid`` in MiB (0 when it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


class RssWatch:
    """Samples a process's RSS twice a second in a thread; ``peak`` since the last reset."""

    def __init__(self, pid: int | None) -> None:
        self.pid, self.peak, self._stop = pid, 0.0, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        if pid is not None:
            self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.5):
            self.peak = max(self.peak, rss_mb(self.pid or 0))

    def reset(self) -> float:
        now = rss_mb(self.pid or 0)
        self.peak = now
        return now

    def stop(self) -> None:
        self._stop.set()


def _descendants(root: int) -> set[int]:
    """Pids of every process below ``root`` (from ``/proc``)."""
    children: dict[int, list[int]] = {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            ppid = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(proc.name))
    out: set[int] = set()
    todo = [root]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in out:
                out.add(child)
                todo.append(child)
    return out


def _autogroup(pid: int) -> tuple[str, int] | None:
    """``pid``'s scheduling autogroup and that group's niceness (``/proc/PID/autogroup``:
    ``/autogroup-N nice K``), ``None`` where the kernel has none (no autogroups, or gone)."""
    try:
        name, _, nice = Path(f"/proc/{pid}/autogroup").read_text().split()
        return name, int(nice)
    except (OSError, ValueError):
        return None


def renice_browsers(nice: int, root: int | None = None) -> int:
    """Set every thread of the Chromium processes below ``root`` (default: this process)
    to niceness ``nice`` where it is lower, and so the autogroup of each of them that is
    not this process's own; returns how many threads and groups changed. Chromium run as
    root sets its own priorities (its browser and GPU processes at -8), so a ``nice`` at
    launch does not hold: :class:`BrowserNice` calls this every second.

    The group matters where the kernel groups tasks by session
    (``/proc/sys/kernel/sched_autogroup_enabled``, on by default): Playwright starts
    Chromium in a session of its own, so Chromium's processes share one autogroup apart
    from this process's (and from the app server it started), the kernel shares the
    processors between the groups by the groups' niceness, and a thread's niceness only
    orders the threads of its own group (measured on 5 December 2026: two busy processes
    on one core in two sessions, one at nice 19, took 0.48 and 0.48 s of 3 s; with the
    second's group at nice 10, 0.82 and 0.09 s). A group shared with this process is left
    alone (it would put the bench, and the app it started, behind too)."""
    changed = 0
    own = _autogroup(os.getpid())
    for pid in _descendants(root or os.getpid()):
        try:
            exe = os.readlink(f"/proc/{pid}/exe")
            if "chrom" not in Path(exe).name:
                continue
            tids = [int(t) for t in os.listdir(f"/proc/{pid}/task")]
        except OSError:
            continue
        for tid in tids:
            try:
                if os.getpriority(os.PRIO_PROCESS, tid) < nice:
                    os.setpriority(os.PRIO_PROCESS, tid, nice)
                    changed += 1
            except OSError:
                continue  # gone, or not allowed: it runs at its own priority
        group = _autogroup(pid)
        if group is not None and group[1] < nice and (own is None or group[0] != own[0]):
            try:
                Path(f"/proc/{pid}/autogroup").write_text(str(nice))
                changed += 1
            except OSError:
                pass  # gone, or not allowed (not root): the group keeps its share
    return changed


def nice_arg(text: str) -> int | None:
    """``--nice``'s value: a niceness 0-19 (Chromium's threads kept at it or lower priority;
    0: level with the server) or ``off`` (``None``: Chromium's own priorities). One meaning
    in every bench that takes it."""
    if text.strip().lower() == "off":
        return None
    try:
        nice = int(text)
    except ValueError:
        nice = -1
    if not 0 <= nice <= 19:
        raise argparse.ArgumentTypeError(f"expected a niceness 0 to 19 or 'off', got {text!r}")
    return nice


class BrowserNice:
    """Keeps this bench's Chromium threads at a niceness at least ``nice`` (a thread;
    ``None``: off, Chromium's own priorities: as root it raises its browser and GPU
    processes to -8, above the app's server)."""

    def __init__(self, nice: int | None) -> None:
        self.nice, self._stop = nice or 0, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        if nice is not None:
            self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(1.0):
            renice_browsers(self.nice)

    def close(self) -> None:
        self._stop.set()


def cpu_seconds(pid: int) -> float:
    """User plus system CPU seconds of ``pid`` so far (0 when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def browser_cpu(root: int | None = None) -> float:
    """CPU seconds so far of the Chromium processes below ``root`` (default: this process)
    alive now (a process gone takes its seconds with it)."""
    total = 0.0
    for pid in _descendants(root or os.getpid()):
        try:
            if "chrom" not in Path(os.readlink(f"/proc/{pid}/exe")).name:
                continue
        except OSError:
            continue
        total += cpu_seconds(pid)
    return total


def browser_cpu_by_kind(root: int | None = None) -> dict[str, float]:
    """:func:`browser_cpu` by kind of Chromium process (``browser``, ``renderer``,
    ``gpu-process``, ``utility:NetworkService``...: its ``--type`` and utility sub-type;
    Chromium rewrites its command line as one string, so it is split on spaces too)."""
    out: dict[str, float] = {}
    for pid in _descendants(root or os.getpid()):
        try:
            if "chrom" not in Path(os.readlink(f"/proc/{pid}/exe")).name:
                continue
            args = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").split()
        except OSError:
            continue
        kind = next((a[7:].decode() for a in args if a.startswith(b"--type=")), "browser")
        sub = next((a.decode() for a in args if a.startswith(b"--utility-sub-type=")), "")
        if sub:
            kind += ":" + sub.rsplit(".", 1)[-1]
        out[kind] = out.get(kind, 0.0) + cpu_seconds(pid)
    return out


class CpuWatch:
    """CPU seconds of the Chromium processes below this process, those that ended since
    included (each process's last reading, taken twice a second in a thread): a context's
    renderer closes with its session, and :func:`browser_cpu` at the phase's end would
    miss it."""

    def __init__(self, period_s: float = 0.5) -> None:
        self.seen: dict[int, float] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._period = period_s
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        for pid in _descendants(os.getpid()):
            try:
                if "chrom" not in Path(os.readlink(f"/proc/{pid}/exe")).name:
                    continue
            except OSError:
                continue
            cpu = cpu_seconds(pid)
            if cpu > 0:
                with self._lock:
                    self.seen[pid] = max(cpu, self.seen.get(pid, 0.0))

    def _run(self) -> None:
        while not self._stop.wait(self._period):
            self._sample()

    def total(self) -> float:
        """Seconds so far, all processes seen."""
        self._sample()
        with self._lock:
            return sum(self.seen.values())

    def stop(self) -> None:
        self._stop.set()
