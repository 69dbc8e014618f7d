"""The STS family: STS-B (the intermediate task this project studies), SICK-R, the SemEval STS years, their union,
and multilingual STS-B as a training-free probe of what an intermediate module does to other languages."""

from __future__ import annotations

from adapterx.data import formats
from adapterx.data.rules import RecordRules
from adapterx.data.sources import load_semeval_data, load_sick_data
from adapterx.data.synthetic import SyntheticSpec
from adapterx.tasks import hf_rows, register
from adapterx.tasks.base import HFSource, TaskSpec, hf_splits

_STS_RULES = RecordRules(value_range=(0.0, 5.0))  # every STS score adapterx reads is on the 0-5 scale (SICK, SemRel mapped)
_STS = dict(kind="regression", metric="spearman", metric_kind="correlation", synthetic=SyntheticSpec("sts"), eval_split="dev",
            file_reader=formats.STSB, rules=_STS_RULES)
# English training pairs of the published data (the cost estimate)
_TRAIN = {"stsb": 5_749, "sickr": 4_439, "sts12": 3_108, "sts13": 1_500, "sts14": 3_750, "sts15": 3_000, "sts16": 1_186}
# The SemEval STS years released evaluation data only (2012 also a train set); their HF copies (MTEB) hold one split,
# "test". adapterx trains on those pairs and selects checkpoints on STS-B's English dev set, never on the same pairs.
_STSB_DEV = ("glue/stsb", "validation")

register(TaskSpec(
    name="stsb",
    description="STS-B (STSbenchmark): English sentence-pair similarity, 0-5, Pearson/Spearman x100",
    hf=HFSource(hf_rows.sts_row, hf_splits("glue/stsb")),
    layout="stsb",
    intermediate=True,
    train_size=_TRAIN["stsb"], dev_size=1_500, test_size=1_379,
    **_STS,
))
register(TaskSpec(
    name="sickr",
    description="SICK relatedness (1-5, mapped linearly to 0-5)",
    hf=HFSource(hf_rows.sick_row, hf_splits("sick")),
    intermediate=True,
    layout=None, train_size=_TRAIN["sickr"], data_path_loader=load_sick_data,
    **{**_STS, "file_reader": formats.SICK},
))
for year in (12, 13, 14, 15, 16):
    register(TaskSpec(
        name=f"sts{year}",
        description=f"SemEval STS 20{year} (all sub-corpora, 0-5)",
        hf=HFSource(hf_rows.sts_row, {"train": (f"sts{year}", "test"), "dev": _STSB_DEV, "test": (f"sts{year}", "test")}),
        intermediate=True,
        notes="trains on the published evaluation pairs; dev = STS-B dev",
        layout=None, train_size=_TRAIN[f"sts{year}"], data_path_loader=load_semeval_data,
        **_STS,
    ))
register(TaskSpec(
    name="sts-all",
    description="The STS family together: stsb + sickr + sts12..sts16 (union, or multi-task with --multi-task)",
    hf=None,
    intermediate=True,
    notes="members: stsb sickr sts12 sts13 sts14 sts15 sts16; --multi-task trains them as separate heads",
    members=("stsb", "sickr", "sts12", "sts13", "sts14", "sts15", "sts16"),
    layout=None, train_size=sum(_TRAIN.values()),
    **_STS,
))
register(TaskSpec(
    name="stsb-multi",
    description="Multilingual STS-B (machine-translated test sets): Spearman per language, a training-free probe",
    hf=HFSource(hf_rows.sts_row, hf_splits("stsb_multi_mt", dev="dev")),
    layout="stsb",
    languages=("en", "de", "es", "fr", "it", "nl", "pl", "pt", "ru", "zh"),
    kind="regression", metric="spearman", metric_kind="correlation", synthetic=SyntheticSpec("sts"), eval_split="test",
    rules=_STS_RULES,
    file_reader=formats.STSB, train_size=5_749, test_size=1_379,
))
register(TaskSpec(
    name="semrel",
    description="SemRel 2024 (SemEval task 1): semantic relatedness in 13 languages, incl. low-resource ones (0-1 -> 0-5)",
    hf=HFSource(hf_rows.semrel_row, hf_splits("semrel", dev="dev")),
    languages=("af", "am", "ar", "en", "es", "ha", "hi", "id", "mr", "pa", "rw", "te"),
    notes="configs are three-letter codes (es: esp); Spanish test scores are withheld (-1): no es test",
    kind="regression", metric="spearman", metric_kind="correlation", synthetic=SyntheticSpec("sts"), eval_split="test",
    rules=_STS_RULES,
    layout=None, file_reader=formats.STSB, train_size=5_500,  # English train pairs
))
