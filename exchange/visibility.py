"""Who may see a record version.

Every version has a visibility, signed in its submission's payload:

* ``public`` (the default): anyone, with or without a token;
* ``participants``: anyone who presents a valid API token (a participant, a subscriber, an editor…);
* ``restricted``: the participants the payload names as ``readers``, the record's owner, the submitter
  (an editor entering a record on a State's behalf), and every editor, auditor and admin.

A :class:`Viewer` is who is asking (from the request's token, or anonymous); :meth:`Viewer.may_see`
judges one version or change. Aggregates (coverage, the report, coordination, the Atom feed) count
public versions only: they are the same for everyone. Log entries carry hashes and record keys only
and stay public.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, Literal

if TYPE_CHECKING:
    from exchange.models import TokenInfo

Visibility = Literal["public", "participants", "restricted"]
LEVELS: Final = ("public", "participants", "restricted")
#: A change a mirror node was not shown by its upstream: it keeps the feed's place, and no one sees it there.
WITHHELD: Final = "withheld"
#: Token roles that see every version.
PRIVILEGED_ROLES: Final = frozenset({"editor", "auditor", "admin"})


def pack_readers(readers: Iterable[str]) -> str | None:
    """The stored form of a restricted version's readers: ``,EST,FRA,`` (a participant id holds no comma),
    so that both databases test membership with one substring search; None when there are none."""
    names = sorted(set(readers))
    return f",{','.join(names)}," if names else None


def unpack_readers(stored: str | None) -> tuple[str, ...]:
    return tuple(name for name in stored.split(",") if name) if stored else ()


def effective_readers(declared: Iterable[str], owner: str, submitter: str) -> tuple[str, ...]:
    """Who may read a restricted version besides editors, auditors and admins: the named readers, the
    record's owner and its submitter."""
    return tuple(sorted({*declared, owner, submitter}))


def named_readers(payload: Mapping[str, Any]) -> list[str]:
    """The readers a signed payload names (the submission schema checks their form)."""
    readers = payload.get("readers")
    return [r for r in readers if isinstance(r, str)] if isinstance(readers, list) else []


def signed_visibility(payload: Mapping[str, Any], owner: str, submitter: str) -> tuple[str, tuple[str, ...]]:
    """The visibility a signed payload gives its version and, when restricted, the version's readers
    (:func:`effective_readers`). The repository, ``exchange verify`` and a mirror all read it here; a
    level the schema does not know reads as public (the schema refuses such a payload first)."""
    visibility = payload.get("visibility", "public")
    if visibility not in LEVELS or visibility == "public":
        return "public", ()
    if visibility != "restricted":
        return str(visibility), ()
    return "restricted", effective_readers(named_readers(payload), owner, submitter)


@dataclass(frozen=True, slots=True)
class Viewer:
    """Who is reading: anonymous, a token's holder, or everything (editors, auditors, admins, the service)."""

    authenticated: bool = False
    participant: str | None = None
    everything: bool = False

    @classmethod
    def of_token(cls, info: TokenInfo | None) -> Viewer:
        if info is None:
            return PUBLIC
        return cls(authenticated=True, participant=info.participant, everything=info.role in PRIVILEGED_ROLES)

    def may_see(self, visibility: str, readers: Iterable[str]) -> bool:
        if visibility == WITHHELD:
            return False
        if visibility == "public" or self.everything:
            return True
        if visibility == "participants":
            return self.authenticated
        return self.participant is not None and self.participant in readers

    def sql(self, alias: str, placeholder: str, position: str = "instr") -> tuple[str, list[str]]:
        """A condition on the ``visibility`` and ``readers`` columns of table ``alias`` that keeps what this
        viewer may see (empty when it sees everything), and its arguments; ``placeholder`` is the
        driver's next parameter marker (``?`` or ``$n``), ``position`` its substring search (SQLite's
        ``instr``, PostgreSQL's ``strpos``: both take the text, then what to find)."""
        if self.everything:
            return "", []
        if not self.authenticated:
            return f"{alias}.visibility = 'public'", []
        if self.participant is None:
            return f"{alias}.visibility <> 'restricted'", []
        return (
            f"({alias}.visibility <> 'restricted' OR {position}({alias}.readers, {placeholder}) > 0)",
            [f",{self.participant},"],
        )


#: Anyone without a token: public versions only.
PUBLIC: Final = Viewer()
#: The service itself (exports, administration): every version.
EVERYTHING: Final = Viewer(authenticated=True, everything=True)
