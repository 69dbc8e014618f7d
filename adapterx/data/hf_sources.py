"""The Hugging Face data sets adapterx reads: one entry per data set, the one place that names them.

Each :class:`HFDataset` holds the repository id, the config pattern (per-language data sets fill in the language),
the revision it is pinned to, the split names and the columns the task's row converter reads, and where those facts
were read. Tasks (:mod:`adapterx.tasks`) refer to these entries by key; nothing else spells a Hub id.

Since ``datasets`` 4.0, a repository whose revision still holds a ``<name>.py`` loading script does not load at all
("Dataset scripts are no longer supported"). Every entry here points to parquet files: the repository's own
(``files="card"``, configs declared in its README) or the Hub's parquet export on ``refs/convert/parquet``
(``files="export"``, laid out ``<config>/<split>/NNNN.parquet``) where the main branch is still a script. The
revision is a commit hash where one was read from the Hub, else a named ref (``main``, ``refs/pr/N``,
``refs/convert/parquet``); the commit a run actually read is recorded in its run.json either way. The table with
the sources of these facts is in docs/internals.md ("Hugging Face data sources").
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from adapterx.errors import ConfigError, DataError
from adapterx.languages import get_language
from adapterx.registry import suggest

EXPORT_REF = "refs/convert/parquet"


@dataclass(frozen=True)
class HFDataset:
    """One Hugging Face data set (one repository and config pattern) as adapterx reads it.

    ``config`` may hold ``{lang}`` (the language's config token: its code, or ``lang_tokens[code]``) or ``{name}``
    (the English language name, google/xtreme's udpos convention); ``None`` is the repository's default config.
    ``languages`` lists the adapterx codes that have a config (empty: not per-language); a config may still lack a
    split (udpos: some languages are test-only), which the load reports. ``columns`` are the row fields the task's
    converter reads (``adapterx data check`` verifies them).
    """

    key: str
    repo: str
    config: str | None
    revision: str
    splits: tuple[str, ...]
    columns: tuple[str, ...]
    read_from: str
    files: Literal["card", "export"] = "card"
    languages: tuple[str, ...] = ()
    lang_tokens: Mapping[str, str] = field(default_factory=dict)
    notes: str = ""

    @property
    def per_language(self) -> bool:
        return bool(self.config and ("{lang}" in self.config or "{name}" in self.config))

    def config_for(self, lang: str | None) -> str | None:
        """The config name for ``lang`` (``None`` for the default config); :class:`DataError` where the data set
        has no such language."""
        if not self.per_language:
            return self.config
        code = _code(lang or "en")
        if self.languages and code not in self.languages:
            raise DataError(
                f"the Hugging Face data set {self.repo} has no language {lang!r} "
                f"(it has: {', '.join(self.languages)})"
            )
        config: str = self.config  # type: ignore[assignment]
        if "{name}" in config:
            config = config.replace("{name}", get_language(code).name)
        return config.replace("{lang}", self.lang_tokens.get(code, code))

    def check_split(self, split: str) -> None:
        """:class:`DataError` where the data set has no ``split``."""
        if split not in self.splits:
            raise DataError(f"the Hugging Face data set {self.repo} has no split {split!r} (it has: {', '.join(self.splits)})")


def _code(lang: str) -> str:
    try:
        return get_language(lang).code
    except ConfigError:
        return lang


# Languages of the per-language data sets (as their configs name them; the adapterx code is the key).
_XNLI = tuple("ar bg de el en es fr hi ru sw th tr ur vi zh".split())
_PAWSX = tuple("de en es fr ja ko zh".split())
_XCOPA = tuple("et ht id it qu sw ta th tr vi zh".split())
_UDPOS = tuple(
    "af ar bg de el en es et eu fa fi fr he hi hu id it ja kk ko lt mr nl pl pt ro ru ta te th tl tr uk ur vi wo yo zh".split()
)
_PANX = tuple(
    ("af ar az bg bn de el en es et eu fa fi fr gu he hi hu id it ja jv ka kk ko lt ml mr ms my nl pa pl pt qu ro ru "
     "sw ta te th tl tr uk ur vi yo zh").split()
)
_XQUAD = tuple("ar de el en es hi ro ru th tr vi zh".split())
_MLQA = tuple("ar de en es hi vi zh".split())
_STSB_MULTI = tuple("de en es fr it nl pl pt ru zh".split())
# SemRel2024 names its configs with three-letter codes (Spanish is "esp", Standard Arabic "arb"); Algerian (arq)
# and Moroccan (ary) Arabic have configs of their own that adapterx does not evaluate.
_SEMREL = {"af": "afr", "am": "amh", "ar": "arb", "en": "eng", "es": "esp", "ha": "hau", "hi": "hin", "id": "ind",
           "mr": "mar", "pa": "pan", "rw": "kin", "te": "tel"}

_HF = "https://huggingface.co/datasets/"
# The commits that deleted the loading scripts after the parquet conversions ("Delete loading script").
_GLUE = "11762d92f088f525c9548bf8a16ff55e0514a851"
_XTREME = "21f88c0ff5bf413a83c854eb00050e75d245161f"
_SQUAD_COLUMNS = ("id", "title", "context", "question", "answers")

DATASETS: dict[str, HFDataset] = {d.key: d for d in (
    HFDataset("xnli", "facebook/xnli", "{lang}", "b8dd5d7af51114dbda02c0e3f6133f332186418e",
              ("train", "validation", "test"), ("premise", "hypothesis", "label"),
              _HF + "facebook/xnli/tree/b8dd5d7af51114dbda02c0e3f6133f332186418e", languages=_XNLI),
    HFDataset("glue/mnli", "nyu-mll/glue", "mnli", _GLUE,
              ("train", "validation_matched", "validation_mismatched", "test_matched", "test_mismatched"),
              ("premise", "hypothesis", "label"), _HF + "nyu-mll/glue/commit/" + _GLUE),
    HFDataset("glue/qqp", "nyu-mll/glue", "qqp", _GLUE, ("train", "validation", "test"),
              ("question1", "question2", "label"), _HF + "nyu-mll/glue/commit/" + _GLUE),
    HFDataset("glue/sst2", "nyu-mll/glue", "sst2", _GLUE, ("train", "validation", "test"), ("sentence", "label"),
              _HF + "nyu-mll/glue/commit/" + _GLUE),
    HFDataset("glue/stsb", "nyu-mll/glue", "stsb", _GLUE, ("train", "validation", "test"),
              ("sentence1", "sentence2", "label"), _HF + "nyu-mll/glue/commit/" + _GLUE,
              notes="test scores are -1 (withheld)"),
    HFDataset("pawsx", "google-research-datasets/paws-x", "{lang}", "bd262abfe7dd14d902e653e2e3b612ca05789d52",
              ("train", "validation", "test"), ("sentence1", "sentence2", "label"),
              _HF + "google-research-datasets/paws-x/tree/bd262abfe7dd14d902e653e2e3b612ca05789d52", languages=_PAWSX),
    HFDataset("xcopa", "cambridgeltl/xcopa", "{lang}", "042f78955ba48e6404616762fa6e05e839c3907a",
              ("validation", "test"), ("premise", "choice1", "choice2", "question", "label"),
              _HF + "cambridgeltl/xcopa/tree/042f78955ba48e6404616762fa6e05e839c3907a", languages=_XCOPA,
              notes="no English config: English COPA is super_glue/copa"),
    HFDataset("super_glue/copa", "aps/super_glue", "copa", EXPORT_REF, ("train", "validation", "test"),
              ("premise", "choice1", "choice2", "question", "label"),
              _HF + "aps/super_glue/tree/refs%2Fconvert%2Fparquet/copa", files="export",
              notes="main holds super_glue.py; test labels are -1"),
    HFDataset("xtreme/udpos", "google/xtreme", "udpos.{name}", _XTREME, ("train", "validation", "test"),
              ("tokens", "pos_tags"), _HF + "google/xtreme/commit/68bd9e06bf4bbe671073c975ccd61d754e1bd3d6",
              languages=_UDPOS, notes="some languages have a test split only (udpos.Yoruba: read; XTREME lists kk th tl yo)"),
    HFDataset("xtreme/panx", "google/xtreme", "PAN-X.{lang}", _XTREME, ("train", "validation", "test"),
              ("tokens", "ner_tags"), _HF + "google/xtreme/tree/b6419ab883183e08a85be8eef7cc71562f946684/PAN-X.af",
              languages=_PANX),
    HFDataset("xtreme/xquad", "google/xtreme", "XQuAD.{lang}", _XTREME, ("validation",), ("id", "context", "question", "answers"),
              _HF + "google/xtreme/commit/023ebca", languages=_XQUAD),
    HFDataset("xtreme/mlqa", "google/xtreme", "MLQA.{lang}.{lang}", _XTREME, ("validation", "test"), _SQUAD_COLUMNS,
              _HF + "google/xtreme/viewer/MLQA.zh.zh/validation", languages=_MLQA,
              notes="replaces facebook/mlqa, whose main branch is mlqa.py only"),
    HFDataset("squad", "rajpurkar/squad", "plain_text", "main", ("train", "validation"), _SQUAD_COLUMNS,
              _HF + "rajpurkar/squad/commit/8411283f3268f12a5fe54b3f84b1bde7bdf92fff",
              notes="the card shows Formats: parquet; the conversion commit was not read: pinned to main"),
    HFDataset("tydiqa", "google-research-datasets/tydiqa", "secondary_task", "da78f23f9119363459acbaf46bf89426ff26c259",
              ("train", "validation"), _SQUAD_COLUMNS,
              _HF + "google-research-datasets/tydiqa/commit/da78f23f9119363459acbaf46bf89426ff26c259",
              notes="one config for all languages: ids start with the language's English name"),
    HFDataset("anli", "facebook/anli", "plain_text", "8e4813d81f46d313dac7892e1c28076917cfcdf9",
              ("train_r1", "dev_r1", "test_r1", "train_r2", "dev_r2", "test_r2", "train_r3", "dev_r3", "test_r3"),
              ("premise", "hypothesis", "label"), _HF + "facebook/anli/commit/8e4813d81f46d313dac7892e1c28076917cfcdf9"),
    HFDataset("snli", "stanfordnlp/snli", "plain_text", "cdb5c3d5eed6ead6e5a341c8e56e669bb666725b",
              ("train", "validation", "test"), ("premise", "hypothesis", "label"),
              _HF + "stanfordnlp/snli/commit/cdb5c3d5eed6ead6e5a341c8e56e669bb666725b", notes="label -1 = no gold label"),
    HFDataset("hellaswag", "Rowan/hellaswag", None, "049e80830aedaee63cd025622acf83822eb46553",
              ("train", "validation", "test"), ("ind", "ctx", "endings", "label"),
              _HF + "Rowan/hellaswag/tree/049e80830aedaee63cd025622acf83822eb46553",
              notes="head of the open conversion PR #7 (refs/pr/7); main holds hellaswag.py; test labels empty"),
    HFDataset("cosmosqa", "Samsoup/cosmos_qa", None, "5511553160809abc4f9c11d12421ec0a9681ee75",
              ("train", "validation", "test"), ("id", "context", "question", "answer0", "answer1", "answer2", "answer3", "label"),
              _HF + "Samsoup/cosmos_qa/commit/5511553160809abc4f9c11d12421ec0a9681ee75",
              notes="parquet copy of allenai/cosmos_qa (script only); same split sizes 25262/2985/6963"),
    HFDataset("commonsenseqa", "tau/commonsense_qa", None, "94630fe30dad47192a8546eb75f094926d47e155",
              ("train", "validation", "test"), ("id", "question", "choices", "answerKey"),
              _HF + "tau/commonsense_qa/commit/94630fe30dad47192a8546eb75f094926d47e155",
              notes="test answerKey empty"),
    HFDataset("siqa", "allenai/social_i_qa", None, "refs/pr/3", ("train", "validation"),
              ("context", "question", "answerA", "answerB", "answerC", "label"),
              _HF + "allenai/social_i_qa/discussions/3/files",
              notes="the open conversion PR #3 (main holds social_i_qa.py); its head commit was not read"),
    HFDataset("sick", "RobZamp/sick", "default", EXPORT_REF, ("train", "validation", "test"),
              ("sentence_A", "sentence_B", "relatedness_score"), _HF + "RobZamp/sick/tree/3871bfd", files="export",
              notes="main holds sick.py: the parquet export is read"),
    HFDataset("sts12", "mteb/sts12-sts", None, "fdf84275bb8ce4b49c971d02e84dd1abc677a50f", ("train", "test"),
              ("sentence1", "sentence2", "score"), _HF + "mteb/sts12-sts/tree/fdf84275bb8ce4b49c971d02e84dd1abc677a50f"),
    *(HFDataset(f"sts{y}", f"mteb/sts{y}-sts", None, "main", ("test",), ("sentence1", "sentence2", "score"),
                _HF + f"mteb/sts{y}-sts/tree/main", notes="pinned to main: the commit was not read")
      for y in (13, 14, 15, 16)),
    HFDataset("stsb_multi_mt", "PhilipMay/stsb_multi_mt", "{lang}", "e1b7f8617fa83b90b4e7530dac02f1583cc61415",
              ("train", "dev", "test"), ("sentence1", "sentence2", "similarity_score"),
              _HF + "PhilipMay/stsb_multi_mt/commit/e1b7f8617fa83b90b4e7530dac02f1583cc61415", languages=_STSB_MULTI),
    HFDataset("semrel", "SemRel/SemRel2024", "{lang}", "e2bf8ce8059d0346446743ae2b53be520f729001",
              ("train", "dev", "test"), ("sentence1", "sentence2", "label"),
              _HF + "SemRel/SemRel2024/blob/e2bf8ce8059d0346446743ae2b53be520f729001/README.md",
              languages=tuple(_SEMREL), lang_tokens=_SEMREL,
              notes="some languages have no train split (afr, arb: test and dev only); esp test scores are -1 "
                    "(withheld by the organisers)"),
)}


def get_dataset(key: str) -> HFDataset:
    """The registered data set ``key``; :class:`ConfigError` with suggestions otherwise."""
    try:
        return DATASETS[key]
    except KeyError:
        raise ConfigError(suggest(key, tuple(DATASETS), "Hugging Face data set")) from None


def resolve_revision(ds: HFDataset, overrides: tuple[str, ...] = ()) -> str:
    """The revision to read ``ds`` at: ``--data-revision REPO=REV`` for its repository, else a bare
    ``--data-revision REV`` (every source of the command), else the pinned one."""
    bare = [o for o in overrides if "=" not in o]
    if len(bare) > 1:
        raise ConfigError(f"--data-revision given {len(bare)} times without a repository; use REPO=REV for each "
                          "data set, e.g. --data-revision google/xtreme=main")
    for item in overrides:
        if "=" in item:
            repo, rev = (s.strip() for s in item.split("=", 1))
            if not repo or not rev:
                raise ConfigError(f"--data-revision {item!r}: use REV or OWNER/NAME=REV")
            if repo == ds.repo:
                return rev
    return bare[0].strip() if bare else ds.revision


__all__ = ["DATASETS", "EXPORT_REF", "HFDataset", "get_dataset", "resolve_revision"]
