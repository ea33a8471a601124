"""Benchmark of the service: throughput, and a fault run that counts lost and duplicated work.

    python -m tallyscan.bench_service throughput ../shared/devset --processes 1 2
    python -m tallyscan.bench_service faults ../shared/devset --synthetic 100

Each run uses its own redis-server (on a free port, no persistence) and its own
store: a throw-away PostgreSQL database when ``--pg-admin URL`` is given (it is
dropped afterwards), else a SQLite file in a temporary folder. Workers are real
``tallyscan worker`` processes.

``throughput`` starts one worker with N pool processes, waits until it is
ready, submits the documents and times until the last one is stored.

``faults`` submits the documents plus ``--synthetic`` distinct generated
reports (tallyscan.synth, a mix of born-digital and scanned), runs two workers,
and while they work: kill -9 of a pool process, kill -9 of a whole worker (then
restarted), a Redis restart that empties the queue, and again. It then counts
submitted / done / failed / lost (never finished) / duplicated (cell rows
beyond one per document and cell).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import ExitStack, contextmanager, suppress
from pathlib import Path
from typing import Any

BIN = Path(sys.executable).parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Redis:
    def __init__(self, folder: Path) -> None:
        self.port = _free_port()
        self.folder = folder
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if not binary:
            raise SystemExit("redis-server is not installed")
        self.folder.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.folder)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        import redis

        for _ in range(100):
            with suppress(redis.RedisError):
                if redis.Redis(port=self.port, socket_timeout=1).ping():
                    return
            time.sleep(0.1)
        raise SystemExit("redis-server did not start")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(20)

    def queue_length(self, queue: str) -> int:
        import redis

        return int(redis.Redis(port=self.port, socket_timeout=2).llen(queue))


class Worker:
    def __init__(self, name: str, processes: int, env: dict[str, str], log: Path) -> None:
        self.name, self.processes, self.env, self.log = name, processes, env, log
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        fh = open(self.log, "ab")  # noqa: SIM115 - owned by the child process
        self.proc = subprocess.Popen(
            [str(BIN / "tallyscan"), "worker", "-c", str(self.processes), "-n", f"{self.name}@%h",
             "--loglevel", "WARNING"],
            env=self.env, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True)
        fh.close()

    def wait_ready(self, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.pool_pids() and len(self.pool_pids()) >= self.processes:
                time.sleep(1.0)  # the consumer connects right after forking the pool
                return
            time.sleep(0.2)
        raise SystemExit(f"worker {self.name} did not start; see {self.log}")

    def pool_pids(self) -> list[int]:
        if self.proc is None:
            return []
        out = subprocess.run(["pgrep", "-P", str(self.proc.pid)], capture_output=True, text=True)
        return [int(p) for p in out.stdout.split()]

    def cpu_seconds(self) -> float:
        """CPU time (user + system) used so far by the worker's main and pool processes."""
        if self.proc is None:
            return 0.0
        total = 0
        for pid in [self.proc.pid, *self.pool_pids()]:
            with suppress(OSError, ValueError, IndexError):
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                total += int(fields[11]) + int(fields[12])  # utime, stime (clock ticks)
        return total / os.sysconf("SC_CLK_TCK")

    def kill_pool_process(self) -> bool:
        pids = self.pool_pids()
        if not pids:
            return False
        with suppress(ProcessLookupError):
            os.kill(pids[0], signal.SIGKILL)
        return True

    def kill_all(self) -> None:
        if self.proc is not None:
            with suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(20)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            with suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.kill_all()


