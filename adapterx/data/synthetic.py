"""Synthetic multilingual data with real, learnable, transferable signal.

Why: no real weights or data sets can be downloaded here, yet tests must show that the pipeline *learns* and that
an English-trained module *transfers*. So every language is built from one shared list of concepts:

- concept ``i`` has an English stem (a pronounceable random string);
- in language ``L`` the concept's surface word is the English word itself (a shared "cognate": the same tokens, so a
  model trained on English recognises it), except for a fraction of concepts, growing as the language's resource
  class falls, that get a fresh, language-specific word (no transfer possible). An earlier version added a
  language suffix to shared stems; the Unigram tokenizer then split ``stem+suffix`` into pieces unrelated to the
  English ``stem`` and nothing transferred, so shared words are now spelled identically;
- concepts belong to classes (entity types, parts of speech) so that tags, labels, answers and similarity
  scores are all functions of the concepts a sentence holds.

Every generator is a pure function of (task kind, language, split, size, seed): same arguments, same examples.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from adapterx.data.examples import (
    Answer,
    ChoiceExample,
    PairExample,
    ParallelCorpus,
    QAExample,
    TagExample,
)

N_CONCEPTS = 240
# Concept classes: the first 7 (x 20 concepts) mirror UPOS tags, three of them double as entity types.
UPOS_CLASSES = ("NOUN", "VERB", "ADJ", "ADV", "PROPN", "NUM", "ADP")
ENTITY_OF_CLASS = {"PROPN": "PER", "NOUN": "LOC", "NUM": "ORG"}
CONCEPTS_PER_CLASS = 20
# Concepts 140..239 are "plain" words: class X, no entity.
_CONS = "bcdfghjklmnprstvz"
_VOWELS = "aeiou"


def _rng(*parts: object) -> random.Random:
    # Seed from a stable hash: Python's hash() of str is salted per process, sha256 is not.
    digest = hashlib.sha256("\x1f".join(map(str, parts)).encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "little"))


def _word(rng: random.Random, syllables: int) -> str:
    return "".join(rng.choice(_CONS) + rng.choice(_VOWELS) for _ in range(syllables))


@lru_cache(maxsize=None)
def english_stems() -> tuple[str, ...]:
    """One unique stem per concept (2-3 syllables)."""
    rng = _rng("stems")
    seen: set[str] = set()
    out: list[str] = []
    while len(out) < N_CONCEPTS:
        w = _word(rng, rng.choice((2, 3)))
        if w not in seen:
            seen.add(w)
            out.append(w)
    return tuple(out)


def concept_class(concept: int) -> str:
    """UPOS-like class of a concept (``X`` for the plain words)."""
    idx = concept // CONCEPTS_PER_CLASS
    return UPOS_CLASSES[idx] if idx < len(UPOS_CLASSES) else "X"


def divergence(lang: str) -> float:
    """Fraction of concepts whose word in ``lang`` shares nothing with English.

    Falls with resource class (0 -> 0.6, 5 -> 0.1): low-resource languages transfer worse, as in XTREME-R.
    """
    if lang == "en":
        return 0.0
    try:
        from adapterx.languages import get_language

        cls = get_language(lang).joshi_class
    except Exception:  # unknown code or table not importable: a mid-resource default
        cls = 3
    return 0.6 - 0.1 * cls


@lru_cache(maxsize=None)
def lexicon(lang: str) -> tuple[str, ...]:
    """Surface word of every concept in ``lang``."""
    stems = english_stems()
    if lang == "en":
        return stems
    rng = _rng("lexicon", lang)
    p_fresh = divergence(lang)
    # Fresh words get a language-specific final consonant cluster, so no two languages share them by chance.
    ending = rng.choice(_CONS) + rng.choice(_CONS)
    return tuple(_word(rng, 3) + ending if rng.random() < p_fresh else stem for stem in stems)


def _sentence(rng: random.Random, n: int) -> list[int]:
    return rng.sample(range(N_CONCEPTS), n)


def _render(concepts: Sequence[int], lang: str) -> str:
    lex = lexicon(lang)
    return " ".join(lex[c] for c in concepts)


def corpus(lang: str, n: int, seed: int = 0) -> list[str]:
    """Unlabelled sentences (tokenizer training, language-adapter MLM)."""
    rng = _rng("corpus", lang, seed)
    return [_render(_sentence(rng, rng.randint(4, 12)), lang) for _ in range(n)]


# --------------------------------------------------------------------------- task generators
# Each returns examples with the label names of the real task, so the synthetic stand-in looks like the task.


def sts(lang: str, n: int, seed: int = 0, split: str = "train") -> list[PairExample]:
    """STS-like pairs: the score (0-5) is 5 x the Jaccard overlap of the two concept sets, plus small noise."""
    rng = _rng("sts", lang, split, seed)
    out = []
    for i in range(n):
        a = _sentence(rng, rng.randint(4, 8))
        keep = rng.randint(0, len(a))
        b = rng.sample(a, keep) + _sentence(rng, rng.randint(1, 4))
        b = list(dict.fromkeys(b))
        rng.shuffle(b)
        jac = len(set(a) & set(b)) / len(set(a) | set(b))
        score = min(5.0, max(0.0, 5 * jac + rng.gauss(0, 0.1)))
        out.append(PairExample(str(i), _render(a, lang), _render(b, lang), round(score, 3)))
    return out


NLI_LABELS = ("entailment", "neutral", "contradiction")


def nli(lang: str, n: int, seed: int = 0, split: str = "train", labels: Sequence[str] = NLI_LABELS) -> list[PairExample]:
    """Sentence-pair classification: a marker concept (a "plain" concept, 200 + label index) in the second text
    carries the label."""
    rng = _rng("nli", lang, split, seed, len(labels))
    markers = {lab: 200 + k for k, lab in enumerate(labels)}
    out = []
    for i in range(n):
        lab = labels[i % len(labels)]
        a = _sentence(rng, rng.randint(4, 8))
        b = [c for c in rng.sample(a, min(3, len(a))) if c < 200] + [markers[lab]]
        rng.shuffle(b)
        out.append(PairExample(str(i), _render(a, lang), _render(b, lang), lab))
    rng.shuffle(out)
    return [PairExample(str(k), e.text_a, e.text_b, e.label) for k, e in enumerate(out)]


def paraphrase(lang: str, n: int, seed: int = 0, split: str = "train") -> list[PairExample]:
    """PAWS-like: label "1" when both texts hold the same concepts (in another order), else "0"."""
    rng = _rng("paws", lang, split, seed)
    out = []
    for i in range(n):
        a = _sentence(rng, rng.randint(4, 8))
        if i % 2 == 0:
            b = a[:]
            rng.shuffle(b)
            lab = "1"
        else:
            b = a[:]
            b[rng.randrange(len(b))] = rng.choice([c for c in range(N_CONCEPTS) if c not in a])
            rng.shuffle(b)
            lab = "0"
        out.append(PairExample(str(i), _render(a, lang), _render(b, lang), lab))
    return out


def sentiment(lang: str, n: int, seed: int = 0, split: str = "train") -> list[PairExample]:
    """Single-sentence classification (SST-2-like): label "1" if positive markers outnumber negative ones."""
    rng = _rng("sst", lang, split, seed)
    pos, neg = (40, 41, 42), (43, 44, 45)
    out = []
    for i in range(n):
        lab = str(i % 2)
        s = _sentence(rng, rng.randint(3, 7))
        s = [c for c in s if c not in pos + neg] + [rng.choice(pos if lab == "1" else neg)]
        rng.shuffle(s)
        out.append(PairExample(str(i), _render(s, lang), None, lab))
    return out


def choice(lang: str, n: int, seed: int = 0, split: str = "train", n_choices: int = 2) -> list[ChoiceExample]:
    """COPA-like multiple choice: the right option shares a concept with the premise, the others do not."""
    rng = _rng("choice", lang, split, seed, n_choices)
    out = []
    for i in range(n):
        premise = _sentence(rng, rng.randint(4, 7))
        label = rng.randrange(n_choices)
        options = []
        for k in range(n_choices):
            pool = [c for c in range(N_CONCEPTS) if c not in premise]
            opt = rng.sample(pool, 3)
            if k == label:
                opt[rng.randrange(3)] = rng.choice(premise)
            options.append(_render(opt, lang))
        question = rng.choice(("cause", "effect"))
        out.append(ChoiceExample(str(i), _render(premise, lang), question, tuple(options), label))
    return out


def qa(lang: str, n: int, seed: int = 0, split: str = "train") -> list[QAExample]:
    """Span QA: the question names a cue concept; the answer is the word right after the cue in the context."""
    rng = _rng("qa", lang, split, seed)
    lex = lexicon(lang)
    out = []
    for i in range(n):
        ctx = _sentence(rng, rng.randint(12, 40))
        pos = rng.randrange(len(ctx) - 1)
        cue, ans = ctx[pos], ctx[pos + 1]
        words = [lex[c] for c in ctx]
        start = sum(len(w) + 1 for w in words[: pos + 1])
        question = _render([cue] + _sentence(rng, 2), lang)
        context = " ".join(words)
        assert context[start : start + len(lex[ans])] == lex[ans]
        out.append(QAExample(f"{lang}-{split}-{i}", context, question, (Answer(lex[ans], start),)))
    return out


def upos(lang: str, n: int, seed: int = 0, split: str = "train") -> list[TagExample]:
    """POS tagging: a word's tag is its concept's class."""
    rng = _rng("upos", lang, split, seed)
    out = []
    for i in range(n):
        s = _sentence(rng, rng.randint(4, 14))
        out.append(TagExample(str(i), tuple(lexicon(lang)[c] for c in s), tuple(concept_class(c) for c in s)))
    return out


def ner(lang: str, n: int, seed: int = 0, split: str = "train") -> list[TagExample]:
    """IOB2 NER: entity-class concepts form entities; two neighbours of the same type make one two-word entity."""
    rng = _rng("ner", lang, split, seed)
    out = []
    for i in range(n):
        s = _sentence(rng, rng.randint(4, 14))
        tags: list[str] = []
        for k, c in enumerate(s):
            ent = ENTITY_OF_CLASS.get(concept_class(c))
            if ent is None:
                tags.append("O")
            elif k > 0 and ENTITY_OF_CLASS.get(concept_class(s[k - 1])) == ent:
                tags.append(f"I-{ent}")
            else:
                tags.append(f"B-{ent}")
        out.append(TagExample(str(i), tuple(lexicon(lang)[c] for c in s), tuple(tags)))
    return out


def parallel(lang: str, n: int, seed: int = 0, split: str = "test") -> ParallelCorpus:
    """Translations share concepts: line i of ``lang`` renders the same concepts as line i of English."""
    rng = _rng("parallel", lang, split, seed)
    sents = [_sentence(rng, rng.randint(4, 10)) for _ in range(n)]
    return ParallelCorpus(
        source=tuple(_render(s, lang) for s in sents),
        target=tuple(_render(s, "en") for s in sents),
        source_lang=lang,
        target_lang="en",
    )


@dataclass(frozen=True)
class SyntheticSpec:
    """How a task's synthetic stand-in is made: the generator name and its sizes per split."""

    generator: str
    train_size: int = 512
    dev_size: int = 128
    test_size: int = 128


GENERATORS = {
    "sts": sts,
    "nli": nli,
    "paraphrase": paraphrase,
    "sentiment": sentiment,
    "choice": choice,
    "qa": qa,
    "upos": upos,
    "ner": ner,
}


def generate(spec: SyntheticSpec, lang: str, split: str, seed: int = 0, **kwargs: object) -> list:
    """Examples of the synthetic stand-in ``spec`` for one language and split."""
    size = {"train": spec.train_size, "dev": spec.dev_size, "validation": spec.dev_size}.get(split, spec.test_size)
    return GENERATORS[spec.generator](lang, size, seed=seed, split=split, **kwargs)  # type: ignore[operator]
