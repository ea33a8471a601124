"""Real services for the worker tests: a private redis-server (so a test may restart it),
a throw-away PostgreSQL database, and real Celery worker processes.

``service`` sets the TALLYSCAN_* variables for this test (so in-process CLI calls
such as ``main(["submit", ...])`` use them) and starts workers as subprocesses
with the same environment: ``celery -A tallyscan.worker worker`` by default, or
``tallyscan worker``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from tallyscan.cli import main
from tallyscan.store import Store, open_store

VENV_BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(check: Callable[[], object], timeout: float, what: str, interval: float = 0.2):
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


class RedisServer:
    """A redis-server of our own on a free port, without persistence by default."""

    def __init__(self, folder: Path, *, appendonly: bool = False) -> None:
        binary = shutil.which("redis-server")
        assert binary, "redis-server is not installed (CI installs Debian's redis-server)"
        self.binary = binary
        self.folder = folder
        self.port = free_port()
        self.appendonly = appendonly
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "yes" if self.appendonly else "no", "--dir", str(self.folder),
             "--logfile", str(self.folder / "redis.log")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        import redis

        def ready() -> bool:
            try:
                return bool(redis.Redis(port=self.port, socket_timeout=1).ping())
            except redis.RedisError:
                return False

        wait_until(ready, 20, f"redis-server on port {self.port}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(20)
        self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def client(self):
        import redis

        return redis.Redis(port=self.port, socket_timeout=2)

    def queue_length(self, queue: str) -> int:
        return int(self.client().llen(queue))


class Worker:
    """A Celery worker in its own process group (so a test can kill all of it)."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], log: Path) -> None:
        self.name = name
        self.log = log
        self._fh = open(log, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(argv, env=env, stdout=self._fh, stderr=subprocess.STDOUT,
                                     start_new_session=True)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def children(self) -> list[int]:
        out = subprocess.run(["pgrep", "-P", str(self.pid)], capture_output=True, text=True)
        return [int(p) for p in out.stdout.split()]

    def kill_all(self) -> None:
        """kill -9 of the whole worker: main process and pool processes."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pid, signal.SIGKILL)
        self.proc.wait(20)

    def stop(self) -> None:
        if self.proc.poll() is None:
            try:
                os.killpg(self.pid, signal.SIGTERM)
                self.proc.wait(15)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                self.kill_all()
        if not self._fh.closed:
            self._fh.close()

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def ready(self) -> bool:
        return " ready." in self.output()


class Service:
    """Broker + store + workers for one test."""

    def __init__(self, tmp: Path, redis_server: RedisServer, database_url: str,
                 monkeypatch: pytest.MonkeyPatch) -> None:
        self.tmp = tmp
        self.redis = redis_server
        self.database_url = database_url
        self.queue = f"test-{uuid.uuid4().hex[:10]}"
        self.env: dict[str, str] = {
            "TALLYSCAN_BROKER_URL": redis_server.url,
            "TALLYSCAN_DATABASE_URL": database_url,
            "TALLYSCAN_DATA_DIR": str(tmp / "data"),
            "TALLYSCAN_STORE_DIR": str(tmp / "blobs"),
            "TALLYSCAN_QUEUE": self.queue,
            "TALLYSCAN_SOFT_TIME_LIMIT": "60",
            "TALLYSCAN_HARD_TIME_LIMIT": "90",
            "TALLYSCAN_SWEEP_INTERVAL": "2",
            "TALLYSCAN_RETRY_BACKOFF_MAX": "4",
        }
        self._monkeypatch = monkeypatch
        self.set_env()
        self.workers: list[Worker] = []

    wait_until = staticmethod(wait_until)

    def set_env(self, **overrides: str) -> None:
        self.env.update(overrides)
        for k, v in self.env.items():
            self._monkeypatch.setenv(k, v)

    @property
    def store(self) -> Store:
        return open_store(self.database_url)

    def start_worker(self, *, concurrency: int = 1, faults: dict[str, str] | None = None,
                     via: str = "celery", env: dict[str, str] | None = None,
                     wait: bool = True) -> Worker:
        name = f"w{len(self.workers) + 1}-{self.queue}"
        child_env = {**os.environ, **self.env, **(env or {})}
        child_env.pop("TALLYSCAN_TEST_FAULTS", None)
        if faults:
            child_env["TALLYSCAN_TEST_FAULTS"] = ",".join(f"{k}={v}" for k, v in faults.items())
        if via == "celery":
            argv = [str(VENV_BIN / "celery"), "-A", "tallyscan.worker", "worker", "-Q", self.queue,
                    "-c", str(concurrency), "-n", f"{name}@%h", "--without-gossip",
                    "--without-mingle", "--loglevel", "INFO"]
        else:
            argv = [str(VENV_BIN / "tallyscan"), "worker", "-c", str(concurrency), "-n", f"{name}@%h"]
        worker = Worker(name, argv, child_env, self.tmp / f"{name}.log")
        self.workers.append(worker)
        if wait:
            wait_until(worker.ready, 60, f"worker {name} to start:\n{worker.output()[-3000:]}")
        return worker

    def submit(self, *args: str) -> str:
        """``tallyscan submit ARGS`` in this process; returns the batch id."""
        import contextlib
        import io

        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            code = main(["submit", "-q", *args])
        assert code == 0, code
        return out.getvalue().strip().splitlines()[-1]

    def wait_finished(self, batch: str | None, total: int, timeout: float) -> dict[str, int]:
        def finished() -> dict[str, int] | None:
            counts = self.store.counts(batch)
            if sum(counts.values()) == total and counts["queued"] + counts["running"] == 0:
                return counts
            return None

        try:
            return wait_until(finished, timeout, f"{total} documents to finish", interval=0.5)
        except AssertionError:
            logs = "\n".join(f"--- {w.name}\n{w.output()[-4000:]}" for w in self.workers)
            raise AssertionError(f"counts {self.store.counts(batch)}\n{logs}") from None

    def running_on(self, key: str, timeout: float = 30) -> tuple[str, int]:
        """(worker node name, pool process pid) of the attempt now running ``key``."""
        def holder():
            row = self.store.document(key)
            return row.worker if row is not None and row.state == "running" and row.worker else None

        node, _, pid = wait_until(holder, timeout, f"document {key[:12]} to start").rpartition(":")
        return node, int(pid)

    def stop(self) -> None:
        for w in self.workers:
            w.stop()


@pytest.fixture
def redis_server(tmp_path):
    server = RedisServer(tmp_path / "redis")
    server.start()
    yield server
    server.stop()


@pytest.fixture
def service(tmp_path, redis_server, pg_url, monkeypatch):
    svc = Service(tmp_path, redis_server, pg_url, monkeypatch)
    yield svc
    svc.stop()


@pytest.fixture(scope="session")
def synth_reports(tmp_path_factory):
    """make(n, start=0) -> n distinct born-digital synthetic reports (cached per session)."""
    from tallyscan.synth import make_report

    folder = tmp_path_factory.mktemp("synth")
    made: dict[int, Path] = {}

    def make(n: int, start: int = 0, into: Path | None = None) -> list[Path]:
        paths = []
        for seed in range(start, start + n):
            if seed not in made:
                path = folder / f"report{seed:04d}.pdf"
                path.write_bytes(make_report(seed)[0])
                made[seed] = path
            if into is not None:
                into.mkdir(parents=True, exist_ok=True)
                target = into / made[seed].name
                shutil.copyfile(made[seed], target)
                paths.append(target)
            else:
                paths.append(made[seed])
        return paths

    return make

