"""Turning JSON Schema validation errors into issues: one pointer, one rule, one readable sentence."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from jsonschema_rs import ValidationError, ValidationErrorKind

from exchange.validation.issues import Issue, escape_token, show, to_pointer

_TYPE_NAMES = {
    "object": "an object",
    "array": "a list",
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "true or false",
    "null": "null",
}
_MAX_OPTIONS_SHOWN = 12


def issues_from_error(error: ValidationError, prefix: str, hints: Mapping[str, str]) -> Iterator[Issue]:
    """The issues one validation error stands for (one per unexpected member for additionalProperties).

    ``hints`` maps a regular expression used in the schemas to a name for what it describes
    ("country code"), so that pattern messages read naturally.
    """
    kind = error.kind
    pointer = to_pointer(prefix, error.instance_path)
    rule = "schema:" + kind.name
    value = error.instance
    if isinstance(kind, ValidationErrorKind.Required):
        yield Issue(pointer + "/" + escape_token(kind.property), rule, f'The member "{kind.property}" is required.')
    elif isinstance(kind, ValidationErrorKind.AdditionalProperties):
        for name in kind.unexpected:
            yield Issue(pointer + "/" + escape_token(name), rule, f'"{name}" is not an allowed member here.')
    else:
        yield Issue(pointer, rule, _message(kind, value, hints) or _sentence(error.message))


def _message(kind: ValidationErrorKind, value: Any, hints: Mapping[str, str]) -> str | None:
    shown = show(value)
    match kind:
        case ValidationErrorKind.Type(types=types):
            expected = " or ".join(_TYPE_NAMES.get(name, name) for name in types)
            return f"{shown} is not {expected}."
        case ValidationErrorKind.Enum(options=options):
            return f"{shown} is not one of the allowed values: {_options(options)}."
        case ValidationErrorKind.Constant(expected_value=expected):
            return f"{shown} is not the expected value {show(expected)}."
        case ValidationErrorKind.Pattern(pattern=pattern):
            hint = hints.get(pattern)
            if hint is not None:
                return f"{shown} is not a valid {hint} (expected a match for {pattern})."
            return f"{shown} does not match the pattern {pattern}."
        case ValidationErrorKind.MinLength(limit=limit):
            return f"{shown} is shorter than {limit} character{_plural(limit)}."
        case ValidationErrorKind.MaxLength(limit=limit):
            return f"The text is longer than {limit} characters."
        case ValidationErrorKind.MinItems(limit=limit):
            return f"The list needs at least {limit} item{_plural(limit)}."
        case ValidationErrorKind.MaxItems(limit=limit):
            return f"The list has more than {limit} item{_plural(limit)}."
        case ValidationErrorKind.Minimum(limit=limit):
            return f"{shown} is less than the minimum {limit}."
        case ValidationErrorKind.Maximum(limit=limit):
            return f"{shown} is greater than the maximum {limit}."
        case ValidationErrorKind.UniqueItems():
            return f"The list {shown} contains the same item more than once."
        case ValidationErrorKind.FalseSchema():
            return "This member is not allowed here (see the action's description)."
        case ValidationErrorKind.AnyOf(context=branches):
            needed = _alternative_members(branches)
            if needed:
                return f"At least one of the members {', '.join(needed)} is required."
            return f"{shown} does not match any of the allowed forms."
    return None


def _alternative_members(branches: list[list[ValidationError]]) -> list[str]:
    """For an anyOf of ``required`` alternatives, the members any one of which would satisfy it."""
    needed: list[str] = []
    for branch in branches:
        if len(branch) != 1 or not isinstance(branch[0].kind, ValidationErrorKind.Required):
            return []
        needed.append(f'"{branch[0].kind.property}"')
    return needed


def _options(options: list[Any]) -> str:
    shown = ", ".join(show(option) for option in options[:_MAX_OPTIONS_SHOWN])
    return shown + (", …" if len(options) > _MAX_OPTIONS_SHOWN else "")


def _plural(count: Any) -> str:
    return "" if count == 1 else "s"


def _sentence(text: str) -> str:
    text = text.strip()
    return text if text.endswith(".") else text + "."
