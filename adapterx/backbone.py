"""Backbones: the only place that resolves a model id to files, and the built-in tiny XLM-R.

``--model`` takes a Hub id (``xlm-roberta-base``, ``xlm-roberta-large``), a local folder in ``save_pretrained``
layout, or ``tiny``: the real ``XLMRobertaConfig`` / ``XLMRobertaTokenizerFast`` classes with random weights and a
Unigram tokenizer trained in-process on synthetic multilingual text. The tiny model is built deterministically
(fixed seeds, one thread: the same bytes every time) and cached under the user cache directory.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from adapterx.errors import ModelError
from adapterx.data import synthetic

TINY = "tiny"
DEFAULT_MODEL = "xlm-roberta-base"
# Bump when the tiny model's recipe changes: the cache key includes it, so old caches are never reused.
TINY_VERSION = 3
TINY_ARCH = {
    "hidden_size": 64,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "intermediate_size": 128,
    # RoBERTa positions start after the padding id (1): 512 tokens need 512 + 1 + 1 = 514 positions.
    "max_position_embeddings": 514,
}
TINY_VOCAB = 4000
# Languages whose synthetic text trains the tiny tokenizer: every XTREME-R language, so each has its own suffix pieces.
_TINY_LANGS = (
    "af ar az bg bn de el en es et eu fa fi fr gu he hi ht hu id it ja jv ka kk ko lt ml mr ms my nl pa pl pt qu "
    "ro ru sw ta te th tl tr uk ur vi wo yo zh am xh"
).split()
# A sample of many scripts, so real files tokenize into characters rather than <unk> on the tiny model.
_SCRIPT_RANGES = (
    (0x00C0, 0x017F),  # Latin-1 supplement and extended-A (accents, Vietnamese bases, Turkish)
    (0x0391, 0x03C9),  # Greek
    (0x0410, 0x044F),  # Cyrillic
    (0x05D0, 0x05EA),  # Hebrew
    (0x0621, 0x064A),  # Arabic
    (0x0905, 0x094D),  # Devanagari
    (0x0985, 0x09CD),  # Bengali
    (0x0A05, 0x0A4D),  # Gurmukhi
    (0x0A85, 0x0ACD),  # Gujarati
    (0x0B85, 0x0BCD),  # Tamil
    (0x0C05, 0x0C4D),  # Telugu
    (0x0D05, 0x0D4D),  # Malayalam
    (0x0E01, 0x0E3A),  # Thai
    (0x1000, 0x102A),  # Myanmar
    (0x10D0, 0x10F0),  # Georgian
    (0x1200, 0x1250),  # Ethiopic
    (0x3041, 0x3096),  # Hiragana
    (0x30A1, 0x30FA),  # Katakana
    (0x4E00, 0x4FFF),  # the first 512 CJK ideographs
    (0xAC00, 0xAD00),  # 256 Hangul syllables
)


@dataclass(frozen=True)
class Backbone:
    """A resolved backbone: what ``from_pretrained`` gets, and what the run records."""

    id: str  # what the user asked for: "tiny", a Hub id, or a path
    path: str  # what from_pretrained receives (a local folder, or the Hub id)
    revision: str | None
    sha256: str | None  # a content fingerprint of the files (see fingerprint())
    model_type: str
    hidden_size: int
    num_layers: int
    vocab_size: int

    def record(self) -> dict[str, Any]:
        return asdict(self)


def cache_dir() -> Path:
    """adapterx's cache root: ``$ADAPTERX_CACHE`` or ``$XDG_CACHE_HOME/adapterx`` (default ``~/.cache/adapterx``)."""
    env = os.environ.get("ADAPTERX_CACHE")
    if env:
        return Path(env)
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "adapterx"


