"""Readers for token tagging: CoNLL-U (UD) and XTREME's ``token<TAB>tag`` files -> :class:`TagExample`."""

from __future__ import annotations

from typing import Literal

from adapterx.data.examples import TagExample
from adapterx.data.readers.files import PathArg, note_origin, numbered_lines
from adapterx.errors import DataError

ConlluMode = Literal["words", "xtreme"]

# ud-conversion-tools (XTREME third_party/ud-conversion-tools/conllu_to_conll.py) picks the head of a multiword token
# among its highest words by this UPOS precedence; es/fr/it have their own lists, every other language the default.
_POS_PRECEDENCE: dict[str, tuple[str, ...]] = {
    "default": tuple("VERB NOUN PROPN PRON ADJ NUM ADV INTJ AUX ADP DET PART CCONJ SCONJ X PUNCT".split()),
    "es": tuple("VERB AUX PRON ADP DET".split()),
    "fr": tuple("VERB AUX PRON NOUN ADJ ADV ADP DET PART SCONJ CONJ".split()),
    "it": tuple("VERB AUX ADV PRON ADP DET INTJ".split()),
}


class _Word:
    __slots__ = ("form", "head", "id", "upos")

    def __init__(self, id: int, form: str, upos: str, head: int | None) -> None:
        self.id, self.form, self.upos, self.head = id, form, upos, head


def _span_head(words: dict[int, _Word], span: range, precedence: tuple[str, ...]) -> int:
    """The word of a multiword token that ud-conversion-tools keeps: the single word closest to the root, else the
    highest word with the best-ranked UPOS, else the first word (no syntax, unranked tags)."""

    def depth(i: int) -> int | None:
        seen: set[int] = set()
        d = 0
        while i != 0:
            if i in seen or i not in words or words[i].head is None:
                return None  # cycle or missing HEAD: fall back below
            seen.add(i)
            i = words[i].head  # type: ignore[assignment]
            d += 1
        return d

    ids = [i for i in span if i in words]
    depths = [depth(i) for i in ids]
    if not ids or any(d is None for d in depths):
        return ids[0] if ids else span.start
    top = min(depths)  # type: ignore[type-var]
    highest = [i for i, d in zip(ids, depths) if d == top]
    if len(highest) == 1:
        return highest[0]
    ranked = [i for i in highest if words[i].upos in precedence]
    if ranked:
        return min(ranked, key=lambda i: precedence.index(words[i].upos))
    return highest[0]


