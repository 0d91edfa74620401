"""Fast integer views of text columns at 10 M rows: codes, first occurrences, distinct counts.

Columns come as pandas categoricals, Arrow-backed strings (Parquet) or plain strings and
objects (raw shards); every function gives the same answer for each. Hashing millions of
distinct strings is what costs: short strings are read as 64-bit words straight from their
Arrow buffers and sorted by numpy instead, and every shortcut is checked exactly, so no
answer rests on a hash.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

# Longer strings are hashed by Arrow (reading them as words would cost more than it saves).
_MAX_WORD_BYTES = 32
_BYTE_MASKS = np.array([(1 << (8 * k)) - 1 for k in range(8)] + [(1 << 64) - 1], dtype=np.uint64)
_MIX = np.uint64(0x9E3779B97F4A7C15)
_SHIFT = np.uint64(29)
_HIGH = np.uint64(32)
_TABLE_BITS = 22  # a 4 MiB table: the top bits of the 32-bit hashes that repeat


@dataclass(frozen=True, slots=True)
class Encoded:
    """A column as integer codes (-1: missing) and each code's value, as ``tolist()`` gives
    it (a code may have no row: a category that does not occur)."""

    codes: np.ndarray
    values: list[Any]


def _first_seen(codes: np.ndarray) -> np.ndarray:
    """True where a code numbered by first appearance appears for the first time (never -1)."""
    if not len(codes):
        return np.zeros(0, dtype=bool)
    seen = np.empty(len(codes), dtype=codes.dtype)
    seen[0] = -1
    np.maximum.accumulate(codes[:-1], out=seen[1:])
    out: np.ndarray = codes > seen
    return out


def _by_appearance(codes: np.ndarray) -> np.ndarray:
    """Codes renumbered in order of first appearance (-1 stays -1)."""
    dense, uniques = pd.factorize(codes)
    dense = dense.astype("int64")
    missing = np.flatnonzero(uniques < 0)
    if len(missing):
        hole = int(missing[0])
        dense = np.where(dense == hole, -1, dense - (dense > hole))
    return dense


def stable_order(values: pd.Series, rows: np.ndarray) -> np.ndarray:
    """The order ``values.take(rows).sort_values(kind="stable")`` gives (missing last), as
    positions into ``rows``; no sort when they are in order already."""
    if isinstance(values.dtype, np.dtype) and values.dtype.kind in "iuf":
        taken = values.to_numpy()[rows]
        if not len(taken) or bool(np.all(taken[1:] >= taken[:-1])):
            return np.arange(len(taken))  # in order (and no NaN: NaN >= x is False)
        order: np.ndarray = np.argsort(taken, kind="stable")  # NaN last, as pandas puts it
        return order
    return values.take(rows).reset_index(drop=True).sort_values(kind="stable").index.to_numpy()


def arrow_strings(series: pd.Series) -> pa.ChunkedArray | None:
    """The column's Arrow string chunks (no copy) when it is Arrow-backed text, else None."""
    if not isinstance(series.dtype, pd.ArrowDtype | pd.StringDtype):
        return None
    try:
        array = pa.array(series.array)
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError):
        return None
    chunks = array if isinstance(array, pa.ChunkedArray) else pa.chunked_array([array])
    if not (pa.types.is_string(chunks.type) or pa.types.is_large_string(chunks.type)):
        return None
    return chunks


def encode(series: pd.Series, rows: np.ndarray | None = None) -> Encoded:
    """Integer codes of a column's values at ``rows`` (all by default); -1 for missing.

    For low-cardinality columns (models, costs, personas): Arrow hashes those fast.
    """
    if isinstance(series.dtype, pd.CategoricalDtype):
        codes = series.cat.codes.to_numpy(dtype="int64")
        return Encoded(codes if rows is None else codes[rows], series.cat.categories.tolist())
    chunks = arrow_strings(series)
    if chunks is not None and len(chunks):
        encoded = pc.dictionary_encode(chunks)
        dictionary = encoded.chunk(0).dictionary
        if not all(chunk.dictionary.equals(dictionary) for chunk in encoded.chunks):
            encoded = encoded.unify_dictionaries()
            dictionary = encoded.chunk(0).dictionary
        indices = pa.chunked_array([chunk.indices for chunk in encoded.chunks])
        if indices.null_count:
            indices = indices.fill_null(-1)
        codes = indices.to_numpy()
        codes = (codes if rows is None else codes[rows]).astype("int64")
        return Encoded(codes, dictionary.to_pylist())
    values = series.to_numpy(dtype=object)
    factorized, uniques = pd.factorize(
        values if rows is None else values[rows], use_na_sentinel=True
    )
    return Encoded(factorized.astype("int64"), list(uniques))


