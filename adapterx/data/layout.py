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
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from dataclasses import dataclass
from os import PathLike
from pathlib import Path

from adapterx.data.examples import Example
from adapterx.data.readers import (
    read_commonsenseqa,
    read_conllu,
    read_copa,
    read_cosmosqa,
    read_hellaswag,
    read_pawsx,
    read_siqa,
    read_squad,
    read_stsb,
    read_token_tags,
    read_xnli,
)
from adapterx.data.readers.signature import check_signature
from adapterx.errors import ConfigError, DataError
from adapterx.languages import LANGUAGES, get_language
from adapterx.registry import suggest

TASKS: tuple[str, ...] = (
    "xnli", "pawsx", "xcopa", "udpos", "panx", "xquad", "mlqa", "tydiqa", "stsb", "siqa",
    "hellaswag", "cosmosqa", "commonsenseqa",
)
# tasks evaluated on dev by default (default_eval_split): no public labelled test set
_DEV_EVAL: tuple[str, ...] = ("panx", "tydiqa", "siqa", "hellaswag", "cosmosqa", "commonsenseqa")
SPLITS: tuple[str, ...] = ("train", "dev", "test")

_TASK_ALIASES = {
    "paws-x": "pawsx",
    "wikiann": "panx",
    "pan-x": "panx",
    "ner": "panx",
    "ud-pos": "udpos",
    "pos": "udpos",
    "tydiqa-goldp": "tydiqa",
    "sts-b": "stsb",
    "sts": "stsb",
    "copa": "xcopa",
    "socialiqa": "siqa",
    "social_i_qa": "siqa",
    "cosmos_qa": "cosmosqa",
    "commonsense_qa": "commonsenseqa",
    "csqa": "commonsenseqa",
}
_SPLIT_ALIASES = {"validation": "dev", "val": "dev", "eval": "dev"}


@dataclass(frozen=True)
class _Pattern:
    """A file pattern relative to the data folder.

    ``template`` may hold ``{lang}`` (the language code as in the file name), ``{name}`` (the lower-case English
    language name, TyDiQA's convention) and ``*``. ``lang`` fixes the language for files without a code in their
    name; ``exclude`` drops codes whose files are known not to be usable.
    """

    template: str
    reader: str
    lang: str | None = None
    exclude: frozenset[str] = frozenset()


def _p(template: str, reader: str, lang: str | None = None, exclude: tuple[str, ...] = ()) -> _Pattern:
    return _Pattern(template, reader, lang, frozenset(exclude))


_PAWSX_DIRS = ("paws-x", "pawsx")  # shared/data uses paws-x/, XTREME's download script pawsx/

