"""Serving latency and throughput: the real `bentoml serve` service against a plain reference.

In a scratch state dir (never ./.spendlens) the state is bootstrapped exactly like `make up`
(`spendlens init`, `rules import --starter`, `demo`, `train --if-no-champion --promote`), an
API key is created, then two servers run on free loopback ports:

- spendlens: `bentoml serve serving.service:Spendlens` (1 worker: rules, normalization, the
  champion model, Feast online features, API-key check and one decision-log INSERT per request);
- reference: benchmarks/reference_service.py, FastAPI + TF-IDF/LogisticRegression trained on the
  same labels, uvicorn with 1 worker.

Both are driven by the same load tool: a minimal asyncio HTTP/1.1 client with one keep-alive
connection per concurrent worker and prebuilt request bytes (httpx spent a whole core at ~300
requests/s here and capped both servers); latency is measured client-side around each request,
after a warm-up. Each phase alternates between the two servers in `SLICES` slices (the shared
machine's load comes in bursts: run one after the other, a burst during one server's phase
skewed the ratio). Phases:
single requests at concurrency 1 and 16 (p50/p99 ms, req/s) and batches of 100 and 1,000
(transactions/s, one batch at a time). Service memory is the RSS of the server process and all
its children (shared pages are counted once per process, so it overstates a little).

Knobs (environment): SPENDLENS_BENCH_QUICK=1 (or `python -m benchmarks.serving --quick`) for a
short verification run; SPENDLENS_BENCH_SERVING_STATE=DIR to keep and reuse a bootstrapped state
dir between runs (bootstrap is idempotent: a second run skips training); SPENDLENS_BENCH_PROFILE=1
(`--profile`) adds an in-process profile of one /categorize request (off by default: slow).
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
SERVICE = "serving.service:Spendlens"
START_TIMEOUT_S = 240.0  # bentoml serve needs ~16-19 s on an idle 2-core box, much more when busy
PAYLOAD_SEED = 11  # the demo data uses seed 7: requests are new transactions of the same kind
REQUEST_ROWS = 10_000  # distinct transactions: no phase sends one twice (see `measure`)
SLICES = 4  # each phase alternates between the two servers in this many slices

TARGETS: dict[str, float] = {
    "single_p99_ms_c1_max": 10.0,
    "single_throughput_ratio_min": 1.0,
    "batch_txn_per_s_ratio_min": 2.0,
    "service_rss_mb_max": 600.0,
}


@dataclass(frozen=True)
class Sizes:
    """How many requests each phase sends (after its warm-up)."""

    warmup: int
    single_c1: int
    single_c16: int
    batch_100: int
    batch_1000: int


FULL = Sizes(warmup=100, single_c1=1_000, single_c16=2_000, batch_100=20, batch_1000=5)
QUICK = Sizes(warmup=30, single_c1=200, single_c16=400, batch_100=5, batch_1000=2)


@dataclass(frozen=True)
class Phase:
    """Client-side numbers of one phase against one server."""

    requests: int
    errors: int
    concurrency: int
    batch_size: int
    elapsed_s: float
    p50_ms: float
    p99_ms: float
    req_per_s: float
    txn_per_s: float
    first_error: str | None = None


def _say(message: str) -> None:
    sys.stderr.write(f"[serving] {message}\n")
    sys.stderr.flush()


def _bin(name: str) -> str:
    """A console script of this interpreter's environment (the venv's spendlens, bentoml)."""
    return str(Path(sys.executable).parent / name)


def free_port() -> int:
    """A TCP port that was free on loopback a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def scratch_env(state: Path) -> dict[str, str]:
    """This process' environment with every tool's state under `state`, offline.

    Inherited SPENDLENS_* variables are dropped so that nothing (a DATABASE_URL, a tracking
    URI) points the benchmark at the user's own state.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("SPENDLENS_")}
    env.update(
        SPENDLENS_STATE_DIR=str(state),
        BENTOML_HOME=str(state / "bentoml"),
        BENTOML_DO_NOT_TRACK="true",
        MLFLOW_DISABLE_TELEMETRY="true",
        DO_NOT_TRACK="true",
        MPLCONFIGDIR=str(state / "mpl"),
        PYTHONUNBUFFERED="1",
    )
    return env


def bootstrap(env: dict[str, str]) -> tuple[str, dict[str, float]]:
    """`make up`'s bootstrap steps plus an API key; returns (key, seconds per step)."""
    steps = [
        ["init"],
        ["rules", "import", "--starter"],
        ["demo"],
        ["train", "--if-no-champion", "--promote"],
        ["keys", "create", "bench", "--scope", "categorize"],
    ]
    timings: dict[str, float] = {}
    out = ""
    for step in steps:
        _say("spendlens " + " ".join(step))
        started = time.perf_counter()
        done = subprocess.run(  # noqa: S603 -- our own venv's CLI, fixed arguments
            [_bin("spendlens"), *step],
            check=False,
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
        )
        timings[step[0]] = round(time.perf_counter() - started, 1)
        if done.returncode != 0:
            raise RuntimeError(
                f"spendlens {' '.join(step)} failed ({done.returncode}):\n"
                f"{done.stdout[-2000:]}{done.stderr[-2000:]}"
            )
        out = done.stdout
    keys = [line.strip() for line in out.splitlines() if line.strip().startswith("sl_")]
    if not keys:
        raise RuntimeError(f"no key in the output of `spendlens keys create`:\n{out}")
    return keys[0], timings


