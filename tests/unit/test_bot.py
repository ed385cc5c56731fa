"""The bot: engine registry, knowledge validation and the knowledge bot's answers."""
from __future__ import annotations

import copy
import importlib
import json
import sys
from pathlib import Path

import pytest

import chalicelib
from chalicelib.bot import BotRegistry, BotReply, validate_knowledge
from chalicelib.bot.knowledge import FALLBACK, KnowledgeBot

DEMO_FILE = Path(__file__).resolve().parents[2] / "infra" / "local" / "demo-knowledge.json"
DEMO = json.loads(DEMO_FILE.read_text(encoding="utf-8"))

TINY = {
    "entries": [
        {"id": "pricing", "questions": ["How much does it cost?"],
         "keywords": ["price", "pricing", "cost"], "answer": "It is free."},
        {"id": "hours", "questions": ["When are you open?"],
         "keywords": ["hours", "opening hours"], "answer": "Nine to five."},
    ]
}


@pytest.fixture(scope="module")
def demo_bot() -> KnowledgeBot:
    return KnowledgeBot(DEMO)


def assert_answers(reply: BotReply, entry_id: str, question: str) -> None:
    assert reply.matched == entry_id and reply.confident, (
        f"expected {question!r} to be answered by entry {entry_id!r}, "
        f"got matched={reply.matched!r} confident={reply.confident}")


def assert_falls_back(reply: BotReply, question: str) -> None:
    assert reply.matched is None and not reply.confident, (
        f"expected {question!r} to get the don't-know fallback, "
        f"got matched={reply.matched!r} confident={reply.confident}")


# --- answers -----------------------------------------------------------------

@pytest.mark.parametrize("question, entry_id", [
    ("How much does Parley cost?", "pricing"),
    ("How do I install the widget?", "install"),
    ("Where is my data stored?", "privacy"),
    ("Can I talk to a human?", "human"),
])
def test_exact_question_is_answered_by_its_entry(demo_bot, question, entry_id):
    reply = demo_bot.reply(question, [])
    assert_answers(reply, entry_id, question)
    answer = next(e["answer"] for e in DEMO["entries"] if e["id"] == entry_id)
    assert reply.text == answer, f"expected the {entry_id!r} answer text, got {reply.text!r}"


@pytest.mark.parametrize("question, entry_id", [
    ("pricing", "pricing"),
    ("Pusher?", "realtime"),
    ("GDPR", "privacy"),
    ("firefox", "browsers"),
])
def test_keyword_alone_is_answered(demo_bot, question, entry_id):
    assert_answers(demo_bot.reply(question, []), entry_id, question)


@pytest.mark.parametrize("question, entry_id", [
    ("what does it cost per month", "pricing"),
    ("Is it free?", "pricing"),
    ("Could I chat with a real person, please?", "human"),
    ("How do I embed it on my site?", "install"),
    ("Is my data safe with you?", "privacy"),
    ("Do you speak German?", "languages"),
    ("When are you open?", "contact"),
    ("What happens if the websocket connection drops?", "realtime"),
])
def test_paraphrase_is_answered(demo_bot, question, entry_id):
    assert_answers(demo_bot.reply(question, []), entry_id, question)


@pytest.mark.parametrize("question", ["pricng", "What's your pricng?", "Which browsres work?"])
def test_typo_in_a_long_word_still_matches(demo_bot, question):
    expected = "browsers" if "browsres" in question else "pricing"
    assert_answers(demo_bot.reply(question, []), expected, question)


def test_case_punctuation_and_accents_are_ignored(demo_bot):
    question = "  PRÍCING???  "
    assert_answers(demo_bot.reply(question, []), "pricing", question)


def test_greeting_in_front_of_a_question_does_not_hide_it(demo_bot):
    question = "Hi! How much does Parley cost?"
    assert_answers(demo_bot.reply(question, []), "pricing", question)


# --- not knowing -------------------------------------------------------------

def test_unrelated_question_gets_the_honest_fallback(demo_bot):
    question = "what is the capital of Peru"
    reply = demo_bot.reply(question, [])
    assert_falls_back(reply, question)
    assert reply.text == DEMO["fallback"], f"expected the demo file's fallback, got {reply.text!r}"


@pytest.mark.parametrize("text", ["", "   \n\t", "?!...", "what is it?", "Can you tell me about this?"])
def test_empty_or_stopword_only_text_gets_the_fallback(demo_bot, text):
    assert_falls_back(demo_bot.reply(text, []), text)


