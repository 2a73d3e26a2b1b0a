"""Categorizers per tenant, kept current while the service runs.

`CategorizerPool` builds a tenant's categorizer on first use (or at start for preloaded
tenants) and a background thread asks the loader every few seconds which champion version and
rule-set version the tenant has now. When either moved, the loader builds a new categorizer
next to the old one and the pool swaps the reference: requests in flight finish on the old one,
new requests get the new one, none waits for a load. A failed build keeps the old categorizer
serving and is reported in `status()` (and so on /status) until a later build succeeds.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Versions:
    """What a categorizer was built from: the champion version (None: no champion) and the
    tenant's rule-set version."""

    model: str | None
    rules: int


class ServedCategorizer(Protocol):
    """What the pool needs of a categorizer."""

    def health(self) -> dict[str, bool]:
        """model_loaded, db_reachable and ready."""


class Loader(Protocol):
    """Builds categorizers and tells which versions are current."""

    def versions(self, tenant: str) -> Versions:
        """The tenant's current champion and rules versions.

        Raises:
            Exception: the registry or database cannot be asked right now.
        """

    def build(
        self, tenant: str, previous: Any | None, versions: Versions | None
    ) -> tuple[Any, Versions]:
        """A categorizer for `versions` (None: unknown, e.g. the registry is down) and the
        versions it really holds; `previous` is the one it replaces, for reusing parts.

        Raises:
            UnknownTenantError: this loader does not serve the tenant.
        """


class UnknownTenantError(LookupError):
    """The pool does not serve this tenant."""


class TenantMismatchError(ValueError):
    """A request names another tenant than the one its categorizer serves."""


@dataclass(frozen=True, slots=True)
class ReloadEvent:
    """One reload the pool attempted."""

    tenant: str
    before: Versions
    after: Versions
    ok: bool
    error: str | None = None


