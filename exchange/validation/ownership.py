"""Who may submit what: the kinds of record and the primary jurisdictions within a participant's scope."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from exchange.validation.fields import JURISDICTION
from exchange.validation.issues import Issue
from exchange.validation.scope import ORGANIZATION_KINDS, ParticipantScope


def kind_issue(scope: ParticipantScope, kind: str) -> Issue | None:
    """An issue when the participant may not submit records of ``kind``."""
    if scope.permits_kind(kind):
        return None
    return Issue(
        "/kind",
        "kind:not-permitted",
        f'{scope.id} ({scope.type}) may not submit records of kind "{kind}"; '
        f"organisations submit {', '.join(sorted(ORGANIZATION_KINDS))} records only.",
    )


def jurisdiction_issue(
    scope: ParticipantScope, record: Mapping[str, Any], prefix: str, is_country: Callable[[str], bool]
) -> Issue | None:
    """An issue when the record's primary jurisdiction, a real country, lies outside the scope."""
    jurisdiction = record.get(JURISDICTION)
    if not isinstance(jurisdiction, str) or not is_country(jurisdiction):
        return None
    if scope.permits_jurisdiction(jurisdiction):
        return None
    allowed = ", ".join(sorted(scope.jurisdictions | ({scope.id} if scope.is_state else set()))) or "none"
    return Issue(
        f"{prefix}/{JURISDICTION}",
        "jurisdiction:not-permitted",
        f'{scope.id} may not submit records about "{jurisdiction}"; its jurisdictions are: {allowed}.',
    )


def participant_issue(scope: ParticipantScope, participant: Any) -> Issue | None:
    """An issue when the payload names another participant than the one whose scope applies."""
    if not isinstance(participant, str) or participant == scope.id:
        return None
    return Issue(
        "/participant",
        "participant:mismatch",
        f'The payload names participant "{participant}" but was submitted by {scope.id}.',
    )


def provider_issue(scope: ParticipantScope, record: Mapping[str, Any], prefix: str) -> Issue | None:
    """An issue when an activity's providers do not include its submitter.

    A donor State or an organisation records the activities it funds or implements, for any beneficiary;
    naming itself among the providers is what binds the record to the one who signed it.
    """
    providers = record.get("providers")
    if not isinstance(providers, list):
        return None
    if any(isinstance(p, dict) and p.get("participant") == scope.id for p in providers):
        return None
    return Issue(
        f"{prefix}/providers",
        "provider:not-submitter",
        f'An activity is recorded by one of its providers: name {scope.id} as the "participant" of a provider.',
    )
