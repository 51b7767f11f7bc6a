"""The identifiers of the exchange, in one place: participants, records, submissions and JWS media types.

DESIGN §3 and §4 fix them: a participant is a State (ISO 3166-1 alpha-3, ``EST``) or an organisation
(``org:`` and a lower-case slug, ``org:coe``); a record is ``<participant>/<kind>/<record_id>`` with
``record_id`` matching ``[A-Za-z0-9][A-Za-z0-9._-]{0,127}``; a submission id is a UUID; a JWS travels as
``application/jose+json`` (flattened) or ``application/jose`` (compact). The JSON Schemas
(``schemas/defs/1.json``) spell the same patterns; a unit test keeps them equal to the ones here, so the
gateway, the workers, the connectors and the schemas can never disagree on what an identifier is.

Pure and dependency-free: connectors import it without any server part.
"""

from __future__ import annotations

import re
from typing import Literal

__all__ = [
    "COMPACT_MEDIA_TYPE",
    "FLATTENED_MEDIA_TYPE",
    "KID",
    "KINDS",
    "MEDIA_TYPES",
    "PARTICIPANT_ID",
    "PARTICIPANT_ID_PATTERN",
    "RECORD_ID",
    "RECORD_ID_PATTERN",
    "RECORD_KEY",
    "RECORD_KEY_PATTERN",
    "UUID",
    "UUID_PATTERN",
    "Serialization",
    "document_ids",
    "identifier_key",
    "is_kid",
    "is_organisation_id",
    "is_participant_id",
    "is_record_id",
    "is_state_id",
    "is_uuid",
    "media_type_of",
    "parse_record_key",
    "participant_of_kid",
    "record_key",
    "related_to",
    "serialization_of",
    "sniff_serialization",
]

#: The kinds of record (DESIGN §3); a record key's middle part.
KINDS = ("law", "case", "lesson", "need", "assistance")

_STATE = "[A-Z]{3}"
_ORGANISATION = "org:[a-z0-9][a-z0-9-]{0,62}"
_PARTICIPANT = f"({_STATE}|{_ORGANISATION})"
_RECORD_ID = r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}"

#: Anchored patterns, spelled exactly as in the JSON Schemas (``schemas/defs/1.json``).
PARTICIPANT_ID_PATTERN = f"^{_PARTICIPANT}$"
RECORD_ID_PATTERN = f"^{_RECORD_ID}$"
UUID_PATTERN = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
RECORD_KEY_PATTERN = f"^{_PARTICIPANT}/({'|'.join(KINDS)})/{_RECORD_ID}$"

PARTICIPANT_ID = re.compile(PARTICIPANT_ID_PATTERN)
RECORD_ID = re.compile(RECORD_ID_PATTERN)
UUID = re.compile(UUID_PATTERN)
_STATE_ID = re.compile(_STATE)
_ORGANISATION_ID = re.compile(_ORGANISATION)
RECORD_KEY = re.compile(RECORD_KEY_PATTERN)

#: Key ids are ``<participant>/<name>``; the name is shorter than a record id.
KID = re.compile(f"^{_PARTICIPANT}/[A-Za-z0-9][A-Za-z0-9._-]{{0,63}}$")


def _full(pattern: re.Pattern[str], value: object) -> bool:
    # fullmatch: ``$`` alone would also let a final newline through.
    return isinstance(value, str) and pattern.fullmatch(value) is not None


def is_participant_id(value: object) -> bool:
    """A State's alpha-3 code or ``org:`` and a slug."""
    return _full(PARTICIPANT_ID, value)


def is_state_id(value: object) -> bool:
    """Shaped as a State's id (three capital letters); whether it is a country the vocabulary says."""
    return isinstance(value, str) and _STATE_ID.fullmatch(value) is not None


def is_organisation_id(value: object) -> bool:
    """``org:`` and a lower-case slug."""
    return isinstance(value, str) and _ORGANISATION_ID.fullmatch(value) is not None


def is_record_id(value: object) -> bool:
    return _full(RECORD_ID, value)


def is_uuid(value: object) -> bool:
    """A UUID in its 8-4-4-4-12 hexadecimal form (either case)."""
    return _full(UUID, value)


def is_kid(value: object) -> bool:
    """A key id: ``<participant>/<name>``."""
    return _full(KID, value)


def participant_of_kid(kid: str) -> str:
    """The participant a key id names (its part before the first ``/``)."""
    return kid.split("/", 1)[0]


