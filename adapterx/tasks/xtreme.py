"""The XTREME-R target tasks (plus PAWS-X, dropped from XTREME-R but used by X-STILTs).

Languages and metrics as in ../shared/design/xtreme-r.md (from XTREME's evaluate.py and the XTREME-R paper).
English training data: MNLI (XNLI), PAWS (PAWS-X), SIQA then COPA (XCOPA: ``adapterx stack siqa xcopa``), UD
English (UD-POS), PAN-X en, SQuAD v1.1 (XQuAD, MLQA), TyDiQA-GoldP en.
"""

from __future__ import annotations

from adapterx.data import formats
from adapterx.data.synthetic import SyntheticSpec
from adapterx.tasks import hf_rows, register
from adapterx.tasks.base import HFSource, TaskSpec, XtremeExport, hf_splits

# XQuAD and MLQA train and select on English SQuAD v1.1
_SQUAD = {"train": ("squad", "train"), "dev": ("squad", "validation")}

register(TaskSpec(
    name="xnli", kind="classification", metric="accuracy", metric_kind="mean", target=True,
    description="XNLI: cross-lingual NLI (3 labels), trained on English MNLI, accuracy",
    labels=hf_rows.NLI,
    languages=tuple("ar bg de el en es fr hi ru sw th tr ur vi zh".split()),
    hf=HFSource(hf_rows.nli_row, {"train": ("glue/mnli", "train"), "dev": ("xnli", "validation"), "test": ("xnli", "test")}),
    layout="xnli", file_reader=formats.NLI, synthetic=SyntheticSpec("nli"),
    train_size=392_702, dev_size=2_490, test_size=5_010,
    xtreme=XtremeExport("xnli", "tsv", "label", tuple("ar bg de el en es fr hi ru sw th tr ur vi zh".split())),
))
register(TaskSpec(
    name="pawsx", kind="classification", metric="accuracy", metric_kind="mean", target=True,
    description="PAWS-X: cross-lingual paraphrase identification (0/1), trained on English PAWS, accuracy",
    labels=("0", "1"),
    languages=tuple("de en es fr ja ko zh".split()),
    hf=HFSource(hf_rows.pair_row("sentence1", "sentence2"), hf_splits("pawsx")),
    layout="pawsx", file_reader=formats.PAWSX, synthetic=SyntheticSpec("paraphrase"),
    train_size=49_401, dev_size=2_000, test_size=2_000,
    # XTREME (v1) only: scored with --xtreme_version xtreme
    xtreme=XtremeExport("pawsx", "tsv", "label", tuple("de en es fr ja ko zh".split())),
))
register(TaskSpec(
    name="xcopa", kind="multiple_choice", metric="accuracy", metric_kind="mean", target=True,
    description="XCOPA: causal commonsense reasoning (2 options), accuracy; XTREME-R trains on SIQA, then English "
                "COPA (`adapterx stack siqa xcopa`)",
    languages=tuple("en et ht id it qu sw ta th tr vi zh".split()),
    hf=HFSource(hf_rows.copa_row, {"train": ("super_glue/copa", "train"), "dev": ("super_glue/copa", "validation"),
                                   "test": ("xcopa", "test")}),
    layout="xcopa", file_reader=formats.COPA, synthetic=SyntheticSpec("choice"), num_choices=2,
    train_size=33_810, dev_size=100, test_size=500,  # train: SIQA then COPA
    xtreme=XtremeExport("xcopa", "jsonl", "choice", tuple("et ht id it qu sw ta th tr vi zh".split())),
    notes="XTREME-R protocol: train on SIQA (33,410, 3 options), then on English COPA (400); `adapterx stack siqa "
          "xcopa` runs it (adapter: a new COPA adapter and head on the frozen SIQA adapter; lora: a new COPA LoRA and "
          "head over the frozen SIQA LoRA; full: the SIQA-tuned model, head included, continues on COPA). "
          "`train-target xcopa` trains on COPA alone. A multiple-choice head scores each (context, option) pair with "
          "one logit and softmaxes across the options, so its weights do not depend on the number of options; "
          "adapters' head config keeps num_choices only to reshape the logits.",
))
register(TaskSpec(
    name="udpos", kind="tagging", metric="f1", metric_kind="f1", target=True,
    description="UD-POS: universal POS tagging (17 UPOS tags, UD v2.5), seqeval F1 as XTREME scores it",
    labels=hf_rows.UPOS,
    languages=tuple(
        "af ar bg de el en es et eu fa fi fr he hi hu id it ja kk ko lt mr nl pl pt ro ru ta te th tl tr uk ur vi wo yo zh".split()
    ),
    hf=HFSource(hf_rows.tags_row(hf_rows.UPOS, "pos_tags"), hf_splits("xtreme/udpos")),
    layout="udpos", file_reader=formats.TAGS, synthetic=SyntheticSpec("upos"),
    train_size=21_253, dev_size=2_000, test_size=1_000,
    xtreme=XtremeExport("udpos", "tsv", "tags", tuple(
        "af ar bg de el en es et eu fa fi fr he hi hu id it ja kk ko mr nl pt ru ta te th tl tr ur vi yo zh lt pl uk wo "
        "ro".split())),
))
register(TaskSpec(
    name="panx", kind="tagging", metric="f1", metric_kind="f1", target=True,
    description="PAN-X / WikiANN: named entities (IOB2: PER, ORG, LOC), seqeval F1",
    labels=hf_rows.PANX,
    languages=tuple(
        ("af ar az bg bn de el en es et eu fa fi fr gu he hi hu id it ja jv ka kk ko lt ml mr ms my nl pa pl pt qu ro "
         "ru sw ta te th tl tr uk ur vi yo zh").split()
    ),
    hf=HFSource(hf_rows.tags_row(hf_rows.PANX, "ner_tags"), hf_splits("xtreme/panx")),
    layout="panx", file_reader=formats.TAGS, synthetic=SyntheticSpec("ner"),
    train_size=20_000, dev_size=10_000, test_size=5_000,
    xtreme=XtremeExport("panx", "tsv", "tags", tuple(
        "ar he vi id jv ms tl eu ml ta te af nl en de el bn hi mr ur fa fr it pt es bg ru ja ka ko th sw yo my zh kk tr "
        "et fi hu qu pl uk az lt pa gu ro".split())),
    eval_split="dev",  # public PAN-X test files carry no tags (XTREME strips them); dev is labelled
))
register(TaskSpec(
    name="xquad", kind="span_qa", metric="score", metric_kind="mean", target=True,
    description="XQuAD: SQuAD v1.1 dev translated into 11 languages, EM/F1, score = (EM+F1)/2",
    languages=tuple("ar de el en es hi ro ru th tr vi zh".split()),
    hf=HFSource(hf_rows.squad_row, {**_SQUAD, "test": ("xtreme/xquad", "validation")}),
    layout="xquad", file_reader=formats.SQUAD, synthetic=SyntheticSpec("qa"),
    train_size=87_599, test_size=1_190,  # train: SQuAD v1.1
    xtreme=XtremeExport("xquad", "json", "qa", tuple("en es de el ru tr ar vi th zh hi ro".split())),
))
register(TaskSpec(
    name="mlqa", kind="span_qa", metric="score", metric_kind="mean", target=True, mlqa_normalisation=True,
    description="MLQA: extractive QA in 7 languages, MLQA's language-aware EM/F1, score = (EM+F1)/2",
    languages=tuple("ar de en es hi vi zh".split()),
    hf=HFSource(hf_rows.squad_row, {**_SQUAD, "test": ("xtreme/mlqa", "test")}),
    layout="mlqa", file_reader=formats.SQUAD, synthetic=SyntheticSpec("qa"),
    train_size=87_599, test_size=2_000,  # train: SQuAD v1.1
    xtreme=XtremeExport("mlqa", "json", "qa", tuple("en es de ar hi vi zh".split())),
))
register(TaskSpec(
    name="tydiqa", kind="span_qa", metric="score", metric_kind="mean", target=True,
    description="TyDiQA-GoldP: typologically diverse extractive QA (9 languages), EM/F1, score = (EM+F1)/2",
    languages=tuple("ar bn en fi id ko ru sw te".split()),
    hf=HFSource(hf_rows.squad_row, hf_splits("tydiqa", test="validation"), lang_prefix_ids=True),
    layout="tydiqa", file_reader=formats.SQUAD, synthetic=SyntheticSpec("qa"), eval_split="dev",
    train_size=3_696, dev_size=440, test_size=600,
    # no public test set: a submission's "test" predictions are scored against dev
    xtreme=XtremeExport("tydiqa", "json", "qa", tuple("en ar bn fi id ko ru sw te".split()), gold_split="dev"),
    notes="GoldP has no public test set: dev is the evaluation split (as in XTREME). English dev selects checkpoints.",
))
