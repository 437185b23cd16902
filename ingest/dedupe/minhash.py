"""MinHash signatures over shingles, and LSH band hashes to find similar texts in SQL.

Why not datasketch: it needs numpy *and* scipy; installed with ``pip install --target``
here that came to 216 MB (scipy and its libraries 143 MB of it). numpy alone is already
in our tree (py3langid depends on it), and a MinHash is a few lines over it. Measured by
``benchmarks/bench_dedupe_sig.py``; the figures are in the module's report to the lead.

The scheme (Broder 1997; the band trick from Leskovec, Rajaraman & Ullman, *Mining of
Massive Datasets*, ch. 3):

- shingles: 3 consecutive tokens (:data:`WORD_SHINGLE`) for texts in spaced scripts,
  4 consecutive characters (:data:`CHAR_SHINGLE`) for texts mostly in scripts written
  without spaces (Chinese, Japanese, Thai, ...), where tokens are single characters;
- each token -> a 32-bit hash of its UTF-8 bytes (a polynomial hash mixed by MurmurHash3's
  finalizer); each shingle -> a polynomial hash of its tokens' hashes mod 2**32
  (order-sensitive); both computed for all tokens and shingles at once with numpy;
- permutation ``i`` is the multiply-add-shift hash ``((a_i * x + b_i) mod 2**64) >> 32``
  (Dietzfelbinger 1996; universal for 32-bit ``x``) with fixed 64-bit ``a_i`` (odd),
  ``b_i`` derived from :data:`SEED`, so every process and host computes the same
  signature (they are stored); the signature is the minimum of each permutation over
  the shingles, 32-bit values;
- the fraction of equal positions of two signatures estimates the Jaccard similarity of
  their shingle sets (standard error ``sqrt(J(1-J)/num_perm)``: 0.035 at J=0.8 with 128).

LSH banding and its S-curve. A signature is cut into ``b`` bands of ``r`` rows; two texts
become candidates when any band is equal, with probability ``1 - (1 - J**r)**b``. With
128 permutations (the default is ``b = 16`` bands of ``r = 8`` rows)::

    Jaccard      0.1     0.2    0.3    0.4    0.5    0.6    0.7     0.8   0.9
    b=32, r=4  0.0032  0.050  0.229  0.564  0.873  0.988  0.9998  >0.99999995  1.0
    b=16, r=8  <1e-6   4e-5   0.001  0.010  0.061  0.237  0.613   0.947  0.9999

The default is ``b=16, r=8``. ``b=32, r=4`` would find pairs at exactly J = 0.8 with near
certainty, but it makes candidates of every pair between 0.4 and 0.7, which news in one
language often is (shared names and phrases): each lookup then returned a sizeable share
of the store to verify, and placement slowed as the store grew (measured on the feed
farm's articles). ``b=16, r=8`` finds 95% of pairs at exactly 0.8, 99.4% at 0.85 and
99.99% at 0.9 (a republication with other boilerplate is well above that), rarely returns
unrelated articles, and stores half the band rows. Use :func:`candidate_probability` to
weigh other choices.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Sequence

import numpy as np

from ingest.dedupe.tokens import content_lines, has_no_space_char, is_no_space_token

DEFAULT_NUM_PERM = 128
DEFAULT_BANDS = 16
#: Tokens per shingle for spaced scripts.
WORD_SHINGLE = 3
#: Characters per shingle for texts mostly in scripts without spaces.
CHAR_SHINGLE = 4
#: Changing this (or the hashing below) invalidates every stored signature and band.
SEED = b"newsdigest-minhash-v2"

# Multiplier of the shingle's polynomial hash (the 32-bit FNV prime).
_POLY = np.uint64(0x01000193)
_MASK32 = np.uint64(0xFFFFFFFF)
_SHIFT32 = np.uint64(32)
# Shingles per block of the permutation matrix.
_CHUNK = 4096


def _coefficients(num_perm: int) -> tuple[np.ndarray, np.ndarray]:
    """The fixed ``a`` (odd) and ``b`` of each permutation, 64-bit each."""
    a = np.empty(num_perm, dtype=np.uint64)
    b = np.empty(num_perm, dtype=np.uint64)
    for i in range(num_perm):
        digest = hashlib.blake2b(SEED + i.to_bytes(4, "little"), digest_size=16).digest()
        a[i] = int.from_bytes(digest[:8], "little") | 1
        b[i] = int.from_bytes(digest[8:], "little")
    return a, b


_COEFFICIENTS: dict[int, tuple[np.ndarray, np.ndarray]] = {}


def _coefficients_for(num_perm: int) -> tuple[np.ndarray, np.ndarray]:
    # Constants computed on first use per size; pure and deterministic, so a cache.
    if num_perm not in _COEFFICIENTS:
        _COEFFICIENTS[num_perm] = _coefficients(num_perm)
    return _COEFFICIENTS[num_perm]


def shingle_hashes(text: str) -> np.ndarray:
    """The 32-bit hashes (uint64 array) of the shingles of ``text``, repeats included.

    Uses the same story lines as the fingerprint (boilerplate and short lines dropped);
    shingles run across line breaks. A text shorter than one shingle gives one shingle
    of all its tokens; a text without tokens gives an empty array.
    """
    return _shingle_hashes_of_lines(content_lines(text))


# Token hashes, all at once: a polynomial hash of each token's UTF-8 bytes mod 2**64,
# read off prefix sums of the joined text (tokens never contain a space, so spaces mark
# their ends), then mixed (the MurmurHash3 64-bit finalizer) so every bit depends on
# every byte. About ten numpy operations per text instead of an encode and a CRC per
# token in Python, which took most of a signature's time.
_BYTE_BASE = 0x100000001B3  # the 64-bit FNV prime: odd, so invertible mod 2**64
_BYTE_BASE_INVERSE = pow(_BYTE_BASE, -1, 2**64)
_FMIX_1 = np.uint64(0xFF51AFD7ED558CCD)
_FMIX_2 = np.uint64(0xC4CEB9FE1A85EC53)
_SHIFT33 = np.uint64(33)
_SPACE = ord(" ")
_POWERS: list[np.ndarray] = []  # [base**i, inverse**i] for i < the longest text so far


def _powers(n: int) -> tuple[np.ndarray, np.ndarray]:
    """``base**i`` and ``base**-i`` mod 2**64 for ``i < n`` (cached, grown by doubling)."""
    if not _POWERS or len(_POWERS[0]) < n:
        size = max(4096, 1 << (n - 1).bit_length())
        grown = []
        for base in (_BYTE_BASE, _BYTE_BASE_INVERSE):
            steps = np.full(size, base, dtype=np.uint64)
            steps[0] = 1
            grown.append(np.cumprod(steps, dtype=np.uint64))  # wraps mod 2**64 by design
        _POWERS[:] = grown
    return _POWERS[0], _POWERS[1]


def _token_hashes(joined: str) -> np.ndarray:
    """A 32-bit hash (in a uint64 array) of each token of ``" ".join(tokens)``."""
    data = np.frombuffer(joined.encode("utf-8", "surrogatepass"), dtype=np.uint8).astype(np.uint64)
    n = len(data)
    power, inverse = _powers(n)
    # prefix[i] = sum of data[j] * base**-j for j < i; a token's hash over [start, end) is
    # base**(end - 1) * (prefix[end] - prefix[start]) = sum data[j] * base**(end - 1 - j).
    prefix = np.zeros(n + 1, dtype=np.uint64)
    np.cumsum(data * inverse[:n], out=prefix[1:])
    spaces = np.flatnonzero(data == _SPACE)
    starts = np.concatenate(([0], spaces + 1))
    ends = np.append(spaces, n)
    h = (prefix[ends] - prefix[starts]) * power[ends - 1]
    h ^= h >> _SHIFT33
    h *= _FMIX_1
    h ^= h >> _SHIFT33
    h *= _FMIX_2
    h ^= h >> _SHIFT33
    return h >> _SHIFT32


def _shingle_hashes_of_lines(lines: list[list[str]]) -> np.ndarray:
    tokens = [token for line in lines for token in line]
    if not tokens:
        return np.empty(0, dtype=np.uint64)
    joined = " ".join(tokens)
    # Text with no character of a script written without spaces (Latin, Cyrillic, Arabic,
    # Devanagari...: nearly all) need not be looked at token by token.
    no_space = 0
    if has_no_space_char(joined):
        no_space = sum(1 for token in tokens if is_no_space_token(token))
    size = CHAR_SHINGLE if no_space * 2 > len(tokens) else WORD_SHINGLE
    size = min(size, len(tokens))
    token_hashes = _token_hashes(joined)
    count = len(tokens) - size + 1
    hashes = np.zeros(count, dtype=np.uint64)
    for offset in range(size):
        hashes = (hashes * _POLY + token_hashes[offset : offset + count]) & _MASK32
    return hashes


def minhash_signature(text: str, num_perm: int = DEFAULT_NUM_PERM) -> tuple[int, ...]:
    """MinHash signature of ``text``: ``num_perm`` ints in ``[0, 2**32)``.

    A text with no shingles (no letters or digits) gets ``()``: it has no bands and is
    similar to nothing, rather than similar to every other empty text.
    """
    return signature_of_lines(content_lines(text), num_perm)


def signature_of_lines(lines: list[list[str]], num_perm: int = DEFAULT_NUM_PERM) -> tuple[int, ...]:
    """:func:`minhash_signature` of already computed ``tokens.content_lines``."""
    if num_perm < 1:
        raise ValueError(f"num_perm must be positive, got {num_perm}")
    hashes = _shingle_hashes_of_lines(lines)
    if not len(hashes):
        return ()
    a, b = _coefficients_for(num_perm)
    # (chunk, num_perm) matrices; uint64 arithmetic wraps mod 2**64 by design. In-place
    # operations: temporaries of this size cost more (page faults) than the arithmetic.
    # Chunks keep a huge text's matrix small (4 MB) instead of num_perm times its size.
    # Shingles down the rows: the minimum over axis 0 is an element-wise minimum of whole
    # rows, which numpy vectorizes better than one reduction per permutation.
    lowest: np.ndarray | None = None
    for start in range(0, len(hashes), _CHUNK):
        permuted = np.multiply.outer(hashes[start : start + _CHUNK], a)
        permuted += b
        row_min = permuted.min(axis=0)
        lowest = row_min if lowest is None else np.minimum(lowest, row_min)
    assert lowest is not None
    # The shift is monotonic, so it is taken of each row's minimum rather than of every
    # value: the same signature for one pass fewer over the matrix.
    return tuple((lowest >> _SHIFT32).tolist())


def lsh_bands(signature: Sequence[int], bands: int = DEFAULT_BANDS) -> list[tuple[int, int]]:
    """Split ``signature`` into ``bands`` bands and hash each: ``[(band index, hash)]``.

    The hash is a signed 64-bit int (fits SQL ``BIGINT``); two texts are near-duplicate
    candidates when they share any ``(band index, hash)`` pair. ``len(signature)`` must be
    a multiple of ``bands``; an empty signature has no bands.
    """
    if not signature:
        return []
    if bands < 1 or len(signature) % bands:
        raise ValueError(f"bands must divide the signature length: {len(signature)} % {bands} != 0")
    width = len(signature) // bands * 8
    # Each value as 8 little-endian bytes, all at once (the values are 32-bit, >= 0).
    packed = signature_to_bytes(signature)
    blake2b, from_bytes = hashlib.blake2b, int.from_bytes
    return [
        (band, from_bytes(blake2b(packed[start : start + width], digest_size=8).digest(),
                          "little", signed=True))
        for band, start in enumerate(range(0, len(packed), width))
    ]  # fmt: skip


def estimated_jaccard(sig_a: Sequence[int], sig_b: Sequence[int]) -> float:
    """Share of equal positions of two signatures: an estimate of their Jaccard similarity.

    0.0 when either is empty. Signatures of different lengths were made with different
    settings and cannot be compared: ``ValueError``.
    """
    if not sig_a or not sig_b:
        return 0.0
    if len(sig_a) != len(sig_b):
        raise ValueError(f"signatures differ in length: {len(sig_a)} != {len(sig_b)}")
    return sum(1 for x, y in zip(sig_a, sig_b, strict=True) if x == y) / len(sig_a)


def candidate_probability(jaccard: float, bands: int, rows: int) -> float:
    """Probability that two texts with similarity ``jaccard`` share at least one band."""
    return 1.0 - (1.0 - jaccard**rows) ** bands


def signature_to_bytes(signature: Sequence[int]) -> bytes:
    """Pack a signature for storage: 8 bytes little-endian per value (1 KB for 128)."""
    # One struct.pack instead of a to_bytes per value (the same bytes, faster than numpy
    # for 128 values); a value out of range raises OverflowError either way.
    try:
        return struct.pack(f"<{len(signature)}Q", *signature)
    except struct.error as exc:
        raise OverflowError(f"a signature value is not an unsigned 64-bit int: {exc}") from None


def signature_from_bytes(data: bytes) -> tuple[int, ...]:
    """Inverse of :func:`signature_to_bytes`."""
    if len(data) % 8:
        raise ValueError(f"a packed signature is a multiple of 8 bytes, got {len(data)}")
    return tuple(np.frombuffer(data, dtype="<u8").tolist())
