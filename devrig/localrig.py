"""Real local servers and service processes for the demo and the integration tests.

* :class:`FeedServer`: serves feed files over HTTP on loopback with ETag and
  Last-Modified (answers 304 to conditional requests), and can be told to fail a path.
* :class:`SlackReceiver`: an incoming-webhook endpoint that records what it is sent and
  can answer 429 with Retry-After or 500 for a while.
* :class:`SmtpSink`: an aiosmtpd SMTP server that keeps the messages it receives.
* :class:`ServiceProcess`: one ``python -m services.<name>`` process with its own log.
"""

from __future__ import annotations

import abc
import asyncio
import email
import hashlib
import os
import signal
import socket
import subprocess
import sys
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from email.message import Message
from email.utils import formatdate
from pathlib import Path
from typing import Any

import orjson
from aiohttp import web
from aiosmtpd.controller import Controller

__all__ = ["FeedServer", "LoopbackHttp", "ServiceProcess", "SlackReceiver", "SmtpSink",
           "free_port", "gzip_bomb", "peak_rss_mb"]


def free_port() -> int:
    """A TCP port free on loopback now (for a server started right after)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def peak_rss_mb(pid: int | str = "self") -> float | None:
    """A process's peak resident memory so far (Linux ``VmHWM``), in MB; this process's
    by default. None where /proc does not tell."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return None


def gzip_bomb(inflated: int) -> bytes:
    """A gzip body of ``inflated`` zero bytes (about a thousandth of that on the wire)."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    block = bytes(1_000_000)
    return b"".join(packer.compress(block) for _ in range(inflated // len(block))) + \
        packer.flush()


class LoopbackHttp(abc.ABC):
    """An aiohttp server on a free loopback port that can be told to fail a name."""

    prefix = ""

    def __init__(self) -> None:
        self.failures: dict[str, list[tuple[int, dict[str, str]]]] = {}
        self._runner: web.AppRunner | None = None
        self.port = 0

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.port}/{self.prefix}/{name}"

    def fail(self, name: str, status: int, times: int = 1, headers: Mapping[str, str] = {}) -> None:
        """Answer the next ``times`` requests for ``name`` with ``status``."""
        self.failures.setdefault(name, []).extend([(status, dict(headers))] * times)

    def _next_failure(self, name: str) -> web.Response | None:
        pending = self.failures.get(name)
        if not pending:
            return None
        status, headers = pending.pop(0)
        return web.Response(status=status, headers=headers, text="failure for the test")

    @abc.abstractmethod
    def _routes(self, app: web.Application) -> None:
        """Add the server's routes to ``app``."""

    async def start(self) -> None:
        app = web.Application()
        self._routes(app)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def stop(self) -> None:
        if self._runner:
            await self._runner.cleanup()