def record_key(participant: str, kind: str, record_id: str) -> str:
    """``<participant>/<kind>/<record_id>``: how feeds, logs and URLs name a record."""
    return f"{participant}/{kind}/{record_id}"


def parse_record_key(text: object) -> tuple[str, str, str]:
    """``(participant, kind, record_id)`` of a record key; ValueError unless every part is well formed."""
    if not isinstance(text, str) or RECORD_KEY.fullmatch(text) is None:
        raise ValueError(f"record {text!r} is not <participant>/<kind>/<record_id>")
    participant, kind, record_id = text.split("/")  # no part may hold a "/"
    return participant, kind, record_id


# ---- JWS serializations and their media types (RFC 7515 §9.2) ------------------------------------

Serialization = Literal["flattened", "compact"]
FLATTENED_MEDIA_TYPE = "application/jose+json"
COMPACT_MEDIA_TYPE = "application/jose"
#: Serialization → media type.
MEDIA_TYPES: dict[Serialization, str] = {"flattened": FLATTENED_MEDIA_TYPE, "compact": COMPACT_MEDIA_TYPE}
_SERIALIZATIONS: dict[str, Serialization] = {value: name for name, value in MEDIA_TYPES.items()}


def media_type_of(serialization: Serialization) -> str:
    """The media type a JWS in this serialization is sent and stored with."""
    return MEDIA_TYPES[serialization]


def serialization_of(media_type: str) -> Serialization | None:
    """The serialization a media type names; None for any other media type."""
    return _SERIALIZATIONS.get(media_type)


def sniff_serialization(body: bytes) -> Serialization:
    """The serialization of JWS bytes that came without a media type (a feed's ``jws``, a batch line)."""
    return "flattened" if body.lstrip().startswith(b"{") else "compact"


# ---- Document identifiers inside records (Akoma Ntoso FRBR work, ELI, ECLI, …) ----------------------

#: Schemes whose value names one document. A ``url`` (a page that may show several texts) does not.
_NON_UNIQUE_SCHEMES = frozenset({"url"})
#: The members of a record that name other records or documents it replaces or relates to.
_RELATION_LISTS = ("relations", "related_cases")


def identifier_key(scheme: str, value: str) -> str:
    """One document identifier as the repository compares them: ``<scheme> <value>``.

    Surrounding space and a final ``/`` do not count, and an Akoma Ntoso FRBR URI is cut to its work
    (``/akn/za/act/2020/19/eng@2021-06-01`` names the work ``/akn/za/act/2020/19``).
    """
    value = value.strip()
    if scheme == "akn":
        parts = value.split("/")
        for i, part in enumerate(parts):
            if i > 1 and ("@" in part or part.startswith("!")):
                parts = parts[:i]
                break
        value = "/".join(parts)
    return f"{scheme} {value.rstrip('/')}"


#: What a document identifier may not hold (the schema refuses it too): control characters, and more
#: than 500 characters.
_NOT_AN_IDENTIFIER = re.compile(r"[\x00-\x1f\x7f]|^.{501}", re.DOTALL)


def _identifier(item: object) -> str | None:
    if not isinstance(item, dict):
        return None
    scheme, value = item.get("scheme"), item.get("value")
    if not isinstance(scheme, str) or not isinstance(value, str) or scheme in _NON_UNIQUE_SCHEMES:
        return None
    if not value.strip() or _NOT_AN_IDENTIFIER.search(value) or _NOT_AN_IDENTIFIER.search(scheme):
        return None
    return identifier_key(scheme, value)


def document_ids(record: object) -> tuple[str, ...]:
    """The identifiers (as :func:`identifier_key` writes them) that make a record's document unique."""
    items = record.get("identifiers") if isinstance(record, dict) else None
    found = (_identifier(item) for item in items) if isinstance(items, list) else ()
    return tuple(dict.fromkeys(key for key in found if key is not None))


def related_to(record: object) -> frozenset[str]:
    """The record keys and identifier keys a record names in its relations (``supersedes``, ``amends``,
    ``related``, …): a record that names another may share its identifier."""
    named: set[str] = set()
    for name in _RELATION_LISTS:
        items = record.get(name) if isinstance(record, dict) else None
        for item in items if isinstance(items, list) else ():
            if not isinstance(item, dict):
                continue
            if isinstance(item.get("record"), str):
                named.add(item["record"])
            key = _identifier(item.get("identifier"))
            if key is not None:
                named.add(key)
    return frozenset(named)
