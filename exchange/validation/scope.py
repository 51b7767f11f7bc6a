"""What a participant may submit: the kinds of record and the jurisdictions they may be about."""

from __future__ import annotations

from dataclasses import dataclass

#: Participant types that are States: they submit every kind of record about their own jurisdiction.
STATE_TYPES = frozenset({"member_state", "observer_state"})

#: The participant type of the repository's own staff: its keys sign review decisions (its people hold
#: ``editor`` tokens).
EDITOR_TYPE = "secretariat"

#: Payload actions that are an editor's decision on a submission under review, not a record change.
REVIEW_ACTIONS = frozenset({"approve", "return"})

#: Kinds of record an organisation may submit (about the jurisdictions an administrator granted it;
#: the activities it provides are about any beneficiary, see :data:`PROVIDER_KINDS`).
ORGANIZATION_KINDS = frozenset({"case", "lesson", "need", "assistance"})

#: Kinds of record a State may submit: laws only for itself.
STATE_KINDS = frozenset({"law", "case", "lesson", "need", "assistance"})

#: Kinds recorded by their provider, whose primary jurisdiction is a beneficiary rather than the
#: submitter's own: a donor State or an organisation records its activities for any State, and must be
#: one of the activity's providers instead.
PROVIDER_KINDS = frozenset({"assistance"})


@dataclass(frozen=True, slots=True)
class ParticipantScope:
    """A participant as the validation rules see it.

    ``jurisdictions`` holds the ISO 3166-1 alpha-3 codes the participant may submit records about: for
    a State its own code, for an organisation those an administrator granted. A State's own id is
    always within its scope.
    """

    id: str
    type: str
    jurisdictions: frozenset[str]

    @property
    def is_state(self) -> bool:
        return self.type in STATE_TYPES

    def permits_kind(self, kind: str) -> bool:
        """Whether the participant may submit records of this kind (every non-State is an organisation)."""
        return kind in (STATE_KINDS if self.is_state else ORGANIZATION_KINDS)

    def permits_jurisdiction(self, iso3: str) -> bool:
        """Whether the participant may submit records whose primary jurisdiction is ``iso3``."""
        return iso3 in self.jurisdictions or (self.is_state and iso3 == self.id)
