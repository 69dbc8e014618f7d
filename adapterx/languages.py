"""The languages of XTREME-R: ISO codes, names, scripts and resource classes, plus language selection and averages.

Resource classes follow Joshi et al. (2020), "The State and Fate of Linguistic Diversity and Inclusion in the NLP
World" (0 = left behind ... 5 = winners), as mapped in ``shared/design/xtreme-r.md``. Amharic and Xhosa (the two extra
Tatoeba languages of LASER's test set) are class 2 there. "Low-resource" means class <= 2 by default (the threshold is
configurable everywhere).

Codes are ISO 639-1 where one exists. :func:`get_language` also accepts ISO 639-3 (and 639-2/B) codes, the
macrolanguage members that LASER's Tatoeba files use (``pes`` Persian, ``cmn`` Mandarin, ``swh`` Swahili, ...),
a few legacy codes (``iw``, ``in``, ``jw``), region-tagged codes (``pt-BR``, ``zh_CN``) and English names.
Imports nothing of adapterx but :mod:`adapterx.errors` and :mod:`adapterx.registry`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from adapterx.errors import ConfigError
from adapterx.registry import suggest

DEFAULT_LOW_RESOURCE_THRESHOLD = 2
"""Joshi class at or below which a language counts as low-resource (XTREME-R convention in this project)."""


@dataclass(frozen=True)
class Language:
    """One language: ISO 639-1 ``code`` (the key used everywhere), ISO 639-3 ``iso3``, English ``name``,
    ISO 15924 ``script`` of the XTREME-R data and the Joshi et al. (2020) resource class ``joshi_class`` (0-5)."""

    code: str
    iso3: str
    name: str
    script: str
    joshi_class: int

    @property
    def low_resource(self) -> bool:
        """Class <= the default threshold (2)."""
        return self.joshi_class <= DEFAULT_LOW_RESOURCE_THRESHOLD


def _lang(code: str, iso3: str, name: str, script: str, joshi_class: int) -> Language:
    return Language(code, iso3, name, script, joshi_class)


# The 50 XTREME-R languages plus Amharic and Xhosa (LASER Tatoeba extras). Classes: xtreme-r.md's table
# (machine-mapped from Joshi et al.'s lang2tax list; Haitian appears twice in that list, class 2 is used).
_LANGUAGES: tuple[Language, ...] = (
    _lang("af", "afr", "Afrikaans", "Latn", 3),
    _lang("am", "amh", "Amharic", "Ethi", 2),
    _lang("ar", "ara", "Arabic", "Arab", 5),
    _lang("az", "aze", "Azerbaijani", "Latn", 1),
    _lang("bg", "bul", "Bulgarian", "Cyrl", 3),
    _lang("bn", "ben", "Bengali", "Beng", 3),
    _lang("de", "deu", "German", "Latn", 5),
    _lang("el", "ell", "Greek", "Grek", 3),
    _lang("en", "eng", "English", "Latn", 5),
    _lang("es", "spa", "Spanish", "Latn", 5),
    _lang("et", "est", "Estonian", "Latn", 3),
    _lang("eu", "eus", "Basque", "Latn", 4),
    _lang("fa", "fas", "Persian", "Arab", 4),
    _lang("fi", "fin", "Finnish", "Latn", 4),
    _lang("fr", "fra", "French", "Latn", 5),
    _lang("gu", "guj", "Gujarati", "Gujr", 1),
    _lang("he", "heb", "Hebrew", "Hebr", 3),
    _lang("hi", "hin", "Hindi", "Deva", 4),
    _lang("ht", "hat", "Haitian Creole", "Latn", 2),
    _lang("hu", "hun", "Hungarian", "Latn", 4),
    _lang("id", "ind", "Indonesian", "Latn", 3),
    _lang("it", "ita", "Italian", "Latn", 4),
    _lang("ja", "jpn", "Japanese", "Jpan", 5),
    _lang("jv", "jav", "Javanese", "Latn", 1),
    _lang("ka", "kat", "Georgian", "Geor", 3),
    _lang("kk", "kaz", "Kazakh", "Cyrl", 3),
    _lang("ko", "kor", "Korean", "Kore", 4),
    _lang("lt", "lit", "Lithuanian", "Latn", 3),
    _lang("ml", "mal", "Malayalam", "Mlym", 1),
    _lang("mr", "mar", "Marathi", "Deva", 2),
    _lang("ms", "msa", "Malay", "Latn", 3),
    _lang("my", "mya", "Burmese", "Mymr", 1),
    _lang("nl", "nld", "Dutch", "Latn", 4),
    _lang("pa", "pan", "Punjabi", "Guru", 2),
    _lang("pl", "pol", "Polish", "Latn", 4),
    _lang("pt", "por", "Portuguese", "Latn", 4),
    _lang("qu", "que", "Quechua", "Latn", 1),
    _lang("ro", "ron", "Romanian", "Latn", 3),
    _lang("ru", "rus", "Russian", "Cyrl", 4),
    _lang("sw", "swa", "Swahili", "Latn", 2),
    _lang("ta", "tam", "Tamil", "Taml", 3),
    _lang("te", "tel", "Telugu", "Telu", 1),
    _lang("th", "tha", "Thai", "Thai", 3),
    _lang("tl", "tgl", "Tagalog", "Latn", 3),
    _lang("tr", "tur", "Turkish", "Latn", 4),
    _lang("uk", "ukr", "Ukrainian", "Cyrl", 3),
    _lang("ur", "urd", "Urdu", "Arab", 3),
    _lang("vi", "vie", "Vietnamese", "Latn", 4),
    _lang("wo", "wol", "Wolof", "Latn", 2),
    _lang("xh", "xho", "Xhosa", "Latn", 2),
    _lang("yo", "yor", "Yoruba", "Latn", 2),
    _lang("zh", "zho", "Chinese", "Hans", 5),
)

LANGUAGES: dict[str, Language] = {lang.code: lang for lang in _LANGUAGES}
"""ISO 639-1 code -> :class:`Language`, for every language the project knows."""

XTREME_R_LANGUAGES: tuple[str, ...] = tuple(
    "af ar az bg bn de el en es et eu fa fi fr gu he hi ht hu id it ja jv ka kk ko lt ml mr ms my nl pa pl pt qu ro "
    "ru sw ta te th tl tr uk ur vi wo yo zh".split()
)
"""The 50 languages of XTREME-R (Ruder et al. 2021)."""

# Other codes data sets use for the same languages. LASER's Tatoeba files name individual languages of a
# macrolanguage (pes = Western Persian, cmn = Mandarin, swh = Swahili proper, ...); ISO 639-2/B codes and
# pre-2000 codes (iw, in, jw) still appear in older corpora and in Google's tools.
_ALIASES: dict[str, str] = {
    # ISO 639-3 individual languages within macrolanguages, as in LASER / Tatoeba / FLORES
    "pes": "fa", "prs": "fa", "cmn": "zh", "swh": "sw", "swc": "sw", "zsm": "ms", "arb": "ar", "ekk": "et",
    "azj": "az", "quz": "qu", "quy": "qu", "fil": "tl", "tgl": "tl",
    # ISO 639-2/B bibliographic codes
    "ger": "de", "fre": "fr", "chi": "zh", "per": "fa", "dut": "nl", "gre": "el", "geo": "ka", "baq": "eu",
    "bur": "my", "may": "ms", "rum": "ro",
    # ISO 639-3 codes of macrolanguages besides the canonical iso3 above
    "zho": "zh", "fas": "fa", "msa": "ms", "swa": "sw", "que": "qu",
    # legacy two-letter codes
    "iw": "he", "in": "id", "jw": "jv",
}


def _build_index() -> dict[str, str]:
    index: dict[str, str] = {}
    for lang in _LANGUAGES:
        index[lang.code] = lang.code
        index[lang.iso3] = lang.code
        index[lang.name.lower()] = lang.code
    index["haitian"] = "ht"
    index["filipino"] = "tl"
    index["bangla"] = "bn"
    index["farsi"] = "fa"
    index["myanmar"] = "my"
    index["mandarin"] = "zh"
    index["panjabi"] = "pa"
    index.update(_ALIASES)
    return index


_INDEX: dict[str, str] = _build_index()


def get_language(code: str) -> Language:
    """Look a language up by ISO 639-1/639-3 code, a variant code (``pes``, ``cmn``, ``swh``, ``tgl``, ...), a
    region-tagged code (``pt-BR``) or its English name; raises :class:`ConfigError` with a did-you-mean."""
    if not isinstance(code, str) or not code.strip():
        raise ConfigError(f"empty language code {code!r}; use an ISO 639-1 code such as 'sw'.")
    key = code.strip().lower().replace("_", "-")
    if key in _INDEX:
        return LANGUAGES[_INDEX[key]]
    base = key.split("-", 1)[0]  # "pt-br" -> "pt", "zh-hans" -> "zh"
    if base in _INDEX:
        return LANGUAGES[_INDEX[base]]
    raise ConfigError(suggest(code, sorted(LANGUAGES), "language"))


def normalize_code(code: str) -> str:
    """The canonical ISO 639-1 code of ``code`` (``swh`` -> ``sw``); raises :class:`ConfigError` if unknown."""
    return get_language(code).code


def is_low_resource(code: str, threshold: int = DEFAULT_LOW_RESOURCE_THRESHOLD) -> bool:
    """Whether the language's Joshi class is <= ``threshold``."""
    return get_language(code).joshi_class <= threshold


