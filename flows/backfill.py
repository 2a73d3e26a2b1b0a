"""The `backfill` Prefect flow: re-categorize a tenant's stored transactions on Dask, or locally.

Only orchestration: the work is `serving.backfill`. On Dask, the run is opened (or resumed) and
planned as id ranges, chunks are decided in parallel on Dask workers, and their commits are
chained in id order (each waits for the previous), because a run's cursor only moves forward over
committed chunks: that keeps a crashed run resumable after its last committed chunk. Workers
share only the database; each loads the run's pinned model version, rules and features once per
process. The local runner is `serving.backfill.run_backfill` with worker processes: the same
chunks, cursor and commits, without a scheduler between them.
"""

from __future__ import annotations

import datetime as dt
import os
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NONE

from serving.backfill import (
    DEFAULT_CHUNK_SIZE,
    BackfillError,
    ChunkBounds,
    ChunkDecisions,
    ChunkResult,
    RunInfo,
    Scope,
    Versions,
)
from spendlens.settings import Settings

if TYPE_CHECKING:
    from prefect.task_runners import TaskRunner

    from serving.backfill import Resources

IO_RETRIES, IO_RETRY_DELAY_S = 2, 3
# Chunks decided ahead of the commit chain: bounds the memory of decided-but-uncommitted chunks.
WINDOW = 8


def transient(task: Any, task_run: Any, state: Any) -> bool:
    """Retry what a retry can fix (a locked database, a dropped connection), not a bad run."""
    from training.registry import RegistryError  # noqa: PLC0415

    error = state.result(raise_on_failure=False)
    return not isinstance(error, BackfillError | RegistryError | ValueError)


@dataclass(frozen=True)
class RunPlan:
    """The run a flow works on and its remaining chunks."""

    run: RunInfo
    versions: Versions
    chunks: tuple[ChunkBounds, ...]


_lock = threading.Lock()
_resources_lock = threading.Lock()
_loaded: dict[tuple[Any, ...], Resources] = {}
_factories: dict[str, Any] = {}


def _sessions(settings: Settings) -> Any:
    """A session factory per database and process (migrated once): tasks run many chunks."""
    from spendlens.storage.db import engine_from_settings, migrate, session_factory  # noqa: PLC0415

    url = settings.resolved_database_url
    with _lock:
        if url not in _factories:
            engine = engine_from_settings(settings)
            migrate(engine)
            _factories[url] = session_factory(engine)
        return _factories[url]


def resources_for(settings: Settings, scope: Scope, run_id: str, versions: Versions) -> Resources:
    """The run's resources, loaded once per worker process (threads of a worker share them)."""
    from serving.backfill import load_resources  # noqa: PLC0415

    key = (settings.resolved_database_url, scope, run_id, versions)
    with _resources_lock:
        if key not in _loaded:
            _loaded.clear()  # one run at a time per worker: drop the previous run's model
            _loaded[key] = load_resources(
                settings, _sessions(settings), scope.tenant, scope.taxonomy, pinned=versions
            )
        return _loaded[key]


@task(
    retries=IO_RETRIES,
    retry_delay_seconds=IO_RETRY_DELAY_S,
    retry_condition_fn=transient,
    cache_policy=NONE,
)
def plan_run(
    settings: Settings, scope: Scope, chunk_size: int, resume: str | None, fresh: bool
) -> RunPlan:
    """Open (or resume) the run with the current champion and rules, and plan its chunks."""
    from serving.backfill import current_versions, open_run, plan_chunks  # noqa: PLC0415

    sessions = _sessions(settings)
    with sessions() as session:
        versions = current_versions(settings, session, scope.tenant, scope.taxonomy)
        run = open_run(session, scope, versions, resume=resume, fresh=fresh)
        pinned = Versions(run.model_name, run.model_version, run.rules_version or 0)
        chunks = () if run.status == "done" else plan_chunks(session, scope, run.cursor, chunk_size)
    return RunPlan(run, pinned, tuple(chunks))


