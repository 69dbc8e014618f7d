"""The English intermediate tasks of X-STILTs (Phang et al. 2020): ANLI+, MNLI, QQP, SST-2, SQuAD, HellaSwag,
Cosmos QA, CommonsenseQA, CCG supertagging; and Social IQa, the intermediate task of XTREME-R's XCOPA protocol
(SIQA, then English COPA: ``adapterx stack siqa xcopa``)."""

from __future__ import annotations

from adapterx.data import formats
from adapterx.data.synthetic import SyntheticSpec
from adapterx.tasks import hf_rows, register
from adapterx.tasks.base import HFSource, TaskSpec, hf_splits

register(TaskSpec(
    name="mnli", kind="classification", metric="accuracy", metric_kind="mean", intermediate=True,
    description="MultiNLI (matched dev), 3 labels, accuracy",
    labels=hf_rows.NLI,
    hf=HFSource(hf_rows.nli_row, hf_splits("glue/mnli", dev="validation_matched", test="validation_matched")),
    synthetic=SyntheticSpec("nli"), eval_split="dev",
    layout=None, file_reader=formats.MNLI, train_size=392_702, dev_size=9_815,
))
register(TaskSpec(
    name="anli", kind="classification", metric="accuracy", metric_kind="mean", intermediate=True,
    description="ANLI+: SNLI + MNLI + ANLI rounds 1-3 together (train); ANLI R3 dev selects",
    labels=hf_rows.NLI,
    hf=(
        HFSource(hf_rows.nli_row, hf_splits("anli", train="train_r1", dev="dev_r3", test="dev_r3")),
        HFSource(hf_rows.nli_row, hf_splits("anli", train="train_r2", dev=None, test=None)),
        HFSource(hf_rows.nli_row, hf_splits("anli", train="train_r3", dev=None, test=None)),
        HFSource(hf_rows.nli_row, hf_splits("snli", dev=None, test=None)),
        HFSource(hf_rows.nli_row, hf_splits("glue/mnli", dev=None, test=None)),
    ),
    synthetic=SyntheticSpec("nli"), eval_split="dev",
    layout=None, file_reader=formats.MNLI, train_size=1_105_719,
))
register(TaskSpec(
    name="qqp", kind="classification", metric="accuracy", metric_kind="mean", intermediate=True,
    description="Quora Question Pairs (duplicate 0/1), accuracy",
    labels=("0", "1"),
    hf=HFSource(hf_rows.pair_row("question1", "question2"), hf_splits("glue/qqp")),
    synthetic=SyntheticSpec("paraphrase"), eval_split="dev",
    layout=None, file_reader=formats.PAWSX, train_size=363_846,
))
register(TaskSpec(
    name="sst2", kind="classification", metric="accuracy", metric_kind="mean", intermediate=True,
    description="SST-2 sentiment (single sentence, 0/1), accuracy",
    labels=("0", "1"),
    hf=HFSource(hf_rows.pair_row("sentence", None), hf_splits("glue/sst2")),
    synthetic=SyntheticSpec("sentiment"), eval_split="dev",
    layout=None, file_reader=formats.NLI, train_size=67_349,
))
register(TaskSpec(
    name="squad", kind="span_qa", metric="score", metric_kind="mean", intermediate=True,
    description="SQuAD v1.1 extractive QA, EM/F1",
    hf=HFSource(hf_rows.squad_row, hf_splits("squad", test="validation")),
    synthetic=SyntheticSpec("qa"), eval_split="dev",
    layout=None, file_reader=formats.SQUAD, train_size=87_599, dev_size=10_570,
))
register(TaskSpec(
    name="hellaswag", kind="multiple_choice", metric="accuracy", metric_kind="mean", intermediate=True, num_choices=4,
    description="HellaSwag sentence completion (4 endings), accuracy",
    hf=HFSource(hf_rows.hellaswag_row, hf_splits("hellaswag")),
    synthetic=SyntheticSpec("choice"), layout="hellaswag", eval_split="dev",
    file_reader=formats.HELLASWAG, train_size=39_905,
    notes="Official files (rowanz/hellaswag data/): --train-file hellaswag_train.jsonl --dev-file hellaswag_val.jsonl, "
          "--data hellaswag_train.jsonl (val beside it) or --data FOLDER ([hellaswag/][data/]hellaswag_*.jsonl). "
          "The test file has no labels: dev is the evaluation split.",
))
register(TaskSpec(
    name="cosmosqa", kind="multiple_choice", metric="accuracy", metric_kind="mean", intermediate=True, num_choices=4,
    description="Cosmos QA reading comprehension with commonsense (4 options), accuracy",
    hf=HFSource(hf_rows.cosmosqa_row, hf_splits("cosmosqa")),
    synthetic=SyntheticSpec("choice"), layout="cosmosqa", eval_split="dev",
    file_reader=formats.COSMOSQA, train_size=25_262,
    notes="Official files (wilburOne/cosmosqa data/): --train-file train.csv --dev-file valid.csv (or the .jsonl "
          "copies), --data train.csv (valid beside it) or --data FOLDER ([cosmosqa/][data/]{train,valid}.csv). "
          "The test file has no labels: dev is the evaluation split.",
))
register(TaskSpec(
    name="commonsenseqa", kind="multiple_choice", metric="accuracy", metric_kind="mean", intermediate=True, num_choices=5,
    description="CommonsenseQA (5 options), accuracy",
    hf=HFSource(hf_rows.commonsenseqa_row, hf_splits("commonsenseqa")),
    synthetic=SyntheticSpec("choice"), layout="commonsenseqa", eval_split="dev",
    file_reader=formats.COMMONSENSEQA, train_size=9_741,
    notes="Official files: --train-file train_rand_split.jsonl --dev-file dev_rand_split.jsonl, --data "
          "train_rand_split.jsonl (dev beside it) or --data FOLDER ([commonsenseqa/]*_rand_split.jsonl). The test file "
          "has no answers: dev is the evaluation split.",
))
register(TaskSpec(
    name="ccg", kind="tagging", metric="f1", metric_kind="f1", intermediate=True,
    description="CCG supertagging (CCGbank): local token<TAB>supertag files only",
    labels=(),  # the supertag set is read from the training file
    hf=None,
    synthetic=SyntheticSpec("upos"), eval_split="dev",
    layout=None, file_reader=formats.TAGS, train_size=38_015,
    notes="CCGbank is LDC-licensed: no public Hugging Face copy exists. Pass --data FILE with token<TAB>supertag lines "
          "(blank line between sentences); the tag set comes from the training file.",
))
register(TaskSpec(
    name="siqa", kind="multiple_choice", metric="accuracy", metric_kind="mean", intermediate=True, num_choices=3,
    description="Social IQa: social commonsense QA (3 options), accuracy; XTREME-R trains it before COPA (XCOPA)",
    # No labelled test set is public (the leaderboard's): dev selects and is the evaluation split.
    hf=HFSource(hf_rows.siqa_row, hf_splits("siqa", test="validation")),
    layout="siqa", file_reader=formats.SIQA, synthetic=SyntheticSpec("choice"), eval_split="dev",
    train_size=33_410, dev_size=1_954,
    notes="Official download socialiqa-train-dev.zip: --train-file train.jsonl / --dev-file dev.jsonl read their "
          "labels from the sibling train-labels.lst / dev-labels.lst (1-based), --data FOLDER reads the unzipped "
          "folder (or an XTREME-style folder holding [siqa/]socialiqa-train-dev/). No public labelled test set: dev is "
          "the evaluation split.",
))
