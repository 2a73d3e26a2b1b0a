"""Backfill speed: re-categorize 1,000,000 stored transactions (SQLite) with a champion and rules.

Target: >= 20,000 transactions/s end to end on 2 cores. End to end counts what a backfill run
does: loading the tenant's history and building its point-in-time features, planning, reading
every chunk, rules, model, routing, and committing (every row is new, so every row is written
with its audit record). The compute part alone (rules + features join + model +
routing, no database I/O) is reported too, with the seconds of every phase. Chunk i+1 is
decided while chunk i commits, so the phases add up to more than the end to end time;
`commit_wait_s` is the part of the commits that was not hidden behind deciding.

Not counted: generating the transactions (20,000 generated and normalized rows, repeated with
new ids and dates shifted a week per repetition), bulk-inserting them, and fitting the small
champion (the linear candidate on 5,000 labeled rows, with a small platform prior cached in the
system temp dir across runs). The backfill runs in this process
(`serving.backfill.run_backfill`, what the flow's local runner calls) with a writer process and
one decider process, which gets a copy of the resources built here.
`SPENDLENS_BENCH_BACKFILL_ROWS` sets another size.
"""

from __future__ import annotations

import datetime as dt
import os
import pickle
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROWS = int(os.environ.get("SPENDLENS_BENCH_BACKFILL_ROWS", "1000000"))
BASE_ROWS, SEED, TRAIN_ROWS, CHUNK, PRIOR_ROWS = 20_000, 3, 5_000, 50_000, 2_000
DECIDERS = 1  # one more process deciding chunks: this machine has 2 cores
TARGET_PER_S = 20_000
TENANT = "bench"


def _say(message: str) -> None:
    sys.stderr.write(message + "\n")


