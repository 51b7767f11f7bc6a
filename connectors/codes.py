"""Code tables the importers need: ISO 3166-1 alpha-2 to alpha-3, ISO 639-2 to BCP 47.

Countries come from the packaged ``schemas/countries.json`` (the table the repository validates
against); languages from a table of every ISO 639-1 language with its ISO 639-2 codes (bibliographic
and terminological), since BCP 47 prefers the two-letter code where one exists.
"""

from __future__ import annotations

import json
import re
from functools import cache
from importlib import resources

#: ISO 639-1 code, then its ISO 639-2 code(s): "T" or "B/T" where the bibliographic code differs.
_LANGUAGES = """
aa aar ab abk ae ave af afr ak aka am amh an arg ar ara as asm av ava ay aym az aze ba bak be bel bg bul
bh bih bi bis bm bam bn ben bo tib/bod br bre bs bos ca cat ce che ch cha co cos cr cre cs cze/ces cu chu
cv chv cy wel/cym da dan de ger/deu dv div dz dzo ee ewe el gre/ell en eng eo epo es spa et est eu baq/eus
fa per/fas ff ful fi fin fj fij fo fao fr fre/fra fy fry ga gle gd gla gl glg gn grn gu guj gv glv ha hau
he heb hi hin ho hmo hr hrv ht hat hu hun hy arm/hye hz her ia ina id ind ie ile ig ibo ii iii ik ipk io ido
is ice/isl it ita iu iku ja jpn jv jav ka geo/kat kg kon ki kik kj kua kk kaz kl kal km khm kn kan ko kor
kr kau ks kas ku kur kv kom kw cor ky kir la lat lb ltz lg lug li lim ln lin lo lao lt lit lu lub lv lav
mg mlg mh mah mi mao/mri mk mac/mkd ml mal mn mon mr mar ms may/msa mt mlt my bur/mya na nau nb nob nd nde
ne nep ng ndo nl dut/nld nn nno no nor nr nbl nv nav ny nya oc oci oj oji om orm or ori os oss pa pan pi pli
pl pol ps pus pt por qu que rm roh rn run ro rum/ron ru rus rw kin sa san sc srd sd snd se sme sg sag si sin
sk slo/slk sl slv sm smo sn sna so som sq alb/sqi sr srp ss ssw st sot su sun sv swe sw swa ta tam te tel
tg tgk th tha ti tir tk tuk tl tgl tn tsn to ton tr tur ts tso tt tat tw twi ty tah ug uig uk ukr ur urd
uz uzb ve ven vi vie vo vol wa wln wo wol xh xho yi yid yo yor za zha zh chi/zho zu zul
"""

_BCP47 = re.compile(
    r"^(([A-Za-z]{2,3}(-[A-Za-z]{3}){0,3})|[A-Za-z]{4,8})(-[A-Za-z]{4})?(-([A-Za-z]{2}|[0-9]{3}))?"
    r"(-([A-Za-z0-9]{5,8}|[0-9][A-Za-z0-9]{3}))*(-[0-9A-WY-Za-wy-z](-[A-Za-z0-9]{2,8})+)*(-[Xx](-[A-Za-z0-9]{1,8})+)?$"
)


@cache
def _three_to_two() -> dict[str, str]:
    words = _LANGUAGES.split()
    table: dict[str, str] = {}
    for two, threes in zip(words[::2], words[1::2], strict=True):
        for three in threes.split("/"):
            table[three] = two
    return table


def is_bcp47(tag: str) -> bool:
    """Whether ``tag`` is well-formed BCP 47 (the repository's own pattern)."""
    return bool(_BCP47.match(tag))


def language_tag(code: str) -> tuple[str | None, str | None]:
    """A BCP 47 tag for an ISO 639-1/639-2 code (``eng`` → ``en``), and a note when the mapping is not exact.

    Returns (tag, note); tag is None when the code cannot be a language tag.
    """
    text = code.strip()
    lowered = text.lower()
    if not text:
        return None, "no language code"
    if lowered in _three_to_two():
        return _three_to_two()[lowered], None
    if re.fullmatch(r"[a-z]{2}", lowered) and lowered in _three_to_two().values():
        return lowered, None
    if re.fullmatch(r"[a-z]{3}", lowered):
        return lowered, f'"{text}" has no two-letter ISO 639-1 code; kept as the three-letter tag "{lowered}"'
    if is_bcp47(text):
        return text, None
    return None, f'"{text}" is not an ISO 639 language code'


@cache
def _countries() -> dict[str, dict[str, object]]:
    document = json.loads((resources.files("schemas") / "countries.json").read_text(encoding="utf-8"))
    return dict(document["countries"])


@cache
def _alpha2() -> dict[str, str]:
    return {str(entry["iso2"]): iso3 for iso3, entry in _countries().items()}


#: Codes seen in Akoma Ntoso documents that are not ISO 3166-1 alpha-2 but name a country unambiguously.
_ALIASES = {"UK": "GBR"}


def country_iso3(code: str) -> tuple[str | None, str | None]:
    """The ISO 3166-1 alpha-3 code for an alpha-2 or alpha-3 code (any case); (None, why) when unknown.

    Returns (iso3, note) where note explains a non-standard code that was still recognised.
    """
    text = code.strip().upper()
    if len(text) == 3 and text in _countries():
        return text, None
    if len(text) == 2 and text in _alpha2():
        return _alpha2()[text], None
    if text in _ALIASES:
        return _ALIASES[text], f'"{code}" is not an ISO 3166-1 code; read as {_ALIASES[text]}'
    return None, f'"{code}" is not an ISO 3166-1 country code'


def is_country(iso3: str) -> bool:
    return iso3 in _countries()
