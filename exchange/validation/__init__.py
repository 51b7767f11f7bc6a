"""Validation of submissions: JSON Schemas, vocabularies, countries and ownership, all errors at once."""

from exchange.validation.index import IndexFields
from exchange.validation.issues import Issue
from exchange.validation.scope import ParticipantScope
from exchange.validation.validator import Validator

__all__ = ["IndexFields", "Issue", "ParticipantScope", "Validator"]