@contextmanager
def service(tmp: Path, pg_admin: str | None, extra_env: dict[str, str] | None = None):
    """(env, redis, database_url) for one isolated run."""
    redis = Redis(tmp / "redis")
    redis.start()
    database = None
    if pg_admin:
        import psycopg

        database = f"tallyscan_bench_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(pg_admin, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{database}"')
        url = pg_admin.rsplit("/", 1)[0] + "/" + database
    else:
        url = f"sqlite:///{tmp}/store.sqlite"
    env = {**os.environ, "TALLYSCAN_BROKER_URL": redis.url, "TALLYSCAN_DATABASE_URL": url,
           "TALLYSCAN_STORE_DIR": str(tmp / "blobs"), "TALLYSCAN_DATA_DIR": str(tmp / "data"),
           "TALLYSCAN_QUEUE": "bench", **(extra_env or {})}
    env.pop("TALLYSCAN_TEST_FAULTS", None)
    saved = {k: os.environ.get(k) for k in env if k.startswith("TALLYSCAN_")}
    os.environ.update({k: v for k, v in env.items() if k.startswith("TALLYSCAN_")})
    try:
        yield env, redis, url
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        redis.stop()
        if database:
            from tallyscan import store as store_module

            for st in store_module._stores.values():
                st.engine.dispose()
            store_module._stores.clear()
            import psycopg

            with psycopg.connect(pg_admin, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


def submit(paths: list[str]) -> str:
    from tallyscan.service_cli import cmd_submit

    args = argparse.Namespace(inputs=paths, reprocess=False, requeue=False, quiet=True)
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        code = cmd_submit(args)
    if code != 0:
        raise SystemExit(f"submit failed with exit code {code}")
    return out.getvalue().strip().splitlines()[-1]


def wait_finished(url: str, batch: str, total: int, timeout: float) -> dict[str, int]:
    from tallyscan.store import open_store

    store = open_store(url)
    deadline = time.monotonic() + timeout
    counts = store.counts(batch)
    while time.monotonic() < deadline:
        counts = store.counts(batch)
        if sum(counts.values()) == total and counts["queued"] + counts["running"] == 0:
            break
        time.sleep(0.25)
    return counts


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


# --------------------------------------------------------------------------- #


def run_throughput(inputs: list[str], processes: list[int], pg_admin: str | None) -> list[dict]:
    from tallyscan.ingest import expand_inputs
    from tallyscan.settings import Settings

    n_docs = len(expand_inputs(inputs, Settings()))
    rows = []
    for n in processes:
        with ExitStack() as stack:
            tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="tallyscan-bench-")))
            env, _redis, url = stack.enter_context(service(tmp, pg_admin))
            worker = Worker("bench", n, env, tmp / "worker.log")
            worker.start()
            stack.callback(worker.stop)
            worker.wait_ready()
            load_before = load()
            cpu_before = worker.cpu_seconds()
            started = time.perf_counter()
            batch = submit(inputs)
            counts = wait_finished(url, batch, n_docs, timeout=1800)
            seconds = time.perf_counter() - started
            cores_used = (worker.cpu_seconds() - cpu_before) / seconds
            from tallyscan.store import open_store

            cpu = sum(r.seconds for r in open_store(url).results(batch))
            rows.append({"processes": n, "documents": n_docs, "done": counts["done"],
                         "failed": counts["failed"], "seconds": round(seconds, 1),
                         "docs_per_minute": round(n_docs / seconds * 60, 1),
                         "document_seconds": round(cpu, 1), "cores_used": round(cores_used, 2),
                         "load_before": load_before})
            print(json.dumps(rows[-1]), file=sys.stderr)
    return rows


def synthetic_reports(folder: Path, count: int, start: int = 1000) -> list[str]:
    """``count`` distinct reports: every 5th a clean/mild scan, the rest born-digital."""
    from tallyscan.synth import make_report

    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        seed = start + i
        if i % 5 == 4:
            pdf = make_report(seed, kind="scan", level="clean" if i % 2 else "mild")[0]
        else:
            pdf = make_report(seed, version="2019" if i % 3 == 0 else "2021")[0]
        path = folder / f"synthetic{seed}.pdf"
        path.write_bytes(pdf)
        paths.append(str(path))
    return paths