def test_default_fallback_says_it_does_not_know_and_offers_the_team():
    reply = KnowledgeBot(TINY).reply("Do you sell bicycles?", [])
    assert reply.text == FALLBACK, f"expected the default fallback, got {reply.text!r}"
    assert "not sure" in reply.text and "person" in reply.text and "team" in reply.text, (
        f"expected the fallback to admit not knowing and offer the team, got {reply.text!r}")


def test_a_tie_between_entries_falls_back_instead_of_guessing():
    bot = KnowledgeBot({"entries": [
        {"id": "billing", "keywords": ["account"], "answer": "Billing lives in your account."},
        {"id": "login", "keywords": ["account"], "answer": "Log in to your account."},
    ]})
    assert_falls_back(bot.reply("account", []), "account")


def test_a_common_word_alone_is_not_enough_to_answer(demo_bot):
    # "parley" is in several entries' questions; "integrate" and "shopify" in none.
    question = "Does Parley integrate with Shopify?"
    assert_falls_back(demo_bot.reply(question, []), question)


def test_bot_without_knowledge_greets_and_falls_back():
    bot = get_engine(None)
    assert bot.reply("hello", []).confident, "expected a bot without knowledge to still greet"
    assert_falls_back(bot.reply("How much is it?", []), "How much is it?")


# --- small talk ----------------------------------------------------------------

@pytest.mark.parametrize("text", ["hi", "Hello!", "hey there", "Good morning"])
def test_greeting_gets_a_greeting_that_offers_help(demo_bot, text):
    reply = demo_bot.reply(text, [])
    assert reply.confident and reply.matched is None, f"expected a confident greeting for {text!r}, got {reply}"
    assert "help" in reply.text.lower(), f"expected the greeting to ask how it can help, got {reply.text!r}"


@pytest.mark.parametrize("text", ["thanks", "Thank you!", "thank you so much", "cheers"])
def test_thanks_gets_you_are_welcome(demo_bot, text):
    reply = demo_bot.reply(text, [])
    assert reply.confident and reply.matched is None, f"expected a confident reply to {text!r}, got {reply}"
    assert "welcome" in reply.text.lower(), f"expected a you're-welcome for {text!r}, got {reply.text!r}"


# --- the demo file -------------------------------------------------------------

@pytest.mark.parametrize("entry", DEMO["entries"], ids=[e["id"] for e in DEMO["entries"]])
def test_every_demo_entry_is_reachable_by_its_first_question(demo_bot, entry):
    question = entry["questions"][0]
    assert_answers(demo_bot.reply(question, []), entry["id"], question)


def test_demo_file_is_valid_knowledge():
    clean = validate_knowledge(DEMO)
    ids = [e["id"] for e in clean["entries"]]
    assert ids == [e["id"] for e in DEMO["entries"]], f"expected every demo entry kept in order, got {ids}"
    assert 8 <= len(ids) <= 10, f"expected 8-10 demo entries, got {len(ids)}"


# --- validation ------------------------------------------------------------------

def _with(change) -> dict:
    doc = copy.deepcopy(TINY)
    change(doc)
    return doc


@pytest.mark.parametrize("doc, expected", [
    (_with(lambda d: d["entries"][1].pop("answer")), "entries[1] (id 'hours') 'answer' is missing"),
    (_with(lambda d: d["entries"][0].update(answer="  ")), "'answer' must be a non-empty string"),
    ({"entries": []}, "'entries' is empty"),
    ({}, "'entries' is empty"),
    (_with(lambda d: d["entries"][1].update(id="pricing")), "duplicate id, first used by entries[0]"),
    ([{"id": "x"}], "must be a JSON object"),
    ({"entries": {"id": "x"}}, "'entries' must be a list"),
    ({"entries": ["pricing"]}, "entries[0] must be an object"),
    (_with(lambda d: d["entries"][0].update(id=7)), "entries[0] 'id' must be a non-empty string"),
    (_with(lambda d: d["entries"][0].update(questions="How much?")), "'questions' must be a list of strings"),
    (_with(lambda d: d["entries"][0].update(keywords=["price", 3])), "'keywords'[1] must be a non-empty string"),
    (_with(lambda d: d.update(fallback=["sorry"])), "'fallback' must be a non-empty string"),
    (_with(lambda d: d["entries"][0].update(answers="typo")), "unknown field(s) ['answers']"),
    (_with(lambda d: d["entries"][0].update(questions=[], keywords=[])), "at least one question or keyword"),
])
def test_validate_knowledge_rejects_a_bad_document_naming_what_is_wrong(doc, expected):
    with pytest.raises(ValueError) as caught:
        validate_knowledge(doc)
    assert expected in str(caught.value), f"expected the error to say {expected!r}, got {caught.value}"


