"""Retrieval tasks: no training data; the encoder (with an intermediate module active, or none) is evaluated directly."""

from __future__ import annotations

from adapterx.tasks import register
from adapterx.tasks.base import TaskSpec, XtremeExport

register(TaskSpec(
    name="tatoeba", kind="retrieval", metric="accuracy", metric_kind="mean", target=True,
    description="Tatoeba: sentence retrieval (language -> English), top-1 accuracy",
    languages=tuple(
        "af ar bg bn de el es et eu fa fi fr he hi hu id it ja jv ka kk ko ml mr nl pt ru sw ta te th tl tr ur vi zh".split()
    ),
    # no task folder layout or file format: adapterx.retrieval.data finds and reads Tatoeba's (and BUCC's) files
    layout=None, file_reader=None,
    train_size=0, test_size=1_000,
    xtreme=XtremeExport("tatoeba", "tsv", "index", tuple(
        "ar he vi id jv tl eu ml ta te af nl de el bn hi mr ur fa fr it pt es bg ru ja ka ko th sw zh kk tr et fi hu az "
        "lt pl uk ro".split())),
))
register(TaskSpec(
    name="bucc", kind="retrieval", metric="f1", metric_kind="mean",
    description="BUCC 2018: parallel sentence mining with margin scoring, F1 of mined pairs",
    languages=("de", "fr", "ru", "zh"),
    layout=None, file_reader=None, eval_split="dev",
    train_size=0,
    # XTREME (v1) only: scored with --xtreme_version xtreme
    xtreme=XtremeExport("bucc2018", "tsv", "pairs", tuple("de fr ru zh".split())),
))
register(TaskSpec(
    name="lareqa", kind="retrieval", metric="map@20", metric_kind="mean", target=True,
    description="LAReQA: language-agnostic answer retrieval (XQuAD-R), mAP@20",
    languages=tuple("ar de el en es hi ru th tr vi zh".split()),
    notes="data not available offline here (XQuAD-R from google-research-datasets/lareqa); registered, not yet runnable",
    layout=None, file_reader=None, train_size=87_599, runnable=False,
))
register(TaskSpec(
    name="mewslix", kind="retrieval", metric="map@20", metric_kind="mean", target=True,
    description="Mewsli-X: multilingual entity linking as retrieval, mAP@20",
    languages=tuple("ar de en es fa ja pl ro ta tr uk".split()),
    notes="data needs Wikipedia dumps (google-research/dense_representations_for_entity_retrieval); registered, not yet runnable",
    layout=None, file_reader=None, train_size=116_903, runnable=False,
))
