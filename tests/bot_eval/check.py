"""Sanity check: the knowledge file validates and every expected id exists."""
import json
import pathlib
import sys
from collections import Counter

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2]))
from chalicelib.bot import validate_knowledge

here = pathlib.Path(__file__).parent
knowledge = validate_knowledge(json.loads((here / "knowledge.json").read_text()))
questions = json.loads((here / "questions.json").read_text())
ids = {e["id"] for e in knowledge["entries"]}
missing = [q for q in questions["in_scope"] if q["id"] not in ids]
counts = Counter(q["id"] for q in questions["in_scope"])
thin = {i: counts[i] for i in ids if counts[i] < 3}
entry_qs = {q.lower().strip() for e in knowledge["entries"] for q in e["questions"]}
reused = [q["q"] for q in questions["in_scope"] if q["q"].lower().strip() in entry_qs]
dups = [q for q, n in Counter([x["q"] for x in questions["in_scope"]] + questions["out_of_scope"]).items() if n > 1]
print(f"entries={len(ids)} in_scope={len(questions['in_scope'])} out_of_scope={len(questions['out_of_scope'])}")
print("per entry:", dict(sorted(counts.items())))
assert not missing, missing
assert not thin, thin
assert not reused, reused
assert not dups, dups
assert 14 <= len(ids) <= 18 and len(questions["in_scope"]) >= 70 and len(questions["out_of_scope"]) >= 25
print("OK")