def _insert(url: str, base: Any, rows: int) -> None:
    """`rows` transactions repeated from `base` (and its labels, once) bulk-inserted into `url`."""
    import numpy as np  # noqa: PLC0415
    from sqlalchemy import insert  # noqa: PLC0415

    from spendlens.storage.db import make_engine, migrate  # noqa: PLC0415
    from spendlens.storage.models import (  # noqa: PLC0415
        Account,
        IngestionBatch,
        Label,
        Taxonomy,
        Tenant,
        Transaction,
    )

    engine = make_engine(url)
    migrate(engine)
    rng = np.random.default_rng(SEED)
    now = dt.datetime.now(dt.UTC)
    batch = "b" * 32
    columns = {c: base[c].tolist() for c in base.columns}
    cents = (base["amount"] * 100).round().astype("int64").tolist()
    dates = base["event_timestamp"].dt.date.tolist()
    with engine.begin() as conn:
        conn.execute(insert(Tenant), [{"id": TENANT, "name": TENANT, "created_at": now}])
        accounts = {name: f"a{i:031d}" for i, name in enumerate(sorted(set(columns["account_id"])))}
        conn.execute(
            insert(Account),
            [
                {"id": i, "tenant_id": TENANT, "name": n, "created_at": now}
                for n, i in accounts.items()
            ],
        )
        conn.execute(
            insert(IngestionBatch),
            [{"id": batch, "tenant_id": TENANT, "source": "csv", "filename": "bench.csv"}],
        )
        taxonomy_id = conn.execute(
            insert(Taxonomy).returning(Taxonomy.id),
            [{"tenant_id": TENANT, "name": "default", "version": 1, "content_hash": "bench"}],
        ).scalar_one()
        written = 0
        while written < rows:
            n = min(len(base), rows - written)
            ids = [f"{a:016x}{b:016x}" for a, b in rng.integers(0, 2**63, size=(n, 2))]
            shift = dt.timedelta(days=7 * (written // len(base)))
            records = [
                {
                    "id": ids[k],
                    "tenant_id": TENANT,
                    "account_id": accounts[columns["account_id"][k]],
                    "batch_id": batch,
                    "source": "csv",
                    "txn_date": dates[k] + shift,
                    "posted_date": dates[k] + shift,
                    "description": columns["description"][k],
                    "merchant_name": columns["merchant_name"][k],
                    "merchant_id": columns["merchant_id"][k],
                    "amount_minor": cents[k],
                    "currency": columns["currency"][k],
                    "direction": columns["direction"][k],
                    "mcc": columns["mcc"][k],
                    "mcc_description": columns["mcc_description"][k],
                    "fingerprint": ids[k] * 2,
                    "created_at": now,
                }
                for k in range(n)
            ]
            conn.execute(insert(Transaction), records)
            if written == 0:
                conn.execute(
                    insert(Label),
                    [
                        {
                            "tenant_id": TENANT,
                            "transaction_id": ids[k],
                            "taxonomy_id": taxonomy_id,
                            "category": columns["label"][k],
                            "source": "import",
                            "created_at": now,
                        }
                        for k in range(n)
                    ],
                )
            written += n
    engine.dispose()


def _champion(base: Any) -> Any:
    """The linear candidate fitted on the first labeled rows (features from the rows' history)."""
    from serving.backfill import PointInTimeFeatures  # noqa: PLC0415
    from serving.runtime import ServingModel  # noqa: PLC0415
    from spendlens.frames import empty_labels  # noqa: PLC0415
    from training.candidates import LinearCandidate  # noqa: PLC0415
    from training.pipeline import model_input  # noqa: PLC0415
    from training.prior import load_or_fit_prior  # noqa: PLC0415

    train = base.iloc[:TRAIN_ROWS].reset_index(drop=True)
    txns = train.drop(columns=["label"])
    features = PointInTimeFeatures.build(txns, empty_labels(), TENANT, "default")
    # Cached across runs (fitting it is not what this measures).
    prior = load_or_fit_prior(
        Path(tempfile.gettempdir()) / "spendlens-bench-prior", PRIOR_ROWS, SEED
    )
    model = LinearCandidate(prior, seed=SEED).fit(
        model_input(txns, features(txns)), train["label"].to_numpy(dtype=object)
    )
    return ServingModel(model=model, name="spendlens-bench-default", version="1")


def resources(url: str, champion_file: str) -> Any:
    """The run's resources: the pickled champion, the starter rules, the history's features."""
    from rules.engine import CompiledRules  # noqa: PLC0415
    from rules.io import load_starter_rules  # noqa: PLC0415
    from serving.backfill import PointInTimeFeatures, Resources, load_history  # noqa: PLC0415
    from serving.routing import RoutingPolicy  # noqa: PLC0415
    from spendlens.storage.db import make_engine, session_factory  # noqa: PLC0415
    from spendlens.taxonomy import load_default_taxonomy  # noqa: PLC0415

    with Path(champion_file).open("rb") as handle:
        champion = pickle.load(handle)  # noqa: S301 - written by this benchmark run just before
    engine = make_engine(url)
    with session_factory(engine)() as session:
        txns, labels = load_history(session, TENANT, "default")
    engine.dispose()
    return Resources(
        model=champion,
        rules=CompiledRules.compile(load_starter_rules()),
        rules_version=1,
        features=PointInTimeFeatures.build(txns, labels, TENANT, "default"),
        policy=RoutingPolicy(),
        taxonomy=load_default_taxonomy(),
    )


def run() -> dict[str, Any]:
    """Backfill ROWS generated transactions in a temp SQLite database; throughput and phases."""
    from serving.backfill import Processes, Scope, run_backfill  # noqa: PLC0415
    from spendlens.storage.db import make_engine, session_factory  # noqa: PLC0415
    from training.synthetic import generated_frame  # noqa: PLC0415

    with tempfile.TemporaryDirectory(prefix="spendlens-bench-backfill-") as name:
        tmp = Path(name)
        url = f"sqlite:///{tmp / 'bench.db'}"
        _say(f"generating {min(BASE_ROWS, ROWS):,} base transactions")
        started = time.perf_counter()
        base = generated_frame(min(BASE_ROWS, ROWS), SEED, tenant=TENANT)
        generate_s = time.perf_counter() - started
        _say(f"inserting {ROWS:,} transactions")
        started = time.perf_counter()
        _insert(url, base, ROWS)
        insert_s = time.perf_counter() - started
        _say("fitting the champion")
        started = time.perf_counter()
        champion_file = tmp / "champion.pkl"
        with champion_file.open("wb") as handle:
            pickle.dump(_champion(base), handle)
        fit_s = time.perf_counter() - started

        _say(f"backfilling (a writer process and {DECIDERS} decider process)")
        engine = make_engine(url)
        started = time.perf_counter()
        # Built once here; the decider process gets a copy.
        built = resources(url, str(champion_file))
        build_s = time.perf_counter() - started
        result = run_backfill(
            session_factory(engine),
            Scope(TENANT),
            built,
            chunk_size=CHUNK,
            processes=Processes(url, deciders=DECIDERS),
            progress=lambda p: _say(f"  chunk {p.chunk + 1}/{p.chunks}: {p.scanned:,} rows"),
        )
        total_s = time.perf_counter() - started
        engine.dispose()

    phases = {k: round(v, 2) for k, v in result.timings.items()}
    compute_s = sum(result.timings.get(k, 0.0) for k in ("rules_s", "features_s", "model_s"))
    compute_s += result.timings.get("cascade_s", 0.0)
    per_s = result.run.scanned / total_s
    return {
        "rows": result.run.scanned,
        "changed": result.run.changed,
        "chunks": result.chunks,
        "chunk_size": CHUNK,
        "end_to_end_s": round(total_s, 2),
        "transactions_per_s": round(per_s),
        "compute_only_per_s": round(result.run.scanned / compute_s) if compute_s else None,
        "target_per_s": TARGET_PER_S,
        "meets_target": per_s >= TARGET_PER_S,
        "phases_s": {"build_resources_s": round(build_s, 2)} | phases,
        "not_counted_s": {
            "generate_s": round(generate_s, 2),
            "insert_s": round(insert_s, 2),
            "fit_champion_s": round(fit_s, 2),
        },
    }


if __name__ == "__main__":
    import json

    sys.stdout.write(json.dumps(run(), indent=2) + "\n")
