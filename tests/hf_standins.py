"""Local stand-ins for the Hugging Face repositories adapterx reads, shaped as the real ones.

Each repository is a folder ``ROOT/owner/name`` as on the Hub: a README whose ``configs:`` name the parquet files
(``<config>/<split>-00000-of-00001.parquet``, or ``data/<split>-...`` for the default config), the parquet export
``<config>/<split>/0000.parquet`` where adapterx reads ``refs/convert/parquet``, or the JSON lines files of the
MTEB STS repositories. Config names, split names and columns are those of the real repositories
(adapterx.data.hf_sources); a few rows each. ``ADAPTERX_HF_ROOT=ROOT`` makes adapterx read them instead of the Hub.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

from adapterx.data.hf_sources import DATASETS
from adapterx.languages import get_language

Rows = list[dict[str, Any]]

# Languages the stand-ins have: every language of the tasks the end-to-end test downloads (xnli, tydiqa, panx),
# a few elsewhere.
XNLI_LANGS = DATASETS["xnli"].languages
PANX_LANGS = DATASETS["xtreme/panx"].languages
TYDIQA_LANGS = ("ar", "bn", "en", "fi", "id", "ko", "ru", "sw", "te")


def _write_parquet(path: Path, rows: Rows) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows), path)


def card_repo(root: Path, repo: str, configs: dict[str, dict[str, Rows]]) -> None:
    """A repository with README ``configs:`` over parquet files (config "default" -> data/)."""
    folder = root / repo
    yaml = ["---", "configs:"]
    for config, splits in configs.items():
        sub = "data" if config == "default" else config
        yaml += [f"- config_name: {config}", "  data_files:"]
        for split, rows in splits.items():
            _write_parquet(folder / sub / f"{split}-00000-of-00001.parquet", rows)
            yaml += [f"  - split: {split}", f"    path: {sub}/{split}-*"]
    yaml += ["---", f"# {repo} (adapterx test stand-in)", ""]
    (folder / "README.md").write_text("\n".join(yaml), encoding="utf-8")


def export_repo(root: Path, repo: str, configs: dict[str, dict[str, Rows]]) -> None:
    """The Hub's parquet export (refs/convert/parquet): <config>/<split>/0000.parquet, no README configs."""
    for config, splits in configs.items():
        for split, rows in splits.items():
            _write_parquet(root / repo / config / split / "0000.parquet", rows)


def json_repo(root: Path, repo: str, splits: dict[str, Rows]) -> None:
    """The MTEB STS layout: <split>.jsonl.gz at the root, a README without configs."""
    folder = root / repo
    folder.mkdir(parents=True, exist_ok=True)
    for split, rows in splits.items():
        with gzip.open(folder / f"{split}.jsonl.gz", "wt", encoding="utf-8") as f:
            f.writelines(json.dumps(r) + "\n" for r in rows)
    (folder / "README.md").write_text("---\nlanguage:\n- en\n---\n", encoding="utf-8")


def _nli(tag: str, n: int = 6) -> Rows:
    return [{"premise": f'{tag} premise {i}, with "quotes"', "hypothesis": f"{tag} hypothesis {i}", "label": i % 3}
            for i in range(n)]


def _pairs(tag: str, a: str = "sentence1", b: str | None = "sentence2", label: str = "label", n: int = 6,
           score: bool = False) -> Rows:
    out = []
    for i in range(n):
        row: dict[str, Any] = {"idx": i, a: f'{tag} first, "{i}"'}
        if b:
            row[b] = f"{tag} second {i}"
        row[label] = round(i * 0.7, 2) if score else i % 2
        out.append(row)
    return out


def _copa(tag: str, n: int = 4, labelled: bool = True) -> Rows:
    return [{"premise": f"{tag} premise {i}", "choice1": f"{tag} one {i}", "choice2": f"{tag} two {i}",
             "question": ("cause", "effect")[i % 2], "label": i % 2 if labelled else -1, "idx": i} for i in range(n)]


