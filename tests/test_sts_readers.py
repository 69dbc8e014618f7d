"""STS family readers: SICK and SemEval STS 2012-2016, on fixtures written in the published formats."""

from __future__ import annotations

from pathlib import Path

import pytest

from adapterx.data.examples import PairExample
from adapterx.data.readers.sts import (
    find_sts,
    load_sts_folder,
    normalise_score,
    read_sick,
    read_sts,
)
from adapterx.errors import ConfigError, DataError

SICK_2014_HEADER = "pair_ID\tsentence_A\tsentence_B\trelatedness_score\tentailment_judgment"
SICK_FULL_HEADER = (
    "pair_ID\tsentence_A\tsentence_B\tentailment_label\trelatedness_score\tentailment_AB\tentailment_BA\t"
    "sentence_A_original\tsentence_B_original\tsentence_A_dataset\tsentence_B_dataset\tSemEval_set"
)


def _write(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def _full_row(pid: int, a: str, b: str, score: str, split: str) -> str:
    return "\t".join([str(pid), a, b, "NEUTRAL", score, "A_neutral_B", "B_neutral_A", a, b, "FLICKR", "FLICKR", split])


def test_normalise_score() -> None:
    assert normalise_score(1.0, 1, 5) == 0.0
    assert normalise_score(3.0, 1, 5) == 2.5
    assert normalise_score(4.5, 1, 5) == 4.375
    assert normalise_score(5.0, 1, 5) == 5.0
    assert normalise_score(0.25, 0, 1) == 1.25
    with pytest.raises(ConfigError, match="empty"):
        normalise_score(1.0, 5, 5)
    with pytest.raises(ValueError, match="outside"):
        normalise_score(0.5, 1, 5)


def test_sick_semeval_2014_file(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "SICK_train.txt",
        [
            SICK_2014_HEADER,
            "1\tA group of kids is playing in a yard\tA group of boys in a yard is playing\t4.5\tNEUTRAL",
            '2\tA man is playing a "flute"\tA man is eating\t1\tCONTRADICTION',
            "",  # a trailing blank line holds no pair
        ],
    )
    got = read_sick(path)
    assert got == [
        PairExample("0", "A group of kids is playing in a yard", "A group of boys in a yard is playing", 4.375),
        PairExample("1", 'A man is playing a "flute"', "A man is eating", 0.0),
    ]
    assert [e.label for e in read_sick(path, normalise=False)] == [4.5, 1.0]
    with pytest.raises(DataError, match="no SemEval_set column"):
        read_sick(path, split="train")


def test_sick_full_file_split_filter(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "SICK.txt",
        [
            SICK_FULL_HEADER,
            _full_row(1, "a", "b", "3", "TRAIN"),
            _full_row(2, "c", "d", "5", "TRIAL"),
            _full_row(3, "e", "f", "2", "TEST"),
            _full_row(4, "g", "h", "4", "TRAIN"),
        ],
    )
    assert [(e.id, e.label) for e in read_sick(path)] == [("0", 2.5), ("1", 5.0), ("2", 1.25), ("3", 3.75)]
    assert [e.id for e in read_sick(path, "train")] == ["0", "3"]  # ids stay file positions
    assert [e.text_a for e in read_sick(path, "dev")] == ["c"]
    assert [e.text_b for e in read_sick(path, "TEST")] == ["f"]
    with pytest.raises(ConfigError, match="unknown SICK split"):
        read_sick(path, "validation")


def test_sick_malformed(tmp_path: Path) -> None:
    bad_header = _write(tmp_path / "a.txt", ["pair_ID\tsentence_A\tsentence_B\tscore", "1\ta\tb\t3"])
    with pytest.raises(DataError, match=r"a\.txt:1: the header has no 'relatedness_score'"):
        read_sick(bad_header)
    fields = _write(tmp_path / "b.txt", [SICK_2014_HEADER, "1\ta\tb\t3\tNEUTRAL", "2\ta\tb\t3"])
    with pytest.raises(DataError, match=r"b\.txt:3: 4 tab-separated fields, the header has 5"):
        read_sick(fields)
    low = _write(tmp_path / "c.txt", [SICK_2014_HEADER, "1\ta\tb\t0.5\tNEUTRAL"])
    with pytest.raises(DataError, match=r"c\.txt:2: relatedness_score 0.5 is outside 1-5"):
        read_sick(low)
    nan = _write(tmp_path / "d.txt", [SICK_2014_HEADER, "1\ta\tb\tfour\tNEUTRAL"])
    with pytest.raises(DataError, match=r"d\.txt:2: relatedness_score 'four' is not a number"):
        read_sick(nan)


def _sts_2012(folder: Path) -> Path:
    folder.mkdir()
    _write(folder / "STS.input.MSRpar.txt", ["The cat sat.\tA cat was sitting.", 'He left.\tShe "stayed".'])
    _write(folder / "STS.gs.MSRpar.txt", ["4.000", "0.500"])
    _write(folder / "STS.input.surprise.OnWN.txt", ["a\tb"])
    _write(folder / "STS.gs.surprise.OnWN.txt", ["5"])
    _write(folder / "STS.gs.ALL.txt", ["4.000", "0.500", "5"])  # gold without input: ignored
    _write(folder / "00-readme.txt", ["readme"])
    return folder


def test_sts_2012_folder(tmp_path: Path) -> None:
    folder = _sts_2012(tmp_path / "STS2012-test")
    assert list(find_sts(folder)) == ["MSRpar", "surprise.OnWN"]
    data = load_sts_folder(folder)
    assert data["MSRpar"] == [
        PairExample("0", "The cat sat.", "A cat was sitting.", 4.0),
        PairExample("1", "He left.", 'She "stayed".', 0.5),
    ]
    assert data["surprise.OnWN"] == [PairExample("0", "a", "b", 5.0)]


def test_sts_2016_layout_with_unscored_pairs(tmp_path: Path) -> None:
    folder = tmp_path / "sts2016"
    folder.mkdir()
    notes = "StackExchange Network: http://example.org/q/1\tStackExchange Network: http://example.org/q/2"
    _write(
        folder / "STS2016.input.answer-answer.txt",
        [f"Q one?\tQ two?\t{notes}", f"Q three?\tQ four?\t{notes}", f"Q five?\tQ six?\t{notes}"],
    )
    _write(folder / "STS2016.gs.answer-answer.txt", ["3", "", "1.2"])  # empty line: not scored
    _write(folder / "STS2016.input.answer-answer.ascii", ["Q one?\tQ two?"])  # ignored
    got = load_sts_folder(folder)
    assert list(got) == ["answer-answer"]
    assert got["answer-answer"] == [
        PairExample("0", "Q one?", "Q two?", 3.0),
        PairExample("2", "Q five?", "Q six?", 1.2),  # ids keep line positions
    ]


def test_sts_malformed(tmp_path: Path) -> None:
    inp = _write(tmp_path / "STS.input.x.txt", ["a\tb", "c\td"])
    gs = _write(tmp_path / "STS.gs.x.txt", ["1"])
    with pytest.raises(DataError) as err:
        read_sts(inp, gs)
    assert str(inp) in str(err.value) and str(gs) in str(err.value)
    _write(gs, ["1", "six"])
    with pytest.raises(DataError, match=r"STS\.gs\.x\.txt:2: gold score 'six' is not a number"):
        read_sts(inp, gs)
    _write(gs, ["1", "5.2"])
    with pytest.raises(DataError, match=r"STS\.gs\.x\.txt:2: gold score 5.2 is outside 0-5"):
        read_sts(inp, gs)
    _write(gs, ["1", "2"])
    _write(inp, ["a\tb", "c d"])
    with pytest.raises(DataError, match=r"STS\.input\.x\.txt:2: expected 'sentence1<TAB>sentence2'"):
        read_sts(inp, gs)
    _write(gs, ["", ""])  # every pair unscored (the shared line reader calls a blank file empty)
    with pytest.raises(DataError, match=r"STS\.gs\.x\.txt: .*(empty|no scored pair)"):
        read_sts(inp, gs)
    gs.unlink()
    with pytest.raises(DataError, match=r"gold file STS\.gs\.x\.txt is missing"):
        find_sts(tmp_path)
    with pytest.raises(DataError, match="no such folder"):
        find_sts(tmp_path / "nope")