def export_labels(state: Path, out: Path) -> int:
    """Write the default tenant's labeled transactions as `description,label`; returns rows."""
    from spendlens.frames import load_frames, training_frame  # noqa: PLC0415
    from spendlens.settings import Settings  # noqa: PLC0415
    from spendlens.storage.db import engine_from_settings, session_factory  # noqa: PLC0415

    settings = Settings(state_dir=state)
    engine = engine_from_settings(settings)
    try:
        with session_factory(engine)() as session:
            frames = load_frames(session, settings.default_tenant)
    finally:
        engine.dispose()
    labeled = training_frame(frames.txns, frames.labels)
    with out.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["description", "label"])
        writer.writerows(zip(labeled["description"], labeled["label"], strict=True))
    return len(labeled)


def request_bodies(rows: int, seed: int = PAYLOAD_SEED) -> list[dict[str, Any]]:
    """/categorize bodies of generated transactions (the demo's generator, another seed)."""
    from spendlens.generate import generate_transactions, signed_amount  # noqa: PLC0415

    bodies = []
    for txn in generate_transactions(rows, seed=seed):
        body: dict[str, Any] = {
            "description": txn.description,
            "amount": signed_amount(txn),
            "currency": txn.currency,
            "date": txn.date.isoformat(),
        }
        if txn.mcc:
            body["mcc"] = txn.mcc
        bodies.append(body)
    return bodies


@dataclass
class Server:
    """A server process of this run, in its own process group, with its log file."""

    name: str
    process: subprocess.Popen[bytes]
    base_url: str
    log: Path

    def tail(self, lines: int = 30) -> str:
        """The end of its log, for error messages."""
        try:
            text = self.log.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def rss_mb(self) -> float:
        """RSS of the process and all its children, in MB."""
        import psutil  # type: ignore[import-untyped]  # noqa: PLC0415 -- no stubs in the lock

        try:
            root = psutil.Process(self.process.pid)
            procs = [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return 0.0
        total = 0
        for proc in procs:
            with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
                total += proc.memory_info().rss
        return round(total / 2**20, 1)

    def stop(self) -> None:
        """SIGTERM its process group (the server and its workers), SIGKILL after 15 s."""
        if self.process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=5)


