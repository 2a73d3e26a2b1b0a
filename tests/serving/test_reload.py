"""The categorizer pool: one categorizer per tenant, swapped when its versions move."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

import pytest

from serving.reload import CategorizerPool, UnknownTenantError, Versions


@dataclass
class Built:
    """A stand-in categorizer: which tenant and versions it was built for."""

    tenant: str
    versions: Versions | None
    ready: bool = True

    def health(self) -> dict[str, bool]:
        return {"model_loaded": self.ready, "db_reachable": True, "ready": self.ready}


@dataclass
class FakeLoader:
    """Versions per tenant set by the test; builds can be made to fail or to block."""

    current: dict[str, Versions] = field(default_factory=dict)
    fail_builds: bool = False
    fail_checks: bool = False
    gate: threading.Event | None = None  # when set, builds wait for it
    builds: list[tuple[str, Versions | None]] = field(default_factory=list)

    def versions(self, tenant: str) -> Versions:
        if tenant not in self.current:
            raise UnknownTenantError(tenant)
        if self.fail_checks:
            raise ConnectionError("registry down")
        return self.current[tenant]

    def build(
        self, tenant: str, previous: Any | None, versions: Versions | None
    ) -> tuple[Built, Versions]:
        if self.gate is not None:
            self.gate.wait(5)
        if self.fail_builds:
            raise OSError("model artifact missing")
        self.builds.append((tenant, versions))
        held = versions or Versions("cached", self.current[tenant].rules)
        return Built(tenant, versions), held


def test_each_tenant_gets_its_own_categorizer_on_first_use() -> None:
    loader = FakeLoader({"acme": Versions("1", 3), "globex": Versions(None, 1)})
    pool = CategorizerPool(loader)

    acme, globex = pool.get("acme"), pool.get("globex")

    assert (acme.tenant, acme.versions) == ("acme", Versions("1", 3))
    assert (globex.tenant, globex.versions) == ("globex", Versions(None, 1))
    assert pool.get("acme") is acme  # built once
    assert loader.builds == [("acme", Versions("1", 3)), ("globex", Versions(None, 1))]


def test_the_pool_lists_the_categorizers_it_serves_now() -> None:
    loader = FakeLoader({"acme": Versions("1", 0), "globex": Versions(None, 1)})
    pool = CategorizerPool(loader)
    assert pool.categorizers() == []
    acme, globex = pool.get("acme"), pool.get("globex")
    loader.current["acme"] = Versions("2", 0)
    pool.refresh()

    assert pool.categorizers() == [pool.get("acme"), globex]
    assert acme not in pool.categorizers()  # the swapped-out one is gone


def test_unknown_tenant_is_refused() -> None:
    with pytest.raises(UnknownTenantError):
        CategorizerPool(FakeLoader()).get("nobody")


def test_preloaded_tenants_decide_readiness() -> None:
    loader = FakeLoader({"acme": Versions("1", 0)})
    pool = CategorizerPool(loader, preload=["acme"])
    assert pool.ready()
    pool.get("acme").ready = False
    assert not pool.ready()


def test_promoted_champion_is_swapped_in_on_refresh() -> None:
    loader = FakeLoader({"acme": Versions("1", 0)})
    pool = CategorizerPool(loader, preload=["acme"])
    old = pool.get("acme")

    assert pool.refresh() == []  # nothing moved
    loader.current["acme"] = Versions("2", 0)
    [event] = pool.refresh()

    assert event.ok
    assert (event.before, event.after) == (Versions("1", 0), Versions("2", 0))
    assert pool.get("acme") is not old
    assert pool.get("acme").versions == Versions("2", 0)
    assert pool.status()["acme"]["model_version"] == "2"


def test_changed_rules_are_swapped_in_on_refresh() -> None:
    loader = FakeLoader({"acme": Versions("1", 4)})
    pool = CategorizerPool(loader)
    pool.get("acme")
    loader.current["acme"] = Versions("1", 5)

    [event] = pool.refresh()

    assert event.ok
    assert pool.status()["acme"]["rules_version"] == 5


def test_failed_reload_keeps_serving_the_old_categorizer_and_reports_it() -> None:
    loader = FakeLoader({"acme": Versions("1", 0)})
    pool = CategorizerPool(loader, preload=["acme"])
    old = pool.get("acme")
    loader.current["acme"] = Versions("2", 0)
    loader.fail_builds = True

    [event] = pool.refresh()

    assert not event.ok
    assert pool.get("acme") is old
    status = pool.status()["acme"]
    assert status["model_version"] == "1"
    assert "model artifact missing" in status["reload_error"]
    assert pool.ready()  # still serving the old champion

    loader.fail_builds = False
    [retry] = pool.refresh()
    assert retry.ok
    assert pool.status()["acme"]["reload_error"] is None
    assert pool.status()["acme"]["model_version"] == "2"


def test_registry_down_at_start_builds_from_what_is_at_hand_and_says_so() -> None:
    loader = FakeLoader({"acme": Versions("1", 2)}, fail_checks=True)
    pool = CategorizerPool(loader, preload=["acme"])

    assert loader.builds == [("acme", None)]
    status = pool.status()["acme"]
    assert status["model_version"] == "cached"
    assert "registry down" in status["reload_error"]

    loader.fail_checks = False
    [event] = pool.refresh()  # the registry is back: load what it says
    assert event.ok
    assert event.after == Versions("1", 2)
    assert pool.status()["acme"]["reload_error"] is None


def test_requests_keep_being_served_while_a_reload_is_loading() -> None:
    loader = FakeLoader({"acme": Versions("1", 0)})
    pool = CategorizerPool(loader, preload=["acme"], interval_seconds=0.05)
    old = pool.get("acme")
    loader.gate = threading.Event()  # the next build blocks until released
    loader.current["acme"] = Versions("2", 0)
    pool.start()
    try:
        time.sleep(0.2)  # the reload thread is now stuck in build
        started = time.perf_counter()
        assert pool.get("acme") is old
        assert time.perf_counter() - started < 0.05  # never waits for the load
        loader.gate.set()
        deadline = time.monotonic() + 5
        while pool.get("acme") is old and time.monotonic() < deadline:
            time.sleep(0.02)
        assert pool.get("acme").versions == Versions("2", 0)
    finally:
        pool.stop()


def test_the_refresh_thread_runs_the_after_check_hook_after_each_round() -> None:
    loader = FakeLoader({"acme": Versions("1", 0)})
    rounds: list[int] = []

    def after_check() -> None:
        rounds.append(len(loader.builds))
        if len(rounds) == 1:
            loader.current["acme"] = Versions("2", 0)  # the next round swaps it in first
        if len(rounds) == 2:
            raise MemoryError("a failing hook must not stop the thread")

    pool = CategorizerPool(loader, preload=["acme"], interval_seconds=0.02, after_check=after_check)
    pool.start()
    try:
        deadline = time.monotonic() + 5
        while len(rounds) < 4 and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        pool.stop()
    assert rounds[:4] == [1, 2, 2, 2]  # after the preload build, then after the reload
