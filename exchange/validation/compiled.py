"""The JSON Schemas compiled once with jsonschema_rs, resolving ``$ref`` offline through a registry."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import jsonschema_rs

from exchange.validation.catalogue import ENVELOPE_SCHEMA, Catalogue, schema_id
from exchange.validation.issues import Issue
from exchange.validation.schema_errors import issues_from_error


@dataclass(frozen=True, slots=True)
class CompiledSchemas:
    """A compiled validator per record schema, one for the submission envelope, and pattern hints."""

    envelope: jsonschema_rs.Validator
    records: Mapping[str, jsonschema_rs.Validator]
    hints: Mapping[str, str]

    @classmethod
    def compile(cls, catalogue: Catalogue) -> CompiledSchemas:
        registry = jsonschema_rs.Registry(
            [(schema_id(name), document) for name, document in catalogue.schemas.items()],
            draft=jsonschema_rs.Draft202012,
        )

        def build(name: str) -> jsonschema_rs.Validator:
            return jsonschema_rs.Draft202012Validator(
                catalogue.schemas[name],
                registry=registry,
                validate_formats=True,
                offline=True,
                pattern_options=jsonschema_rs.RegexOptions(),
            )

        return cls(
            envelope=build(ENVELOPE_SCHEMA),
            records={name: build(name) for name in catalogue.record_schemas},
            hints=_pattern_hints(catalogue.schemas.values()),
        )

    def issues(self, validator: jsonschema_rs.Validator, instance: Any, prefix: str) -> list[Issue]:
        """Every schema issue of ``instance``, with pointers under ``prefix``; none for a valid instance."""
        try:
            if validator.is_valid(instance):
                return []
            return _without_redundant_formats(list(self._issues(validator, instance, prefix)))
        except ValueError as error:  # a value JSON cannot hold, or nesting beyond the validator's limit
            return [Issue(prefix, "schema:unprocessable", f"The document cannot be validated: {error}.")]

    def _issues(self, validator: jsonschema_rs.Validator, instance: Any, prefix: str) -> Iterator[Issue]:
        seen: set[Issue] = set()
        for error in validator.iter_errors(instance):
            for issue in issues_from_error(error, prefix, self.hints):
                if issue not in seen:
                    seen.add(issue)
                    yield issue


def _without_redundant_formats(issues: list[Issue]) -> list[Issue]:
    """Formats are checked for what patterns cannot see (``2026-02-30`` matches the date pattern); where
    the same value already failed another keyword, its format issue adds nothing and is dropped."""
    others = {issue.pointer for issue in issues if issue.rule != "schema:format"}
    return [issue for issue in issues if issue.rule != "schema:format" or issue.pointer not in others]


def _pattern_hints(documents: Any) -> dict[str, str]:
    """Map each pattern of the shared definitions to the lower-cased title of its definition."""
    hints: dict[str, str] = {}
    for document in documents:
        for definition in document.get("$defs", {}).values():
            if isinstance(definition, dict) and "pattern" in definition and "title" in definition:
                hints[definition["pattern"]] = _lower_first(definition["title"])
    return hints


def _lower_first(title: str) -> str:
    """Lower-case the first letter unless the title starts with an acronym ("UUID", "URL")."""
    return title if title[1:2].isupper() else title[:1].lower() + title[1:]
