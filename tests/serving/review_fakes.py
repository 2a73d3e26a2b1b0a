"""A categorizer fake whose routes depend on the description, for review and ingestion tests."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy.orm import Session, sessionmaker

from serving.decisions import DecisionInputs
from serving.routing import Route, Source
from serving.schemas import Alternative, CategorizeRequest, CategorizeResponse, Explanation
from spendlens.storage.keys import create_key
from tests.serving.conftest import FakeCategorizer

COFFEE = "FOOD_AND_DRINK_COFFEE"
GROCERIES = "FOOD_AND_DRINK_GROCERIES"
LOW_REASON = "confidence 0.55 is below the review threshold"


class RoutingCategorizer(FakeCategorizer):
    """STARBUCKS: a confident rule (auto). MEGAMART: an unsure model (review, with
    alternatives). Anything else: no category (fallback, review)."""

    def decide(
        self, requests: Sequence[CategorizeRequest]
    ) -> list[tuple[CategorizeResponse, DecisionInputs]]:
        self.seen.extend(requests)
        return [(self._one(r), self._inputs(r)) for r in requests]

    @staticmethod
    def _inputs(request: CategorizeRequest) -> DecisionInputs:
        # No merchant_id: learning then reconsiders every merchant with corrections.
        return DecisionInputs(
            description=request.description.upper(),
            features={
                "amount_minor": request.amount_minor,
                "currency": request.currency,
                "direction": request.resolved_direction,
                "date": request.date.isoformat(),
            },
        )

    @staticmethod
    def _one(request: CategorizeRequest) -> CategorizeResponse:
        text = request.description.upper()
        if "STARBUCKS" in text:
            return CategorizeResponse(
                decision_id=uuid.uuid4().hex,
                primary_category="FOOD_AND_DRINK",
                category=COFFEE,
                confidence=0.97,
                route=Route.AUTO,
                source=Source.RULE,
                rule_id="r-coffee",
                explanation=Explanation(reason="a rule matched", rule_id="r-coffee"),
            )
        if "MEGAMART" in text:
            return CategorizeResponse(
                decision_id=uuid.uuid4().hex,
                primary_category="FOOD_AND_DRINK",
                category=GROCERIES,
                confidence=0.55,
                route=Route.REVIEW,
                source=Source.MODEL,
                model_name="m",
                model_version="1",
                alternatives=[
                    Alternative(category=GROCERIES, confidence=0.55),
                    Alternative(category=COFFEE, confidence=0.30),
                ],
                explanation=Explanation(reason=LOW_REASON),
            )
        return CategorizeResponse(
            decision_id=uuid.uuid4().hex,
            primary_category=None,
            category=None,
            confidence=0.0,
            route=Route.REVIEW,
            source=Source.FALLBACK,
            explanation=Explanation(reason="no rule and no model"),
        )


class BrokenCategorizer(FakeCategorizer):
    """Fails every decision, as a categorizer whose model cannot run would."""

    def decide(
        self, requests: Sequence[CategorizeRequest]
    ) -> list[tuple[CategorizeResponse, DecisionInputs]]:
        raise RuntimeError("model unavailable")


def create_api_keys(sessions: sessionmaker[Session]) -> dict[str, str]:
    """Plaintext keys by name: acme's admin, review and categorize keys and globex's."""
    keys: dict[str, str] = {}
    with sessions.begin() as session:
        keys["admin"], _ = create_key(session, "acme", "ingest", "admin")
        keys["review"], _ = create_key(session, "acme", "reviewer", "review")
        keys["categorize"], _ = create_key(session, "acme", "app", "categorize")
        keys["feedback"], _ = create_key(session, "acme", "fb", "feedback")
        keys["globex"], _ = create_key(session, "globex", "theirs", "admin")
    return keys