@dataclass(frozen=True, slots=True)
class _Entry:
    categorizer: Any
    versions: Versions
    loaded_at: dt.datetime
    # Set while the newest versions could not be loaded (or checked); the old entry serves.
    error: str | None = None
    error_at: dt.datetime | None = None


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class CategorizerPool:
    """One categorizer per tenant, built lazily and swapped when its versions move."""

    def __init__(
        self,
        loader: Loader,
        *,
        preload: Iterable[str] = (),
        interval_seconds: float = 5.0,
        on_reload: Callable[[ReloadEvent], None] | None = None,
        after_check: Callable[[], object] | None = None,
    ) -> None:
        """Args:
        after_check: called by the refresh thread after each round of checks.
        """
        self.loader = loader
        self.preload = tuple(preload)
        self.interval_seconds = interval_seconds
        self.on_reload = on_reload
        self.after_check = after_check
        self._entries: dict[str, _Entry] = {}
        self._build_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        for tenant in self.preload:
            self.get(tenant)

    def get(self, tenant: str) -> Any:
        """The tenant's categorizer, built now if this is its first request.

        Raises:
            UnknownTenantError: the loader does not serve the tenant.
        """
        entry = self._entries.get(tenant)
        if entry is not None:
            return entry.categorizer
        with self._build_lock:
            entry = self._entries.get(tenant)
            if entry is None:
                entry = self._first_build(tenant)
                self._entries[tenant] = entry
        return entry.categorizer

    def _first_build(self, tenant: str) -> _Entry:
        error = None
        try:
            wanted: Versions | None = self.loader.versions(tenant)
        except UnknownTenantError:
            raise
        except Exception as exc:  # the registry may be down: build from what is at hand
            logger.warning("cannot check versions of tenant %s: %s", tenant, exc)
            wanted, error = None, f"cannot check for a new champion: {exc}"
        categorizer, versions = self.loader.build(tenant, None, wanted)
        now = _now()
        return _Entry(categorizer, versions, now, error, now if error else None)

    def refresh(self) -> list[ReloadEvent]:
        """Check every loaded tenant once; rebuild those whose versions moved."""
        events = []
        for tenant, entry in list(self._entries.items()):
            event = self._refresh_one(tenant, entry)
            if event is not None:
                events.append(event)
                if self.on_reload is not None:
                    self.on_reload(event)
        return events

    def _refresh_one(self, tenant: str, entry: _Entry) -> ReloadEvent | None:
        try:
            wanted = self.loader.versions(tenant)
        except Exception as exc:
            message = f"cannot check for a new champion: {exc}"
            if entry.error != message:
                logger.warning("tenant %s: %s", tenant, message)
            self._entries[tenant] = _replace_error(entry, message)
            return None
        if wanted == entry.versions:
            if entry.error is not None:
                self._entries[tenant] = _replace_error(entry, None)
            return None
        try:
            categorizer, versions = self.loader.build(tenant, entry.categorizer, wanted)
        except Exception as exc:
            message = f"loading {wanted} failed, still serving {entry.versions}: {exc}"
            if entry.error != message:
                logger.exception("tenant %s: %s", tenant, message)
            self._entries[tenant] = _replace_error(entry, message)
            return ReloadEvent(tenant, entry.versions, wanted, ok=False, error=str(exc))
        self._entries[tenant] = _Entry(categorizer, versions, _now())
        logger.info("tenant %s now serves %s (was %s)", tenant, versions, entry.versions)
        return ReloadEvent(tenant, entry.versions, versions, ok=True)

    def categorizers(self) -> list[Any]:
        """The categorizer each loaded tenant is served by now."""
        return [entry.categorizer for entry in list(self._entries.values())]

    def start(self) -> None:
        """Refresh every `interval_seconds` in a daemon thread until `stop`."""
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="spendlens-reload", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_seconds):
            try:
                self.refresh()
                if self.after_check is not None:
                    self.after_check()
            except Exception:  # the loop must outlive any one bad refresh
                logger.exception("reload check failed")

    def stop(self) -> None:
        """Stop the refresh thread (idempotent)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.interval_seconds + 5)
            self._thread = None

    def ready(self) -> bool:
        """Every preloaded tenant's categorizer is ready (no preload: the pool is ready)."""
        for tenant in self.preload:
            entry = self._entries.get(tenant)
            if entry is None or not entry.categorizer.health()["ready"]:
                return False
        return True

    def status(self) -> dict[str, dict[str, Any]]:
        """Per loaded tenant: health, versions, when loaded, and the pending reload error."""
        return {
            tenant: {
                **entry.categorizer.health(),
                "model_version": entry.versions.model,
                "rules_version": entry.versions.rules,
                "model_source": getattr(entry.categorizer, "model_source", None),
                "loaded_at": entry.loaded_at.isoformat(),
                "reload_error": entry.error,
                "reload_error_at": entry.error_at.isoformat() if entry.error_at else None,
            }
            for tenant, entry in sorted(self._entries.items())
        }


def _replace_error(entry: _Entry, error: str | None) -> _Entry:
    return _Entry(
        entry.categorizer,
        entry.versions,
        entry.loaded_at,
        error,
        (entry.error_at if entry.error == error else _now()) if error else None,
    )


class StaticLoader:
    """A loader over fixed categorizers (tests, experiments): versions never move."""

    def __init__(self, categorizers: Mapping[str, Any]) -> None:
        self.categorizers = dict(categorizers)

    def versions(self, tenant: str) -> Versions:
        if tenant not in self.categorizers:
            raise UnknownTenantError(f"tenant {tenant!r} is not served here")
        return Versions(None, 0)

    def build(
        self, tenant: str, previous: Any | None, versions: Versions | None
    ) -> tuple[Any, Versions]:
        if tenant not in self.categorizers:
            raise UnknownTenantError(f"tenant {tenant!r} is not served here")
        return self.categorizers[tenant], Versions(None, 0)