def read_conllu(path: PathArg, mode: ConlluMode = "words", lang: str | None = None) -> list[TagExample]:
    """CoNLL-U -> one :class:`TagExample` per sentence with the UPOS column as tags.

    Comment lines (``#``) and empty nodes (``1.1``) are skipped. Multiword tokens (``3-4``):

    - ``mode="words"`` (default): the range line is skipped and the syntactic words are kept, each with its UPOS
      (the UD view; note some treebanks, e.g. Marathi-UFAL, write ``_`` as the FORM of such words);
    - ``mode="xtreme"``: reproduces XTREME's UD-POS files (``download_data.sh``: ``conllu_to_conll.py
      --replace_subtokens_with_fused_forms``, then ``utils_preprocess.py``): the surface (fused) form replaces the
      words, tagged with the UPOS of the word closest to the root (ties broken by ud-conversion-tools' UPOS
      precedence, language ``lang``), U+200C and spaces are removed from forms, and sentences whose forms are
      all (or all but one) ``_`` are dropped.
    """
    if mode not in ("words", "xtreme"):
        raise ValueError(f"mode must be 'words' or 'xtreme', not {mode!r}")
    precedence = _POS_PRECEDENCE.get(lang or "default", _POS_PRECEDENCE["default"])
    out: list[TagExample] = []
    words: dict[int, _Word] = {}
    order: list[int] = []
    multi: list[tuple[int, int, str]] = []

    def flush() -> None:
        if not order:
            return
        if mode == "words":
            tokens = [words[i].form for i in order]
            tags = [words[i].upos for i in order]
        else:
            tokens, tags = [], []
            starts = {a: (b, form) for a, b, form in multi}
            i_pos = 0
            while i_pos < len(order):
                wid = order[i_pos]
                if wid in starts:
                    end, form = starts[wid]
                    head = _span_head(words, range(wid, end + 1), precedence)
                    tokens.append(form)
                    tags.append(words[head].upos if head in words else words[wid].upos)
                    while i_pos < len(order) and order[i_pos] <= end:
                        i_pos += 1
                    continue
                tokens.append(words[wid].form)
                tags.append(words[wid].upos)
                i_pos += 1
            # XTREME's utils_preprocess: drop form-less sentences, strip ZWNJ and spaces inside forms
            n_empty = sum(t == "_" for t in tokens)
            if n_empty and n_empty >= len(tokens) - 1:
                tokens = []
            tokens = ["".join(t.replace("\u200c", "").split(" ")) for t in tokens]
        if tokens:
            out.append(TagExample(id=str(len(out)), tokens=tuple(tokens), tags=tuple(tags)))
            note_origin(f"{path}:{start[0]}")

    start = [0]  # the first line of the sentence being read
    for n, line in numbered_lines(path):
        if not line.strip():
            flush()
            words, order, multi = {}, [], []
            start[0] = 0
            continue
        start[0] = start[0] or n
        if line.startswith("#"):
            continue
        cols = line.split("\t")
        if len(cols) != 10:
            raise DataError(
                f"{path}:{n}: expected 10 tab-separated CoNLL-U columns, found {len(cols)}; fix the line "
                "(spaces instead of tabs?)."
            )
        wid = cols[0]
        if "." in wid:  # empty node of enhanced dependencies: not a token
            continue
        if "-" in wid:
            a, _, b = wid.partition("-")
            if not (a.isdigit() and b.isdigit()):
                raise DataError(f"{path}:{n}: bad multiword-token ID {wid!r}; expected 'start-end' like '3-4'.")
            multi.append((int(a), int(b), cols[1]))
            continue
        if not wid.isdigit():
            raise DataError(f"{path}:{n}: bad word ID {wid!r}; expected an integer, a range '3-4' or '3.1'.")
        head = int(cols[6]) if cols[6].isdigit() else None
        words[int(wid)] = _Word(int(wid), cols[1], cols[3], head)
        order.append(int(wid))
    flush()
    if not out:
        raise DataError(f"{path}: no sentences found; is this a CoNLL-U file?")
    return out


def read_token_tags(path: PathArg) -> list[TagExample]:
    """XTREME's tagging files (PAN-X, UD-POS): one ``token<TAB>tag`` per line, a blank line between sentences.

    Test files written with tokens only (XTREME strips PAN-X test tags) give ``tags=None``. Tolerates CRLF, a BOM,
    trailing spaces/tabs, several blank lines and a last sentence without a trailing blank line. A file mixing
    tagged and untagged lines, or a line with more than two fields, is a :class:`DataError`.
    """
    out: list[TagExample] = []
    tokens: list[str] = []
    tags: list[str] = []
    tagged: bool | None = None  # decided by the first token line of the file

    def flush() -> None:
        if tokens:
            out.append(TagExample(str(len(out)), tuple(tokens), tuple(tags) if tagged else None))
            note_origin(f"{path}:{start[0]}")
        tokens.clear()
        start[0] = 0
        tags.clear()

    start = [0]  # the first line of the sentence being read
    for n, line in numbered_lines(path):
        line = line.rstrip(" \t")
        if not line.strip():
            flush()
            continue
        start[0] = start[0] or n
        fields = line.split("\t")
        if len(fields) > 2:
            raise DataError(
                f"{path}:{n}: expected 'token<TAB>tag', found "
                f"{len(fields)} tab-separated fields; fix the line."
            )
        has_tag = len(fields) == 2
        if tagged is None:
            tagged = has_tag
        elif has_tag != tagged:
            what = "has a tag but earlier lines have none" if has_tag else "has no tag but earlier lines do"
            raise DataError(f"{path}:{n}: line {what}; every token line must be 'token<TAB>tag' (or all tokens only).")
        token = fields[0].strip(" ")
        if has_tag and not fields[1].strip():
            raise DataError(f"{path}:{n}: empty tag for token {token!r}.")
        tokens.append(token)
        if has_tag:
            tags.append(fields[1].strip())
    flush()
    if not out:
        raise DataError(f"{path}: no sentences found.")
    return out