@task(
    retries=IO_RETRIES,
    retry_delay_seconds=IO_RETRY_DELAY_S,
    retry_condition_fn=transient,
    cache_policy=NONE,
)
def decide_chunk(
    settings: Settings, scope: Scope, run_id: str, versions: Versions, bounds: ChunkBounds
) -> ChunkDecisions:
    """Read and decide one chunk (reads only, so it can run anywhere, in any order)."""
    from serving.backfill import compute_chunk  # noqa: PLC0415

    resources = resources_for(settings, scope, run_id, versions)
    with _sessions(settings)() as session:
        return compute_chunk(session, scope, bounds, resources)


@task(
    retries=IO_RETRIES,
    retry_delay_seconds=IO_RETRY_DELAY_S,
    retry_condition_fn=transient,
    cache_policy=NONE,
)
def commit_chunk(settings: Settings, run_id: str, decided: ChunkDecisions) -> ChunkResult:
    """Write a decided chunk's changes and move the run's cursor (skipped if done before)."""
    from serving.backfill import commit_chunk as commit  # noqa: PLC0415

    with _sessions(settings)() as session:
        return commit(session, run_id, decided)


@task(retries=IO_RETRIES, retry_delay_seconds=IO_RETRY_DELAY_S, cache_policy=NONE)
def finish_run(settings: Settings, run_id: str) -> RunInfo:
    """Mark the run done."""
    from serving.backfill import finish_run as finish  # noqa: PLC0415

    with _sessions(settings)() as session:
        return finish(session, run_id)


def dask_runner(
    address: str | None, workers: int | None = None, processes: bool = True
) -> TaskRunner[Any]:
    """A Dask task runner: the scheduler at `address`, else a temporary local cluster.

    The local cluster has `workers` workers (None: Dask sizes it to the machine's cores).
    """
    from prefect_dask.task_runners import DaskTaskRunner  # noqa: PLC0415

    if address:
        return DaskTaskRunner(address=address)
    cluster: dict[str, Any] = {"processes": processes}
    if workers is not None:
        cluster.update(n_workers=workers, threads_per_worker=1)
    return DaskTaskRunner(cluster_kwargs=cluster)


@flow(name="backfill-chunks")
def backfill_chunks(
    tenant: str,
    taxonomy: str,
    date_from: dt.date | None,
    date_until: dt.date | None,
    chunk_size: int,
    resume: str | None,
    fresh: bool,
) -> dict[str, Any]:
    """Plan, decide chunks in parallel, commit them in id order, finish (on the task runner)."""
    from serving.backfill import fail_run  # noqa: PLC0415

    # Settings are built here, not passed in: flow parameters are stored by Prefect.
    settings = Settings()
    scope = Scope(tenant, taxonomy, date_from, date_until)
    logger = get_run_logger()
    started = time.perf_counter()
    plan = plan_run.submit(settings, scope, chunk_size, resume, fresh).result()
    run = plan.run
    logger.info(
        "backfill run %s (%s) for %s: %d chunks to do",
        run.id,
        "resumed" if run.resumed else "new",
        scope,
        len(plan.chunks),
    )
    scanned, changed = run.scanned, run.changed
    try:
        pending: list[Any] = []
        previous = None
        for bounds in plan.chunks:
            decided = decide_chunk.submit(settings, scope, run.id, plan.versions, bounds)
            previous = commit_chunk.submit(
                settings,
                run.id,
                decided,
                return_state=False,
                wait_for=[previous] if previous else [],
            )
            pending.append(previous)
            while len(pending) > WINDOW:
                done: ChunkResult = pending.pop(0).result()
                scanned, changed = scanned + done.scanned, changed + done.changed
                logger.info("chunk %d: %d scanned, %d changed", done.bounds.index, scanned, changed)
        for future in pending:
            done = future.result()
            scanned, changed = scanned + done.scanned, changed + done.changed
            logger.info("chunk %d: %d scanned, %d changed", done.bounds.index, scanned, changed)
        finished = finish_run.submit(settings, run.id).result() if run.status != "done" else run
    except Exception as exc:
        with _sessions(settings)() as session:
            fail_run(session, run.id, f"{type(exc).__name__}: {exc}")
        raise
    return {
        "run_id": finished.id,
        "status": finished.status,
        "resumed": run.resumed,
        "superseded": run.superseded,
        "chunks": len(plan.chunks),
        "scanned": finished.scanned,
        "changed": finished.changed,
        "model": f"{finished.model_name}/{finished.model_version}" if finished.model_name else None,
        "rules_version": finished.rules_version,
        "seconds": round(time.perf_counter() - started, 3),
    }


