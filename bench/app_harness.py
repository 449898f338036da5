"""What bench/measure_memory.py and bench/load_class.py share: a Streamlit server of the app in a fresh
runs directory, its process tree's memory (PSS and RSS from /proc/<pid>/smaps_rollup) and CPU time,
the browser flags, and a markdown table. Linux only (it reads /proc); no psutil needed.
"""

from __future__ import annotations

import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
MB = 2**20
# The reward curve's points: the last trace of the first Plotly chart (the moving average; the
# dots are the first trace and have as many points). 0 on the empty axes drawn before a run.
CURVE_POINTS_JS = """() => {
    const plot = document.querySelector('.stPlotlyChart .js-plotly-plot');
    if (!plot || !plot._fullData || !plot._fullData.length) return 0;
    const trace = plot._fullData[plot._fullData.length - 1];
    return trace._length || (trace.x ? trace.x.length : 0);
}"""
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class AppServer:
    """``streamlit run app.py`` on a free port with a fresh RLVIZ_RUNS_DIR; its log goes to a file."""

    def __init__(self, workers: int | None = None, ready_timeout: float = 120.0) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.tmp = Path(tempfile.mkdtemp(prefix="rlviz-bench-"))
        self.runs_dir = self.tmp / "runs"
        self.log_path = self.tmp / "server.log"
        env = {**os.environ, "RLVIZ_RUNS_DIR": str(self.runs_dir)}
        env.pop("RLVIZ_MAX_WORKERS", None)
        if workers is not None:
            env["RLVIZ_MAX_WORKERS"] = str(workers)
        self._log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(self.port),
             "--server.headless", "true"],
            cwd=ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT)
        self.pid = self.process.pid
        self._wait_ready(ready_timeout)

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"the server exited with {self.process.returncode}; log: {self.log_path}\n"
                                   + self.log_tail())
            try:
                with urllib.request.urlopen(f"{self.url}/_stcore/health", timeout=2) as response:
                    if response.status == 200:
                        return
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"the server did not answer /_stcore/health within {timeout:.0f} s; log: {self.log_path}")
            time.sleep(0.1)  # polling the health endpoint, bounded by the deadline

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def close(self, orphan_timeout: float = 30.0) -> list[str]:
        """Stop the server; returns the processes that were below it and still live ``orphan_timeout``
        seconds after it exited (a worker should exit as soon as its server is gone)."""
        below = descendants(self.pid)
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self._log.close()
        deadline = time.monotonic() + orphan_timeout
        while True:
            alive = [pid for pid in below if _alive(pid)]
            if not alive or time.monotonic() > deadline:
                return [f"{pid}: {cmdline(pid)[:100]}" for pid in alive]
            time.sleep(0.2)  # polling for the workers' exit, bounded by the deadline


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().split(") ", 1)[1][:1] != "Z"
    except (OSError, IndexError):
        return False


# --- /proc -------------------------------------------------------------------------------------------

def _children() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                stat = handle.read()
        except OSError:
            continue
        ppid = int(stat[stat.rindex(")") + 2:].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    return children


def descendants(pid: int) -> list[int]:
    """Every live process below ``pid`` (children, their children, ...)."""
    children = _children()
    found, todo = [], list(children.get(pid, []))
    while todo:
        child = todo.pop()
        found.append(child)
        todo.extend(children.get(child, []))
    return found


def cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            return handle.read().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return ""


def pss_rss_kb(pid: int) -> tuple[int, int] | None:
    """(Pss, Rss) in kB from /proc/<pid>/smaps_rollup; None if the process is gone."""
    pss = rss = None
    try:
        with open(f"/proc/{pid}/smaps_rollup") as handle:
            for line in handle:
                if line.startswith("Pss:"):
                    pss = int(line.split()[1])
                elif line.startswith("Rss:"):
                    rss = int(line.split()[1])
    except OSError:
        return None
    return (pss, rss) if pss is not None and rss is not None else None


def cpu_seconds(pid: int, with_children: bool = True) -> float:
    """User + system CPU time of ``pid`` (and of its waited-for children, e.g. ffmpeg under a worker)."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            stat = handle.read()
    except OSError:
        return 0.0
    fields = stat[stat.rindex(")") + 2:].split()
    ticks = int(fields[11]) + int(fields[12])  # utime, stime
    if with_children:
        ticks += int(fields[13]) + int(fields[14])  # cutime, cstime
    return ticks / CLOCK_TICKS


def is_worker(pid: int) -> bool:
    """A training worker: ``python -m rlviz.worker`` (or, with an older executor, a multiprocessing spawn child)."""
    command = cmdline(pid)
    return "rlviz.worker" in command or "spawn_main" in command


def torch_loaded(pid: int) -> bool:
    """Whether libtorch is mapped into the process."""
    try:
        with open(f"/proc/{pid}/maps") as handle:
            return any("libtorch" in line for line in handle)
    except OSError:
        return False


@dataclass(frozen=True)
class TreeSample:
    """The memory of the server and of everything below it (workers, the resource tracker, ffmpeg), in MB."""

    t: float
    server_pss: float
    server_rss: float
    others_pss: float  # every descendant process
    others_rss: float
    processes: int  # descendants
    workers: int  # descendants that are training workers

    @property
    def total_pss(self) -> float:
        return self.server_pss + self.others_pss

    @property
    def total_rss(self) -> float:
        return self.server_rss + self.others_rss


def sample_tree(server_pid: int) -> TreeSample:
    server = pss_rss_kb(server_pid) or (0, 0)
    below = descendants(server_pid)
    others = [pss_rss_kb(pid) for pid in below]
    others = [value for value in others if value is not None]
    return TreeSample(time.monotonic(), server[0] / 1024, server[1] / 1024,
                      sum(value[0] for value in others) / 1024, sum(value[1] for value in others) / 1024,
                      len(others), sum(1 for pid in below if is_worker(pid)))


def describe_tree(server_pid: int) -> list[str]:
    """One line per descendant of the server: pid and command line (shortened)."""
    return [f"{pid}: {cmdline(pid)[:120]}" for pid in sorted(descendants(server_pid))]


# --- reporting ------------------------------------------------------------------------------------

def machine() -> str:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    versions = []
    for module in ("streamlit", "torch"):
        try:
            versions.append(f"{module} {version(module)}")
        except PackageNotFoundError:
            versions.append(f"{module} not installed")
    return (f"{os.cpu_count()} cores ({model}), {memory_gb:.0f} GB, Python {platform.python_version()}, "
            + ", ".join(versions))


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f}, {five:.2f}, {fifteen:.2f}"


def markdown_table(header: list[str], rows: list[list[object]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def mb(value: float) -> str:
    return f"{value:,.0f} MB"