def fingerprint(folder: Path, weight_bytes: int = 64 << 20) -> str:
    """sha256 over a model folder's config and tokenizer files, and the first 64 MiB plus the size of each
    weights file. Full hashes of a 2 GB checkpoint take seconds on every run; this still changes whenever the
    weights file is replaced."""
    h = hashlib.sha256()
    for p in sorted(folder.iterdir()):
        if not p.is_file():
            continue
        h.update(p.name.encode() + b"\0")
        if p.suffix in {".safetensors", ".bin"}:
            h.update(str(p.stat().st_size).encode())
            with p.open("rb") as f:
                h.update(f.read(weight_bytes))
        else:
            h.update(p.read_bytes())
    return h.hexdigest()


# --------------------------------------------------------------------------- the tiny model


def _tiny_corpus() -> list[str]:
    text: list[str] = []
    for lang in _TINY_LANGS:
        text.extend(synthetic.corpus(lang, 150, seed=0))
    # Script samples: runs of 1-4 characters of each range, so the Unigram vocabulary keeps each character.
    for lo, hi in _SCRIPT_RANGES:
        chars = [chr(c) for c in range(lo, hi + 1)]
        line = " ".join("".join(chars[i : i + 4]) for i in range(0, len(chars), 4))
        text.extend([line, line])
    text.append("0 1 2 3 4 5 6 7 8 9 . , ; : ! ? ' \" ( ) - % $ & / « » ¿ ¡ 。 、 ， ？ ！ ، ؟ ।")
    return text


def build_tiny(dest: Path) -> None:
    """Build the tiny XLM-R into ``dest`` (a folder in ``save_pretrained`` layout: config, weights, tokenizer)."""
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ["RAYON_NUM_THREADS"] = "1"  # tokenizer training is only bitwise reproducible on one thread
    import torch
    from tokenizers import SentencePieceUnigramTokenizer
    from tokenizers.processors import TemplateProcessing
    from transformers import XLMRobertaConfig, XLMRobertaModel, XLMRobertaTokenizerFast

    specials = ["<s>", "<pad>", "</s>", "<unk>"]  # XLM-R's order: ids 0..3
    sp = SentencePieceUnigramTokenizer()
    sp.train_from_iterator(_tiny_corpus(), vocab_size=TINY_VOCAB, special_tokens=specials, unk_token="<unk>", show_progress=False)
    # The trainer's scores come out of float sums whose order varies run to run (last digits), and pieces with tied
    # scores come in hash-map order. Round the scores and sort ties by piece so that the tokenizer file (and so the
    # fingerprint) is the same bytes every time. The specials keep ids 0..3.
    from tokenizers.models import Unigram

    state = json.loads(sp._tokenizer.to_str())["model"]
    head, rest = state["vocab"][: len(specials)], state["vocab"][len(specials) :]
    rest = sorted(((p, round(s, 6)) for p, s in rest), key=lambda ps: (-ps[1], ps[0]))
    sp._tokenizer.model = Unigram([tuple(x) for x in head] + rest, unk_id=state["unk_id"], byte_fallback=False)
    sp.add_special_tokens(["<mask>"])
    sp.post_processor = TemplateProcessing(
        single="<s> $A </s>",
        pair="<s> $A </s> </s> $B </s>",  # XLM-R's pair template: a doubled separator
        special_tokens=[("<s>", 0), ("</s>", 2)],
    )
    tok = XLMRobertaTokenizerFast(
        tokenizer_object=sp._tokenizer,
        bos_token="<s>", eos_token="</s>", sep_token="</s>", cls_token="<s>",
        unk_token="<unk>", pad_token="<pad>", mask_token="<mask>", model_max_length=512,
    )
    config = XLMRobertaConfig(
        vocab_size=len(tok), pad_token_id=1, bos_token_id=0, eos_token_id=2, type_vocab_size=1, **TINY_ARCH
    )
    torch.manual_seed(0)
    # The encoder with its pooler, as in the released checkpoints: heads that read the pooler (multiple choice) must
    # find fixed weights, not a fresh random pooler at every load.
    model = XLMRobertaModel(config, add_pooling_layer=True)
    model.save_pretrained(dest, safe_serialization=True)
    tok.save_pretrained(dest)