# task -> split -> patterns in order of precedence
_PATTERNS: dict[str, dict[str, tuple[_Pattern, ...]]] = {
    "xnli": {
        "train": (_p("xnli/train-{lang}.tsv", "xnli"), _p("xnli/{lang}/train.jsonl", "xnli")),
        "dev": (_p("xnli/dev-{lang}.tsv", "xnli"), _p("xnli/{lang}/dev.jsonl", "xnli")),
        "test": (
            _p("xnli/test-labelled/{lang}/test.jsonl", "xnli"),
            _p("xnli/{lang}/test.jsonl", "xnli"),
            _p("xnli/test-{lang}.tsv", "xnli"),  # XTREME's copy: 2 columns, labels removed
        ),
    },
    "pawsx": {
        "train": tuple(
            p
            for d in _PAWSX_DIRS
            for p in (_p(d + "/train-{lang}.tsv", "pawsx"), _p(d + "/x-final/{lang}/train.tsv", "pawsx"))
        ),
        "dev": tuple(
            p
            for d in _PAWSX_DIRS
            for p in (_p(d + "/dev-{lang}.tsv", "pawsx"), _p(d + "/x-final/{lang}/dev_2k.tsv", "pawsx"))
        ),
        "test": tuple(_p(d + "/test-labelled/test-{lang}.tsv", "pawsx") for d in _PAWSX_DIRS)
        + tuple(_p(d + "/x-final/{lang}/test_2k.tsv", "pawsx") for d in _PAWSX_DIRS)
        + tuple(_p(d + "/test-{lang}.tsv", "pawsx") for d in _PAWSX_DIRS),  # XTREME's copies: labels removed
    },
    "xcopa": {
        "train": (
            _p("xcopa/en-copa/train-{lang}.jsonl", "copa"),
            _p("xcopa/train-{lang}.jsonl", "copa"),
            _p("xcopa/train.{lang}.jsonl", "copa"),
            _p("xcopa/{lang}/train.{lang}.jsonl", "copa"),
        ),
        "dev": (
            _p("xcopa/{lang}/val.{lang}.jsonl", "copa"),
            _p("xcopa/en-copa/val-{lang}.jsonl", "copa"),
            _p("xcopa/val.{lang}.jsonl", "copa"),
            _p("xcopa/val-{lang}.jsonl", "copa"),
        ),
        # English COPA test: SuperGLUE's has no labels and XTREME's renamed copy sets every label to 0.
        "test": (
            _p("xcopa/{lang}/test.{lang}.jsonl", "copa", exclude=("en",)),
            _p("xcopa/test.{lang}.jsonl", "copa", exclude=("en",)),
        ),
    },
    "udpos": {
        split: (
            _p("udpos/" + split + "-{lang}.tsv", "token_tags"),
            _p("udpos/ud-treebanks-v*/UD_*/{lang}_*-ud-" + split + ".conllu", "conllu"),
            _p("udpos/UD_*/{lang}_*-ud-" + split + ".conllu", "conllu"),
        )
        for split in SPLITS
    },
    "panx": {split: (_p("panx/" + split + "-{lang}.tsv", "token_tags"),) for split in SPLITS},
    "xquad": {"train": (), "dev": (), "test": (_p("xquad/xquad.{lang}.json", "squad"),)},
    "mlqa": {
        "train": (),
        **{
            split: (_p(f"mlqa/MLQA_V1/{split}/{split}-context-{{lang}}-question-{{lang}}.json", "squad"),)
            for split in ("dev", "test")
        },
    },
    "tydiqa": {
        "train": (
            _p("tydiqa/tydiqa-goldp-v1.1-train/{name}_tydiqa_train.json", "squad"),
            _p("tydiqa/tydiqa-goldp-v1.1-train/tydiqa.goldp.{lang}.train.json", "squad"),
        ),
        "dev": (
            _p("tydiqa/tydiqa-goldp-v1.1-dev/{name}_tydiqa_dev.json", "squad"),  # per-language fork files
            _p("tydiqa/tydiqa-goldp-v1.1-dev/tydiqa-goldp-dev-{name}.json", "squad"),  # the official dev tarball
            _p("tydiqa/tydiqa-goldp-v1.1-dev/tydiqa.goldp.{lang}.dev.json", "squad"),  # XTREME's: answers removed
        ),
        "test": (),  # TyDiQA-GoldP has no public test set: XTREME evaluates on dev
    },
    "stsb": {
        split: (
            _p("stsb/stsb-{lang}-" + split + ".csv", "stsb"),
            _p("stsb/STS-B/" + split + ".tsv", "stsb", lang="en"),
            _p("STS-B/" + split + ".tsv", "stsb", lang="en"),
            _p("glue_data/STS-B/" + split + ".tsv", "stsb", lang="en"),
        )
        for split in SPLITS
    },
    # English only, no language in the file names; labels in the sibling <split>-labels.lst (read_siqa).
    "siqa": {
        **{
            split: tuple(
                _p(d + split + ".jsonl", "siqa", lang="en")
                for d in ("siqa/socialiqa-train-dev/", "socialiqa-train-dev/", "siqa/", "")
            )
            for split in ("train", "dev")
        },
        "test": (),  # the leaderboard's test labels are not public: evaluate on dev
    },
    # English only. Official file names, in the folder itself, its data/ (the GitHub repositories' layout) or a
    # folder named after the task. The test files are unlabelled (label None): dev is the evaluation split.
    "hellaswag": {
        split: tuple(
            _p(d + "hellaswag_" + name + ".jsonl", "hellaswag", lang="en")
            for d in ("hellaswag/data/", "hellaswag/", "data/", "")
        )
        for split, name in (("train", "train"), ("dev", "val"), ("test", "test"))
    },
    "cosmosqa": {
        split: tuple(
            _p(d + name + ext, "cosmosqa", lang="en")
            for d in ("cosmosqa/data/", "cosmosqa/", "cosmos_qa/", "data/", "")
            for ext in (".csv", ".jsonl")
        )
        for split, name in (("train", "train"), ("dev", "valid"), ("test", "test"))
    },
    "commonsenseqa": {
        split: tuple(
            _p(d + name, "commonsenseqa", lang="en")
            for d in ("commonsenseqa/", "commonsense_qa/", "csqa/", "data/", "")
        )
        for split, name in (
            ("train", "train_rand_split.jsonl"),
            ("dev", "dev_rand_split.jsonl"),
            ("test", "test_rand_split_no_answers.jsonl"),
        )
    },
}

