"""Retrieval: readers (real files and tmp_path fixtures), pooling, blocked search, Tatoeba accuracy, BUCC mining.

Search results are checked against brute-force numpy reference implementations written here from the published
algorithm descriptions (XTREME utils_retrieve.py / LASER), and against hand-computed cases.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from adapterx.errors import ConfigError, DataError
from adapterx.retrieval.data import (
    find_bucc,
    find_tatoeba,
    iso639_1,
    load_bucc,
    load_tatoeba,
    read_bucc,
    read_tatoeba,
)
from adapterx.retrieval.pooling import (
    cls_pool,
    content_mask,
    default_layer,
    from_xtreme_layer,
    mean_pool,
    pool,
    select_layer,
)
from adapterx.retrieval.search import (
    bitext_f1,
    bucc_candidates,
    evaluate_bucc,
    extract_pairs,
    knn,
    margin_neighbours,
    mine_candidates,
    optimise_threshold,
    top1_accuracy,
)

# ---------------------------------------------------------------------------------------------------------------
# numpy reference implementations (brute force, float64)
# ---------------------------------------------------------------------------------------------------------------


def _unit(a: np.ndarray) -> np.ndarray:
    a = a.astype(np.float64)
    return a / np.linalg.norm(a, axis=1, keepdims=True)


def ref_knn(q: np.ndarray, keys: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    sims = _unit(q) @ _unit(keys).T
    idx = np.argsort(-sims, axis=1, kind="stable")[:, : min(k, keys.shape[0])]
    return np.take_along_axis(sims, idx, axis=1), idx


def ref_mine(x: np.ndarray, y: np.ndarray, k: int, mode: str) -> list[tuple[int, int, float]]:
    """Margin ('ratio') mining as described for XTREME/LASER, written out with full matrices."""
    sims = _unit(x) @ _unit(y).T
    fwd_idx = np.argsort(-sims, axis=1, kind="stable")[:, : min(k, y.shape[0])]
    bwd_idx = np.argsort(-sims.T, axis=1, kind="stable")[:, : min(k, x.shape[0])]
    fwd_mean = np.take_along_axis(sims, fwd_idx, axis=1).mean(axis=1)
    bwd_mean = np.take_along_axis(sims.T, bwd_idx, axis=1).mean(axis=1)

    def margin(i: int, j: int) -> float:
        return sims[i, j] / ((fwd_mean[i] + bwd_mean[j]) / 2)

    fwd = []
    for i in range(x.shape[0]):
        scores = [margin(i, j) for j in fwd_idx[i]]
        c = int(np.argmax(scores))
        fwd.append((i, int(fwd_idx[i][c]), scores[c]))
    bwd = []
    for j in range(y.shape[0]):
        scores = [margin(i, j) for i in bwd_idx[j]]
        c = int(np.argmax(scores))
        bwd.append((int(bwd_idx[j][c]), j, scores[c]))
    if mode == "fwd":
        return fwd
    if mode == "bwd":
        return bwd
    if mode == "intersect":
        bwd_best = {j: i for i, j, _ in bwd}
        return [(i, j, s) for i, j, s in fwd if bwd_best[j] == i]
    pooled = sorted(fwd + bwd, key=lambda t: -t[2])
    used_i: set[int] = set()
    used_j: set[int] = set()
    out = []
    for i, j, s in pooled:
        if i in used_i or j in used_j:
            continue
        used_i.add(i)
        used_j.add(j)
        if s > 0:
            out.append((i, j, s))
    return out


def ref_best_f1(cands: dict, gold: set) -> float:
    """Max over every threshold t in the candidate scores of F1({pair: score >= t}), x100."""
    best = 0.0
    for t in set(cands.values()):
        pred = {p for p, s in cands.items() if s >= t}
        c = len(pred & gold)
        if c:
            p, r = c / len(pred), c / len(gold)
            best = max(best, 100 * 2 * p * r / (p + r))
    return best


# ---------------------------------------------------------------------------------------------------------------
# Search
# ---------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("k", [1, 3, 60])
@pytest.mark.parametrize("blocks", [(7, 5), (512, 32768), (1, 1)])
def test_knn_matches_brute_force(k: int, blocks: tuple[int, int]) -> None:
    rng = np.random.default_rng(0)
    q, keys = rng.normal(size=(37, 16)), rng.normal(size=(41, 16))
    sims, idx = knn(q, keys, k, query_block=blocks[0], key_block=blocks[1])
    ref_s, ref_i = ref_knn(q, keys, k)
    assert sims.shape == idx.shape == (37, min(k, 41))
    np.testing.assert_array_equal(idx.numpy(), ref_i)
    np.testing.assert_allclose(sims.numpy(), ref_s, rtol=1e-5, atol=1e-6)


def test_knn_accepts_tensors_and_ties_take_the_lowest_index() -> None:
    keys = torch.randn(20, 8, generator=torch.Generator().manual_seed(1))
    keys[13] = keys[3]  # exact duplicate in another key block
    _, idx = knn(keys[3:4] * 2.0, keys, 1, key_block=5)  # scale does not matter: cosine
    assert idx.item() == 3
    sims, idx = knn(keys[3:4], keys, 2, key_block=5)
    assert idx[0].tolist() == [3, 13]
    assert sims[0, 0].item() == pytest.approx(1.0, abs=1e-6)


def test_knn_rejects_bad_options() -> None:
    x = np.ones((2, 3))
    with pytest.raises(ConfigError, match="k must be a positive integer"):
        knn(x, x, 0)
    with pytest.raises(ConfigError, match="query_block"):
        knn(x, x, 1, query_block=0)
    with pytest.raises(ConfigError, match="Did you mean 'faiss'"):
        knn(x, x, 1, backend="fais")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="dimension"):
        knn(x, np.ones((2, 4)), 1)


def test_faiss_backend_without_faiss_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "faiss", None)  # makes `import faiss` raise ImportError
    with pytest.raises(ConfigError, match="faiss"):
        knn(np.eye(3), np.eye(3), 1, backend="faiss")


def test_top1_accuracy_against_brute_force_both_directions() -> None:
    rng = np.random.default_rng(2)
    src = rng.normal(size=(300, 24))
    tgt = src + rng.normal(scale=1.2, size=src.shape)  # noisy translations: some retrievals fail
    sims = _unit(src) @ _unit(tgt).T
    for direction, pred_ref in (("tgt2src", sims.argmax(axis=0)), ("src2tgt", sims.argmax(axis=1))):
        acc, pred = top1_accuracy(src, tgt, direction=direction, query_block=64, key_block=100)
        assert pred == pred_ref.tolist()
        assert acc == pytest.approx(100 * np.mean(pred_ref == np.arange(300)))
        assert 0 < acc < 100


def test_top1_accuracy_direction_known_case() -> None:
    e1, e2 = np.array([1.0, 0.0]), np.array([0.0, 1.0])
    src = np.stack([e1, e2])  # non-English: a, b
    tgt = np.stack([e1, e1 + 0.1 * e2])  # English: a, a' (near a)
    # Default (XTREME/jiant): English queries. Both English sentences retrieve source 0 -> 1 of 2 correct.
    assert top1_accuracy(src, tgt) == (50.0, [0, 0])
    # Non-English queries: b is closer to a' (cos 0.0995) than to a (cos 0) -> both correct.
    assert top1_accuracy(src, tgt, direction="src2tgt") == (100.0, [0, 1])
    assert top1_accuracy(src, tgt, gold=[1, 0])[0] == 50.0
    with pytest.raises(ConfigError, match="direction"):
        top1_accuracy(src, tgt, direction="en2xx")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="pass gold"):
        top1_accuracy(src, tgt[:1])


def test_margin_known_case() -> None:
    s = 1 / math.sqrt(2)
    x = np.array([[1.0, 0.0], [s, s]])
    y = np.array([[1.0, 0.0], [0.0, 1.0]])
    nb = margin_neighbours(x, y, k=2)
    # fwd means: x0 -> (1 + 0)/2, x1 -> (s + s)/2; bwd means: y0 -> (1 + s)/2, y1 -> (s + 0)/2
    np.testing.assert_allclose(nb.fwd_mean.numpy(), [0.5, s], rtol=1e-6)
    np.testing.assert_allclose(nb.bwd_mean.numpy(), [(1 + s) / 2, s / 2], rtol=1e-6)
    m00 = 1 / ((0.5 + (1 + s) / 2) / 2)  # 1.4776
    m11 = s / ((s + s / 2) / 2)  # 4/3
    cands = mine_candidates(x, y, k=2)
    assert [(c.source, c.target) for c in cands] == [(0, 0), (1, 1)]
    assert cands[0].score == pytest.approx(m00, rel=1e-5)
    assert cands[1].score == pytest.approx(m11, rel=1e-5)


@pytest.mark.parametrize("mode", ["max", "intersect", "fwd", "bwd"])
@pytest.mark.parametrize("k", [1, 4])
def test_mining_matches_reference(mode: str, k: int) -> None:
    rng = np.random.default_rng(3)
    x = rng.normal(size=(60, 12))
    y = np.concatenate([x[:30] + rng.normal(scale=0.6, size=(30, 12)), rng.normal(size=(45, 12))])
    got = mine_candidates(x, y, k=k, mode=mode, query_block=16, key_block=20)  # type: ignore[arg-type]
    ref = ref_mine(x, y, k, mode)
    assert [(c.source, c.target) for c in got] == [(i, j) for i, j, _ in ref]
    np.testing.assert_allclose([c.score for c in got], [s for _, _, s in ref], rtol=1e-5)


def test_threshold_known_cases() -> None:
    cands = {("a", "1"): 0.9, ("b", "2"): 0.8, ("c", "3"): 0.7, ("d", "4"): 0.6}
    gold = {("a", "1"), ("c", "3"), ("e", "5")}
    # prefixes: F1 = .5, .4, .667, .571 -> best after 3 candidates, threshold = (0.7 + 0.6) / 2
    th = optimise_threshold(cands, gold)
    assert th == pytest.approx(0.65)
    pred = extract_pairs(cands, th)
    assert pred == [("a", "1"), ("b", "2"), ("c", "3")]
    p, r, f = bitext_f1(pred, gold)
    assert (p, r, f) == pytest.approx((200 / 3, 200 / 3, 200 / 3))
    # best prefix = all candidates: threshold is the last score, every pair kept
    assert optimise_threshold({("a", "1"): 0.9, ("b", "2"): 0.5}, {("a", "1"), ("b", "2")}) == 0.5
    assert optimise_threshold(cands, {("z", "9")}) == 0.0
    assert bitext_f1([], gold) == (0.0, 0.0, 0.0)


def test_threshold_matches_brute_force() -> None:
    rng = np.random.default_rng(4)
    for trial in range(20):
        pairs = [(f"s{i}", f"t{i}") for i in range(80)]
        cands = {p: float(rng.normal()) for p in pairs}
        gold = {p for p in pairs if rng.random() < 0.3} | {(f"s{i}", "missing") for i in range(trial % 5)}
        if not gold & set(cands):
            continue
        f1 = bitext_f1(extract_pairs(cands, optimise_threshold(cands, gold)), gold)[2]
        assert f1 == pytest.approx(ref_best_f1(cands, gold))


def _planted_bucc_corpus(tmp_path: Path) -> Path:
    lines_src, lines_en, gold = [], [], []
    for i in range(40):
        lines_src.append(f"yo-{i:04d}\tgbolohun {i}")
    for j in range(70):
        lines_en.append(f"en-{j:04d}\tsentence {j}")
    for i in range(0, 40, 2):
        gold.append(f"yo-{i:04d}\ten-{i + 10:04d}")
    (tmp_path / "yo-en.dev.yo").write_text("\n".join(lines_src) + "\n", encoding="utf-8")
    (tmp_path / "yo-en.dev.en").write_text("\n".join(lines_en) + "\n", encoding="utf-8")
    (tmp_path / "yo-en.dev.gold").write_text("\n".join(gold) + "\n", encoding="utf-8")
    return tmp_path


def test_evaluate_bucc_on_planted_pairs(tmp_path: Path) -> None:
    corpus = load_bucc(_planted_bucc_corpus(tmp_path), "yo", "dev")
    rng = np.random.default_rng(5)
    src = rng.normal(size=(40, 32))
    tgt = rng.normal(size=(70, 32))
    for i in range(0, 40, 2):
        tgt[i + 10] = src[i] + rng.normal(scale=0.05, size=32)
    res = evaluate_bucc(src, tgt, corpus, key_block=16)
    assert (res.precision, res.recall, res.f1) == (100.0, 100.0, 100.0)
    assert set(res.predicted) == set(corpus.gold_pairs)
    # The threshold found on dev, applied as a fixed threshold, gives the same pairs.
    again = evaluate_bucc(src, tgt, corpus, threshold=res.threshold)
    assert again.predicted == res.predicted
    # A threshold above every margin extracts nothing.
    assert evaluate_bucc(src, tgt, corpus, threshold=1e9).f1 == 0.0


def test_bucc_candidates_unify_drops_repeated_sentences(tmp_path: Path) -> None:
    (tmp_path / "yo-en.dev.yo").write_text("y1\tA\ny2\tB\ny3\tA \n", encoding="utf-8")  # "A" twice once stripped
    (tmp_path / "yo-en.dev.en").write_text("e1\ta\ne2\tb\ne3\tc\n", encoding="utf-8")
    (tmp_path / "yo-en.dev.gold").write_text("y2\te2\n", encoding="utf-8")
    corpus = load_bucc(tmp_path, "yo", "dev")
    src = np.array([[1.0, 0, 0], [0, 1.0, 0], [1.0, 0, 0]])
    tgt = np.array([[1.0, 0.1, 0], [0, 1.0, 0.1], [0, 0, 1.0]])
    kept = bucc_candidates(src, tgt, corpus, k=1)
    assert set(kept) == {("y2", "e2")}  # y1/y3 ("A") are ambiguous by text, as XTREME's read_sent2id drops them
    every = bucc_candidates(src, tgt, corpus, k=1, unify=False)
    assert ("y1", "e1") in every or ("y3", "e1") in every


# ---------------------------------------------------------------------------------------------------------------
# Pooling
# ---------------------------------------------------------------------------------------------------------------


def test_mean_and_cls_pool() -> None:
    g = torch.Generator().manual_seed(0)
    hidden = torch.randn(3, 5, 4, generator=g)
    mask = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1], [0, 0, 0, 0, 0]])
    out = mean_pool(hidden, mask)
    assert out.dtype == torch.float32
    torch.testing.assert_close(out[0], hidden[0, :3].mean(dim=0))
    torch.testing.assert_close(out[1], hidden[1].mean(dim=0))
    torch.testing.assert_close(out[2], torch.zeros(4))  # no token: zero vector, not NaN
    assert mean_pool(hidden.bfloat16(), mask).dtype == torch.float32
    torch.testing.assert_close(cls_pool(hidden), hidden[:, 0])
    with pytest.raises(ValueError, match="does not match"):
        mean_pool(hidden, mask[:, :4])


def test_content_mask_drops_first_and_last_real_token() -> None:
    mask = torch.tensor([[1, 1, 1, 1, 0], [1, 1, 0, 0, 0], [0, 0, 0, 0, 0]])
    assert content_mask(mask).tolist() == [[0, 1, 1, 0, 0], [0, 0, 0, 0, 0], [0, 0, 0, 0, 0]]
    with pytest.raises(ValueError, match="right padding"):
        content_mask(torch.tensor([[0, 1, 1]]))


@pytest.mark.parametrize(("layers", "expected"), [(1, 1), (2, 1), (3, 2), (4, 2), (6, 4), (12, 7), (24, 14), (32, 19)])
def test_default_layer_scales_xstilts_choice(layers: int, expected: int) -> None:
    assert default_layer(layers) == expected
    assert expected == max(1, math.floor(layers * 14 / 24 + 0.5))


def test_layer_conventions() -> None:
    with pytest.raises(ConfigError):
        default_layer(0)
    assert from_xtreme_layer(13) == 14  # XTREME Tatoeba, XLM-R Large: same layer as X-STILTs
    assert from_xtreme_layer(7) == 8  # XTREME BUCC
    states = tuple(torch.full((1, 2, 3), float(i)) for i in range(13))  # embeddings + 12 layers
    assert select_layer(states, 0)[0, 0, 0].item() == 0.0
    assert select_layer(states, -1)[0, 0, 0].item() == 12.0
    with pytest.raises(ConfigError, match="out of range"):
        select_layer(states, 13)
    mask = torch.ones(1, 2)
    assert pool(states, mask)[0, 0].item() == 7.0  # default_layer(12) = 7
    assert pool(states, mask, layer=3, method="cls")[0, 0].item() == 3.0
    with pytest.raises(ConfigError, match="pooling"):
        pool(states, mask, method="max")  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------------------------
# Readers: real files
# ---------------------------------------------------------------------------------------------------------------

# Line counts stated in shared/data/tatoeba/PROVENANCE.md, by ISO 639-1 code.
_TATOEBA_COUNTS = {"sw": 390, "ka": 746, "kk": 575, "th": 548, "ta": 307, "xh": 142, "am": 168, "fa": 1000, "zh": 1000}


def test_every_real_tatoeba_pair(shared_data: Path) -> None:
    folder = shared_data / "tatoeba" / "v1"
    pairs = find_tatoeba(folder)
    files = {p for p in folder.iterdir() if p.name.startswith("tatoeba.")}
    assert files == {p for pair in pairs.values() for p in pair}  # every file belongs to a found pair
    assert all(len(code) == 2 for code in pairs)  # every LASER name here has an ISO 639-1 code
    for code, (src, eng) in pairs.items():
        corpus = load_tatoeba(folder, code)
        assert corpus.source_lang == code and corpus.target_lang == "en"
        assert len(corpus.source) == len(corpus.target) > 0
        assert src.name.startswith("tatoeba.") and eng.name == src.name.rsplit(".", 1)[0] + ".eng"
        if code in _TATOEBA_COUNTS:
            assert len(corpus.source) == _TATOEBA_COUNTS[code]
    zh = load_tatoeba(folder, "cmn")  # 639-3 names work too
    assert zh.target[0] == (folder / "tatoeba.cmn-eng.eng").read_text(encoding="utf-8").split("\n")[0]


def test_real_bucc_zh(shared_data: Path) -> None:
    folder = shared_data / "bucc" / "bucc2018"
    assert set(find_bucc(folder)) >= {("zh", "dev")}
    corpus = load_bucc(folder, "zh", "dev")
    assert (len(corpus.source), len(corpus.target), len(corpus.gold_pairs)) == (8624, 13589, 257)
    assert corpus.source_ids[0] == "zh-000000001" and corpus.target_ids[0] == "en-000000001"
    assert corpus.gold_pairs[0] == ("zh-000000057", "en-000008530")
    assert all("\t" not in s for s in corpus.source + corpus.target)
    # Mining runs at full size with synthetic embeddings planted on the gold pairs.
    rng = np.random.default_rng(6)
    src = rng.normal(size=(8624, 48)).astype(np.float32)
    tgt = rng.normal(size=(13589, 48)).astype(np.float32)
    row_s = {sid: i for i, sid in enumerate(corpus.source_ids)}
    row_t = {tid: j for j, tid in enumerate(corpus.target_ids)}
    for s, t in corpus.gold_pairs:
        tgt[row_t[t]] = src[row_s[s]] + rng.normal(scale=0.05, size=48)
    res = evaluate_bucc(src, tgt, corpus, query_block=2048, key_block=8192)
    assert res.f1 == 100.0


# ---------------------------------------------------------------------------------------------------------------
# Readers: tmp_path fixtures
# ---------------------------------------------------------------------------------------------------------------


def _write(path: Path, lines: list[str], end: str = "\n") -> Path:
    path.write_text("".join(line + end for line in lines), encoding="utf-8")
    return path


def test_tatoeba_xtreme_layout_and_made_up_language(tmp_path: Path) -> None:
    _write(tmp_path / "yo-en.yo", ["Ẹ kú àárọ̀", "Báwo ni?"])
    _write(tmp_path / "yo-en.en", ["Good morning", "How are you?"], end="\r\n")  # CRLF tolerated
    _write(tmp_path / "tatoeba.qqq-eng.qqq", ["x\u2028y"])  # U+2028 inside a sentence is not a line break
    _write(tmp_path / "tatoeba.qqq-eng.eng", ["xy"])
    _write(tmp_path / "de-en.en", ["unrelated English-only file"])  # no de-en.de: ignored
    pairs = find_tatoeba(tmp_path)
    assert list(pairs) == ["qqq", "yo"]  # unknown 639-3 code kept as it is
    yo = load_tatoeba(tmp_path, "yo")
    assert yo.source == ("Ẹ kú àárọ̀", "Báwo ni?") and yo.target == ("Good morning", "How are you?")
    assert load_tatoeba(tmp_path, "qqq").source == ("x\u2028y",)
    with pytest.raises(DataError, match="no Tatoeba pair for 'fr'"):
        load_tatoeba(tmp_path, "fr")


def test_tatoeba_laser_code_maps_to_639_1(tmp_path: Path) -> None:
    _write(tmp_path / "tatoeba.yor-eng.yor", ["a"])
    _write(tmp_path / "tatoeba.yor-eng.eng", ["b"])
    assert list(find_tatoeba(tmp_path)) == ["yo"]
    assert iso639_1("pes") == "fa" and iso639_1("swh") == "sw" and iso639_1("cmn") == "zh"
    _write(tmp_path / "yo-en.yo", ["a"])
    _write(tmp_path / "yo-en.en", ["b"])
    with pytest.raises(DataError, match="both Tatoeba language 'yo'"):
        find_tatoeba(tmp_path)


def test_tatoeba_malformed(tmp_path: Path) -> None:
    src = _write(tmp_path / "yo-en.yo", ["a", "b", "c"])
    eng = _write(tmp_path / "yo-en.en", ["a", "b"])
    with pytest.raises(DataError) as err:
        read_tatoeba(src, eng, "yo")
    assert str(src) in str(err.value) and str(eng) in str(err.value) and "3 lines" in str(err.value)
    _write(eng, ["a", "", "c"])
    with pytest.raises(DataError, match=r"yo-en\.en:2: empty line"):
        read_tatoeba(src, eng, "yo")
    eng.write_bytes(b"a\nb\n\xff\xfe\n")
    with pytest.raises(DataError, match=r"yo-en\.en:3: .*not UTF-8"):
        read_tatoeba(src, eng, "yo")
    eng.unlink()
    with pytest.raises(DataError, match=r"English side yo-en\.en is missing"):
        find_tatoeba(tmp_path)
    with pytest.raises(DataError, match="no such folder"):
        find_tatoeba(tmp_path / "nope")


def test_bucc_made_up_language_without_gold(tmp_path: Path) -> None:
    _write(tmp_path / "yo-en.test.yo", ["yo-1\tọ̀rọ̀ kan", "yo-2\tọ̀rọ̀ méjì"])
    _write(tmp_path / "yo-en.test.en", ["en-1\tone word", "en-2\ttwo words", "en-3\tthree"])
    files = find_bucc(tmp_path)
    assert list(files) == [("yo", "test")] and files[("yo", "test")].gold is None
    corpus = load_bucc(tmp_path, "yo", "test")
    assert corpus.source_ids == ("yo-1", "yo-2") and corpus.target == ("one word", "two words", "three")
    assert corpus.gold_pairs == ()
    with pytest.raises(DataError, match="no gold pairs"):
        evaluate_bucc(np.eye(2, 3), np.eye(3), corpus)
    cands = bucc_candidates(np.eye(2, 3), np.eye(3), corpus, k=1)  # mining works without gold
    assert set(cands) == {("yo-1", "en-1"), ("yo-2", "en-2")}
    with pytest.raises(DataError, match="split 'dev'"):
        load_bucc(tmp_path, "yo", "dev")


def test_bucc_malformed(tmp_path: Path) -> None:
    src = _write(tmp_path / "yo-en.dev.yo", ["yo-1\ta", "yo-2 b"])
    eng = _write(tmp_path / "yo-en.dev.en", ["en-1\ta"])
    gold = _write(tmp_path / "yo-en.dev.gold", ["yo-1\ten-1"])
    with pytest.raises(DataError, match=r"yo-en\.dev\.yo:2: expected 'id<TAB>sentence'"):
        read_bucc(src, eng, gold, "yo")
    _write(src, ["yo-1\ta", "yo-1\tb"])
    with pytest.raises(DataError, match=r"yo-en\.dev\.yo:2: id 'yo-1' already used on line 1"):
        read_bucc(src, eng, gold, "yo")
    _write(src, ["yo-1\ta", "yo-2\tb"])
    _write(gold, ["yo-1\ten-1", "yo-2\ten-9"])
    with pytest.raises(DataError, match=r"yo-en\.dev\.gold:2: English id 'en-9'"):
        read_bucc(src, eng, gold, "yo")
    eng.unlink()
    with pytest.raises(DataError, match="English side"):
        find_bucc(tmp_path)
