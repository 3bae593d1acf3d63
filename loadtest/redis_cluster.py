"""A local Redis Cluster for the tests and the failover drill: 6 redis-server nodes on free ports
(3 masters, a replica each).

Made with ``redis-cli --cluster create ... --cluster-replicas 1``, as an operator would. The node
timeout is short (``NODE_TIMEOUT_MS``) so a killed master's replica is promoted within seconds, and
``cluster-require-full-coverage no`` keeps the other masters' slots serving while one shard fails
over. ``stop()`` stops every node it started, killed or not.
"""

from __future__ import annotations

import random
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import redis
from redis.crc import key_slot

NODE_TIMEOUT_MS = 1_000
START_SECONDS_MAX = 30.0
BUS_PORT_OFFSET = 10_000  # a node's cluster bus listens on its port + 10000, which must exist and be free


def _bindable(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def free_cluster_port() -> int:
    """A free port whose bus port (+10000) is free too: the kernel's ephemeral ports are too high."""
    for _ in range(1_000):
        port = random.randrange(20_000, 50_000)
        if _bindable(port) and _bindable(port + BUS_PORT_OFFSET):
            return port
    raise RuntimeError("no free port pair for a cluster node")


@dataclass
class ClusterNode:
    port: int
    folder: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def client(self, timeout: float = 2.0) -> redis.Redis:
        return redis.Redis(port=self.port, socket_timeout=timeout, socket_connect_timeout=timeout,
                           decode_responses=True)


@dataclass
class RedisCluster:
    """Start with ``start()``; ``url`` names one node (any node serves as REDIS_URL)."""

    size: int = 6
    node_timeout_ms: int = NODE_TIMEOUT_MS
    nodes: list[ClusterNode] = field(default_factory=list)

    def __post_init__(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None or shutil.which("redis-cli") is None:
            raise RuntimeError("redis-server and redis-cli are needed; the README's test command installs them")
        self.binary = binary
        self.root = Path(tempfile.mkdtemp(prefix="test-redis-cluster-"))
        for index in range(self.size):
            folder = self.root / f"node{index}"
            folder.mkdir()
            self.nodes.append(ClusterNode(free_cluster_port(), folder))

    @property
    def url(self) -> str:
        return f"redis://{self.nodes[0].address}/0"

    def start(self) -> None:
        try:
            for node in self.nodes:
                self.start_node(node)
            subprocess.run(
                ["redis-cli", "--cluster", "create", *(node.address for node in self.nodes),
                 "--cluster-replicas", "1", "--cluster-yes"],
                check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=60,
            )
            self.wait_ready()
        except BaseException:
            self.close()
            raise

    def start_node(self, node: ClusterNode) -> None:
        """Starts (or restarts, with its nodes.conf, so it rejoins as the cluster knows it) one node."""
        command = [
            self.binary, "--port", str(node.port), "--bind", "127.0.0.1", "--dir", str(node.folder),
            "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
            "--cluster-node-timeout", str(self.node_timeout_ms), "--cluster-require-full-coverage", "no",
            # a replica that lost its master for a while may still be promoted: the drill kills masters
            "--cluster-replica-validity-factor", "0",
            # a rejoining replica is synced at once: Redis 7 waits 5 s by default for more replicas to
            # share the transfer, and with one replica per master that is 5 s more of 503s
            "--repl-diskless-sync-delay", "0",
            "--save", "", "--appendonly", "no", "--logfile", str(node.folder / "redis.log"),
        ]
        node.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        client = node.client(0.2)
        try:
            while True:
                try:
                    if client.ping():
                        return
                except redis.ConnectionError:
                    if time.monotonic() > deadline or node.process.poll() is not None:
                        raise RuntimeError(f"redis-server did not start on port {node.port}") from None
                    time.sleep(0.02)
        finally:
            client.close()

    def running(self) -> list[ClusterNode]:
        return [node for node in self.nodes if node.process is not None and node.process.poll() is None]

    def wait_ready(self, seconds: float = START_SECONDS_MAX) -> None:
        """Until every running node says the cluster is ok, agrees on one master per slot range, and
        every replica's link to its master is up (so WAIT can be answered)."""
        deadline = time.monotonic() + seconds
        while True:
            problem = self._not_ready()
            if problem is None:
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"cluster not ready after {seconds} s: {problem}")
            time.sleep(0.05)

    def _not_ready(self) -> str | None:
        views = set()
        for node in self.running():
            client = node.client(0.5)
            try:
                info = client.cluster("info")
                if info.get("cluster_state") != "ok":
                    return f"{node.address} cluster_state {info.get('cluster_state')}"
                replication = client.info("replication")
                if replication["role"] == "slave" and replication.get("master_link_status") != "up":
                    return f"{node.address} replica link {replication.get('master_link_status')}"
                views.add(tuple(sorted((start, end, master) for start, end, master in self._ranges(client))))
            except redis.RedisError as error:
                return f"{node.address}: {error}"
            finally:
                client.close()
        if len(views) != 1:
            return f"nodes disagree on the slot map: {views}"
        return None

    @staticmethod
    def _ranges(client: redis.Redis) -> list[tuple[int, int, str]]:
        ranges = []
        for start, end, master, *_ in client.execute_command("CLUSTER", "SLOTS"):
            ranges.append((int(start), int(end), f"{master[0]}:{master[1]}"))
        return ranges

    def slot_ranges(self) -> list[tuple[int, int, ClusterNode]]:
        """(first slot, last slot, master) as the cluster sees them now."""
        by_address = {node.address: node for node in self.nodes}
        client = self.running()[0].client()
        try:
            return [(start, end, by_address[master]) for start, end, master in self._ranges(client)]
        finally:
            client.close()

    def masters(self) -> list[ClusterNode]:
        found: list[ClusterNode] = []
        for _, _, master in sorted(self.slot_ranges(), key=lambda item: item[0]):
            if master not in found:
                found.append(master)
        return found

    def master_of(self, market: str) -> ClusterNode:
        slot = key_slot(market.encode())
        for start, end, master in self.slot_ranges():
            if start <= slot <= end:
                return master
        raise RuntimeError(f"slot {slot} is not covered")

    def replicas_of(self, master: ClusterNode) -> list[ClusterNode]:
        client = master.client()
        try:
            info = client.info("replication")
        finally:
            client.close()
        ports = {int(value["port"]) for name, value in info.items() if name.startswith("slave") and
                 isinstance(value, dict)}
        return [node for node in self.nodes if node.port in ports]

    def market_on(self, master: ClusterNode, prefix: str = "m") -> str:
        """A market name whose hash tag lives on ``master``'s slots."""
        ranges = [(start, end) for start, end, node in self.slot_ranges() if node is master]
        for number in range(100_000):
            name = f"{prefix}{number}"
            slot = key_slot(name.encode())
            if any(start <= slot <= end for start, end in ranges):
                return name
        raise RuntimeError("no market name found for that master")

    def wait_master_is_not(self, market: str, old: ClusterNode, seconds: float = 30) -> ClusterNode:
        """Until the running nodes agree that another node serves ``market``'s slot (a replica promoted)."""
        deadline = time.monotonic() + seconds
        while True:
            try:
                views = {self._master_seen_by(node, market) for node in self.running()}
            except redis.RedisError:
                views = set()
            if len(views) == 1 and None not in views and old.address not in views:
                (address,) = views
                return next(node for node in self.nodes if node.address == address)
            if time.monotonic() > deadline:
                raise RuntimeError(f"no new master for {market} after {seconds} s: {views}")
            time.sleep(0.02)

    def _master_seen_by(self, node: ClusterNode, market: str) -> str | None:
        slot = key_slot(market.encode())
        client = node.client(0.5)
        try:
            for start, end, master in self._ranges(client):
                if start <= slot <= end:
                    return master
            return None
        finally:
            client.close()

    def wait_replicas(self, master: ClusterNode, count: int = 1, seconds: float = 30) -> None:
        """Until ``master`` has ``count`` replicas online (so WAIT can be answered again)."""
        deadline = time.monotonic() + seconds
        while True:
            client = master.client(0.5)
            try:
                online = sum(1 for name, value in client.info("replication").items()
                             if name.startswith("slave") and isinstance(value, dict) and value.get("state") == "online")
            except redis.RedisError:
                online = 0
            finally:
                client.close()
            if online >= count:
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"{master.address} has {online} replica(s) online after {seconds} s")
            time.sleep(0.02)

    def kill(self, node: ClusterNode) -> None:
        """SIGKILL, as a machine that dies."""
        if node.process is not None:
            node.process.send_signal(signal.SIGKILL)
            node.process.wait(timeout=10)
            node.process = None

    def flush(self) -> None:
        for master in self.masters():
            client = master.client()
            try:
                client.flushall()
            finally:
                client.close()

    def stop(self) -> None:
        for node in self.nodes:
            if node.process is not None:
                node.process.terminate()
                try:
                    node.process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    node.process.kill()
                    node.process.wait()
                node.process = None

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

