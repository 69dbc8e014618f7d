"""Tiny random models of the encoder architectures adapterx serves, built in-process (no download): BERT and
DistilBERT with a WordPiece tokenizer (``##`` continuations, uncased, segment ids for BERT), DeBERTa-v2 with a
SentencePiece Unigram tokenizer (no segment embeddings, as mDeBERTa-v3), and MPNet (an architecture neither the
``adapters`` library nor peft's LoRA mapping covers). Each is a ``save_pretrained`` folder ``--model`` accepts.

Small on purpose (2 layers x 32, vocabularies of a few hundred pieces so real words split into several pieces).
"""

from __future__ import annotations

import os
from pathlib import Path

ARCHS = ("bert", "distilbert", "deberta-v2")
_SPECIALS_WP = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
_SMALL = {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 64,
          "max_position_embeddings": 512}


def corpus() -> list[str]:
    """Synthetic English/German text (what ``--data synthetic`` produces) plus plain English sentences."""
    from adapterx.data import synthetic

    text = synthetic.corpus("en", 120, seed=0) + synthetic.corpus("de", 60, seed=0)
    text += ["the tokenization of unbelievable words happens everywhere", "where is the answer hidden",
             "Zürich is a city in Switzerland", "cats and dogs play in the garden"] * 5
    return text


def _wordpiece(dest: Path, cls, vocab_size: int = 400):  # noqa: ANN001, ANN202
    from tokenizers import BertWordPieceTokenizer
    from tokenizers.processors import BertProcessing

    wp = BertWordPieceTokenizer(lowercase=True)
    wp.train_from_iterator(corpus(), vocab_size=vocab_size, special_tokens=_SPECIALS_WP, show_progress=False)
    # BERT's template: [CLS] A [SEP] B [SEP], segment B = 1 (BertProcessing sets the type ids).
    wp._tokenizer.post_processor = BertProcessing(("[SEP]", wp.token_to_id("[SEP]")), ("[CLS]", wp.token_to_id("[CLS]")))
    tok = cls(tokenizer_object=wp._tokenizer, unk_token="[UNK]", sep_token="[SEP]", pad_token="[PAD]",
              cls_token="[CLS]", mask_token="[MASK]", model_max_length=512)
    tok.save_pretrained(dest)
    return tok


def _unigram(dest: Path, cls, vocab_size: int = 300):  # noqa: ANN001, ANN202
    from tokenizers import SentencePieceUnigramTokenizer
    from tokenizers.processors import TemplateProcessing

    sp = SentencePieceUnigramTokenizer()
    sp.train_from_iterator(corpus(), vocab_size=vocab_size, special_tokens=["[PAD]", "[CLS]", "[SEP]", "[UNK]"],
                           unk_token="[UNK]", show_progress=False)
    sp.add_special_tokens(["[MASK]"])
    sp.post_processor = TemplateProcessing(single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
                                           special_tokens=[("[CLS]", 1), ("[SEP]", 2)])
    tok = cls(tokenizer_object=sp._tokenizer, bos_token="[CLS]", eos_token="[SEP]", unk_token="[UNK]",
              sep_token="[SEP]", pad_token="[PAD]", cls_token="[CLS]", mask_token="[MASK]", model_max_length=512)
    tok.save_pretrained(dest)
    return tok


def build(arch: str, dest: Path) -> Path:
    """A tiny random ``arch`` model folder (config, safetensors weights, fast tokenizer) at ``dest``."""
    os.environ["RAYON_NUM_THREADS"] = "1"
    import torch
    import transformers as T

    dest.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    if arch == "bert":
        tok = _wordpiece(dest, T.BertTokenizerFast)
        model = T.BertModel(T.BertConfig(vocab_size=len(tok), type_vocab_size=2, **_SMALL))
    elif arch == "distilbert":
        tok = _wordpiece(dest, T.DistilBertTokenizerFast)
        model = T.DistilBertModel(T.DistilBertConfig(vocab_size=len(tok), dim=32, n_layers=2, n_heads=2, hidden_dim=64,
                                                     max_position_embeddings=512))
    elif arch == "deberta-v2":  # mDeBERTa-v3's shape: relative attention, no absolute positions, no segment embeddings
        tok = _unigram(dest, T.DebertaV2TokenizerFast)
        model = T.DebertaV2Model(T.DebertaV2Config(vocab_size=len(tok), type_vocab_size=0, relative_attention=True,
                                                   position_biased_input=False, pos_att_type=["p2c", "c2p"],
                                                   pad_token_id=0, **_SMALL))
    elif arch == "mpnet":
        tok = _wordpiece(dest, T.BertTokenizerFast)  # the tokenizer class does not matter here
        model = T.MPNetModel(T.MPNetConfig(vocab_size=len(tok), **{**_SMALL, "max_position_embeddings": 514}))
    else:
        raise ValueError(arch)
    model.save_pretrained(dest, safe_serialization=True)
    return dest