@dataclass(frozen=True, slots=True)
class _Words:
    """Strings as zero-padded little-endian 64-bit words (exact), with their lengths."""

    words: list[np.ndarray]
    lengths: np.ndarray


def _hash(words: list[np.ndarray], lengths: np.ndarray) -> np.ndarray:
    key = lengths.astype(np.uint64) * _MIX
    for word in words:
        key ^= word
        key *= _MIX
        key ^= key >> _SHIFT
    return key


def _windows(data: np.ndarray) -> np.ndarray:
    """Every 8-byte window of ``data`` as one word (an overlapping, unaligned view)."""
    return np.ndarray(
        shape=(max(len(data) - 7, 0),), dtype="<u8", buffer=data.data, offset=0, strides=(1,)
    )


def _chunk_bounds(array: pa.Array, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Byte offset and length of the strings at ``rows`` (positions in this chunk)."""
    wide = pa.types.is_large_string(array.type)
    offsets = np.frombuffer(array.buffers()[1], dtype=np.int64 if wide else np.int32)
    offsets = offsets[array.offset : array.offset + len(array) + 1]
    starts = offsets[rows].astype("int64")
    return starts, offsets[rows + 1] - starts


def _chunk_words(
    array: pa.Array, starts: np.ndarray, lengths: np.ndarray, width: int
) -> list[np.ndarray]:
    data_buffer = array.buffers()[2]
    data = (
        np.frombuffer(data_buffer, dtype=np.uint8)
        if data_buffer is not None
        else np.zeros(0, dtype=np.uint8)
    )
    # windows that would run past the end are read from a zero-padded copy of the tail
    tail_start = max(0, len(data) - 8 * width - 8)
    tail = np.zeros(len(data) - tail_start + 8 * width + 8, dtype=np.uint8)
    tail[: len(data) - tail_start] = data[tail_start:]
    last = len(data) - 8
    shortest = int(lengths.min()) if len(lengths) else 0
    words = []
    for k in range(width):
        at = starts + 8 * k if k else starts
        if last >= 0:
            word = _windows(data)[np.minimum(at, last)]
            near = np.flatnonzero(at > last)
        else:
            word = np.zeros(len(at), dtype=np.uint64)
            near = np.arange(len(at))
        if len(near):
            word[near] = _windows(tail)[at[near] - tail_start]
        if shortest < 8 * (k + 1):  # some string ends inside this word: clear what follows
            word &= _BYTE_MASKS[np.clip(lengths - 8 * k, 0, 8)]
        words.append(word)
    return words


@dataclass(frozen=True, slots=True)
class _Located:
    """Where the strings at some rows lie: per chunk, which of the rows (a slice when the rows
    are in order), their byte offsets and lengths; ``width``: 64-bit words for the longest."""

    chunks: pa.ChunkedArray
    parts: list[tuple[pa.Array, slice | np.ndarray, np.ndarray, np.ndarray]]
    lengths: np.ndarray
    width: int

    def words(self) -> _Words:
        if len(self.parts) == 1:
            chunk, where, starts, lengths = self.parts[0]
            if isinstance(where, slice) and where == slice(0, len(self.lengths)):
                words = _chunk_words(chunk, starts, lengths, self.width)
                return _Words(words, lengths)
        words = [np.zeros(len(self.lengths), dtype=np.uint64) for _ in range(self.width)]
        for chunk, where, starts, lengths in self.parts:
            for word, part in zip(
                words, _chunk_words(chunk, starts, lengths, self.width), strict=True
            ):
                word[where] = part
        return _Words(words, self.lengths)

    def hashes(self) -> np.ndarray:
        """A 64-bit hash per string (equal strings, equal hashes), a chunk at a time: the
        words of all rows are never held."""
        out = np.zeros(len(self.lengths), dtype=np.uint64)
        for chunk, where, starts, lengths in self.parts:
            out[where] = _hash(_chunk_words(chunk, starts, lengths, self.width), lengths)
        return out


def _locate(chunks: pa.ChunkedArray, rows: np.ndarray) -> _Located | None:
    """The strings at ``rows`` (not missing); None when one is too long to read as words."""
    bounds = np.cumsum([0, *(len(chunk) for chunk in chunks.chunks)])
    in_order = bool(np.all(rows[1:] >= rows[:-1]))
    order = None if in_order else np.argsort(rows, kind="stable")
    edges = np.searchsorted(rows if order is None else rows[order], bounds).tolist()
    parts: list[tuple[pa.Array, slice | np.ndarray, np.ndarray, np.ndarray]] = []
    lengths = np.zeros(len(rows), dtype="int64")
    for index, chunk in enumerate(chunks.chunks):
        begin, end = edges[index], edges[index + 1]
        if end > begin:
            where = slice(begin, end) if order is None else order[begin:end]
            starts, part_lengths = _chunk_bounds(chunk, rows[where] - bounds[index])
            parts.append((chunk, where, starts, part_lengths))
            lengths[where] = part_lengths
    longest = int(lengths.max()) if len(rows) else 0
    if longest > _MAX_WORD_BYTES:
        return None
    return _Located(chunks, parts, lengths, (longest + 7) // 8)


def _valid(chunks: pa.ChunkedArray, rows: np.ndarray) -> np.ndarray:
    """Which of ``rows`` hold a value."""
    if chunks.null_count == 0:
        return np.ones(len(rows), dtype=bool)
    out: np.ndarray = chunks.is_valid().to_numpy()[rows]
    return out


def _arrow_first_seen(chunks: pa.ChunkedArray, rows: np.ndarray) -> np.ndarray:
    encoded = pc.dictionary_encode(chunks.take(pa.array(rows, type=pa.int64())))
    indices = pa.chunked_array([chunk.indices for chunk in encoded.chunks], type=pa.int32())
    return _first_seen(indices.fill_null(-1).to_numpy().astype("int64"))


def _all_rows(series: pd.Series, rows: np.ndarray | None) -> np.ndarray:
    return np.arange(len(series)) if rows is None else np.asarray(rows, dtype="int64")


def first_occurrences(series: pd.Series, rows: np.ndarray | None = None) -> np.ndarray:
    """Over ``rows`` (all by default): True at the first row of each distinct non-missing
    value, as ``drop_duplicates`` keeps it."""
    rows = _all_rows(series, rows)
    chunks = arrow_strings(series)
    if chunks is None:
        if isinstance(series.dtype, pd.CategoricalDtype):
            return _first_seen(_by_appearance(series.cat.codes.to_numpy()[rows]))
        values = series.to_numpy(dtype=object)[rows]
        present: np.ndarray = pd.notna(values)
        return present & ~pd.Series(values).duplicated().to_numpy()
    valid = _valid(chunks, rows)
    present = rows if valid.all() else rows[valid]
    key = _hash32(chunks, present)
    if key is None:
        return _arrow_first_seen(chunks, rows)
    # A row whose 32-bit hash no other row has holds a value no other row has; the rows that
    # share one (repeated values, and collisions) are told apart by their strings' words.
    ordered = np.sort(key)
    repeated = ordered[1:][ordered[1:] == ordered[:-1]]  # sorted, a value once or more
    repeated = repeated[np.append(True, repeated[1:] != repeated[:-1])[: len(repeated)]]
    del ordered
    first = ~_members(key, repeated)
    shared = np.flatnonzero(~first)
    if len(shared):
        repeats = _locate(chunks, present[shared])
        assert repeats is not None  # as short as all of them
        words = repeats.words()
        exact = pd.DataFrame({f"w{k}": word for k, word in enumerate(words.words)})
        exact["length"] = words.lengths
        first[shared] = ~exact.duplicated().to_numpy()
    if len(present) == len(rows):
        return first
    out = np.zeros(len(rows), dtype=bool)
    out[valid] = first
    return out


def _hash32(chunks: pa.ChunkedArray, rows: np.ndarray) -> np.ndarray | None:
    """A 32-bit hash of each string at ``rows`` (None: one is too long to read as words)."""
    located = _locate(chunks, rows)
    if located is None:
        return None
    key: np.ndarray = (located.hashes() >> _HIGH).astype(np.uint32)
    return key


def _members(keys: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Which ``keys`` are among ``values`` (sorted, distinct; few): a bit table of their top
    bits rules most keys out at one look each, a binary search settles the rest."""
    out = np.zeros(len(keys), dtype=bool)
    if not len(values):
        return out
    shift = np.uint32(32 - _TABLE_BITS)
    table = np.zeros(1 << _TABLE_BITS, dtype=bool)
    table[values >> shift] = True
    maybe = np.flatnonzero(table[keys >> shift])
    found = values[np.minimum(np.searchsorted(values, keys[maybe]), len(values) - 1)]
    out[maybe] = found == keys[maybe]
    return out


def count_distinct(series: pd.Series, rows: np.ndarray | None = None) -> int:
    """Distinct non-missing values among ``rows`` (all by default), as ``nunique()``.

    Arrow text is counted by Arrow's hash aggregation: a table of the distinct values only,
    where reading 10 M strings as words would take about 500 MB more.
    """
    rows = _all_rows(series, rows)
    chunks = arrow_strings(series)
    if chunks is None:
        if isinstance(series.dtype, pd.CategoricalDtype):
            codes = series.cat.codes.to_numpy()[rows]
            return len(pd.unique(codes[codes >= 0]))
        return int(series.take(rows).nunique())
    if len(rows) != len(series):
        picked = np.zeros(len(series), dtype=bool)
        picked[rows] = True
        chunks = chunks.filter(pa.array(picked))
    return int(pc.count_distinct(chunks, mode="only_valid").as_py())