def tiny_path() -> Path:
    """The cached tiny model's folder, built on first use (about 5 s). Safe with concurrent builders."""
    target = cache_dir() / f"tiny-xlmr-v{TINY_VERSION}"
    if (target / "config.json").is_file() and (target / "tokenizer.json").is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".tiny-build-", dir=target.parent))
    tmp.chmod(0o755)
    try:
        build_tiny(tmp)
        try:
            tmp.rename(target)
        except OSError:  # another process finished first: keep its copy
            if not (target / "config.json").is_file():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


# --------------------------------------------------------------------------- resolving


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "0").lower() in {"1", "true", "yes"}


def resolve(model: str = DEFAULT_MODEL, revision: str | None = None) -> Backbone:
    """Resolve ``tiny``, a local folder or a Hub id to a :class:`Backbone`; one clear error when it cannot be had."""
    if model == TINY:
        path = tiny_path()
        return _from_folder(TINY, path, revision=f"tiny-v{TINY_VERSION}")
    local = Path(model).expanduser()
    if local.exists():
        if not (local / "config.json").is_file():
            raise ModelError(f"{model}: not a model folder (no config.json). Pass a save_pretrained folder, a Hub id, or --model tiny.")
        return _from_folder(model, local, revision=None)
    try:
        from huggingface_hub import snapshot_download

        folder = snapshot_download(
            model,
            revision=revision,
            allow_patterns=["*.json", "*.safetensors", "sentencepiece.bpe.model", "*.txt"],
        )
    except Exception as exc:  # offline, unknown repo, network down: all end the same way for a user
        why = "the Hub is unreachable (offline)" if _offline() or "offline" in str(exc).lower() or "connect" in str(exc).lower() else str(exc).splitlines()[0]
        raise ModelError(
            f"cannot load backbone {model!r}: it is not in the local cache and {why}. "
            "Use --model tiny for the built-in tiny XLM-R, or pass a local model folder."
        ) from None
    rev = Path(folder).name  # snapshot folders are named by commit hash
    return _from_folder(model, Path(folder), revision=rev, load_path=str(folder))


def _from_folder(model_id: str, folder: Path, revision: str | None, load_path: str | None = None) -> Backbone:
    cfg = json.loads((folder / "config.json").read_text())
    return Backbone(
        id=model_id,
        path=load_path or str(folder),
        revision=revision,
        sha256=fingerprint(folder),
        model_type=cfg.get("model_type", "?"),
        hidden_size=int(cfg.get("hidden_size", 0)),
        num_layers=int(cfg.get("num_hidden_layers", 0)),
        vocab_size=int(cfg.get("vocab_size", 0)),
    )


def load_tokenizer(bb: Backbone):  # noqa: ANN201 - transformers type, imported lazily
    """The backbone's fast tokenizer (fast: QA and tagging need offsets and word ids)."""
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(bb.path, use_fast=True)


def check_compatible(bb: Backbone, other: dict[str, Any], what: str, allow_mismatch: bool = False) -> str | None:
    """Raise :class:`ModelError` when a module recorded for backbone ``other`` cannot run on ``bb`` (another shape),
    or was trained on other weights of the same shape (another sha256 fingerprint) unless ``allow_mismatch``; then
    the returned note says so, for the run's record (None: the same backbone)."""
    for key in ("model_type", "hidden_size", "vocab_size", "num_layers"):
        theirs = other.get(key)
        if theirs is not None and theirs != getattr(bb, key):
            raise ModelError(
                f"{what} was trained on another backbone ({other.get('id')}: {key}={theirs}, "
                f"here {bb.id}: {key}={getattr(bb, key)}). Use --model {other.get('id')} or retrain it."
            )
    theirs = other.get("sha256")
    if not theirs or not bb.sha256 or theirs == bb.sha256:
        return None
    # Same shape, other weights: the module loads and runs, but its weights were learned on another base.
    note = (f"{what} was trained on other backbone weights ({other.get('id')}, sha256 {str(theirs)[:12]}; here"
            f" {bb.id}, sha256 {bb.sha256[:12]})")
    if not allow_mismatch:
        raise ModelError(f"{note}. Use --model {other.get('id')}, or pass --allow-backbone-mismatch if this is"
                         " deliberate (it is recorded)")
    return note
