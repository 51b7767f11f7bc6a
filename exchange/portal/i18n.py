"""The six UN languages of the portal: which one a reader gets, and the interface's translations.

A reader's language is, in order: ``?lang=`` in the URL (so a link can fix it), the ``lang`` cookie set
by the language switcher, the best match of ``Accept-Language``, then English. The interface's texts
are gettext catalogues (``locale/<lang>/LC_MESSAGES/messages.po``), read with Babel when first used:
there is no compile step, and the ``.po`` files are the only copy.
"""

from __future__ import annotations

import functools
import io
from dataclasses import dataclass
from importlib import resources

from aiohttp import web
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations


@dataclass(frozen=True, slots=True)
class Language:
    code: str  # the id used in URLs, cookies and label maps
    tag: str  # BCP 47, for lang=""
    direction: str  # "ltr" or "rtl"
    name: str  # the language's name in itself


#: In the UN's order (Arabic, Chinese, English, French, Russian, Spanish).
LANGUAGES: dict[str, Language] = {
    lang.code: lang
    for lang in (
        Language("ar", "ar", "rtl", "العربية"),
        Language("zh", "zh-Hans", "ltr", "中文"),
        Language("en", "en", "ltr", "English"),
        Language("fr", "fr", "ltr", "Français"),
        Language("ru", "ru", "ltr", "Русский"),
        Language("es", "es", "ltr", "Español"),
    )
}
DEFAULT = "en"
COOKIE = "lang"


def from_accept_language(header: str) -> str | None:
    """The best of the six languages in an ``Accept-Language`` header (q-values honoured), or None."""
    best: tuple[float, int, str] | None = None
    for position, part in enumerate(header.split(",")[:32]):
        tag, _, params = part.strip().partition(";")
        code = tag.strip().lower().split("-")[0]
        if code not in LANGUAGES:
            continue
        weight = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name == "q":
                try:
                    weight = float(value)
                except ValueError:
                    weight = 0.0
        if weight > 0 and (best is None or (weight, -position) > (best[0], best[1])):
            best = (weight, -position, code)
    return best[2] if best else None


def negotiate(request: web.Request) -> str:
    """The language this request is answered in."""
    asked = request.query.get("lang", "")
    if asked in LANGUAGES:
        return asked
    cookie = request.cookies.get(COOKIE, "")
    if cookie in LANGUAGES:
        return cookie
    return from_accept_language(request.headers.get("Accept-Language", "")) or DEFAULT


@functools.cache
def translations(code: str) -> Translations:
    """The interface's translations into ``code`` (English: the messages themselves)."""
    source = resources.files("exchange.portal") / "locale" / code / "LC_MESSAGES" / "messages.po"
    if code == DEFAULT or not source.is_file():
        return Translations()
    with source.open("rb") as handle:
        catalog = read_po(handle, locale=code)
    compiled = io.BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    return Translations(compiled)
