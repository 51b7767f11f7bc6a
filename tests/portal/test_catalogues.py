"""The interface's gettext catalogues: complete in every language, placeholders intact, plurals right."""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from exchange.portal.i18n import LANGUAGES, translations

PORTAL = Path(str(resources.files("exchange.portal")))
PLACEHOLDER = re.compile(r"%\((\w+)\)s")


def interface_messages() -> set[str | tuple[str, str]]:
    found: set[str | tuple[str, str]] = set()
    method_map = [("**.py", "python"), ("**/templates/**.html", "jinja2")]
    keywords = {"_": None, "gettext": None, "ngettext": (1, 2)}
    for _file, _line, message, _comments, _context in extract_from_dir(
        str(PORTAL),
        method_map,
        options_map={"**/templates/**.html": {"extensions": "jinja2.ext.i18n"}},
        keywords=keywords,
    ):
        found.add(message if isinstance(message, str) else (message[0], message[1]))
    return found


@pytest.mark.parametrize("lang", [code for code in LANGUAGES if code != "en"])
def test_every_interface_message_is_translated(lang: str) -> None:
    with (PORTAL / "locale" / lang / "LC_MESSAGES" / "messages.po").open("rb") as handle:
        catalog = read_po(handle, locale=lang)
    assert not catalog.fuzzy
    wanted = interface_messages()
    assert wanted, "no messages extracted"
    held = {m.id: m for m in catalog if m.id}
    missing = [m for m in wanted if m not in held]
    assert missing == []
    for message_id in wanted:
        message = held[message_id]
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        source = message_id if isinstance(message_id, str) else message_id[1]
        assert all(strings), f"{lang}: {message_id!r} is not translated"
        for string in strings:
            # every placeholder of the translation exists in the source (some plural forms spell the number)
            assert set(PLACEHOLDER.findall(string)) <= set(PLACEHOLDER.findall(source)), (lang, message_id, string)


def test_plural_forms_follow_each_language() -> None:
    russian = translations("ru")
    assert russian.ngettext("%(num)s record found", "%(num)s records found", 1) == "Найдена %(num)s запись"
    assert russian.ngettext("%(num)s record found", "%(num)s records found", 3) == "Найдено %(num)s записи"
    assert russian.ngettext("%(num)s record found", "%(num)s records found", 5) == "Найдено %(num)s записей"
    arabic = translations("ar")
    assert arabic.ngettext("%(num)s record found", "%(num)s records found", 2) == "عُثر على سجلين"
    assert translations("en").gettext("Search") == "Search"
    assert translations("fr").gettext("Search") == "Rechercher"
