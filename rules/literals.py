"""Which of many literals a text contains, starts or ends with: one dense Aho-Corasick table.

pyahocorasick walks a trie whose nodes scan their children in a list and follow failure links
at every character, so its cost per character grows with the number of literals (measured
~10 ns with one literal, ~32 ns with 2,400). Here the failure links are folded in at build
time, giving a deterministic automaton over the literals' own alphabet: one step is one table
lookup whatever the literal count. A batch of texts is walked all at once with numpy, one
vectorized step per character position over every text that is still that long; a few texts
(one request) walk the same table in plain Python.

`starts_with` and `ends_with` are literals too: every text is walked between a start and an end
marker, two classes of their own that no character maps to, and such a literal begins or ends
with its marker. So each state knows the hits it reports, wherever it is reached.
"""

from __future__ import annotations

from array import array
from collections.abc import Mapping, Sequence
from itertools import repeat
from typing import Literal

import numpy as np
import numpy.typing as npt

__all__ = ["LiteralAutomaton", "LiteralOp"]

LiteralOp = Literal["contains", "starts_with", "ends_with"]
Hits = tuple[int, ...]  # sorted

# Below this many texts a batch walks them one by one: a vectorized step costs a few
# microseconds of numpy call overhead per character position, whatever the batch size.
_VECTOR_FROM = 128