class FeedServer(LoopbackHttp):
    """HTTP server for feed files under ``/feeds/<name>``."""

    prefix = "feeds"

    def __init__(self) -> None:
        super().__init__()
        self.files: dict[str, bytes] = {}
        self.requests: list[tuple[str, int]] = []

    def put(self, name: str, content: bytes) -> str:
        """Serve ``content`` at ``/feeds/name``; return its URL."""
        self.files[name] = content
        return self.url(name)

    def _routes(self, app: web.Application) -> None:
        app.router.add_get("/feeds/{name}", self._serve)

    async def _serve(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        failure = self._next_failure(name)
        if failure is not None:
            self.requests.append((name, failure.status))
            return failure
        content = self.files.get(name)
        if content is None:
            self.requests.append((name, 404))
            return web.Response(status=404)
        etag = '"' + hashlib.sha256(content).hexdigest()[:16] + '"'
        if request.headers.get("If-None-Match") == etag:
            self.requests.append((name, 304))
            return web.Response(status=304, headers={"ETag": etag})
        self.requests.append((name, 200))
        return web.Response(body=content, content_type="application/xml",
                            headers={"ETag": etag, "Last-Modified": formatdate(usegmt=True)})


class SlackReceiver(LoopbackHttp):
    """Records Block Kit posts to ``/hooks/<name>``; can throttle, fail or hang first."""

    prefix = "hooks"

    def __init__(self) -> None:
        super().__init__()
        self.received: list[tuple[str, dict[str, Any]]] = []
        self.attempts: list[tuple[str, int]] = []
        self.delays: dict[str, list[float]] = {}

    def slow(self, name: str, seconds: float, times: int = 1) -> None:
        """Hold the next ``times`` requests for ``name`` for ``seconds`` before answering."""
        self.delays.setdefault(name, []).extend([seconds] * times)

    def _routes(self, app: web.Application) -> None:
        app.router.add_post("/hooks/{name}", self._hook)

    async def _hook(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if self.delays.get(name):
            await asyncio.sleep(self.delays[name].pop(0))
            if request.transport is None or request.transport.is_closing():
                self.attempts.append((name, 0))  # the sender gave up waiting: not delivered
                return web.Response(status=504)
        failure = self._next_failure(name)
        if failure is not None:
            self.attempts.append((name, failure.status))
            return failure
        try:
            payload = orjson.loads(await request.read())
        except orjson.JSONDecodeError:
            self.attempts.append((name, 400))
            return web.Response(status=400, text="invalid_payload")
        self.attempts.append((name, 200))
        self.received.append((name, payload))
        return web.Response(text="ok")


class _Keep:
    def __init__(self, sink: SmtpSink) -> None:
        self.sink = sink

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content)
        self.sink.messages.append((list(envelope.rcpt_tos), message))
        return "250 Message accepted"


@dataclass
class SmtpSink:
    """An SMTP server on loopback (aiosmtpd) that keeps what it receives."""

    messages: list[tuple[list[str], Message]] = field(default_factory=list)
    port: int = 0
    _controller: Controller | None = None

    def start(self) -> None:
        # aiosmtpd checks readiness by connecting to the port, so it needs a real one.
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self._controller = Controller(_Keep(self), hostname="127.0.0.1", port=self.port)
        self._controller.start()

    def stop(self) -> None:
        if self._controller:
            self._controller.stop()


@dataclass
class ServiceProcess:
    """One service replica as a real OS process."""

    name: str
    env: dict[str, str]
    log_path: Path
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        handle = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", f"services.{self.name}"],
            env={**os.environ, **self.env},
            stdout=handle,
            stderr=subprocess.STDOUT,
            cwd=Path(__file__).resolve().parents[1],
        )
        handle.close()

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def peak_rss_mb(self) -> float | None:
        """The process's peak resident memory so far, in MB."""
        if not self.process or not self.alive:
            return None
        return peak_rss_mb(self.process.pid)

    def kill(self) -> None:
        """SIGKILL: no shutdown, no final commit: the crash case."""
        if self.process and self.alive:
            self.process.kill()
            self.process.wait()

    async def stop(self, timeout: float = 20.0) -> None:
        """SIGTERM and wait; SIGKILL if it does not exit in time."""
        if not self.process or not self.alive:
            return
        self.process.send_signal(signal.SIGTERM)
        loop = asyncio.get_running_loop()
        try:
            await asyncio.wait_for(loop.run_in_executor(None, self.process.wait), timeout)
        except TimeoutError:
            self.kill()


SERVICES = ("fetcher", "dedup", "classifier", "notifier")


@dataclass
class Pipeline:
    """The four services as processes, sharing a namespace on one broker."""

    env: dict[str, str]
    log_dir: Path
    replicas: Mapping[str, int] = field(default_factory=dict)
    processes: list[ServiceProcess] = field(default_factory=list)

    def start(self, only: tuple[str, ...] = SERVICES) -> None:
        for name in only:
            for replica in range(self.replicas.get(name, 1)):
                proc = ServiceProcess(name, dict(self.env),
                                      self.log_dir / f"{name}-{replica}.log")
                proc.start()
                self.processes.append(proc)

    def of(self, name: str) -> list[ServiceProcess]:
        return [p for p in self.processes if p.name == name]

    async def stop(self) -> None:
        await asyncio.gather(*(p.stop() for p in self.processes))

    def dead(self) -> list[ServiceProcess]:
        return [p for p in self.processes if not p.alive]