def pinned_resources(settings: Settings, scope: Scope, versions: Versions) -> Resources:
    """The resources of exactly these versions (the decider processes get a copy)."""
    from serving.backfill import load_resources  # noqa: PLC0415

    return load_resources(
        settings, _sessions(settings), scope.tenant, scope.taxonomy, pinned=versions
    )


@task(cache_policy=NONE)
def backfill_here(
    settings: Settings,
    scope: Scope,
    chunk_size: int,
    resume: str | None,
    fresh: bool,
    deciders: int,
) -> dict[str, Any]:
    """The whole run on this machine: this process, a writer and `deciders` decider processes."""
    from serving.backfill import Processes, current_versions, run_backfill  # noqa: PLC0415

    logger = get_run_logger()
    started = time.perf_counter()
    sessions = _sessions(settings)
    with sessions() as session:
        versions = current_versions(settings, session, scope.tenant, scope.taxonomy)
    result = run_backfill(
        sessions,
        scope,
        pinned_resources(settings, scope, versions),
        chunk_size=chunk_size,
        resume=resume,
        fresh=fresh,
        processes=Processes(settings.resolved_database_url, deciders),
        progress=lambda p: logger.info(
            "chunk %d/%d: %d scanned, %d changed", p.chunk + 1, p.chunks, p.scanned, p.changed
        ),
    )
    run = result.run
    return {
        "run_id": run.id,
        "status": run.status,
        "resumed": run.resumed,
        "superseded": run.superseded,
        "chunks": result.chunks,
        "scanned": run.scanned,
        "changed": run.changed,
        "model": f"{run.model_name}/{run.model_version}" if run.model_name else None,
        "rules_version": run.rules_version,
        "seconds": round(time.perf_counter() - started, 3),
    }


@flow(name="backfill")
def backfill_flow(
    tenant: str = "default",
    taxonomy: str = "default",
    date_from: dt.date | None = None,
    date_until: dt.date | None = None,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    dask_address: str | None = None,
    resume: str | None = None,
    fresh: bool = False,
    workers: int | None = None,
    processes: bool = True,
    runner: Literal["dask", "local"] = "dask",
) -> dict[str, Any]:
    """Re-categorize a tenant's stored transactions with the champion and rules.

    `runner="dask"`: on the Dask cluster at `dask_address`, else on a temporary local one.
    `runner="local"`: on this machine without Dask: this process and `workers` - 1 more
    processes decide chunks (default: one per core), one more process commits.
    """
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be at least 1, got {chunk_size}")
    scope = Scope(tenant, taxonomy, date_from, date_until)  # bad dates fail here, before Dask
    if runner == "local":
        if dask_address:
            raise ValueError("the local runner does not use a Dask cluster: drop dask_address")
        deciders = max(0, (workers or os.cpu_count() or 1) - 1)
        return backfill_here(Settings(), scope, chunk_size, resume, fresh, deciders)
    task_runner = dask_runner(dask_address, workers, processes)
    on_dask = backfill_chunks.with_options(task_runner=task_runner)
    result: dict[str, Any] = on_dask(
        tenant, taxonomy, date_from, date_until, chunk_size, resume, fresh
    )
    return result