_READERS: dict[str, Callable[..., list]] = {
    "xnli": read_xnli,
    "pawsx": read_pawsx,
    "copa": read_copa,
    "token_tags": read_token_tags,
    "squad": read_squad,
    "stsb": read_stsb,
    "siqa": read_siqa,
    "hellaswag": read_hellaswag,
    "cosmosqa": read_cosmosqa,
    "commonsenseqa": read_commonsenseqa,
}


@dataclass(frozen=True)
class SplitSource:
    """The file(s) of one language of one split and the reader for them. Several files only for UD CoNLL-U
    treebanks of the same language, which are concatenated (as XTREME merges them)."""

    paths: tuple[Path, ...]
    reader: str


def canonical_task(task: str) -> str:
    """The task's canonical name (``paws-x`` -> ``pawsx``); :class:`ConfigError` with did-you-mean if unknown."""
    key = task.strip().lower()
    key = _TASK_ALIASES.get(key, key)
    if key not in _PATTERNS:
        raise ConfigError(suggest(task, TASKS, "task"))
    return key


def canonical_split(split: str) -> str:
    key = split.strip().lower()
    key = _SPLIT_ALIASES.get(key, key)
    if key not in SPLITS:
        raise ConfigError(suggest(split, SPLITS, "split"))
    return key


def default_eval_split(task: str) -> str:
    """The split zero-shot evaluation uses by default: ``test``, except ``dev`` for PAN-X (the public test files
    have no tags: XTREME scores them on its leaderboard only) and TyDiQA-GoldP (no test set; XTREME's "test" is
    the dev set), and Social IQa, HellaSwag, Cosmos QA and CommonsenseQA (no public labelled test set)."""
    return "dev" if canonical_task(task) in _DEV_EVAL else "test"


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
    for pattern in _PATTERNS[task][split]:
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


_NO_SPLIT_HINT = {
    "xquad": "XQuAD is test-only (train and select on SQuAD v1.1)",
    "mlqa": "MLQA has dev and test only (train on SQuAD v1.1)",
    "tydiqa": "TyDiQA-GoldP has no public test set; XTREME evaluates on the dev set: use split 'dev'",
    "siqa": "Social IQa has no public labelled test set: use split 'dev'",
}


def _expected_path(task: str, split: str, lang: str, root: Path) -> str:
    name = LANGUAGES[lang].name.lower() if lang in LANGUAGES else lang
    return str(root / _PATTERNS[task][split][0].template.format(lang=lang, name=name))


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
    if not _PATTERNS[task][split]:
        raise DataError(f"the {task} task has no {split} split: {_NO_SPLIT_HINT.get(task, 'use another split')}.")
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
        check_signature(path, src.reader, task)  # a file of another task's format under this task's name
        if src.reader == "conllu":
            examples.extend(read_conllu(path, mode="xtreme", lang=code))
        else:
            examples.extend(_READERS[src.reader](path))
    if len(src.paths) > 1:  # keep ids the 0-based position in the concatenation
        examples = [dataclasses.replace(ex, id=str(i)) for i, ex in enumerate(examples)]
    return examples


__all__ = [
    "SPLITS",
    "TASKS",
    "SplitSource",
    "canonical_split",
    "canonical_task",
    "default_eval_split",
    "find_split_files",
    "find_split_sources",
    "read_split",
]