def test_validate_knowledge_returns_a_clean_copy():
    doc = {"entries": [{"id": " faq ", "questions": [" Why? "], "answer": " Because. "}]}
    clean = validate_knowledge(doc)
    assert clean == {"entries": [{"id": "faq", "questions": ["Why?"], "keywords": [], "answer": "Because.",
                                  "handoff": False}]}, (
        f"expected stripped strings and keywords defaulted to [], got {clean}")


# --- the registry ----------------------------------------------------------------

def get_engine(config, registry: BotRegistry | None = None):
    return (registry or BotRegistry()).engine_for(config)


def test_get_engine_defaults_to_the_knowledge_bot():
    for config in (None, {}, {"knowledge": TINY}, {"engine": "knowledge", "knowledge": TINY}):
        assert isinstance(get_engine(config), KnowledgeBot), f"expected a KnowledgeBot for {config!r}"


def test_get_engine_reuses_the_engine_for_equal_settings():
    registry = BotRegistry()
    first = registry.engine_for({"engine": "knowledge", "knowledge": TINY})
    reordered = {"knowledge": json.loads(json.dumps(TINY)), "engine": "knowledge"}
    assert registry.engine_for(reordered) is first, "expected equal settings (in any key order) to share one engine"
    other = registry.engine_for({"knowledge": DEMO})
    assert other is not first, "expected different knowledge to get its own engine"


def test_get_engine_cache_is_bounded():
    registry = BotRegistry()
    first = registry.engine_for({"knowledge": {"fallback": "bounded-0"}})
    for i in range(1, 70):
        registry.engine_for({"knowledge": {"fallback": f"bounded-{i}"}})
    again = registry.engine_for({"knowledge": {"fallback": "bounded-0"}})
    assert again is not first, "expected the oldest engine evicted after 69 newer ones (cache keeps 64)"


def test_get_engine_rejects_an_unknown_engine_by_name():
    with pytest.raises(ValueError, match="'telepathy'"):
        get_engine({"engine": "telepathy"})


def test_get_engine_rejects_invalid_knowledge():
    with pytest.raises(ValueError, match="answer"):
        get_engine({"knowledge": {"entries": [{"id": "x", "keywords": ["x"]}]}})