def select_languages(spec: str, available: Sequence[str], threshold: int = DEFAULT_LOW_RESOURCE_THRESHOLD) -> list[str]:
    """Parse a language selection against the languages a task has.

    ``spec`` is a comma-separated list of items, each ``all``, ``low`` (class <= ``threshold``), ``high``
    (class > ``threshold``) or a language code in any form :func:`get_language` accepts (``sw,te``, ``swh``).
    The result keeps the order of ``available`` and holds each language once. ``low``/``high`` may select nothing
    (XQuAD has no low-resource language): the result is then empty and the caller reports why. A code the task does
    not have raises :class:`ConfigError` listing the available ones.
    """
    avail = list(dict.fromkeys(available))
    canon = {}
    for code in avail:
        try:
            canon[code] = normalize_code(code)
        except ConfigError:
            canon[code] = code  # a code we do not know can still be selected by its literal name
    items = [item.strip() for item in (spec or "").split(",") if item.strip()]
    if not items:
        raise ConfigError(f"empty language selection {spec!r}; use 'all', 'low', 'high' or codes like 'sw,te'.")
    chosen: set[str] = set()
    for item in items:
        key = item.lower()
        if key == "all":
            chosen.update(avail)
        elif key in ("low", "high"):
            for code in avail:
                if canon[code] not in LANGUAGES:
                    continue
                low = LANGUAGES[canon[code]].joshi_class <= threshold
                if low == (key == "low"):
                    chosen.add(code)
        else:
            matches = [code for code in avail if code == item or code.lower() == key]
            if not matches:
                wanted = normalize_code(item)  # unknown code -> ConfigError with did-you-mean
                matches = [code for code in avail if canon[code] == wanted]
            if not matches:
                raise ConfigError(
                    f"language {item!r} is not available for this task; available: {', '.join(avail) or 'none'}."
                )
            chosen.update(matches)
    return [code for code in avail if code in chosen]


def averages(scores: Mapping[str, float], threshold: int = DEFAULT_LOW_RESOURCE_THRESHOLD) -> dict[str, float | None]:
    """Unweighted means of per-language scores: over all languages, the low-resource ones (class <= ``threshold``)
    and the rest. A group without languages gets ``None`` (the report says why; XQuAD and MLQA have no
    low-resource language). Languages with a ``None`` or NaN score count as missing and are left out."""
    low: list[float] = []
    high: list[float] = []
    for code, value in scores.items():
        if value is None or (isinstance(value, float) and math.isnan(value)):
            continue
        (low if is_low_resource(code, threshold) else high).append(float(value))

    def mean(values: list[float]) -> float | None:
        return math.fsum(values) / len(values) if values else None

    return {
        "average": mean(low + high),
        "low_resource_average": mean(low),
        "high_resource_average": mean(high),
    }


__all__ = [
    "DEFAULT_LOW_RESOURCE_THRESHOLD",
    "LANGUAGES",
    "Language",
    "XTREME_R_LANGUAGES",
    "averages",
    "get_language",
    "is_low_resource",
    "normalize_code",
    "select_languages",
]
