"""The validator of submissions: envelope, record schema, vocabularies and ownership, all errors at once."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from exchange.validation.catalogue import Catalogue, schema_kind
from exchange.validation.compiled import CompiledSchemas
from exchange.validation.fields import BY_KIND
from exchange.validation.index import IndexFields, extract
from exchange.validation.issues import Issue
from exchange.validation.ownership import jurisdiction_issue, kind_issue, participant_issue, provider_issue
from exchange.validation.rules import RecordRules
from exchange.validation.scope import EDITOR_TYPE, PROVIDER_KINDS, REVIEW_ACTIONS, ParticipantScope
from exchange.validation.terms import CountryIndex, TermIndex

RECORD_POINTER = "/record"


class Validator:
    """Validates submission payloads and records against the schema catalogue.

    Build it once (``Validator.from_package()`` compiles every schema) and share it: it holds no
    mutable state. Its methods never raise on any JSON input; problems come back as :class:`Issue`s.
    """

    __slots__ = ("_catalogue", "_compiled", "_countries", "_rules", "_terms")

    def __init__(self, catalogue: Catalogue) -> None:
        self._catalogue = catalogue
        self._compiled = CompiledSchemas.compile(catalogue)
        self._terms = TermIndex.from_document(catalogue.vocabularies)
        self._countries = CountryIndex.from_document(catalogue.countries)
        self._rules = RecordRules(self._terms, self._countries)

    @classmethod
    def from_package(cls) -> Validator:
        """Load the ``schemas`` package and compile its schemas."""
        return cls(Catalogue.from_package())

    def known_schemas(self) -> list[str]:
        """The record schemas a payload may name, sorted: ``["case/1", "law/1", "lesson/1"]``."""
        return list(self._catalogue.record_schemas)

    def schema_document(self, schema: str) -> dict[str, Any]:
        """A schema document by name (record schemas, ``defs/1``, ``submission/1``); KeyError if unknown.

        The document is shared: do not modify it.
        """
        return self._catalogue.schemas[schema]

    @property
    def vocabularies(self) -> dict[str, Any]:
        """The vocabularies document, as served at GET /v1/vocabularies (shared: do not modify it)."""
        return self._catalogue.vocabularies

    @property
    def countries(self) -> dict[str, Any]:
        """The countries document: codes, M49 regions and UN names in six languages (shared: do not modify it)."""
        return self._catalogue.countries

    @property
    def treaty_status(self) -> dict[str, Any]:
        """Dated signature and ratification facts by instrument (shared: do not modify it)."""
        return self._catalogue.treaty_status

    def validate_payload(
        self, payload: Mapping[str, Any], scope: ParticipantScope, owner: ParticipantScope | None = None
    ) -> list[Issue]:
        """Every problem of a submission payload submitted by the participant of ``scope``; empty if valid.

        ``owner``: for an editor's entry ``on_behalf_of`` another participant, that participant's scope
        (None when it is not registered): the record's rules are judged in it.
        """
        envelope = self._compiled.envelope
        if not isinstance(payload, Mapping):
            return self._compiled.issues(envelope, payload, "")
        if not isinstance(payload, dict):
            payload = dict(payload)
        issues = self._compiled.issues(envelope, payload, "")
        failed = {issue.pointer for issue in issues}
        action, kind, schema = (_checked(payload, name, failed) for name in ("action", "kind", "schema"))
        if action in REVIEW_ACTIONS:  # an editor's decision on another participant's submission of that kind
            issue = participant_issue(scope, _checked(payload, "participant", failed))
            if scope.type != EDITOR_TYPE:
                issue = Issue(
                    "/action",
                    "review:not-editor",
                    f"only a {EDITOR_TYPE}'s key may sign a review decision; {scope.id} is a {scope.type}",
                )
            return [*issues, issue] if issue is not None else issues
        record_scope = scope
        if "on_behalf_of" in payload:
            if scope.type != EDITOR_TYPE:
                issues.append(
                    Issue(
                        "/on_behalf_of",
                        "on-behalf:not-editor",
                        f"only a {EDITOR_TYPE}'s key may enter a record on behalf of another participant; "
                        f"{scope.id} is a {scope.type}",
                    )
                )
            elif owner is None:
                issues.append(
                    Issue(
                        "/on_behalf_of",
                        "participant:unknown",
                        f"participant {str(payload['on_behalf_of'])[:80]} is not registered",
                    )
                )
            else:
                record_scope = owner
        for issue in (
            participant_issue(scope, _checked(payload, "participant", failed)),
            kind_issue(record_scope, kind) if kind is not None else None,
            self._schema_issue(schema, kind),
        ):
            if issue is not None:
                issues.append(issue)
        has_record = "record" in payload
        if action == "upsert" and not has_record:
            issues.append(Issue(RECORD_POINTER, "record:missing", "An upsert must carry the record."))
        elif action == "withdraw" and has_record:
            issues.append(Issue(RECORD_POINTER, "record:unexpected", "A withdraw must not carry a record."))
        elif has_record and schema is not None and schema in self._compiled.records and RECORD_POINTER not in failed:
            issues.extend(self._record_issues(schema, payload["record"], record_scope))
        return issues

    def validate_record(self, schema: str, record: Any, scope: ParticipantScope | None = None) -> list[Issue]:
        """Every problem of a record against ``schema``, with pointers as in a payload (``/record/…``).

        With a scope, the ownership rules apply too (kind permitted, primary jurisdiction in scope).
        """
        if schema not in self._compiled.records:
            return [self._unknown_schema(schema)]
        issues: list[Issue] = []
        if scope is not None and (issue := kind_issue(scope, schema_kind(schema))) is not None:
            issues.append(issue)
        issues.extend(self._record_issues(schema, record, scope))
        return issues

    def index_fields(self, kind: str, record: Mapping[str, Any]) -> IndexFields:
        """The query fields of a valid record of ``kind``; KeyError for an unknown kind."""
        if kind not in BY_KIND:
            raise KeyError(kind)
        return extract(kind, record, self._terms, self._countries)

    def region_codes(self, iso3: str) -> tuple[str, ...]:
        """The UN M49 region, sub-region and intermediate-region codes of a country; empty if unknown."""
        return self._countries.regions_of.get(iso3, ())

    def region_code(self, text: str) -> str | None:
        """The UN M49 code of a region given by code (``150``) or name (``Europe``); None if unknown."""
        return self._countries.area(text)

    def is_country(self, iso3: str) -> bool:
        """Whether ``iso3`` is an ISO 3166-1 alpha-3 code of the country table."""
        return iso3 in self._countries.regions_of

    def _record_issues(self, schema: str, record: Any, scope: ParticipantScope | None) -> list[Issue]:
        issues = self._compiled.issues(self._compiled.records[schema], record, RECORD_POINTER)
        if not isinstance(record, dict):
            return issues
        failed = {issue.pointer for issue in issues}
        rule_issues = self._rules.check(schema_kind(schema), record, RECORD_POINTER)
        if scope is not None:
            kind = schema_kind(schema)
            if kind in PROVIDER_KINDS:
                issue = provider_issue(scope, record, RECORD_POINTER)
            else:
                issue = jurisdiction_issue(scope, record, RECORD_POINTER, self.is_country)
            if issue is not None:
                rule_issues.append(issue)
        issues.extend(issue for issue in rule_issues if issue.pointer not in failed)
        return issues

    def _schema_issue(self, schema: str | None, kind: str | None) -> Issue | None:
        if schema is None:
            return None
        if schema not in self._compiled.records:
            return self._unknown_schema(schema)
        if kind is not None and schema_kind(schema) != kind:
            return Issue(
                "/schema",
                "schema:kind-mismatch",
                f'Schema "{schema}" is for records of kind "{schema_kind(schema)}", but the kind is "{kind}".',
            )
        return None

    def _unknown_schema(self, schema: str) -> Issue:
        known = ", ".join(self._catalogue.record_schemas)
        return Issue("/schema", "schema:unknown", f'"{schema}" is not a known schema; known schemas are: {known}.')


def _checked(payload: Mapping[str, Any], name: str, failed: set[str]) -> str | None:
    """A string member of the envelope that passed the schema, else None."""
    value = payload.get(name)
    return value if isinstance(value, str) and "/" + name not in failed else None
