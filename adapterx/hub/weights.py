"""Check that a safetensors file loads: its header parses and every tensor's bytes are there, exactly.

Push runs this on every weight file before anything is published, pull on every file it fetched (after the sha256
check): a truncated or padded ``adapter.safetensors`` is refused with one line naming the file, instead of being
published, or reported as verified and failing later inside a library. It reads only the header (a few kB) and the
file size, so it costs nothing next to hashing; no torch import.

Format (https://github.com/huggingface/safetensors): 8 bytes little-endian header length N, N bytes of JSON
``{name: {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {...}}``, then the data buffer; offsets are
relative to the buffer, and the tensors tile it exactly.
"""

from __future__ import annotations

import json
import math
import struct
from pathlib import Path

from adapterx.errors import HubError

SAFETENSORS_SUFFIX = ".safetensors"
# Bytes per element of every dtype the format defines (sub-byte float types are packed: their sizes are checked
# by the library itself; here they count as 1 byte and only the bounds are checked).
_DTYPE_BYTES = {
    "BOOL": 1, "U8": 1, "I8": 1, "F8_E5M2": 1, "F8_E4M3": 1, "F8_E8M0": 1,
    "I16": 2, "U16": 2, "F16": 2, "BF16": 2,
    "I32": 4, "U32": 4, "F32": 4,
    "I64": 8, "U64": 8, "F64": 8, "C64": 8,
}
_MAX_HEADER = 100 << 20  # the library's own limit


def check_safetensors(path: Path, where: str) -> None:
    """Raise :class:`HubError` (one line, naming ``where`` and the fix) unless ``path`` is a complete safetensors
    file: header length within the file, the header valid JSON of known dtypes, each tensor's byte range of the size
    its shape and dtype give, and the ranges covering the data buffer without gaps or overlap."""
    fix = "re-save the module (or re-run the training that wrote it), then push again."
    try:
        size = path.stat().st_size
        with open(path, "rb") as fh:
            head = fh.read(8)
            if len(head) < 8:
                raise HubError(f"{where} is not a safetensors file ({size} bytes, no header): it is truncated; {fix}")
            (n,) = struct.unpack("<Q", head)
            if n > _MAX_HEADER or 8 + n > size:
                raise HubError(f"{where} is truncated: its header needs {8 + n} bytes, the file has {size}; {fix}")
            raw = fh.read(n)
    except OSError as exc:
        raise HubError(f"{where} cannot be read ({exc.strerror or exc}).") from None
    try:
        header = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise HubError(f"{where} has a damaged safetensors header (not JSON); {fix}") from None
    if not isinstance(header, dict):
        raise HubError(f"{where} has a damaged safetensors header (not an object); {fix}")
    data = size - 8 - n
    spans = []
    for name, info in header.items():
        if name == "__metadata__":
            continue
        ok = isinstance(info, dict) and info.get("dtype") in _DTYPE_BYTES and isinstance(info.get("shape"), list) \
            and all(isinstance(d, int) and d >= 0 for d in info["shape"]) \
            and isinstance(info.get("data_offsets"), list) and len(info["data_offsets"]) == 2 \
            and all(isinstance(o, int) for o in info["data_offsets"])
        if not ok:
            raise HubError(f"{where}: tensor {name!r} has a damaged entry in the safetensors header; {fix}")
        begin, end = info["data_offsets"]
        want = math.prod(info["shape"]) * _DTYPE_BYTES[info["dtype"]]
        if not 0 <= begin <= end or (end - begin != want and not info["dtype"].startswith("F8")):
            raise HubError(f"{where}: tensor {name!r} spans {end - begin} bytes, its shape {info['shape']} and "
                           f"dtype {info['dtype']} need {want}; {fix}")
        if end > data:
            raise HubError(f"{where} is truncated: tensor {name!r} ends at byte {end} of the data, the file holds "
                           f"{data}; {fix}")
        spans.append((begin, end))
    spans.sort()
    pos = 0
    for begin, end in spans:
        if begin != pos:
            raise HubError(f"{where}: the tensors' byte ranges overlap or leave a gap at byte {pos}; {fix}")
        pos = end
    if pos != data:
        raise HubError(f"{where} holds {data - pos} bytes after its last tensor (padded or appended to); {fix}")