def start_server(
    name: str, argv: Sequence[str], env: dict[str, str], port: int, logs: Path
) -> Server:
    """Start `argv` in a new session (so stop() takes its children down too)."""
    log = logs / f"{name}.log"
    handle: IO[bytes] = log.open("wb")
    try:
        process = subprocess.Popen(  # noqa: S603 -- fixed argv of our own interpreter/venv
            list(argv),
            env=env,
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    finally:
        handle.close()  # the child holds its own descriptor
    return Server(name, process, f"http://{HOST}:{port}", log)


def wait_until_healthy(server: Server, path: str, timeout_s: float = START_TIMEOUT_S) -> float:
    """Poll `path` until it answers 200; returns the seconds it took.

    Raises:
        RuntimeError: the process exited or did not answer within `timeout_s`.
    """
    import httpx  # noqa: PLC0415

    started = time.perf_counter()
    while time.perf_counter() - started < timeout_s:
        if server.process.poll() is not None:
            raise RuntimeError(
                f"{server.name} exited ({server.process.returncode}) during start-up:\n"
                + server.tail()
            )
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(server.base_url + path, timeout=2).status_code == 200:
                return round(time.perf_counter() - started, 1)
        time.sleep(0.5)
    raise RuntimeError(
        f"{server.name} did not answer {path} in {timeout_s:.0f} s:\n{server.tail()}"
    )


def _percentile(values: Sequence[float], q: float) -> float:
    import numpy as np  # noqa: PLC0415

    return round(float(np.percentile(np.asarray(values) * 1000.0, q)), 2) if values else 0.0


class _Connection:
    """One keep-alive HTTP/1.1 connection that POSTs prebuilt requests (the load tool).

    Deliberately minimal: httpx's AsyncClient spent a whole core at ~300 requests/s on this
    2-core machine, so it, not the server under test, set the concurrency-16 rate of both
    servers. This client builds each request's bytes once and parses only the status line,
    Content-Length (or chunked framing) and the body.
    """

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, host: str, port: int) -> _Connection:
        reader, writer = await asyncio.open_connection(host, port)
        return cls(reader, writer)

    async def post(self, request: bytes) -> tuple[int, bytes]:
        """Send one prebuilt request; its (status, body)."""
        self.writer.write(request)
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers = {
            name.strip().lower(): value.strip()
            for name, _, value in (line.partition(":") for line in lines[1:] if line)
        }
        if "content-length" in headers:
            return status, await self.reader.readexactly(int(headers["content-length"]))
        if headers.get("transfer-encoding", "").lower() == "chunked":
            body = bytearray()
            while size := int((await self.reader.readuntil(b"\r\n")).strip(), 16):
                body += await self.reader.readexactly(size)
                await self.reader.readexactly(2)
            await self.reader.readuntil(b"\r\n")
            return status, bytes(body)
        raise RuntimeError(f"a response without Content-Length or chunked framing: {head!r}")

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(OSError):
            await self.writer.wait_closed()


def http_post(url: str, headers: dict[str, str], body: bytes) -> bytes:
    """The bytes of an HTTP/1.1 keep-alive POST of `body` to `url`."""
    parts = urlsplit(url)
    lines = [
        f"POST {parts.path} HTTP/1.1",
        f"Host: {parts.netloc}",
        *(f"{name}: {value}" for name, value in headers.items()),
        f"Content-Length: {len(body)}",
        "",
        "",
    ]
    return "\r\n".join(lines).encode("latin-1") + body


@dataclass
class _Run:
    """Raw client-side results of sending some requests to one server."""

    latencies: list[float]
    elapsed_s: float
    errors: int
    first_error: str | None


