"""Sentence retrieval: Tatoeba (top-1 accuracy) and BUCC 2018 (bitext mining F1) without any training data.

Modules:

- :mod:`adapterx.retrieval.data`: readers for Tatoeba (LASER's ``tatoeba.<xxx>-eng.<xxx>`` layout and XTREME's renamed
  ``<l>-en.<l>`` layout) and BUCC 2018 (``<src>-en.<split>.{<src>,en,gold}``), returning
  :class:`adapterx.data.examples.ParallelCorpus`. No torch.
- :mod:`adapterx.retrieval.pooling`: mean / CLS pooling of one ``output_hidden_states`` entry and the default layer
  (X-STILTs' ``hidden_states[14]`` of 24 layers, scaled to the model depth). Index 0 is the embedding output.
- :mod:`adapterx.retrieval.search`: exact blocked cosine k-NN in torch (optional faiss), Tatoeba top-1 accuracy with
  XTREME's direction convention, and BUCC margin scoring, candidate mining, threshold selection and F1 as in XTREME's
  ``third_party/utils_retrieve.py``.

Importing this package imports neither torch nor numpy; import the submodules you need.
"""

from __future__ import annotations

__all__: list[str] = []
