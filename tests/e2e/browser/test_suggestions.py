"""The bot's suggestions in a real browser against the `make dev` stack.

When the demo bot is not sure ("what does it cost to install" comes close to
two entries), its reply carries the questions of the entries that came close;
the widget offers them as buttons under the reply (widget/README.md, the
`suggestions` and `suggestion` parts). A tap sends one as the visitor's
message, which gets that entry's answer, and the buttons go.
"""
from __future__ import annotations

from .conftest import Widget
from .test_widget import PRICING, load

NEAR_MISS = "what does it cost to install"
OFFERED = ["How do I install the widget?", "How much does Parley cost?"]


def visible_suggestions(w: Widget) -> list[str]:
    return w.page.locator('#parley-root [data-part="suggestions"]:visible [data-part="suggestion"]').all_inner_texts()


def test_a_tap_on_a_suggestion_asks_it_and_gets_its_answer(page, stack):
    w = load(page, stack)
    w.open()
    w.say(NEAR_MISS)
    w.page.locator('#parley-root [data-part="suggestions"]:visible').wait_for(timeout=10_000)
    assert visible_suggestions(w) == OFFERED

    w.page.locator('#parley-root [data-part="suggestion"]', has_text=OFFERED[1]).click()

    w.page.locator(f'#parley-root [data-part="message"][data-sender="visitor"]:has-text("{OFFERED[1]}")').wait_for(
        timeout=5_000)
    w.page.locator(f'#parley-root [data-part="message"][data-sender="bot"]:has-text("{PRICING}")').wait_for(
        timeout=10_000)
    assert visible_suggestions(w) == [], "once one is picked and answered, no suggestions are offered"
    assert w.messages().all_inner_texts()[-1].count(PRICING) == 1
    w.wait_state("s.lastSeq === 4", 5_000)  # near-miss, its reply, the tapped question, its answer

    page.reload()
    w = Widget(page)
    w.open()
    w.page.locator(f'#parley-root [data-part="message"][data-sender="bot"]:has-text("{PRICING}")').wait_for(
        timeout=10_000)
    assert visible_suggestions(w) == [], "an older reply's suggestions stay hidden after a reload"
