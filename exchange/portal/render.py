"""Rendering a page: the one place a template meets a request.

Templates autoescape everything (record content is untrusted: a law's title that holds markup shows as
text). The interface's strings go through gettext callables that read the request's translations from
the render context, so concurrent requests in different languages never share state.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

import jinja2
from aiohttp import web
from markupsafe import Markup

from exchange.portal.appkeys import PORTAL
from exchange.portal.i18n import COOKIE, LANGUAGES, negotiate, translations
from exchange.portal.labels import Label, Labels

#: How long the language chosen with ``?lang=`` is remembered (a year).
LANG_COOKIE_SECONDS = 365 * 24 * 3600


@jinja2.pass_context
def _gettext(context: Any, message: str, **variables: Any) -> str:
    text = context["translations"].gettext(message)
    return str(text % variables) if variables else str(text)


@jinja2.pass_context
def _ngettext(context: Any, singular: str, plural: str, n: int, **variables: Any) -> str:
    text = context["translations"].ngettext(singular, plural, n)
    return str(text % {"num": n, **variables})


def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("exchange.portal", "templates"),
        autoescape=True,
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
    )
    env.globals.update({"gettext": _gettext, "_": _gettext, "ngettext": _ngettext})
    env.filters["label"] = _label
    return env


def _label(label: Label, lang: str) -> Markup:
    """A label as HTML: marked with its language when it falls back, and as machine-made when it is."""
    text = Markup.escape(label.text)
    if label.lang != lang:
        text = Markup('<span lang="{}">{}</span>').format(
            LANGUAGES[label.lang].tag if label.lang in LANGUAGES else label.lang, text
        )
    if label.machine:
        text += Markup(' <abbr class="machine" title="machine translation">MT</abbr>')
    return text


class Page:
    """What every template gets about the request: language, labels, and links that keep the query."""

    def __init__(self, request: web.Request, labels: Labels) -> None:
        self.request = request
        self.lang = negotiate(request)
        self.language = LANGUAGES[self.lang]
        self.labels = labels

    def url(self, path: str | None = None, **changes: Any) -> str:
        """This page's URL (or ``path``) with query parameters changed; None or "" removes one."""
        query: dict[str, str] = dict(self.request.query) if path is None else {}
        for name, value in changes.items():
            if value is None or value == "":
                query.pop(name, None)
            else:
                query[name] = str(value)
        base = self.request.path if path is None else path
        return f"{base}?{urlencode(query)}" if query else base

    def term(self, term_id: str) -> Label:
        return self.labels.term(term_id, self.lang)

    def enum(self, enumeration: str, value: str) -> Label:
        return self.labels.enum(enumeration, value, self.lang)

    def country(self, iso3: str) -> Label:
        return self.labels.country(iso3, self.lang)

    def region(self, code: str) -> Label:
        return self.labels.region(code, self.lang)

    def instrument(self, instrument_id: str, short: bool = True) -> Label:
        return self.labels.instrument(instrument_id, self.lang, short)

    def article(self, instrument_id: str, number: str) -> Label:
        return self.labels.article(instrument_id, number, self.lang)

    def text(self, value: Any) -> Label:
        """A record's multilingual text in the reader's language when it has it, else its original."""
        return record_text(value, self.lang)


def record_text(value: Any, lang: str) -> Label:
    """``{"original": {lang, text}, "translations": [{lang, text, official}]}`` in ``lang`` if there."""
    if not isinstance(value, Mapping):
        return Label(str(value) if value is not None else "", lang)
    original = value.get("original")
    if not isinstance(original, Mapping):
        original = {}
    for translation in value.get("translations") or ():
        if isinstance(translation, Mapping) and str(translation.get("lang", "")).split("-")[0] == lang:
            return Label(str(translation.get("text", "")), lang, not translation.get("official", False))
    return Label(str(original.get("text", "")), str(original.get("lang", "")).split("-")[0] or lang)


def render(request: web.Request, template: str, status: int = 200, **context: Any) -> web.Response:
    """The page ``template`` rendered for ``request`` in the reader's language."""
    portal = request.app[PORTAL]
    page = Page(request, portal.labels)
    body = portal.env.get_template(template).render(
        page=page,
        lang=page.lang,
        translations=translations(page.lang),
        languages=LANGUAGES,
        **context,
    )
    response = web.Response(text=body, status=status, content_type="text/html", charset="utf-8")
    asked = request.query.get("lang", "")
    if asked in LANGUAGES and request.cookies.get(COOKIE) != asked:
        response.set_cookie(COOKIE, asked, max_age=LANG_COOKIE_SECONDS, httponly=True, samesite="Lax", path="/")
    response.headers["Content-Language"] = page.language.tag
    response.headers["Vary"] = "Accept-Language, Cookie"
    return response
