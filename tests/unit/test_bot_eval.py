"""The offline bot on the evaluation sets, knowledge files and questions it was not tuned to.

Issue 12's targets (≥ 90% right, ≤ 1 confident wrong answer in 60, every
out-of-scope question declined) are not met yet: `python -m bench.bot_eval`
prints where the engine stands on each set. Until they are, this test holds
the figures measured at the last change of the engine, so no change makes the
bot worse unseen. tests/bot_eval_final was written last, by someone who saw
neither the engine nor the other sets' results; its first measurement was
52 of 85 right, 6 confident wrong, 25 of 36 out of scope declined.
tests/bot_eval_blind (a language school) was written blind as well, and measured
once before the last round of changes (63 of 96, 6, 29 of 41) and once after.
tests/bot_eval_fifth (a vet clinic), written blind too, was measured before and
after a round tuned leave-one-set-out on the other four: 62 -> 63 of 99, 4 wrong,
37 of 41 declined both times.
tests/bot_eval_sixth (an online tea shop), written blind, was first measured at
0220639: 53 of 101 right, 6 confident wrong, 31 of 41 declined; tests/bot_eval_seventh
(a climbing gym), written blind, at the same commit: 63 of 103, 6, 34 of 40;
tests/bot_eval_eighth (a plumber), written blind, likewise: 72 of 104, 5, 34 of 42.
"""
from __future__ import annotations

from collections import Counter

import pytest

from bench.bot_eval import SETS, evaluate, load
from chalicelib.bot import validate_knowledge

# Measured on 2026-12-03 (BM25-style coverage with the general lexicon; then numbers and
# common chat words no unknown topic, web addresses as names, prices in answers, more general
# lexicon groups; then, judged set by set on the sets a change was not designed on: a visitor's
# word form of a site word ("cheapest", "physio", "noshow", "color"), common words no typo,
# "down" a word, common unknown words weighing half, a concept held through a word of several
# concepts less sure): set -> (right at least, confident wrong at most, out of scope declined
# at least). Tighten as the engine improves.
FLOORS = {
    "bot_eval": (70, 2, 28),
    "bot_eval_holdout": (67, 0, 32),
    "bot_eval_final": (63, 4, 24),
    "bot_eval_blind": (66, 7, 29),
    "bot_eval_fifth": (63, 4, 37),
    "bot_eval_sixth": (53, 6, 31),
    "bot_eval_seventh": (63, 6, 34),
    "bot_eval_eighth": (72, 5, 34),
}


@pytest.mark.parametrize("name", sorted(SETS))
def test_each_eval_set_is_big_enough_for_the_targets(name):
    _, questions = load(SETS[name])
    assert len(questions["in_scope"]) >= 60 and len(questions["out_of_scope"]) >= 25, (
        f"expected ≥ 60 in-scope and ≥ 25 out-of-scope questions in tests/{name}")


@pytest.mark.parametrize("name", sorted(SETS))
def test_each_eval_set_is_well_formed(name):
    knowledge, questions = load(SETS[name])
    entries = validate_knowledge(knowledge)["entries"]
    ids = {e["id"] for e in entries}

    def norm(text: str) -> str:
        return " ".join(text.lower().split())

    asked = {norm(q) for e in entries for q in e["questions"]}
    in_scope = [norm(q["q"]) for q in questions["in_scope"]]
    everything = in_scope + [norm(q) for q in questions["out_of_scope"]]
    assert not [q for q in questions["in_scope"] if q["id"] not in ids], "every expected entry exists"
    assert not [q for q in everything if q in asked], "no question is an entry's own question, verbatim"
    assert not [q for q, n in Counter(everything).items() if n > 1], "no question twice"
    counts = Counter(q["id"] for q in questions["in_scope"])
    assert min(counts[i] for i in ids) >= 3, f"every entry is asked at least 3 ways: {counts}"


@pytest.mark.parametrize("name", sorted(FLOORS))
def test_the_offline_bot_does_no_worse_than_its_measured_floor(name):
    right, wrong, declined = FLOORS[name]
    result = evaluate(*load(SETS[name]))
    assert result["right"] >= right, (f"tests/{name}: expected ≥ {right} right, got {result['right']}",
                                      result["misses"])
    assert result["confident_wrong"] <= wrong, (
        f"tests/{name}: expected ≤ {wrong} confident wrong, got {result['confident_wrong']}",
        [m for m in result["misses"] if m["got"]])
    assert result["out_of_scope_declined"] >= declined, (
        f"tests/{name}: expected ≥ {declined} out of scope declined, got {result['out_of_scope_declined']}",
        result["answered_out_of_scope"])
