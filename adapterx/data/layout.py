"""Where the evaluation files of each task live in an XTREME ``download/``-style folder, and how to read them.

The layout is that of XTREME's ``scripts/download_data.sh`` output plus the original upstream layouts that people
unpack next to it (``shared/data`` mixes both): e.g. ``xnli/dev-<l>.tsv``, ``paws-x/test-labelled/test-<l>.tsv``,
``udpos/{split}-<l>.tsv`` and ``udpos/ud-treebanks-v2.5/UD_*/<l>_*-ud-<split>.conllu``, ``panx/{split}-<l>.tsv``,
``xquad/xquad.<l>.json``, ``mlqa/MLQA_V1/<split>/<split>-context-<l>-question-<l>.json``,
``tydiqa/tydiqa-goldp-v1.1-dev/...``, ``xcopa/<l>/{val,test}.<l>.jsonl``, ``stsb/stsb-<l>-<split>.csv``; and
English Social IQa (XTREME-R's intermediate task for XCOPA) as its zip unpacks, ``[siqa/]socialiqa-train-dev/``
``{train,dev}.jsonl`` + ``{train,dev}-labels.lst``, or that folder itself (``--data socialiqa-train-dev``).
The English multiple-choice intermediate tasks are found by their official file names, in the folder itself, in
``data/`` (as in their GitHub repositories) or in a folder named after the task: HellaSwag
``hellaswag_{train,val,test}.jsonl``, Cosmos QA ``{train,valid}.csv`` (or ``.jsonl``) and ``test.jsonl``,
CommonsenseQA ``{train,dev}_rand_split.jsonl`` and ``test_rand_split_no_answers.jsonl``. Their test files have no
labels: ``dev`` is their evaluation split.

Languages are discovered by globbing each pattern (any language present is found, not a fixed list). For one
task and split the patterns are tried in order of precedence and the first that has a language wins: labelled
files before XTREME's label-stripped copies (XTREME's preprocessing removes XNLI/PAWS-X/PAN-X test labels and
XQuAD/MLQA-test/TyDiQA-dev answers). Keys are ISO 639-1 codes where the language is known.

Each layout is one :class:`FolderLayout` in :data:`LAYOUTS` (its patterns with their readers, where ``adapterx data
download`` writes each split and with which writer, its aliases, why a split has no files); a task record names its
layout (``TaskSpec.layout``).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path

from adapterx.data import writers
from adapterx.data.examples import Example
from adapterx.data.formats import (
    COMMONSENSEQA,
    CONLLU,
    COPA,
    COSMOSQA,
    FOLDER_XNLI,
    HELLASWAG,
    PAWSX,
    SIQA,
    SQUAD,
    STSB,
    TOKEN_TAGS,
    FileReader,
)
from adapterx.data.readers.signature import check_signature
from adapterx.errors import ConfigError, DataError
from adapterx.languages import LANGUAGES, get_language
from adapterx.registry import suggest

SPLITS: tuple[str, ...] = ("train", "dev", "test")

_SPLIT_ALIASES = {"validation": "dev", "val": "dev", "eval": "dev"}


@dataclass(frozen=True)
class _Pattern:
    """A file pattern relative to the data folder.

    ``template`` may hold ``{lang}`` (the language code as in the file name), ``{name}`` (the lower-case English
    language name, TyDiQA's convention) and ``*``. ``lang`` fixes the language for files without a code in their
    name; ``exclude`` drops codes whose files are known not to be usable.
    """

    template: str
    reader: FileReader
    lang: str | None = None
    exclude: frozenset[str] = frozenset()


def _p(template: str, reader: FileReader, lang: str | None = None, exclude: tuple[str, ...] = ()) -> _Pattern:
    return _Pattern(template, reader, lang, frozenset(exclude))


_PAWSX_DIRS = ("paws-x", "pawsx")  # shared/data uses paws-x/, XTREME's download script pawsx/


@dataclass(frozen=True)
class Target:
    """Where ``adapterx data download`` writes one split of a layout, and with which writer: the first labelled
    pattern of that split (XTREME's file names; labelled copies where XTREME strips test labels)."""

    template: str  # relative path; {lang} the language code, {name} its lower-case English name (TyDiQA)
    writer: Callable[[Sequence, Path], None]  # a function of adapterx.data.writers (it may add sibling files)

    def path(self, lang: str) -> str:
        return self.template.format(lang=lang, name=get_language(lang).name.lower())


@dataclass(frozen=True)
class FolderLayout:
    """One folder layout of an XTREME-style download: per split, the file patterns in order of precedence (each
    with its reader), where ``data download`` writes each split, other names it answers to, and why a split
    without patterns has none. A task record names its layout (``TaskSpec.layout``); several tasks may share one
    (``stsb``: STS-B and its multilingual test sets)."""

    name: str
    patterns: Mapping[str, tuple[_Pattern, ...]]  # split -> patterns; an empty tuple: the split has no files
    targets: Mapping[str, Target] = field(default_factory=dict)  # split -> download target; absent: not written
    aliases: tuple[str, ...] = ()
    no_split_hint: str = "use another split"


LAYOUTS: dict[str, FolderLayout] = {}
"""Layout name -> its :class:`FolderLayout`: the folder source objects, as :data:`adapterx.data.hf_sources.DATASETS`
holds the Hugging Face ones."""


def _layout(name: str, patterns: Mapping[str, tuple[_Pattern, ...]], targets: Mapping[str, Target] | None = None,
            aliases: tuple[str, ...] = (), no_split_hint: str = "use another split") -> None:
    LAYOUTS[name] = FolderLayout(name, {s: patterns.get(s, ()) for s in SPLITS}, targets or {}, aliases,
                                 no_split_hint)


_layout(
    "xnli",
    {
        "train": (_p("xnli/train-{lang}.tsv", FOLDER_XNLI), _p("xnli/{lang}/train.jsonl", FOLDER_XNLI)),
        "dev": (_p("xnli/dev-{lang}.tsv", FOLDER_XNLI), _p("xnli/{lang}/dev.jsonl", FOLDER_XNLI)),
        "test": (
            _p("xnli/test-labelled/{lang}/test.jsonl", FOLDER_XNLI),
            _p("xnli/{lang}/test.jsonl", FOLDER_XNLI),
            _p("xnli/test-{lang}.tsv", FOLDER_XNLI),  # XTREME's copy: 2 columns, labels removed
        ),
    },
    targets={s: Target(f"xnli/{s}-{{lang}}.tsv", writers.write_pair_tsv) for s in SPLITS},
)
_layout(
    "pawsx",
    {
        "train": tuple(
            p
            for d in _PAWSX_DIRS
            for p in (_p(d + "/train-{lang}.tsv", PAWSX), _p(d + "/x-final/{lang}/train.tsv", PAWSX))
        ),
        "dev": tuple(
            p
            for d in _PAWSX_DIRS
            for p in (_p(d + "/dev-{lang}.tsv", PAWSX), _p(d + "/x-final/{lang}/dev_2k.tsv", PAWSX))
        ),
        "test": tuple(_p(d + "/test-labelled/test-{lang}.tsv", PAWSX) for d in _PAWSX_DIRS)
        + tuple(_p(d + "/x-final/{lang}/test_2k.tsv", PAWSX) for d in _PAWSX_DIRS)
        + tuple(_p(d + "/test-{lang}.tsv", PAWSX) for d in _PAWSX_DIRS),  # XTREME's copies: labels removed
    },
    targets={s: Target(f"pawsx/{s}-{{lang}}.tsv", writers.write_pair_tsv) for s in SPLITS},
    aliases=("paws-x",),
)
_layout(
    "xcopa",
    {
        "train": (
            _p("xcopa/en-copa/train-{lang}.jsonl", COPA),
            _p("xcopa/train-{lang}.jsonl", COPA),
            _p("xcopa/train.{lang}.jsonl", COPA),
            _p("xcopa/{lang}/train.{lang}.jsonl", COPA),
        ),
        "dev": (
            _p("xcopa/{lang}/val.{lang}.jsonl", COPA),
            _p("xcopa/en-copa/val-{lang}.jsonl", COPA),
            _p("xcopa/val.{lang}.jsonl", COPA),
            _p("xcopa/val-{lang}.jsonl", COPA),
        ),
        # English COPA test: SuperGLUE's has no labels and XTREME's renamed copy sets every label to 0.
        "test": (
            _p("xcopa/{lang}/test.{lang}.jsonl", COPA, exclude=("en",)),
            _p("xcopa/test.{lang}.jsonl", COPA, exclude=("en",)),
        ),
    },
    targets={"train": Target("xcopa/en-copa/train-{lang}.jsonl", writers.write_copa),
             "dev": Target("xcopa/{lang}/val.{lang}.jsonl", writers.write_copa),
             "test": Target("xcopa/{lang}/test.{lang}.jsonl", writers.write_copa)},
    aliases=("copa",),
)
_layout(
    "udpos",
    {
        split: (
            _p("udpos/" + split + "-{lang}.tsv", TOKEN_TAGS),
            _p("udpos/ud-treebanks-v*/UD_*/{lang}_*-ud-" + split + ".conllu", CONLLU),
            _p("udpos/UD_*/{lang}_*-ud-" + split + ".conllu", CONLLU),
        )
        for split in SPLITS
    },
    targets={s: Target(f"udpos/{s}-{{lang}}.tsv", writers.write_token_tags) for s in SPLITS},
    aliases=("ud-pos", "pos"),
)
_layout(
    "panx",
    {split: (_p("panx/" + split + "-{lang}.tsv", TOKEN_TAGS),) for split in SPLITS},
    targets={s: Target(f"panx/{s}-{{lang}}.tsv", writers.write_token_tags) for s in SPLITS},
    aliases=("wikiann", "pan-x", "ner"),
)
_layout(
    "xquad",
    {"train": (), "dev": (), "test": (_p("xquad/xquad.{lang}.json", SQUAD),)},
    targets={"test": Target("xquad/xquad.{lang}.json", writers.write_squad)},
    no_split_hint="XQuAD is test-only (train and select on SQuAD v1.1)",
)
_layout(
    "mlqa",
    {
        "train": (),
        **{
            split: (_p(f"mlqa/MLQA_V1/{split}/{split}-context-{{lang}}-question-{{lang}}.json", SQUAD),)
            for split in ("dev", "test")
        },
    },
    targets={"test": Target("mlqa/MLQA_V1/test/test-context-{lang}-question-{lang}.json", writers.write_squad)},
    no_split_hint="MLQA has dev and test only (train on SQuAD v1.1)",
)
_layout(
    "tydiqa",
    {
        "train": (
            _p("tydiqa/tydiqa-goldp-v1.1-train/{name}_tydiqa_train.json", SQUAD),
            _p("tydiqa/tydiqa-goldp-v1.1-train/tydiqa.goldp.{lang}.train.json", SQUAD),
        ),
        "dev": (
            _p("tydiqa/tydiqa-goldp-v1.1-dev/{name}_tydiqa_dev.json", SQUAD),  # per-language fork files
            _p("tydiqa/tydiqa-goldp-v1.1-dev/tydiqa-goldp-dev-{name}.json", SQUAD),  # the official dev tarball
            _p("tydiqa/tydiqa-goldp-v1.1-dev/tydiqa.goldp.{lang}.dev.json", SQUAD),  # XTREME's: answers removed
        ),
        "test": (),  # TyDiQA-GoldP has no public test set: XTREME evaluates on dev
    },
    targets={"train": Target("tydiqa/tydiqa-goldp-v1.1-train/tydiqa.goldp.{lang}.train.json", writers.write_squad),
             "dev": Target("tydiqa/tydiqa-goldp-v1.1-dev/tydiqa-goldp-dev-{name}.json", writers.write_squad)},
    aliases=("tydiqa-goldp",),
    no_split_hint="TyDiQA-GoldP has no public test set; XTREME evaluates on the dev set: use split 'dev'",
)
_layout(
    "stsb",
    {
        split: (
            _p("stsb/stsb-{lang}-" + split + ".csv", STSB),
            _p("stsb/STS-B/" + split + ".tsv", STSB, lang="en"),
            _p("STS-B/" + split + ".tsv", STSB, lang="en"),
            _p("glue_data/STS-B/" + split + ".tsv", STSB, lang="en"),
        )
        for split in SPLITS
    },
    targets={s: Target(f"stsb/stsb-{{lang}}-{s}.csv", writers.write_sts_csv) for s in SPLITS},
    aliases=("sts-b", "sts"),
)
# English only, no language in the file names; labels in the sibling <split>-labels.lst (read_siqa).
_layout(
    "siqa",
    {
        **{
            split: tuple(
                _p(d + split + ".jsonl", SIQA, lang="en")
                for d in ("siqa/socialiqa-train-dev/", "socialiqa-train-dev/", "siqa/", "")
            )
            for split in ("train", "dev")
        },
        "test": (),  # the leaderboard's test labels are not public: evaluate on dev
    },
    targets={s: Target(f"siqa/socialiqa-train-dev/{s}.jsonl", writers.write_siqa) for s in ("train", "dev")},
    aliases=("socialiqa", "social_i_qa"),
    no_split_hint="Social IQa has no public labelled test set: use split 'dev'",
)
# English only. Official file names, in the folder itself, its data/ (the GitHub repositories' layout) or a
# folder named after the task. The test files are unlabelled (label None): dev is the evaluation split.
_layout(
    "hellaswag",
    {
        split: tuple(
            _p(d + "hellaswag_" + name + ".jsonl", HELLASWAG, lang="en")
            for d in ("hellaswag/data/", "hellaswag/", "data/", "")
        )
        for split, name in (("train", "train"), ("dev", "val"), ("test", "test"))
    },
    targets={"train": Target("hellaswag/hellaswag_train.jsonl", writers.write_hellaswag),
             "dev": Target("hellaswag/hellaswag_val.jsonl", writers.write_hellaswag)},
)
_layout(
    "cosmosqa",
    {
        split: tuple(
            _p(d + name + ext, COSMOSQA, lang="en")
            for d in ("cosmosqa/data/", "cosmosqa/", "cosmos_qa/", "data/", "")
            for ext in (".csv", ".jsonl")
        )
        for split, name in (("train", "train"), ("dev", "valid"), ("test", "test"))
    },
    targets={"train": Target("cosmosqa/train.csv", writers.write_cosmosqa), "dev": Target("cosmosqa/valid.csv", writers.write_cosmosqa)},
    aliases=("cosmos_qa",),
)
_layout(
    "commonsenseqa",
    {
        split: tuple(
            _p(d + name, COMMONSENSEQA, lang="en")
            for d in ("commonsenseqa/", "commonsense_qa/", "csqa/", "data/", "")
        )
        for split, name in (
            ("train", "train_rand_split.jsonl"),
            ("dev", "dev_rand_split.jsonl"),
            ("test", "test_rand_split_no_answers.jsonl"),
        )
    },
    targets={"train": Target("commonsenseqa/train_rand_split.jsonl", writers.write_commonsenseqa),
             "dev": Target("commonsenseqa/dev_rand_split.jsonl", writers.write_commonsenseqa)},
    aliases=("commonsense_qa", "csqa"),
)


@dataclass(frozen=True)
class SplitSource:
    """The file(s) of one language of one split and the reader for them. Several files only for UD CoNLL-U
    treebanks of the same language, which are concatenated (as XTREME merges them)."""

    paths: tuple[Path, ...]
    reader: FileReader


def layout_names() -> tuple[str, ...]:
    """Every folder layout's name."""
    return tuple(LAYOUTS)


def canonical_task(task: str) -> str:
    """The layout's canonical name (``paws-x`` -> ``pawsx``, by the layouts' aliases); :class:`ConfigError` with
    did-you-mean if unknown."""
    key = task.strip().lower()
    if key not in LAYOUTS:
        key = next((lay.name for lay in LAYOUTS.values() if key in lay.aliases), key)
    if key not in LAYOUTS:
        raise ConfigError(suggest(task, tuple(LAYOUTS), "task"))
    return key


def get_layout(task: str) -> FolderLayout:
    """The :class:`FolderLayout` called ``task`` (or one of its aliases)."""
    return LAYOUTS[canonical_task(task)]


def canonical_split(split: str) -> str:
    key = split.strip().lower()
    key = _SPLIT_ALIASES.get(key, key)
    if key not in SPLITS:
        raise ConfigError(suggest(split, SPLITS, "split"))
    return key


def _regex(template: str) -> re.Pattern[str]:
    out = []
    seen: set[str] = set()
    for part in re.split(r"(\{lang\}|\{name\}|\*)", template):
        if part in ("{lang}", "{name}"):
            group = part[1:-1]
            # codes are 2-3 letters (ISO 639-1/-3, as in every layout above); names are TyDiQA's lower-case words
            body = "[A-Za-z]{2,3}" if group == "lang" else "[a-z]+"
            out.append(f"(?P={group})" if group in seen else f"(?P<{group}>{body})")
            seen.add(group)
        elif part == "*":
            out.append("[^/]*")
        else:
            out.append(re.escape(part))
    return re.compile("".join(out))


def _language_key(token: str, by_name: bool) -> str | None:
    """Canonical code for a language token from a file name; unknown codes are kept as they are (any language
    present is discovered), unknown names are not languages (skipped)."""
    try:
        return get_language(token).code
    except ConfigError:
        return None if by_name else token


def find_split_sources(task: str, data_dir: str | PathLike[str], split: str) -> dict[str, SplitSource]:
    """Language -> :class:`SplitSource` for every language present for ``task``/``split`` under ``data_dir``."""
    task, split = canonical_task(task), canonical_split(split)
    root = Path(data_dir)
    found: dict[str, SplitSource] = {}
    for pattern in LAYOUTS[task].patterns[split]:
        regex = _regex(pattern.template)
        glob = re.sub(r"\{lang\}|\{name\}", "*", pattern.template)
        per_lang: dict[str, list[Path]] = {}
        for path in sorted(root.glob(glob)):
            if not path.is_file():
                continue
            m = regex.fullmatch(path.relative_to(root).as_posix())
            if m is None:
                continue
            if pattern.lang is not None:
                lang: str | None = pattern.lang
            elif "name" in m.groupdict():
                lang = _language_key(m["name"], by_name=True)
            else:
                lang = _language_key(m["lang"], by_name=False)
            if lang is None or lang in pattern.exclude or lang in found:
                continue
            per_lang.setdefault(lang, []).append(path)
        for lang, paths in per_lang.items():
            found[lang] = SplitSource(tuple(paths), pattern.reader)
    return dict(sorted(found.items()))


def find_split_files(task: str, data_dir: str | PathLike[str], split: str) -> dict[str, Path]:
    """Language -> file for every language present for ``task``/``split`` under ``data_dir`` (empty if none).

    Where a language has several UD treebanks, the value is the first file; :func:`read_split` reads them all.
    """
    return {lang: src.paths[0] for lang, src in find_split_sources(task, data_dir, split).items()}


def _expected_path(task: str, split: str, lang: str, root: Path) -> str:
    name = LANGUAGES[lang].name.lower() if lang in LANGUAGES else lang
    return str(root / LAYOUTS[task].patterns[split][0].template.format(lang=lang, name=name))


def read_split(task: str, data_dir: str | PathLike[str], split: str, lang: str) -> list[Example]:
    """Read one language of one split with the right reader.

    UD-POS CoNLL-U is read in XTREME's form (fused multiword tokens, :func:`read_conllu` ``mode="xtreme"``) so
    it matches XTREME's TSV files. A missing language raises :class:`DataError` naming the expected path and the
    languages present.
    """
    task, split = canonical_task(task), canonical_split(split)
    root = Path(data_dir)
    try:
        code = get_language(lang).code
    except ConfigError:
        code = lang
    if not LAYOUTS[task].patterns[split]:
        raise DataError(f"the {task} task has no {split} split: {LAYOUTS[task].no_split_hint}.")
    sources = find_split_sources(task, root, split)
    if code not in sources:
        present = ", ".join(sources) or "none"
        hint = ""
        if not sources:
            others = [s for s in SPLITS if s != split and find_split_sources(task, root, s)]
            hint = (
                f"; splits with files: {', '.join(others)}"
                if others
                else f"; check that {root} is the XTREME download folder"
            )
        raise DataError(
            f"no {task} {split} data for language {lang!r}: expected {_expected_path(task, split, code, root)}; "
            f"languages present: {present}{hint}."
        )
    src = sources[code]
    examples: list[Example] = []
    for path in src.paths:
        check_signature(path, src.reader.name, task)  # a file of another task's format under this task's name
        examples.extend(src.reader(path, code))
    if len(src.paths) > 1:  # keep ids the 0-based position in the concatenation
        examples = [dataclasses.replace(ex, id=str(i)) for i, ex in enumerate(examples)]
    return examples


__all__ = [
    "LAYOUTS",
    "SPLITS",
    "FolderLayout",
    "SplitSource",
    "Target",
    "canonical_split",
    "canonical_task",
    "find_split_files",
    "find_split_sources",
    "get_layout",
    "layout_names",
    "read_split",
]