def test_importing_the_bot_package_does_not_load_an_engine(monkeypatch):
    # Cold start: the knowledge module is imported on first use, not with the package.
    monkeypatch.setattr(chalicelib, "bot", sys.modules["chalicelib.bot"])
    for name in ("chalicelib.bot", "chalicelib.bot.knowledge"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    importlib.import_module("chalicelib.bot")
    assert "chalicelib.bot.knowledge" not in sys.modules, (
        "expected importing chalicelib.bot to leave chalicelib.bot.knowledge unimported")


# -- small talk, synonyms (issue 12, first part) ----------------------------------------------

from chalicelib.bot.knowledge import SMALL_TALK  # noqa: E402


@pytest.mark.parametrize("text", ["bye", "Goodbye!", "ok bye, see you"])
def test_goodbye_gets_a_goodbye(demo_bot, text):
    reply = demo_bot.reply(text)
    assert (reply.text, reply.matched, reply.confident) == (SMALL_TALK["en"]["goodbye"], None, True)


@pytest.mark.parametrize("text", ["Are you a bot?", "am I chatting with a robot", "is this an AI?"])
def test_are_you_a_bot_is_answered_honestly_and_offers_a_person(demo_bot, text):
    reply = demo_bot.reply(text)
    assert reply.text == SMALL_TALK["en"]["bot"] and not reply.handoff, reply
    assert "person" in reply.text


def test_asking_to_talk_to_a_human_instead_of_the_bot_still_hands_off(demo_bot):
    reply = demo_bot.reply("I want to talk to a human, not a bot")
    assert reply.handoff, reply


@pytest.mark.parametrize("text, kind", [("Hallo!", "greeting"), ("Guten Tag", "greeting"),
                                        ("Danke!", "thanks"), ("Tschüss", "goodbye"),
                                        ("Bist du ein Bot?", "bot")])
def test_german_small_talk_is_answered_in_german(demo_bot, text, kind):
    assert demo_bot.reply(text).text == SMALL_TALK["de"][kind]


def test_a_knowledge_files_synonyms_let_a_visitor_use_their_own_words():
    doc = {"entries": [{"id": "hire", "questions": ["Can I rent a bike?"], "answer": "Yes, 15 EUR a day."},
                       {"id": "fix", "questions": ["Do you repair bikes?"], "answer": "Yes, book online."}]}
    without = KnowledgeBot(doc)
    with_synonyms = KnowledgeBot({**doc, "synonyms": [["bike", "bicycle", "cycle"], ["rent", "hire", "borrow for a day"]]})
    assert with_synonyms.reply("could I borrow for a day a cycle?").matched == "hire", "a phrase is a synonym too"
    assert with_synonyms.reply("do you repair bicycles").matched == "fix"
    assert without.reply("can I hire a bicycle").matched is None, "without the file's synonyms it cannot know"
    assert with_synonyms.reply("can I hire a bicycle").matched == "hire"


@pytest.mark.parametrize("synonyms, expected", [
    ([["bike"]], "at least 2 items"),
    ("bike", "must be a list"),
    ([["bike", "x" * 41]], "at most 40 characters"),
])
def test_bad_synonyms_are_refused_naming_the_field(synonyms, expected):
    with pytest.raises(ValueError, match="synonyms") as err:
        validate_knowledge({"synonyms": synonyms, "entries": [{"id": "a", "questions": ["q"], "answer": "x"}]})
    assert expected in str(err.value)


# --- words the site does not use ---------------------------------------------

SITE = {"entries": [
    {"id": "messages", "questions": ["Can I send you a message?"], "keywords": ["message"],
     "answer": "Write to us any time."},
    {"id": "trial", "questions": ["Is there a free trial?"], "keywords": ["trial"], "answer": "14 days, no card needed."},
    {"id": "vouchers", "questions": ["Do you sell vouchers?"], "keywords": ["voucher", "gift voucher"],
     "answer": "Vouchers are valid for three years."},
    {"id": "spa", "questions": ["Do you have a sauna?"], "keywords": ["sauna", "spa"],
     "answer": "Our sauna is open from 3pm to 8pm."},
    {"id": "day_pass", "questions": ["Can day visitors use the spa?"], "keywords": ["day visitors"],
     "answer": "Day visitors pay €35 for the sauna and the pool."},
]}


@pytest.fixture(scope="module")
def site_bot() -> KnowledgeBot:
    return KnowledgeBot(SITE)


def test_a_typo_of_a_site_word_is_corrected(site_bot):
    assert_answers(site_bot.reply("can I send a mesage"), "messages", "can I send a mesage")
    assert_answers(site_bot.reply("free trail?"), "trial", "free trail?")


def test_a_number_is_no_topic_the_site_never_mentions(site_bot):
    question = "my voucher is from 2023, can I still use it"
    assert_answers(site_bot.reply(question), "vouchers", question)


def test_a_price_in_an_answer_answers_how_much(site_bot):
    question = "what does the spa cost"
    assert_answers(site_bot.reply(question), "day_pass", question)


def test_a_web_address_is_one_name_and_its_ending_no_word():
    from chalicelib.bot.knowledge import _words

    assert _words("reset my booking.com password") == ["reset", "my", "booking", "bookingcom", "password"]
    assert "com" not in _words("write to orders@nordlicht-bikes.com"), "'com' would match 'come'"
    assert _words("Is it open? Yes.") == ["is", "it", "open", "yes"]


WORDS_SITE = {"entries": [
    {"id": "plans", "questions": ["What plans do you have?"], "keywords": ["plan"],
     "answer": "Solo is cheap, Team costs more."},
    {"id": "no_shows", "questions": ["What can I do about no-shows?"], "keywords": ["no-show"],
     "answer": "Ask for a deposit."},
    {"id": "staff", "questions": ["Can my physiotherapists log in?"], "keywords": ["staff"],
     "answer": "Each of them gets a login."},
    {"id": "colours", "questions": ["Can I change the colour of the widget?"], "keywords": ["colour"],
     "answer": "Any colour you like."},
    {"id": "bookings", "questions": ["How do bookings work?"], "keywords": ["booking"],
     "answer": "Clients pick a slot."},
]}


@pytest.fixture(scope="module")
def words_bot() -> KnowledgeBot:
    return KnowledgeBot(WORDS_SITE)


def test_the_visitors_form_of_a_site_word_is_known(words_bot):
    from chalicelib.bot.knowledge import _stem

    assert words_bot._terms("the cheapest") == words_bot._terms("cheap"), "cheapest is cheap"
    assert words_bot._terms("noshow") == words_bot._terms("no show"), "a site's two words, written as one"
    assert words_bot._terms("physio") == words_bot._terms("physiotherapists"), "short for one site word"
    assert _stem("color") == _stem("colour") and _stem("organize") == _stem("organise")
    assert_answers(words_bot.reply("can I change the widget color"), "colours", "can I change the widget color")


def test_a_common_word_is_no_typo_of_a_site_word(words_bot):
    assert [t.stem for t in words_bot._terms("looking")] == ["look"], "looking is not a typo of booking"
    assert [t.stem for t in words_bot._terms("bookng")] == ["book"]


# --- suggestions: what the bot offers when it does not know -------------------

def test_a_near_miss_is_declined_with_the_questions_of_the_entries_that_came_close(demo_bot):
    question = "what does it cost to install"
    reply = demo_bot.reply(question)
    assert_falls_back(reply, question)
    assert reply.suggestions == ("How do I install the widget?", "How much does Parley cost?"), reply.suggestions
    for offered, entry_id in zip(reply.suggestions, ("install", "pricing")):
        assert_answers(demo_bot.reply(offered), entry_id, offered)


@pytest.mark.parametrize("text", ["How much does Parley cost?", "hello", "thanks", "what is the capital of Peru",
                                  "", "Can I talk to a human?", "are you a bot?"])
def test_an_answer_small_talk_a_handoff_or_nothing_close_offers_no_suggestions(demo_bot, text):
    reply = demo_bot.reply(text)
    assert reply.suggestions == (), f"expected no suggestions for {text!r}, got {reply.suggestions}"


def test_an_entry_whose_questions_do_not_answer_themselves_is_never_offered():
    # Two entries asked the same way: neither question gets its own entry (a tie), so
    # offering them would only lead to the same "not sure" again.
    bot = KnowledgeBot({"entries": [
        {"id": "billing", "questions": ["How does my account work?"], "keywords": ["invoice"], "answer": "Billing."},
        {"id": "login", "questions": ["How does my account work?"], "keywords": ["password"], "answer": "Log in."},
    ]})
    reply = bot.reply("account")
    assert_falls_back(reply, "account")
    assert reply.suggestions == (), reply.suggestions


def test_a_handoff_entry_is_never_offered_and_at_most_two_are():
    bot = KnowledgeBot({"entries": [
        {"id": "human", "questions": ["Can I talk to the shop?"], "keywords": ["shop"], "answer": "Sure.",
         "handoff": True},
        {"id": "hours", "questions": ["When does the shop open?"], "keywords": ["hours"], "answer": "At nine."},
        {"id": "where", "questions": ["Where is the shop?"], "keywords": ["address"], "answer": "Main St."},
        {"id": "price", "questions": ["How much does the shop charge?"], "keywords": ["price"], "answer": "A lot."},
    ]})
    reply = bot.reply("shop")
    assert_falls_back(reply, "shop")
    assert 1 <= len(reply.suggestions) <= 2, reply.suggestions
    assert "Can I talk to the shop?" not in reply.suggestions, reply.suggestions


@pytest.mark.parametrize("folder", sorted(p.parent.name for p in (Path(__file__).resolve().parents[1]).glob(
    "bot_eval*/knowledge.json")))
def test_every_suggestion_on_every_eval_set_gets_its_entrys_answer(folder):
    base = Path(__file__).resolve().parents[1] / folder
    knowledge = json.loads((base / "knowledge.json").read_text())
    questions = json.loads((base / "questions.json").read_text())
    bot = KnowledgeBot(knowledge)
    owner = {q: e["id"] for e in knowledge["entries"] for q in e["questions"]}
    offered = 0
    for text in [q["q"] for q in questions["in_scope"]] + questions["out_of_scope"]:
        reply = bot.reply(text)
        assert not (reply.matched and reply.suggestions), f"{text!r}: answered and suggested"
        for suggestion in reply.suggestions:
            offered += 1
            assert bot.reply(suggestion).matched == owner[suggestion], (
                f"{text!r}: the suggestion {suggestion!r} does not get entry {owner[suggestion]!r}")
    assert offered >= 10, f"expected the bot to offer suggestions on tests/{folder}, it offered {offered}"
