"""Start and stop the processes a benchmark or smoke test needs, all on loopback and free ports:
a throwaway redis-server, the app (`python app.py`), the bare Quart baseline; and read their RSS.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

PROJECT_ROOT = Path(__file__).resolve().parent.parent
REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"
LOOPBACK = "127.0.0.1"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((LOOPBACK, 0))
        return int(probe.getsockname()[1])


@dataclass
class Managed:
    """A child process with its log file; stop() is safe to call twice."""

    name: str
    process: subprocess.Popen[bytes]
    log_path: Path
    url: str
    extra: dict[str, str] = field(default_factory=dict)

    def stop(self, timeout_s: float = 10.0) -> None:
        if self.process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=timeout_s)

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def _spawn(name: str, argv: list[str], env: dict[str, str], url: str, log_dir: Path,
           cwd: Path = PROJECT_ROOT) -> Managed:
    log_path = log_dir / f"{name}-{urlsplit(url).port}.log"
    log = log_path.open("wb")
    # Its own process group, so stop() reaches hypercorn's workers too and nothing else.
    process = subprocess.Popen(
        argv, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    log.close()
    return Managed(name=name, process=process, log_path=log_path, url=url)


def start_redis(log_dir: Path, maxmemory_mb: int = 2048) -> Managed:
    port = free_port()
    data_dir = tempfile.mkdtemp(prefix="loadtest-redis-", dir=log_dir)
    argv = [
        REDIS_SERVER, "--bind", LOOPBACK, "--port", str(port), "--save", "", "--appendonly", "no",
        "--dir", data_dir, "--maxmemory", f"{maxmemory_mb}mb", "--protected-mode", "yes",
    ]  # fmt: skip
    managed = _spawn("redis", argv, dict(os.environ), f"redis://{LOOPBACK}:{port}/0", log_dir)
    managed.extra["port"] = str(port)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection((LOOPBACK, port), timeout=0.5) as conn:
            conn.sendall(b"PING\r\n")
            if conn.recv(64).startswith(b"+PONG"):
                return managed
        if managed.process.poll() is not None:
            break
        time.sleep(0.05)
    managed.stop()
    raise RuntimeError(f"redis-server did not start:\n{managed.log_tail()}")


def wait_http_ok(managed: Managed, path: str, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if managed.process.poll() is not None:
            raise RuntimeError(f"{managed.name} exited with {managed.process.returncode}:\n{managed.log_tail()}")
        with (
            contextlib.suppress(OSError, urllib.error.URLError),
            urllib.request.urlopen(managed.url + path, timeout=1) as response,
        ):
            if response.status == 200:
                return
        time.sleep(0.1)
    managed.stop()
    raise RuntimeError(f"{managed.name} did not answer {path} within {timeout_s} s:\n{managed.log_tail()}")


def start_app(redis_url: str, log_dir: Path, workers: int = 2, extra_env: dict[str, str] | None = None,
              app_root: Path = PROJECT_ROOT) -> Managed:
    """``python app.py`` from ``app_root`` (another checkout of the project, for a before/after run)."""
    port = free_port()
    env = dict(os.environ)
    env.update({"REDIS_URL": redis_url, "HOST": LOOPBACK, "PORT": str(port), "WORKERS": str(workers)})
    # the load generator signs up thousands of users from one address: lift that cap (the per-email one stays)
    env.setdefault("AUTH_ATTEMPTS_PER_ADDRESS_MAX", "0")
    env.update(extra_env or {})
    managed = _spawn(f"app-{workers}w", [sys.executable, "app.py"], env, f"http://{LOOPBACK}:{port}", log_dir,
                     cwd=app_root)
    wait_http_ok(managed, "/health", timeout_s=30)
    return managed


def start_baseline(log_dir: Path, module: str = "loadtest.baseline_broadcast") -> Managed:
    """The bare Quart broadcast loop, or with module="loadtest.raw_broadcast" the raw asyncio floor."""
    port = free_port()
    argv = [sys.executable, "-m", module, "--host", LOOPBACK, "--port", str(port)]
    managed = _spawn(module.rsplit(".", 1)[-1], argv, dict(os.environ), f"http://{LOOPBACK}:{port}", log_dir)
    wait_http_ok(managed, "/health", timeout_s=30)
    return managed


SOCKETIO_DIR = PROJECT_ROOT / "loadtest" / "socketio"


def start_socketio(log_dir: Path) -> Managed:
    """The Socket.IO 4.8 baseline (loadtest/socketio/broadcast.js on node), its packages installed
    from package-lock.json into the gitignored loadtest/socketio/node_modules on first use."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        raise RuntimeError("node and npm are needed for the Socket.IO baseline")
    if not (SOCKETIO_DIR / "node_modules" / "socket.io").is_dir():
        subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=SOCKETIO_DIR, check=True,
                       stdout=subprocess.DEVNULL)  # fmt: skip
    port = free_port()
    argv = [node, str(SOCKETIO_DIR / "broadcast.js"), "--host", LOOPBACK, "--port", str(port)]
    managed = _spawn("socketio", argv, dict(os.environ), f"http://{LOOPBACK}:{port}", log_dir)
    wait_http_ok(managed, "/health", timeout_s=30)
    return managed


@contextlib.contextmanager
def running(*managed: Managed) -> Iterator[None]:
    try:
        yield
    finally:
        for item in reversed(managed):
            item.stop()


def process_tree(root_pid: int) -> list[int]:
    """root_pid and all its descendants (from /proc, Linux only)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(entry))
    tree, pending = [], [root_pid]
    while pending:
        pid = pending.pop()
        tree.append(pid)
        pending.extend(children.get(pid, []))
    return tree


def rss_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def tree_rss_kb(root_pid: int) -> dict[int, int]:
    return {pid: rss_kb(pid) for pid in process_tree(root_pid)}


CLOCK_TICKS_PER_S = os.sysconf("SC_CLK_TCK")


def cpu_s(pid: int) -> float:
    """User + system CPU seconds a process has used (Linux /proc)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS_PER_S


def tree_cpu_s(root_pid: int) -> float:
    return sum(cpu_s(pid) for pid in process_tree(root_pid))