async def _drive(
    url: str, headers: dict[str, str], bodies: Sequence[bytes], total: int, concurrency: int
) -> _Run:
    """Send `total` requests from `concurrency` keep-alive connections, one request each at a
    time; latency is taken around each request."""
    parts = urlsplit(url)
    requests = [http_post(url, headers, body) for body in bodies]
    latencies: list[float] = []
    errors = 0
    first_error: str | None = None
    sent = 0
    connections = [
        await _Connection.open(parts.hostname or HOST, parts.port or 80) for _ in range(concurrency)
    ]

    async def worker(connection: _Connection) -> None:
        nonlocal sent, errors, first_error
        while sent < total:
            request = requests[sent % len(requests)]
            sent += 1
            started = time.perf_counter()
            status, body = await connection.post(request)
            latencies.append(time.perf_counter() - started)
            if status != 200:
                errors += 1
                first_error = first_error or f"{status} {body[:300].decode(errors='replace')}"

    try:
        started = time.perf_counter()
        await asyncio.wait_for(asyncio.gather(*(worker(c) for c in connections)), 600.0)
        elapsed = time.perf_counter() - started
    finally:
        for connection in connections:
            await connection.close()
    return _Run(latencies, elapsed, errors, first_error)


def _phase(runs: Sequence[_Run], concurrency: int, batch_size: int) -> Phase:
    """One phase's numbers from its slices (latencies pooled, time summed)."""
    latencies = [latency for run in runs for latency in run.latencies]
    elapsed = sum(run.elapsed_s for run in runs)
    total = len(latencies)
    return Phase(
        requests=total,
        errors=sum(run.errors for run in runs),
        concurrency=concurrency,
        batch_size=batch_size,
        elapsed_s=round(elapsed, 3),
        p50_ms=_percentile(latencies, 50),
        p99_ms=_percentile(latencies, 99),
        req_per_s=round(total / elapsed, 1) if elapsed else 0.0,
        txn_per_s=round(total * batch_size / elapsed, 1) if elapsed else 0.0,
        first_error=next((run.first_error for run in runs if run.first_error), None),
    )


