"""The literal automaton: every occurrence, anchored literals only at the ends, batch == single."""

from __future__ import annotations

import random

import pytest

from rules.literals import LiteralAutomaton, LiteralOp

Literals = dict[tuple[str, LiteralOp], tuple[int, ...]]

CLASSIC: Literals = {
    ("he", "contains"): (1,),
    ("she", "contains"): (2,),
    ("his", "contains"): (3,),
    ("hers", "contains"): (4,),
}


@pytest.mark.parametrize(
    ("literals", "text", "expected"),
    [
        (CLASSIC, "ushers", (1, 2, 4)),  # overlapping and nested occurrences all count
        (CLASSIC, "hishe", (1, 2, 3)),
        (CLASSIC, "h e", ()),
        (CLASSIC, "", ()),
        ({("ab", "contains"): (1,)}, "abab", (1,)),  # two occurrences report once
        ({("ab", "contains"): (1, 5)}, "xaby", (1, 5)),
        ({("star", "starts_with"): (1,)}, "starbucks", (1,)),
        ({("star", "starts_with"): (1,)}, "lone star", ()),
        ({("bucks", "ends_with"): (1,)}, "starbucks", (1,)),
        ({("bucks", "ends_with"): (1,)}, "bucks fizz", ()),
        ({("abc", "starts_with"): (1,), ("abc", "ends_with"): (2,)}, "abc", (1, 2)),
        ({("abc", "starts_with"): (1,), ("abc", "contains"): (2,)}, "xabc", (2,)),
        ({("aa", "starts_with"): (1,)}, "aaa", (1,)),
        ({("aa", "ends_with"): (1,)}, "baaa", (1,)),
        # Characters no literal has (digits, emoji, a lone surrogate) break a match.
        ({("ab", "contains"): (1,)}, "a1b", ()),
        ({("ab", "contains"): (1,)}, "a\U0001f600b ab", (1,)),
        ({("ab", "contains"): (1,)}, "a\udc80b", ()),
        ({("caf\u00e9", "contains"): (1,)}, "le caf\u00e9 noir", (1,)),
    ],
)
def test_finds_every_literal_that_holds(
    literals: Literals, text: str, expected: tuple[int, ...]
) -> None:
    automaton = LiteralAutomaton(literals)
    assert automaton.find(text) == expected
    assert automaton.find_many([text] * 200) == [expected] * 200  # the vectorized walk


def test_no_character_of_a_text_can_pose_as_the_start_or_end_marker() -> None:
    automaton = LiteralAutomaton({("ab", "starts_with"): (1,), ("ab", "ends_with"): (2,)})
    for ch in ["\x00", "\x01", "\x02", "\x03", "\ud800", "\udfff", "\U0010ffff", " "]:
        texts = [f"x{ch}ab{ch}x", f"{ch}ab{ch}"]
        assert automaton.find_many(texts * 100) == [(), ()] * 100
        assert [automaton.find(t) for t in texts] == [(), ()]


def test_an_empty_literal_is_refused() -> None:
    with pytest.raises(ValueError, match="empty literal"):
        LiteralAutomaton({("", "contains"): (1,)})


def _reference(literals: Literals, text: str) -> tuple[int, ...]:
    holds = {"contains": str.__contains__, "starts_with": str.startswith, "ends_with": str.endswith}
    return tuple(
        sorted(
            {
                hit
                for (value, op), hits in literals.items()
                if holds[op](text, value)
                for hit in hits
            }
        )
    )


def test_batch_and_single_walks_agree_with_plain_string_tests() -> None:
    rng = random.Random(3)
    alphabet = "abc d\u00e9"  # small, so literals overlap, nest and repeat often
    words = {"".join(rng.choices(alphabet, k=rng.randint(1, 4))) for _ in range(60)}
    ops: list[LiteralOp] = ["contains", "starts_with", "ends_with"]
    literals: Literals = {}
    for word in sorted(words):
        for op in rng.sample(ops, rng.randint(1, 3)):
            literals[word, op] = tuple(sorted(rng.sample(range(500), rng.randint(1, 2))))
    automaton = LiteralAutomaton(literals)
    texts = ["".join(rng.choices(alphabet + "xy1", k=rng.randint(0, 30))) for _ in range(1000)]
    expected = [_reference(literals, text) for text in texts]
    assert automaton.find_many(texts) == expected  # one batch: the numpy walk
    assert [automaton.find(text) for text in texts] == expected  # one at a time
    assert sum(map(bool, expected)) > 500  # the data exercises the automaton
