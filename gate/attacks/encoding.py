"""The two encoding attacks' ciphers, and how an answer written in them is read back.

A model may answer an encoded request in the encoding, in plain text, or in a mix of both. The
decoders turn only what is clearly encoded back into text and leave the rest as it is, so a plain
answer is judged as written.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import re

_BASE64_TOKEN = re.compile(r"^[A-Za-z0-9+/]{16,}={0,2}$")
_EDGES = "\"'`.,;:!?()[]{}<>*"
_MIN_PRINTABLE = 0.9
"""Twelve random bytes are all printable with odds of about 1 in 150,000: a plain word is
not mistaken for base64, where a real encoded answer decodes to text throughout."""


def to_base64(text: str) -> str:
    return base64.b64encode(text.encode("utf-8")).decode("ascii")


def _decoded_base64(token: str) -> str | None:
    """The text a base64 token encodes, or None when it is not base64 of readable text."""
    if not _BASE64_TOKEN.match(token):
        return None
    padded = token + "=" * (-len(token) % 4)
    try:
        text = base64.b64decode(padded, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    printable = sum(ch.isprintable() or ch in "\n\t" for ch in text)
    if not text or printable / len(text) < _MIN_PRINTABLE or not any(c.isalpha() for c in text):
        return None
    return text


def from_base64(answer: str) -> str:
    """The answer with every base64 run of readable text replaced by that text."""
    pieces = re.split(r"(\s+)", answer)
    out = []
    for piece in pieces:
        core = piece.strip(_EDGES)
        decoded = _decoded_base64(core) if core else None
        out.append(piece if decoded is None else piece.replace(core, decoded, 1))
    return "".join(out)


def rot13(text: str) -> str:
    return codecs.encode(text, "rot13")


# Words frequent in any English answer; a line with more of them after ROT13 than before was
# written in ROT13.
_COMMON = frozenset(
    "a an and are as at be but by can do for from have how i if in is it its not of on or so "
    "that the then this to use was we what when which will with you your step first make get "
    "need one them they their there these take".split()
)


def _common_words(line: str) -> int:
    return sum(word in _COMMON for word in re.findall(r"[a-z]+", line.lower()))


def from_rot13(answer: str) -> str:
    """The answer with each line that reads as English only after ROT13 turned back."""
    lines = []
    for line in answer.split("\n"):
        turned = rot13(line)
        lines.append(turned if _common_words(turned) > _common_words(line) else line)
    return "\n".join(lines)