def _slices(total: int, count: int) -> list[int]:
    """`total` requests split into up to `count` near-equal slices (none empty)."""
    count = max(1, min(count, total))
    return [total // count + (1 if i < total % count else 0) for i in range(count)]


def measure(
    servers: dict[str, Server],
    headers: dict[str, str],
    rows: Sequence[dict[str, Any]],
    sizes: Sizes,
) -> tuple[dict[str, dict[str, Phase]], dict[str, float]]:
    """Every phase against every server; returns (phases by server, max RSS MB by server).

    The machine is shared and its load comes in bursts, so a phase is not run on one server
    and then on the other: it alternates between them in `SLICES` slices (each warmed up
    first, the server that goes first alternating too), and both see the same bodies, in the
    same order, under the same conditions.
    """
    # Every request body is distinct (consecutive slices of `rows`), and the warm-ups send the
    # last ones: a repeated text or batch would be served from the service's memos.
    single = [json.dumps(r).encode() for r in rows]
    batches = {
        n: [
            json.dumps({"transactions": list(rows[k * n : (k + 1) * n])}).encode()
            for k in range(len(rows) // n)
        ]
        for n in (100, 1000)
    }
    plan: list[tuple[str, str, list[bytes], int, int, int, int]] = [
        # name, path, bodies, requests, concurrency, batch size, warm-up requests
        ("single_c1", "/categorize", single, sizes.single_c1, 1, 1, sizes.warmup),
        (
            "single_c16",
            "/categorize",
            single[sizes.single_c1 :],
            sizes.single_c16,
            16,
            1,
            sizes.warmup,
        ),
        ("batch_100", "/categorize_batch", batches[100], sizes.batch_100, 1, 100, 2),
        ("batch_1000", "/categorize_batch", batches[1000], sizes.batch_1000, 1, 1000, 1),
    ]
    names = list(servers)
    phases: dict[str, dict[str, Phase]] = {name: {} for name in names}
    rss = {name: server.rss_mb() for name, server in servers.items()}
    for phase, path, bodies, total, concurrency, size, warmup in plan:
        _say(f"{phase}: {total} requests, concurrency {concurrency}, in slices across {names}")
        for server in servers.values():
            asyncio.run(_drive(server.base_url + path, headers, bodies[::-1], warmup, concurrency))
        runs: dict[str, list[_Run]] = {name: [] for name in names}
        start = 0
        for number, count in enumerate(_slices(total, SLICES)):
            part = bodies[start : start + count]
            start += count
            for name in names if number % 2 == 0 else names[::-1]:
                url = servers[name].base_url + path
                runs[name].append(asyncio.run(_drive(url, headers, part, count, concurrency)))
            rss = {name: max(rss[name], server.rss_mb()) for name, server in servers.items()}
        for name in names:
            done = phases[name][phase] = _phase(runs[name], concurrency, size)
            _say(
                f"{name}: {phase} p50 {done.p50_ms} ms, p99 {done.p99_ms} ms, "
                f"{done.req_per_s} req/s, {done.txn_per_s} txn/s, {done.errors} errors"
            )
    return phases, rss


def _ratio(a: float, b: float) -> float | None:
    return round(a / b, 2) if b else None


def compare(spendlens: dict[str, Phase], reference: dict[str, Phase]) -> dict[str, Any]:
    """spendlens / reference for every phase (latency: lower is better; rates: higher)."""
    out: dict[str, Any] = {}
    for name, ours in spendlens.items():
        ref = reference[name]
        out[name] = {
            "p50": _ratio(ours.p50_ms, ref.p50_ms),
            "p99": _ratio(ours.p99_ms, ref.p99_ms),
            "throughput": _ratio(ours.txn_per_s, ref.txn_per_s),
        }
    return out


def verdict(
    spendlens: dict[str, Phase], ratios: dict[str, Any], rss_mb: float
) -> dict[str, dict[str, Any]]:
    """Each target with the measured value and whether it is met."""

    def check(value: float | None, ok: bool) -> dict[str, Any]:
        return {"value": value, "met": ok}

    p99 = spendlens["single_c1"].p99_ms
    single = [ratios[n]["throughput"] for n in ("single_c1", "single_c16")]
    batch = [ratios[n]["throughput"] for n in ("batch_100", "batch_1000")]
    errors = sum(p.errors for p in spendlens.values())
    return {
        "single_p99_ms_c1 < 10": check(p99, p99 < TARGETS["single_p99_ms_c1_max"]),
        # Both concurrencies must keep up with the reference.
        "single_req_per_s_ratio >= 1.0 (min of c1, c16)": check(
            min((r for r in single if r is not None), default=None),
            all(r is not None and r >= TARGETS["single_throughput_ratio_min"] for r in single),
        ),
        "batch_txn_per_s_ratio >= 2.0 (min of 100, 1000)": check(
            min((r for r in batch if r is not None), default=None),
            all(r is not None and r >= TARGETS["batch_txn_per_s_ratio_min"] for r in batch),
        ),
        "service_rss_mb < 600": check(rss_mb, rss_mb < TARGETS["service_rss_mb_max"]),
        "no_errors": check(errors, errors == 0),
    }


@contextlib.contextmanager
def state_dir() -> Iterator[Path]:
    """SPENDLENS_BENCH_SERVING_STATE (kept) or a temporary dir (removed); never ./.spendlens."""
    kept = os.environ.get("SPENDLENS_BENCH_SERVING_STATE")
    if kept:
        path = Path(kept).expanduser().resolve()
        if path == (ROOT / ".spendlens").resolve():
            raise RuntimeError("the serving benchmark never runs in the project's ./.spendlens")
        path.mkdir(parents=True, exist_ok=True)
        yield path
        return
    tmp = Path(tempfile.mkdtemp(prefix="spendlens-bench-serving-"))
    try:
        yield tmp / "state"
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _flag(name: str, argv: Sequence[str], default: bool = False) -> bool:
    env = os.environ.get(f"SPENDLENS_BENCH_{name.upper()}")
    if f"--{name}" in argv:
        return True
    return env.lower() in {"1", "true", "yes"} if env else default


def run(argv: Sequence[str] = ()) -> dict[str, Any]:
    """Bootstrap, serve both, measure both, stop both; the numbers, ratios and targets."""
    quick = _flag("quick", argv)
    sizes = QUICK if quick else FULL
    servers: list[Server] = []
    with state_dir() as state:
        state.mkdir(parents=True, exist_ok=True)
        logs = state / "bench-logs"
        logs.mkdir(exist_ok=True)
        env = scratch_env(state)
        try:
            key, boot_s = bootstrap(env)
            labels_csv = state / "bench-labels.csv"
            labeled = export_labels(state, labels_csv)
            rows = request_bodies(REQUEST_ROWS)

            ours_port, ref_port = free_port(), free_port()
            _say(f"starting bentoml serve on {ours_port} and the reference on {ref_port}")
            ours = start_server(
                "spendlens",
                [_bin("bentoml"), "serve", SERVICE, "--host", HOST, "--port", str(ours_port)],
                env,
                ours_port,
                logs,
            )
            servers.append(ours)
            reference = start_server(
                "reference",
                [
                    sys.executable,
                    "-m",
                    "benchmarks.reference_service",
                    "--data",
                    str(labels_csv),
                    "--port",
                    str(ref_port),
                ],
                env,
                ref_port,
                logs,
            )
            servers.append(reference)
            ready_s = {
                "spendlens": wait_until_healthy(ours, "/readyz"),
                "reference": wait_until_healthy(reference, "/healthz"),
            }
            idle = {"spendlens": ours.rss_mb(), "reference": reference.rss_mb()}
            headers = {"content-type": "application/json", "authorization": f"Bearer {key}"}
            measured, peak = measure(
                {"spendlens": ours, "reference": reference}, headers, rows, sizes
            )
            ours_phases, ref_phases = measured["spendlens"], measured["reference"]
            ours_rss, ref_rss = peak["spendlens"], peak["reference"]
        finally:
            for server in servers:
                _say(f"stopping {server.name}")
                server.stop()
        ratios = compare(ours_phases, ref_phases)
        result: dict[str, Any] = {
            "quick": quick,
            "sizes": asdict(sizes),
            "bootstrap_s": boot_s,
            "labeled_rows": labeled,
            "ready_s": ready_s,
            "rss_mb": {
                "spendlens_idle": idle["spendlens"],
                "spendlens_max": ours_rss,
                "reference_idle": idle["reference"],
                "reference_max": ref_rss,
            },
            "spendlens": {n: asdict(p) for n, p in ours_phases.items()},
            "reference": {n: asdict(p) for n, p in ref_phases.items()},
            "ratios_spendlens_over_reference": ratios,
            "targets": verdict(ours_phases, ratios, ours_rss),
            "note": "one client process on the same (shared, 2-core) machine; numbers are noisy",
        }
        if _flag("profile", argv):
            try:
                result["profile"] = profile(state)
            except Exception as exc:  # the measured numbers above must still be printed
                result["profile"] = {"error": f"{type(exc).__name__}: {exc}"}
    return result


def profile(state: Path, requests: int = 300) -> dict[str, Any]:
    """Where one /categorize request's time goes, in-process, on a bootstrapped state dir.

    The stages the service runs per request are timed one by one (median ms over the requests
    the model decides, single-transaction calls after a warm-up), then `decide` + the
    decision-log write run under cProfile; the top functions by cumulative time are listed.
    """
    from serving.decisions import SqlDecisionLog  # noqa: PLC0415
    from serving.runtime import Categorizer  # noqa: PLC0415
    from serving.schemas import CategorizeRequest  # noqa: PLC0415
    from spendlens.settings import Settings  # noqa: PLC0415
    from spendlens.storage.db import engine_from_settings, session_factory  # noqa: PLC0415

    _say("profiling Categorizer.decide + the decision-log write in-process")
    settings = Settings(state_dir=state)
    categorizer = Categorizer.from_settings(settings)
    if categorizer.model is None:
        return {"skipped": "no champion model in the state dir"}
    engine = engine_from_settings(settings)
    try:
        log = SqlDecisionLog(session_factory(engine), settings)
        bodies = [CategorizeRequest.model_validate(b) for b in request_bodies(requests)]
        # Warm-up (Feast opens its store on first use) and the split rules / model.
        by_model = [r for r in bodies if categorizer.decide([r])[0][0].source.value == "model"]
        sample = by_model or bodies
        result: dict[str, Any] = {
            "requests": len(sample),
            "model_decided_share": round(len(by_model) / len(bodies), 2),
            "stage_median_ms": _stage_timings(categorizer, log, sample),
            "top_cumulative": _cprofile_top(categorizer, log, sample),
        }
    finally:
        engine.dispose()
    return result


def _stage_timings(categorizer: Any, log: Any, sample: Sequence[Any]) -> dict[str, float]:
    """Median ms per stage of one single-transaction request (private stages of Categorizer)."""
    import statistics  # noqa: PLC0415

    from serving.decisions import DecisionRecord  # noqa: PLC0415
    from serving.schemas import CategorizeRequest  # noqa: PLC0415

    stages: dict[str, list[float]] = {}
    for request in sample:
        marks = [time.perf_counter()]
        CategorizeRequest.model_validate(request.model_dump(mode="json"))
        marks.append(time.perf_counter())
        normalized = [categorizer._normalize(0, request)]
        marks.append(time.perf_counter())
        categorizer._evaluate_rules([request], normalized)
        marks.append(time.perf_counter())
        frame = categorizer.model_input([request], normalized)
        marks.append(time.perf_counter())
        categorizer.model.model.predict_proba(frame)
        marks.append(time.perf_counter())
        ((response, inputs),) = categorizer.decide([request])
        marks.append(time.perf_counter())
        record = DecisionRecord.of(categorizer.tenant, request, response, inputs)
        marks.append(time.perf_counter())
        log.record([record])
        marks.append(time.perf_counter())
        names = (
            "validate_request",
            "normalize",
            "rules",
            "model_input_with_online_features",
            "predict_proba",
            "decide_total",
            "decision_record",
            "decision_log_insert",
        )
        for name, begin, end in zip(names, marks[:-1], marks[1:], strict=True):
            stages.setdefault(name, []).append((end - begin) * 1000.0)
    return {k: round(statistics.median(v), 3) for k, v in stages.items()}


def _cprofile_top(
    categorizer: Any, log: Any, sample: Sequence[Any], top: int = 25
) -> list[dict[str, Any]]:
    """The `top` functions by cumulative time of decide + log write, per request."""
    import cProfile  # noqa: PLC0415
    import pstats  # noqa: PLC0415

    from serving.decisions import DecisionRecord  # noqa: PLC0415

    profiler = cProfile.Profile()
    profiler.enable()
    for request in sample:
        ((response, inputs),) = categorizer.decide([request])
        log.record([DecisionRecord.of(categorizer.tenant, request, response, inputs)])
    profiler.disable()
    table: dict[Any, Any] = pstats.Stats(profiler).stats  # type: ignore[attr-defined]  # untyped
    calls = len(sample)
    ranked = sorted(table.items(), key=lambda item: -item[1][3])[:top]
    return [
        {
            "function": f"{Path(filename).name}:{line}({function})",
            "calls_per_request": round(ncalls / calls, 1),
            "cum_ms_per_request": round(cumtime * 1000.0 / calls, 3),
            "own_ms_per_request": round(tottime * 1000.0 / calls, 3),
        }
        for (filename, line, function), (_, ncalls, tottime, cumtime, _) in ranked
    ]


def main(argv: Sequence[str]) -> int:
    """`python -m benchmarks.serving [--quick] [--profile]`: print the result as JSON."""
    sys.stdout.write(json.dumps(run(argv), indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