def run_faults(inputs: list[str], synthetic: int, pg_admin: str | None) -> dict[str, Any]:
    from tallyscan.ingest import expand_inputs
    from tallyscan.settings import Settings
    from tallyscan.store import open_store

    limits = {"TALLYSCAN_SOFT_TIME_LIMIT": "30", "TALLYSCAN_HARD_TIME_LIMIT": "40",
              "TALLYSCAN_VISIBILITY_TIMEOUT": "45", "TALLYSCAN_SWEEP_INTERVAL": "5"}
    events: list[str] = []
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="tallyscan-faults-")))
        print(f"generating {synthetic} synthetic reports ...", file=sys.stderr)
        paths = list(inputs) + synthetic_reports(tmp / "synthetic", synthetic)
        n_docs = len(expand_inputs(paths, Settings()))
        env, redis, url = stack.enter_context(service(tmp, pg_admin, limits))
        workers = [Worker(f"fault{i}", 1, env, tmp / f"worker{i}.log") for i in (1, 2)]
        for w in workers:
            w.start()
            stack.callback(w.stop)
        for w in workers:
            w.wait_ready()
        t0 = time.perf_counter()
        batch = submit(paths)
        store = open_store(url)

        def note(what: str) -> None:
            c = store.counts(batch)
            events.append(f"t={time.perf_counter() - t0:5.1f}s {what} (queued {c['queued']}, "
                          f"running {c['running']}, done {c['done']}, failed {c['failed']}, "
                          f"broker queue {redis.queue_length('bench')})")
            print(events[-1], file=sys.stderr)

        def at(seconds: float) -> None:
            time.sleep(max(0.0, t0 + seconds - time.perf_counter()))

        note("submitted")
        at(6)
        workers[0].kill_pool_process()
        note("kill -9 of a pool process of worker 1")
        at(12)
        workers[1].kill_all()
        note("kill -9 of the whole worker 2 (main and pool)")
        at(15)
        workers[1].start()
        note("worker 2 restarted")
        at(20)
        queued = redis.queue_length("bench")
        redis.stop()
        redis.start()
        note(f"Redis restarted without persistence ({queued} queued messages dropped)")
        at(30)
        workers[1].kill_pool_process()
        note("kill -9 of a pool process of worker 2")
        at(36)
        workers[0].kill_all()
        note("kill -9 of the whole worker 1")
        at(40)
        workers[0].start()
        note("worker 1 restarted")
        counts = wait_finished(url, batch, n_docs, timeout=1500)
        seconds = time.perf_counter() - t0
        note("finished" if counts["queued"] + counts["running"] == 0 else "gave up waiting")
        rows = store.documents(batch)
        report = {
            "submitted": n_docs, "done": counts["done"], "failed": counts["failed"],
            "lost": n_docs - counts["done"] - counts["failed"],
            "duplicated": store.duplicate_cells(),
            "processed_more_than_once": sum(1 for r in rows if r.attempts > 1),
            "crash_counted": sum(r.crashes for r in rows),
            "failed_codes": sorted({r.error_code for r in rows if r.state == "failed"}),
            "seconds": round(seconds, 1), "events": events,
        }
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tallyscan.bench_service",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("mode", choices=("throughput", "faults"))
    parser.add_argument("inputs", nargs="+", help="documents (e.g. ../shared/devset)")
    parser.add_argument("--processes", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--synthetic", type=int, default=100,
                        help="(faults) distinct generated reports added to the inputs")
    parser.add_argument("--pg-admin", default=None, metavar="URL",
                        help="PostgreSQL to create a throw-away database on, e.g. "
                             "postgresql://postgres@127.0.0.1:5432/postgres (default: SQLite)")
    args = parser.parse_args(argv)
    print(f"load average before: {load()} on {os.cpu_count()} cores", file=sys.stderr)
    if args.mode == "throughput":
        rows = run_throughput(args.inputs, args.processes, args.pg_admin)
        print("| pool processes | documents | done | failed | seconds | documents/minute "
              "| sum of document seconds | CPU cores the worker got | load before |")
        print("|---|---|---|---|---|---|---|---|---|")
        for r in rows:
            print(f"| {r['processes']} | {r['documents']} | {r['done']} | {r['failed']} | "
                  f"{r['seconds']} | {r['docs_per_minute']} | {r['document_seconds']} | "
                  f"{r['cores_used']} | {r['load_before']} |")
        best: dict[int, float] = {}
        for r in rows:
            best[r["processes"]] = max(best.get(r["processes"], 0.0), r["docs_per_minute"])
        if len(best) >= 2:
            base = min(best)
            print("\nbest of the runs: " + ", ".join(
                f"{n} process{'es' if n > 1 else ''} {best[n]} documents/minute "
                f"({best[n] / best[base]:.2f}x)" for n in sorted(best)))
    else:
        report = run_faults(args.inputs, args.synthetic, args.pg_admin)
        print("| submitted | done | failed | lost | duplicated | processed more than once "
              "| seconds |")
        print("|---|---|---|---|---|---|---|")
        print(f"| {report['submitted']} | {report['done']} | {report['failed']} | "
              f"{report['lost']} | {report['duplicated']} | {report['processed_more_than_once']} "
              f"| {report['seconds']} |")
        print("\nfailed codes: " + (", ".join(report["failed_codes"]) or "none"))
        print("\nevents:")
        for e in report["events"]:
            print(f"- {e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
