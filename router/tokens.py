"""Token counts and their provenance: the provider's, the model family's tokenizer, or an estimate.

OpenAI models are counted with their own encoding (``o200k_base`` for gpt-4o, gpt-4.1, gpt-5 and the o-series;
``cl100k_base`` for gpt-4 and gpt-3.5), read from the files shipped in ``router/tokenizers/`` and checked
against tiktoken's published hashes: no download, ever. Every other model is estimated at about four
characters a token, and the count says so. tiktoken is imported on the first count, not at start-up.
"""

from __future__ import annotations

import base64
import hashlib
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    import tiktoken

Provenance = Literal["provider", "tokenizer", "estimate"]
TOKENIZERS = Path(__file__).with_name("tokenizers")

# Regexes and special tokens of OpenAI's encodings, as tiktoken_ext.openai_public defines them (MIT).
_CL100K_PATTERN = (
    r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+|\s++$|\s*[\r\n]|"""
    r"""\s+(?!\S)|\s"""
)
_O200K_PATTERN = "|".join(
    [
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
        r"""\p{N}{1,3}""",
        r""" ?[^\s\p{L}\p{N}]+[\r\n/]*""",
        r"""\s*[\r\n]+""",
        r"""\s+(?!\S)""",
        r"""\s+""",
    ]
)
_ENCODINGS: dict[str, tuple[str, str, dict[str, int]]] = {
    "o200k_base": (
        _O200K_PATTERN,
        "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
        {"<|endoftext|>": 199999, "<|endofprompt|>": 200018},
    ),
    "cl100k_base": (
        _CL100K_PATTERN,
        "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
        {"<|endoftext|>": 100257, "<|fim_prefix|>": 100258, "<|fim_middle|>": 100259, "<|fim_suffix|>": 100260,
         "<|endofprompt|>": 100276},
    ),
}  # fmt: skip
# Model-name prefixes of each shipped encoding, longest first (tiktoken.model's table, for the shipped encodings).
_PREFIXES: tuple[tuple[str, str], ...] = (
    ("chatgpt-4o", "o200k_base"),
    ("gpt-3.5", "cl100k_base"),
    ("gpt-35", "cl100k_base"),
    ("gpt-4.1", "o200k_base"),
    ("gpt-4.5", "o200k_base"),
    ("ft:gpt-4o", "o200k_base"),
    ("ft:gpt-4", "cl100k_base"),
    ("gpt-4o", "o200k_base"),
    ("gpt-5", "o200k_base"),
    ("gpt-4", "cl100k_base"),
    ("o1", "o200k_base"),
    ("o3", "o200k_base"),
    ("o4", "o200k_base"),
)
_loaded: dict[str, tiktoken.Encoding] = {}
_lock = threading.Lock()


def encoding_name(model: str) -> str | None:
    """The shipped encoding that counts ``model``'s tokens, or None (the count will be an estimate)."""
    for prefix, name in _PREFIXES:
        if model.startswith(prefix):
            return name
    return None


def encoding(name: str) -> tiktoken.Encoding:
    """A shipped encoding, loaded (and its file's hash checked) once per process."""
    found = _loaded.get(name)
    if found is not None:
        return found
    with _lock:
        if name not in _loaded:
            _loaded[name] = _load(name)
        return _loaded[name]


def load_tokenizer(model: str) -> None:
    """Load ``model``'s tokenizer now, if it has one (call it off the event loop: it reads and parses a file)."""
    name = encoding_name(model)
    if name is not None:
        encoding(name)


def _load(name: str) -> tiktoken.Encoding:
    import tiktoken

    pattern, expected_hash, special = _ENCODINGS[name]
    data = (TOKENIZERS / f"{name}.tiktoken").read_bytes()
    if hashlib.sha256(data).hexdigest() != expected_hash:
        raise ValueError(f"{TOKENIZERS / name}.tiktoken: contents do not match {name}'s published hash")
    ranks = {base64.b64decode(token): int(rank) for token, rank in (line.split() for line in data.splitlines() if line)}
    return tiktoken.Encoding(name, pat_str=pattern, mergeable_ranks=ranks, special_tokens=special)


def count_tokens(model: str, text: str) -> tuple[int, Provenance]:
    """Tokens in ``text`` by ``model``'s own tokenizer, or an estimate marked as one."""
    name = encoding_name(model)
    if name is None:
        return estimate_tokens(text), "estimate"
    return len(encoding(name).encode(text, disallowed_special=())), "tokenizer"


def estimate_tokens(text: str) -> int:
    """About four characters a token: what ranking uses before a call."""
    return max(1, (len(text) + 3) // 4)