class LiteralAutomaton:
    """The hits of every (non-empty literal, op) that holds on a text, as one sorted tuple."""

    def __init__(self, literals: Mapping[tuple[str, LiteralOp], Hits]) -> None:
        """Build the automaton.

        Args:
            literals: (literal, op) -> the sorted hits to report when it holds.
        """
        if not all(text for text, _ in literals):
            raise ValueError("an empty literal matches everywhere; it cannot be indexed")
        alphabet = sorted({ch for text, _ in literals for ch in text})
        # Class 0 is every character no literal contains: it always leads back to the root.
        self._class_of = {ch: number for number, ch in enumerate(alphabet, start=1)}
        start, end = len(alphabet) + 1, len(alphabet) + 2
        width = len(alphabet) + 3
        words = [
            [start] * (op == "starts_with")
            + [self._class_of[ch] for ch in text]
            + [end] * (op == "ends_with")
            for text, op in literals
        ]
        children, parent, via, depth, ending = _trie(words)
        size = len(parent)
        step = np.zeros((size, width), dtype=np.int32)
        fail = np.zeros(size, dtype=np.int32)
        by_depth = np.argsort(depth, kind="stable")
        starts = np.searchsorted(depth[by_depth], np.arange(int(depth.max()) + 3))
        for number, child in children[0].items():
            step[0, number] = child
        # Level by level: a node's failure target is shallower, so its row is complete; the
        # node's row is that row with the node's own children written over it.
        for level in range(1, int(depth.max()) + 1):
            nodes = by_depth[starts[level] : starts[level + 1]]
            up = parent[nodes]
            fail[nodes] = np.where(up == 0, 0, step[fail[up], via[nodes]])
            step[nodes] = step[fail[nodes]]
            kids = by_depth[starts[level + 1] : starts[level + 2]]
            step[parent[kids], via[kids]] = kids
        # Each node reports its own literal's hits and whatever its failure target reports.
        payloads = list(literals.values())
        reports: list[Hits] = [()] * size
        for node in by_depth[1:].tolist():
            own, inherited = ending[node], reports[fail[node]]
            reports[node] = _union(payloads[own], inherited) if own >= 0 else inherited
        # Renumber so that the states that report come last: "reports" is then one comparison.
        emits = np.fromiter(map(bool, reports), dtype=bool, count=size)
        old_of = np.argsort(emits, kind="stable")  # the root (0, never reports) stays first
        new_of = np.empty(size, dtype=np.int64)
        new_of[old_of] = np.arange(size)
        if size * width >= 2**31:  # pragma: no cover - ~20 million literal characters
            raise ValueError("too many literals for one automaton")
        # States are stored premultiplied by the row width: a step is table[state + class].
        self._table = (new_of[step[old_of]] * width).astype(np.int32).ravel()
        self._step = array("i", self._table.tobytes())
        self._first = self._step[start]  # the state after the start marker
        self._end = end
        self._emit_from = int(size - emits.sum()) * width
        self._reports = {
            int(new_of[old]) * width: reports[old] for old in np.flatnonzero(emits).tolist()
        }
        codes = np.zeros(max(map(ord, alphabet), default=0) + 2, dtype=np.int32)
        for ch, number in self._class_of.items():
            codes[ord(ch)] = number
        self._code_class = codes  # by code point; the last entry stands for every larger one
        self.states = size

    def find(self, text: str) -> Hits:
        """The hits of every literal that holds on `text`."""
        table, emit_from, reports = self._step, self._emit_from, self._reports
        found: Hits = ()
        state = self._first
        for number in map(self._class_of.get, text, repeat(0)):
            state = table[state + number]
            if state >= emit_from:
                found = _union(found, reports[state]) if found else reports[state]
        state = table[state + self._end]
        if state >= emit_from:
            found = _union(found, reports[state]) if found else reports[state]
        return found

    def find_many(self, texts: Sequence[str]) -> list[Hits]:
        """`find` of each text, walking all of them at once."""
        if len(texts) < _VECTOR_FROM:
            return [self.find(text) for text in texts]
        found: list[Hits] = [()] * len(texts)
        reports = self._reports
        rows, states = self._walk(texts)
        for row, state in zip(rows.tolist(), states.tolist(), strict=True):
            before = found[row]
            found[row] = _union(before, reports[state]) if before else reports[state]
        return found

    def _walk(self, texts: Sequence[str]) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int32]]:
        """(text, state) of every step that reaches a state which reports."""
        count = len(texts)
        lengths = np.fromiter(map(len, texts), dtype=np.int64, count=count)
        # A lone surrogate (text decoded with surrogateescape) is a code point like any other.
        points = np.frombuffer("".join(texts).encode("utf-32-le", "surrogatepass"), np.uint32)
        classes = self._code_class[np.minimum(points, len(self._code_class) - 1)]
        offsets = np.zeros(count, dtype=np.int64)
        np.cumsum(lengths[:-1], out=offsets[1:])
        # Longest first: the texts still walking at position p are always a prefix.
        order = np.argsort(-lengths, kind="stable")
        starts = offsets[order]
        longest = int(lengths[order[0]]) if count else 0
        walking = np.searchsorted(-lengths[order], -np.arange(1, longest + 1), side="right")
        state = np.full(count, self._first, dtype=np.int32)
        at = np.empty(count, dtype=np.int64)
        moved = np.empty(count, dtype=np.int32)
        table, emit_from = self._table, self._emit_from
        rows: list[npt.NDArray[np.int64]] = []
        states: list[npt.NDArray[np.int32]] = []
        for position, k in enumerate(walking.tolist()):
            np.add(starts[:k], position, out=at[:k])
            np.take(classes, at[:k], out=moved[:k])
            moved[:k] += state[:k]
            np.take(table, moved[:k], out=state[:k])
            hit = np.flatnonzero(state[:k] >= emit_from)
            if len(hit):
                rows.append(hit)
                states.append(state[hit])
        # Every text ends with the end marker (a text that stopped walking kept its state).
        final = table[state + self._end]
        hit = np.flatnonzero(final >= emit_from)
        rows.append(hit)
        states.append(final[hit])
        return order[np.concatenate(rows)], np.concatenate(states)


def _union(first: Hits, second: Hits) -> Hits:
    """Sorted union of two sorted hit tuples."""
    return tuple(sorted({*first, *second}))


_Ints = npt.NDArray[np.int64]


def _trie(
    words: Sequence[Sequence[int]],
) -> tuple[list[dict[int, int]], _Ints, _Ints, _Ints, list[int]]:
    """Trie of class sequences: children, parent, class of the edge in, depth, literal ending."""
    children: list[dict[int, int]] = [{}]
    parent, via, depth, ending = [0], [0], [0], [-1]
    for number, word in enumerate(words):
        node = 0
        for edge in word:
            child = children[node].get(edge)
            if child is None:
                child = children[node][edge] = len(parent)
                children.append({})
                parent.append(node)
                via.append(edge)
                depth.append(depth[node] + 1)
                ending.append(-1)
            node = child
        ending[node] = number
    return children, _ints(parent), _ints(via), _ints(depth), ending


def _ints(values: list[int]) -> _Ints:
    return np.array(values, dtype=np.int64)
