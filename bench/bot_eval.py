"""How well the offline bot answers questions it was never tuned to.

    python -m bench.bot_eval [--show-misses] [--set NAME]

Runs chalicelib/bot/knowledge.py's KnowledgeBot on the evaluation sets in SETS,
each a knowledge file and visitor questions paraphrased by someone who never
saw the engine (in scope, each with the entry that should answer, and out of
scope, which no entry answers): tests/bot_eval (a bike shop), tests/bot_eval_holdout
(a hotel), tests/bot_eval_final (a booking SaaS), tests/bot_eval_blind (a language
school), tests/bot_eval_fifth (a vet clinic), tests/bot_eval_sixth (an online tea
shop), tests/bot_eval_seventh (a climbing gym) and tests/bot_eval_eighth (a
plumber). It prints, for each set: in-scope
questions answered with the right entry, confident wrong answers (an entry
that is not the expected one), in-scope questions declined (and of those, how
many had the right entry among the questions the bot offers instead: one tap
away), and out-of-scope questions declined (and how many of those came with
suggestions). The targets (issue 12): at least 90% right, at most 1
confident wrong answer in 60, every out-of-scope question declined. Also the
time to build the index and to answer one question (medians). Writes
bench/results/bot_eval.json. Prints figures; asserts nothing.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from . import common

EVAL = common.ROOT / "tests" / "bot_eval"
SETS = {"bot_eval": EVAL, "bot_eval_holdout": common.ROOT / "tests" / "bot_eval_holdout",
        "bot_eval_final": common.ROOT / "tests" / "bot_eval_final",
        "bot_eval_blind": common.ROOT / "tests" / "bot_eval_blind",
        "bot_eval_fifth": common.ROOT / "tests" / "bot_eval_fifth",
        "bot_eval_sixth": common.ROOT / "tests" / "bot_eval_sixth",
        "bot_eval_seventh": common.ROOT / "tests" / "bot_eval_seventh",
        "bot_eval_eighth": common.ROOT / "tests" / "bot_eval_eighth"}


def load(folder: Path = EVAL) -> tuple[dict[str, Any], dict[str, Any]]:
    return (json.loads((folder / "knowledge.json").read_text()),
            json.loads((folder / "questions.json").read_text()))


def evaluate(knowledge: dict[str, Any], questions: dict[str, Any]) -> dict[str, Any]:
    """Each question's outcome, and the counts the targets are stated in."""
    from chalicelib.bot.knowledge import KnowledgeBot

    bot = KnowledgeBot(knowledge)
    asked_in = {q: e["id"] for e in knowledge["entries"] for q in e["questions"]}
    right, wrong, declined, suggested, misses = 0, 0, 0, 0, []
    for item in questions["in_scope"]:
        reply = bot.reply(item["q"])
        got = reply.matched
        if got == item["id"]:
            right += 1
        elif got is None:
            declined += 1
            offered = [asked_in.get(q) for q in reply.suggestions]
            suggested += item["id"] in offered
            misses.append({"q": item["q"], "expected": item["id"], "got": None, "suggested": offered})
        else:
            wrong += 1
            misses.append({"q": item["q"], "expected": item["id"], "got": got})
    replies_out = [(q, bot.reply(q)) for q in questions["out_of_scope"]]
    answered_out = [{"q": q, "got": r.matched} for q, r in replies_out if r.matched]
    n_in, n_out = len(questions["in_scope"]), len(questions["out_of_scope"])
    return {
        "in_scope": n_in, "right": right, "right_pct": round(100 * right / n_in, 1),
        "confident_wrong": wrong, "declined_in_scope": declined, "declined_right_suggested": suggested,
        "out_of_scope_with_suggestions": sum(1 for _, r in replies_out if not r.matched and r.suggestions),
        "out_of_scope": n_out, "out_of_scope_declined": n_out - len(answered_out),
        "misses": misses, "answered_out_of_scope": answered_out,
    }


def timings(knowledge: dict[str, Any], questions: dict[str, Any], runs: int = 21) -> dict[str, float]:
    from chalicelib.bot.knowledge import KnowledgeBot

    builds, answers = [], []
    for _ in range(runs):
        began = time.perf_counter()
        bot = KnowledgeBot(knowledge)
        builds.append(time.perf_counter() - began)
    for item in questions["in_scope"][:50]:
        began = time.perf_counter()
        bot.reply(item["q"])
        answers.append(time.perf_counter() - began)
    return {"index_build_ms_median": round(1000 * statistics.median(builds), 2),
            "answer_ms_median": round(1000 * statistics.median(answers), 3)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--show-misses", action="store_true", help="print every miss")
    parser.add_argument("--set", choices=sorted(SETS), action="append", help="only this set (repeatable)")
    args = parser.parse_args(argv)
    results = {}
    for name in args.set or list(SETS):
        knowledge, questions = load(SETS[name])
        result = evaluate(knowledge, questions)
        result.update(timings(knowledge, questions))
        results[name] = result
        common.heading(f"offline bot on tests/{name} (a knowledge file and questions it was not tuned to)")
        print(common.table(["measure", "value", "target"], [
            ["in scope: right entry", f"{result['right']} of {result['in_scope']} ({result['right_pct']}%)", "≥ 90%"],
            ["in scope: confident wrong answers", result["confident_wrong"],
             f"≤ {max(1, result['in_scope'] // 60)}"],
            ["in scope: declined", result["declined_in_scope"], ""],
            ["  of those, the right entry suggested", result["declined_right_suggested"], ""],
            ["out of scope: declined", f"{result['out_of_scope_declined']} of {result['out_of_scope']}", "all"],
            ["  of those, with suggestions", result["out_of_scope_with_suggestions"], ""],
            ["index build (median)", f"{result['index_build_ms_median']} ms", ""],
            ["one answer (median)", f"{result['answer_ms_median']} ms", ""],
        ]))
        if args.show_misses:
            for m in result["misses"]:
                print(f"  miss: {m['q']!r}: expected {m['expected']}, got {m['got']}"
                      + (f", suggested {m['suggested']}" if m.get("suggested") else ""))
            for m in result["answered_out_of_scope"]:
                print(f"  out of scope answered: {m['q']!r} -> {m['got']}")
    common.write_results("bot_eval", results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
