"""The STS family: STS-B (the intermediate task this project studies), SICK-R, the SemEval STS years, their union,
and multilingual STS-B as a training-free probe of what an intermediate module does to other languages."""

from __future__ import annotations

from adapterx.data.synthetic import SyntheticSpec
from adapterx.tasks import hf_rows, register
from adapterx.tasks.base import HFSource, TaskSpec

_STS = dict(kind="regression", metric="spearman", metric_kind="correlation", synthetic=SyntheticSpec("sts"), eval_split="dev")
# The SemEval STS years released evaluation data only (2012 also a train set); their HF copies (MTEB) hold one split,
# "test". adapterx trains on those pairs and selects checkpoints on STS-B's English dev set, never on the same pairs.
_STSB_DEV = ("nyu-mll/glue", "stsb")

register(TaskSpec(
    name="stsb",
    description="STS-B (STSbenchmark): English sentence-pair similarity, 0-5, Pearson/Spearman x100",
    hf=HFSource("nyu-mll/glue", hf_rows.sts_row, config="stsb"),
    layout="stsb",
    intermediate=True,
    **_STS,
))
register(TaskSpec(
    name="sickr",
    description="SICK relatedness (1-5, mapped linearly to 0-5)",
    hf=HFSource("RobZamp/sick", hf_rows.sick_row),
    intermediate=True,
    **_STS,
))
for year in (12, 13, 14, 15, 16):
    register(TaskSpec(
        name=f"sts{year}",
        description=f"SemEval STS 20{year} (all sub-corpora, 0-5)",
        hf=HFSource(
            f"mteb/sts{year}-sts", hf_rows.sts_row,
            splits={"train": "test", "dev": "validation", "test": "test"},
            overrides={"dev": _STSB_DEV},
        ),
        intermediate=True,
        notes="trains on the published evaluation pairs; dev = STS-B dev",
        **_STS,
    ))
register(TaskSpec(
    name="sts-all",
    description="The STS family together: stsb + sickr + sts12..sts16 (union, or multi-task with --multi-task)",
    hf=None,
    intermediate=True,
    notes="members: stsb sickr sts12 sts13 sts14 sts15 sts16; --multi-task trains them as separate heads",
    members=("stsb", "sickr", "sts12", "sts13", "sts14", "sts15", "sts16"),
    **_STS,
))
register(TaskSpec(
    name="stsb-multi",
    description="Multilingual STS-B (machine-translated test sets): Spearman per language, a training-free probe",
    hf=HFSource("PhilipMay/stsb_multi_mt", hf_rows.sts_row, config="{lang}", splits={"train": "train", "dev": "dev", "test": "test"}),
    layout="stsb",
    languages=("en", "de", "es", "fr", "it", "nl", "pl", "pt", "ru", "zh"),
    kind="regression", metric="spearman", metric_kind="correlation", synthetic=SyntheticSpec("sts"), eval_split="test",
))
register(TaskSpec(
    name="semrel",
    description="SemRel 2024 (SemEval task 1): semantic relatedness in 13 languages, incl. low-resource ones (0-1 -> 0-5)",
    hf=HFSource("SemRel/SemRel2024", hf_rows.sts_row, config="{lang}", splits={"train": "train", "dev": "dev", "test": "test"}),
    languages=("af", "am", "ar", "en", "es", "ha", "hi", "id", "mr", "pa", "rw", "te"),
    notes="HF id and columns from the SemRel 2024 card; not verifiable offline",
    kind="regression", metric="spearman", metric_kind="correlation", synthetic=SyntheticSpec("sts"), eval_split="test",
))

STS_ALL_MEMBERS = ("stsb", "sickr", "sts12", "sts13", "sts14", "sts15", "sts16")
