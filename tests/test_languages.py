"""adapterx.languages: the language table, code lookup, selection specs and resource-class averages."""

from __future__ import annotations

import math

import pytest

from adapterx.errors import ConfigError
from adapterx.languages import (
    LANGUAGES,
    XTREME_R_LANGUAGES,
    Language,
    averages,
    get_language,
    is_low_resource,
    normalize_code,
    select_languages,
)

# xtreme-r.md's Joshi classes (0 = none), plus Amharic and Xhosa (class 2, Joshi et al.)
EXPECTED_CLASSES = {
    1: "az gu jv ml my qu te",
    2: "ht mr pa sw wo yo am xh",
    3: "af bg bn el et he id ka kk lt ms ro ta th tl uk ur",
    4: "eu fa fi hi hu it ko nl pl pt ru tr vi",
    5: "ar de en es fr ja zh",
}


def test_every_xtreme_r_language_is_in_the_table() -> None:
    assert len(XTREME_R_LANGUAGES) == 50
    assert set(XTREME_R_LANGUAGES) <= set(LANGUAGES)
    assert {"am", "xh"} <= set(LANGUAGES)


@pytest.mark.parametrize("joshi_class,codes", sorted(EXPECTED_CLASSES.items()))
def test_joshi_classes(joshi_class: int, codes: str) -> None:
    for code in codes.split():
        assert get_language(code).joshi_class == joshi_class, code


def test_table_entries_are_well_formed() -> None:
    for code, lang in LANGUAGES.items():
        assert isinstance(lang, Language) and lang.code == code
        assert len(code) == 2 and len(lang.iso3) == 3 and len(lang.script) == 4
        assert 0 <= lang.joshi_class <= 5
    # every class has its languages; the low-resource ones are exactly classes <= 2
    low = {c for c, lang in LANGUAGES.items() if lang.low_resource}
    assert low == set((EXPECTED_CLASSES[1] + " " + EXPECTED_CLASSES[2]).split())


def test_language_is_frozen() -> None:
    with pytest.raises(AttributeError):
        get_language("sw").joshi_class = 5  # type: ignore[misc]


@pytest.mark.parametrize(
    "query,code",
    [
        ("sw", "sw"),
        ("SW", "sw"),
        ("swa", "sw"),
        ("swh", "sw"),  # LASER/Tatoeba's Swahili
        ("pes", "fa"),  # Western Persian
        ("cmn", "zh"),  # Mandarin
        ("tgl", "tl"),
        ("fil", "tl"),
        ("zsm", "ms"),
        ("amh", "am"),
        ("xho", "xh"),
        ("jpn", "ja"),
        ("eng", "en"),
        ("iw", "he"),
        ("pt-BR", "pt"),
        ("zh_CN", "zh"),
        ("Swahili", "sw"),
        ("telugu", "te"),
        (" de ", "de"),
    ],
)
def test_get_language_accepts_codes_variants_and_names(query: str, code: str) -> None:
    assert get_language(query).code == code
    assert normalize_code(query) == code


def test_every_tatoeba_file_code_resolves() -> None:
    # the ISO 639-3 names of LASER's Tatoeba files (shared/data/tatoeba/v1), as XTREME's utils_preprocess maps them
    laser = (
        "afr ara bul ben deu ell spa est eus pes fin fra heb hin hun ind ita jpn jav kat kaz kor mal mar nld por "
        "rus swh tam tel tha tgl tur urd vie cmn aze lit pol ukr ron amh xho"
    )
    expected = (
        "af ar bg bn de el es et eu fa fi fr he hi hu id it ja jv ka kk ko ml mr nl pt "
        "ru sw ta te th tl tr ur vi zh az lt pl uk ro am xh"
    )
    assert [normalize_code(c) for c in laser.split()] == expected.split()


def test_unknown_code_suggests() -> None:
    with pytest.raises(ConfigError, match=r"unknown language 'swx'.*Did you mean 'sw'"):
        get_language("swx")
    with pytest.raises(ConfigError):
        get_language("")


def test_is_low_resource_and_threshold() -> None:
    assert is_low_resource("sw") and is_low_resource("te") and is_low_resource("swh")
    assert not is_low_resource("en") and not is_low_resource("af")
    assert is_low_resource("af", threshold=3)
    assert not is_low_resource("sw", threshold=1)
    with pytest.raises(ConfigError):
        is_low_resource("klingon")


TYDIQA = ["en", "ar", "bn", "fi", "id", "ko", "ru", "sw", "te"]


def test_select_languages_keywords() -> None:
    assert select_languages("all", TYDIQA) == TYDIQA
    assert select_languages("low", TYDIQA) == ["sw", "te"]
    assert select_languages("high", TYDIQA) == ["en", "ar", "bn", "fi", "id", "ko", "ru"]
    assert select_languages("low", TYDIQA, threshold=3) == ["bn", "id", "sw", "te"]
    # XQuAD has no low-resource language: an empty selection, the report says why
    assert select_languages("low", ["en", "de", "zh"]) == []


def test_select_languages_lists_keep_task_order_and_accept_variants() -> None:
    assert select_languages("te,sw", TYDIQA) == ["sw", "te"]
    assert select_languages("swh, en", TYDIQA) == ["en", "sw"]
    assert select_languages("low,en", TYDIQA) == ["en", "sw", "te"]
    assert select_languages("sw,sw", TYDIQA) == ["sw"]


def test_select_languages_errors() -> None:
    with pytest.raises(ConfigError, match=r"'yo' is not available for this task; available: en, ar, bn"):
        select_languages("sw,yo", TYDIQA)
    with pytest.raises(ConfigError, match="Did you mean 'sw'"):
        select_languages("swx", TYDIQA)
    with pytest.raises(ConfigError, match="empty language selection"):
        select_languages(" , ", TYDIQA)


def test_averages() -> None:
    scores = {"en": 80.0, "sw": 60.0, "te": 50.0, "de": 70.0}
    out = averages(scores)
    assert out == {"average": 65.0, "low_resource_average": 55.0, "high_resource_average": 75.0}
    none_low = averages({"en": 80.0, "de": 70.0})
    assert none_low["low_resource_average"] is None and none_low["average"] == 75.0
    assert averages({}) == {"average": None, "low_resource_average": None, "high_resource_average": None}
    # missing (None / NaN) scores are left out, the threshold moves languages between groups
    assert averages({"en": 80.0, "sw": None, "te": math.nan})["low_resource_average"] is None  # type: ignore[dict-item]
    assert averages(scores, threshold=5)["high_resource_average"] is None
