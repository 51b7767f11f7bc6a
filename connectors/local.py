"""Local checks before anything is sent: the packaged schemas, vocabularies and ownership rules."""

from __future__ import annotations

from functools import cache
from typing import Any

from connectors.model import Imported, Note
from exchange.identifiers import is_kid, participant_of_kid
from exchange.validation import ParticipantScope, Validator


@cache
def validator() -> Validator:
    return Validator.from_package()


def scope_for(participant: str, participants: list[dict[str, Any]] | None = None) -> ParticipantScope | None:
    """The participant's scope: from the repository's registry when known, else a State's own; None for an
    organisation whose granted jurisdictions are unknown (ownership is then left to the repository)."""
    for entry in participants or []:
        if entry.get("id") == participant:
            return ParticipantScope(
                participant, str(entry.get("type")), frozenset(str(j) for j in entry.get("jurisdictions") or [])
            )
    if len(participant) == 3 and participant.isupper():
        return ParticipantScope(participant, "member_state", frozenset({participant}))
    return None


def participant_of(kid: str) -> str:
    if not is_kid(kid):
        raise ValueError(f'"{kid}" is not a key id <participant>/<label>, e.g. EST/2026-01')
    return participant_of_kid(kid)


def check(imported: Imported, scope: ParticipantScope | None) -> list[Note]:
    """Every problem the repository would report for this record, as error notes (pointer in ``where``)."""
    issues = validator().validate_record(f"{imported.kind}/1", imported.record, scope)
    return [Note("error", issue.pointer, f"{issue.message} [{issue.rule}]") for issue in issues]