def _tags(tag: str, names: int, n: int = 4) -> Rows:
    return [{"tokens": [f"{tag}{i}", "a", f'"{i}"'], "ner_tags": [i % names, 0, (i + 1) % names],
             "langs": [tag] * 3} for i in range(n)]


def _pos(tag: str, n: int = 4) -> Rows:
    return [{"id": str(i), "tokens": [f"{tag}{i}", "b"], "pos_tags": [i % 17, 7]} for i in range(n)]


def _squad(tag: str, n: int = 4, prefix: str = "") -> Rows:
    out = []
    for i in range(n):
        context = f"{tag} context {i // 2} about the answer{i} here."
        answer = f"answer{i}"
        out.append({"id": f"{prefix}{tag}-{i}", "title": f"{tag} title {i // 2}", "context": context,
                    "question": f"{tag} question {i}?",
                    "answers": {"text": [answer], "answer_start": [context.index(answer)]}})
    return out


def build(root: Path) -> Path:
    """Write every stand-in repository under ``root``; returns ``root``."""
    root = Path(root)
    card_repo(root, "facebook/xnli", {lang: {s: _nli(f"{lang}-{s}") for s in ("train", "validation", "test")}
                                      for lang in XNLI_LANGS})
    card_repo(root, "nyu-mll/glue", {
        "mnli": {s: _nli(f"mnli-{s}") for s in ("train", "validation_matched", "validation_mismatched",
                                                "test_matched", "test_mismatched")},
        "qqp": {s: _pairs(f"qqp-{s}", "question1", "question2") for s in ("train", "validation", "test")},
        "sst2": {s: _pairs(f"sst2-{s}", "sentence", None) for s in ("train", "validation", "test")},
        "stsb": {s: _pairs(f"stsb-{s}", score=True) for s in ("train", "validation", "test")},
    })
    card_repo(root, "google-research-datasets/paws-x",
              {lang: {s: [{"id": i, **r} for i, r in enumerate(_pairs(f"{lang}-{s}"))] for s in ("train", "validation", "test")}
               for lang in ("de", "en", "ja")})
    card_repo(root, "cambridgeltl/xcopa", {lang: {s: _copa(f"{lang}-{s}") for s in ("validation", "test")}
                                           for lang in DATASETS["xcopa"].languages})
    export_repo(root, "aps/super_glue", {"copa": {"train": _copa("copa-train"), "validation": _copa("copa-val"),
                                                  "test": _copa("copa-test", labelled=False)}})
    xtreme: dict[str, dict[str, Rows]] = {}
    for lang in PANX_LANGS:
        xtreme[f"PAN-X.{lang}"] = {s: _tags(f"{lang}{s}", 7) for s in ("train", "validation", "test")}
    for lang in ("en", "de"):
        xtreme[f"udpos.{get_language(lang).name}"] = {s: _pos(f"{lang}{s}") for s in ("train", "validation", "test")}
    xtreme["udpos.Yoruba"] = {"test": _pos("yo")}  # test only, as on the Hub
    for lang in ("en", "de", "sw"):
        xtreme[f"XQuAD.{lang}"] = {"validation": [{k: v for k, v in r.items() if k != "title"}
                                                  for r in _squad(f"xquad-{lang}")]}
    for lang in ("en", "de"):
        xtreme[f"MLQA.{lang}.{lang}"] = {s: _squad(f"mlqa-{lang}-{s}") for s in ("validation", "test")}
    card_repo(root, "google/xtreme", xtreme)
    card_repo(root, "rajpurkar/squad", {"plain_text": {s: _squad(f"squad-{s}") for s in ("train", "validation")}})
    card_repo(root, "google-research-datasets/tydiqa", {"secondary_task": {
        s: [r for lang in TYDIQA_LANGS for r in _squad(f"{s}", 3, prefix=get_language(lang).name.lower() + "-")]
        for s in ("train", "validation")}})
    card_repo(root, "facebook/anli", {"plain_text": {
        f"{k}_r{r}": [{"uid": f"{k}{r}{i}", **x, "reason": ""} for i, x in enumerate(_nli(f"anli-{k}{r}", 3))]
        for k in ("train", "dev", "test") for r in (1, 2, 3)}})
    card_repo(root, "stanfordnlp/snli", {"plain_text": {s: _nli(f"snli-{s}") + [{"premise": "p", "hypothesis": "h",
                                                                                   "label": -1}]
                                                        for s in ("train", "validation", "test")}})
    card_repo(root, "Rowan/hellaswag", {"default": {s: [
        {"ind": 10 * i + 1, "activity_label": "act", "ctx_a": f"{s} ctx {i}", "ctx_b": "then",
         "ctx": f"{s} ctx {i} then", "endings": [f"{s} end {i} {k}" for k in range(4)], "source_id": f"src{i}",
         "split": s, "split_type": "indomain", "label": "" if s == "test" else str(i % 4)} for i in range(5)]
        for s in ("train", "validation", "test")}})
    card_repo(root, "Samsoup/cosmos_qa", {"default": {s: [
        {"id": f"{s}-{i}", "context": f'{s} context, "{i}"', "question": f"{s} q {i}?",
         **{f"answer{k}": f"{s} a{k} {i}" for k in range(4)}, "label": -1 if s == "test" else i % 4}
        for i in range(5)] for s in ("train", "validation", "test")}})
    card_repo(root, "tau/commonsense_qa", {"default": {s: [
        {"id": f"{s}{i}", "question": f"{s} question {i}?", "question_concept": "thing",
         "choices": {"label": list("ABCDE"), "text": [f"{s} c{k} {i}" for k in range(5)]},
         "answerKey": "" if s == "test" else "ABCDE"[i % 5]} for i in range(5)] for s in ("train", "validation", "test")}})
    card_repo(root, "allenai/social_i_qa", {"default": {s: [
        {"context": f"{s} context {i}", "question": f"{s} q {i}?", "answerA": f"{s} A{i}", "answerB": f"{s} B{i}",
         "answerC": f"{s} C{i}", "label": str(i % 3 + 1)} for i in range(5)] for s in ("train", "validation")}})
    export_repo(root, "RobZamp/sick", {"default": {s: [
        {"id": str(i), "sentence_A": f"{s} A {i}", "sentence_B": f"{s} B {i}", "label": i % 3,
         "relatedness_score": 1.0 + i * 0.5, "entailment_AB": "A_neutral_B", "entailment_BA": "B_neutral_A",
         "sentence_A_original": "", "sentence_B_original": "", "sentence_A_dataset": "FLICKR",
         "sentence_B_dataset": "FLICKR"} for i in range(5)] for s in ("train", "validation", "test")}})
    json_repo(root, "mteb/sts12-sts", {s: [{"split": s, "sentence1": f"sts12 {s} a{i}", "sentence2": f"b{i}",
                                            "score": i * 0.5} for i in range(5)] for s in ("train", "test")})
    for y in (13, 14, 15, 16):
        json_repo(root, f"mteb/sts{y}-sts", {"test": [{"sentence1": f"sts{y} a{i}", "sentence2": f"b{i}",
                                                       "score": i * 0.5} for i in range(5)]})
    card_repo(root, "PhilipMay/stsb_multi_mt", {lang: {s: _pairs(f"{lang}-{s}", label="similarity_score", score=True)
                                                      for s in ("train", "dev", "test")} for lang in ("en", "de")})
    semrel = {}
    for code in ("eng", "esp", "afr"):
        splits = ("test", "dev") if code == "afr" else ("train", "test", "dev")
        semrel[code] = {s: [{"sentence1": f"{code} {s} a{i}", "sentence2": f"b{i}",
                             "label": -1.0 if (code == "esp" and s == "test") else i / 5} for i in range(5)]
                        for s in splits}
    card_repo(root, "SemRel/SemRel2024", semrel)
    return root
