"""Rules as YAML: import a file with every problem reported at once, export it readably.

A file is a mapping with a `rules:` list; each entry has the fields of `Rule`. An entry without
an `id` gets one derived from its name, so re-importing the same file yields the same ids.
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Sequence
from importlib import resources
from typing import Any

import yaml
from pydantic import ValidationError

from rules.models import CreatedBy, Rule, RuleValidationError
from spendlens.taxonomy import load_default_taxonomy

STARTER_RULES_RESOURCE = "starter_rules.yaml"

_CONDITION_KINDS = frozenset({"text", "amount", "direction", "currency", "date", "mcc", "account"})
# Fields written even when they hold their default: `kind` selects the condition model, and
# `created_by` would otherwise silently become the importer's default on the way back in.
_ALWAYS_RULE_KEYS = ("id", "name", "category", "created_by", "conditions")
_SLUG_MAX = 40


def rule_id_from_name(name: str) -> str:
    """A stable id for a rule without one: slug of the name plus a short hash of it.

    The hash keeps names that slug alike ("Coffee!" and "coffee") apart.
    """
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:_SLUG_MAX].rstrip("-")
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    return f"{slug}-{digest}" if slug else f"rule-{digest}"


def load_rules_yaml(
    text: str,
    *,
    labels: set[str] | None = None,
    tenant: str | None = None,
    created_by: CreatedBy = CreatedBy.IMPORT,
) -> list[Rule]:
    """Parse and validate a rules file.

    Args:
        text: the YAML document; an empty document holds no rules.
        labels: when given, every rule's category must be one of them.
        tenant: when given, the tenant of every rule; a rule naming another tenant is refused.
        created_by: for rules that do not say who made them.

    Returns:
        The rules in file order.

    Raises:
        RuleValidationError: the YAML is invalid, or one line per problem: each invalid rule
            by position (1-based) and id, unknown categories, duplicate ids.
    """
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise RuleValidationError(f"invalid YAML: {_yaml_problem(exc)}") from exc
    if document is None:
        return []
    if not isinstance(document, dict) or "rules" not in document:
        raise RuleValidationError("a rules file is a mapping with a 'rules' list")
    entries: Any = document["rules"] or []  # `rules:` with nothing under it is an empty list
    if not isinstance(entries, list):
        raise RuleValidationError("a rules file is a mapping with a 'rules' list")

    problems: list[str] = []
    rules: list[Rule] = []
    first_position: dict[str, int] = {}
    for position, entry in enumerate(entries, start=1):
        if not isinstance(entry, dict):
            problems.append(f"rule {position}: expected a mapping, got {type(entry).__name__}")
            continue
        data = dict(entry)
        if "id" not in data and isinstance(data.get("name"), str):
            data["id"] = rule_id_from_name(data["name"])
        data.setdefault("created_by", created_by)
        label = f"rule {position} ({data.get('id', '?')})"
        # Checked before validation so an invalid rule's id still counts as taken.
        rule_id = data.get("id")
        if isinstance(rule_id, str):
            if rule_id in first_position:
                problems.append(
                    f"{label}: duplicate id, first used by rule {first_position[rule_id]}"
                )
            else:
                first_position[rule_id] = position
        if tenant is not None:
            if data.get("tenant") not in (None, tenant):
                problems.append(f"{label}: tenant {data['tenant']!r} is not {tenant!r}")
                continue
            data["tenant"] = tenant
        try:
            rule = Rule.model_validate(data)
        except ValidationError as exc:
            problems.extend(f"{label}: {message}" for message in _field_problems(exc))
            continue
        if labels is not None and rule.category not in labels:
            problems.append(f"{label}: unknown category {rule.category!r}")
        rules.append(rule)
    if problems:
        raise RuleValidationError(
            f"{len(problems)} problem(s) in rules file:\n" + "\n".join(problems)
        )
    return rules


def dump_rules_yaml(rules: Sequence[Rule]) -> str:
    """Write rules as a file `load_rules_yaml` reads back into equal rules.

    Keys follow `Rule`'s field order (id, name, category first, conditions last); fields at
    their default are left out, and each condition is written on one line.
    """
    entries = [_rule_entry(rule) for rule in rules]
    return yaml.dump(
        {"rules": entries},
        Dumper=_RulesDumper,
        sort_keys=False,
        allow_unicode=True,
        width=100,
    )


@functools.cache
def _starter_rules() -> tuple[Rule, ...]:
    text = resources.files("rules").joinpath(STARTER_RULES_RESOURCE).read_text(encoding="utf-8")
    labels = set(load_default_taxonomy().labels)
    return tuple(load_rules_yaml(text, labels=labels, created_by=CreatedBy.IMPORT))


def load_starter_rules() -> list[Rule]:
    """The starter rule set for the default taxonomy (group `starter`), validated against it."""
    return list(_starter_rules())


# --- helpers --------------------------------------------------------------------------------


def _yaml_problem(exc: yaml.YAMLError) -> str:
    """The YAML error with its 1-based line and column, when the parser knows them."""
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc)
    if mark is None:
        return str(problem)
    return f"line {mark.line + 1}, column {mark.column + 1}: {problem}"


def _field_problems(exc: ValidationError) -> list[str]:
    """Each pydantic error of one rule in plain words, without echoes of another error."""
    errors = exc.errors()
    # When a condition is invalid pydantic also reports the tuple as too short; say it once.
    condition_failed = any(len(e["loc"]) > 1 and e["loc"][0] == "conditions" for e in errors)
    return [
        _field_problem(error)
        for error in errors
        if not (condition_failed and tuple(error["loc"]) == ("conditions",))
    ]


def _field_problem(error: Any) -> str:
    """One pydantic error in plain words: 'conditions.0: invalid regex ...'."""
    loc: tuple[Any, ...] = tuple(error.get("loc", ()))
    # A discriminated union puts the tag in the path (conditions.0.text); it is noise to a reader.
    parts = [
        str(part)
        for i, part in enumerate(loc)
        if not (part in _CONDITION_KINDS and i > 0 and isinstance(loc[i - 1], int))
    ]
    message = str(error.get("msg", "invalid"))
    message = message.removeprefix("Value error, ")
    where = ".".join(parts)
    return f"{where}: {message}" if where else message


def _rule_entry(rule: Rule) -> dict[str, Any]:
    """One rule as a plain mapping without default-valued noise."""
    full = rule.model_dump(mode="json")
    trimmed = rule.model_dump(mode="json", exclude_defaults=True)
    entry = {
        key: value for key, value in full.items() if key in trimmed or key in _ALWAYS_RULE_KEYS
    }
    # Conditions last: the rule's identity reads first, the matching logic after it.
    del entry["conditions"]
    entry["conditions"] = [
        _FlowMapping({"kind": cond.kind, **cond.model_dump(mode="json", exclude_defaults=True)})
        for cond in rule.conditions
    ]
    return entry


class _FlowMapping(dict[str, Any]):
    """A mapping written on one line: `{kind: text, field: merchant, op: equals, value: X}`."""


class _RulesDumper(yaml.SafeDumper):
    """SafeDumper that writes `_FlowMapping` in flow style."""


def _represent_flow(dumper: yaml.SafeDumper, data: _FlowMapping) -> yaml.Node:
    return dumper.represent_mapping("tag:yaml.org,2002:map", data.items(), flow_style=True)


_RulesDumper.add_representer(_FlowMapping, _represent_flow)
