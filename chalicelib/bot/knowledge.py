"""The default bot: answers from a site's knowledge file, offline and deterministic.

A message and every question of the file are reduced to word stems (lowercased,
accents and punctuation gone, English stopwords dropped, plurals, -ing and -ed
cut), and each stem to its synonym group's first member (the file's
``synonyms``: "bicycle" meets "bike"). An entry scores its best IDF-weighted
cosine against its questions (IDF over questions, keywords and answers), plus
a bonus per keyword the message contains. The best entry answers only when it
clears ``THRESHOLD`` and beats the runner-up by ``MARGIN``; otherwise the bot
says it does not know and offers to pass the question to the team.

Small talk (hello, thanks, goodbye, "are you a bot?") is answered as such, in
German when the visitor wrote German small talk, else in English.
"""
from __future__ import annotations

import difflib
import math
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from . import BotReply, validate_knowledge

FALLBACK = ("I'm not sure about that one. Could you put it another way? Or ask for a "
            "person, and someone from the team will join.")
# Small talk, by language: what the visitor's own words are in picks the table.
SMALL_TALK = {
    "en": {"greeting": "Hello! How can I help you today?",
           "thanks": "You're welcome! Is there anything else I can help you with?",
           "goodbye": "Goodbye, and thanks for stopping by! Come back any time.",
           "bot": ("I'm this site's bot: I answer from what the team has written down. If you'd rather talk "
                   "to a person, just ask for one.")},
    "de": {"greeting": "Hallo! Wie kann ich helfen?",
           "thanks": "Gern geschehen! Kann ich sonst noch helfen?",
           "goodbye": "Auf Wiedersehen und danke für Ihren Besuch!",
           "bot": ("Ich bin der Bot dieser Website und antworte mit dem, was das Team aufgeschrieben hat. "
                   "Wenn Sie lieber mit einem Menschen sprechen möchten, fragen Sie einfach danach.")},
}
HANDOFF = "Of course. I'm asking someone from the team to join this conversation."

THRESHOLD = 0.45       # one keyword hit (0.5) clears it; one shared common word does not
MARGIN = 0.1           # closer than this to the runner-up is a guess: fall back
KEYWORD_WEIGHT = 0.5
MAX_KEYWORD_HITS = 2   # so a keyword-stuffed entry cannot drown a question match
TYPO_MIN_LENGTH = 5    # shorter words have too many near neighbours to correct
TYPO_CUTOFF = 0.8
MAX_WORDS = 100        # a chat message longer than this is no FAQ lookup; bounds the typo search

_GREETINGS = frozenset("hi hello hey hiya howdy greetings morning afternoon evening "
                       "hallo moin servus gruss tag guten".split())
_THANKS = frozenset("thanks thank thx ty cheers appreciated danke dankeschon vielen".split())
_GOODBYES = frozenset("bye goodbye byebye cya later farewell ciao tschuss wiedersehen".split())
# "Are you a bot?", "am I talking to a machine", "bist du ein Bot": a short question naming one.
_BOT_WORDS = frozenset("bot robot chatbot machine ai automated automatic ki maschine".split())
_GERMAN = frozenset("hallo moin servus gruss guten tag danke dankeschon vielen tschuss wiedersehen "
                    "bist du sind sie ein eine ich mit".split())
_BOT_QUESTION_MAX_WORDS = 8
_ASKS_TO_TALK = frozenset("talk speak connect transfer contact sprechen reden".split())
# "Can I talk to a human?", "I need a real person", "Mitarbeiter sprechen bitte": a
# word for a person and a word for reaching one, in a short message.
_PEOPLE = frozenset("human humans person people someone somebody agent operator representative staff "
                    "mensch mitarbeiter jemand".split())
_REACH = frozenset("talk speak chat contact connect reach need want real live transfer "
                   "sprechen reden brauche".split())
_HANDOFF_MAX_WORDS = 12
# Words that may surround a greeting or a thanks without turning it into a question.
_PADDING = frozenset("there good you so very much a lot many all everyone team ok okay great "
                     "again for the help your see soon now then have nice day schonen auf bis bald "
                     "und".split())
# Question words and chat filler are stopwords too: "how", "can you tell me"
# say nothing about which entry is meant. Apostrophes split words, hence the
# fragments (s, t, don, ...).
_STOPWORDS = frozenset("""
    a about above after again against all am an and any anything are as at be been before
    being below between both but by can could did do does doing down during each few for from
    further had has have having he her here hers him his how i if in into is it its itself just
    let me more most my myself no nor not of off on once only or other our ours out over own
    same she should so some something such than that the their theirs them then there these
    they this those through to too under until up very was we were what when where which while
    who whom why will with would you your yours yourself
    s t d ll m re ve don doesn didn isn aren wasn weren won wouldn shouldn couldn cant hasn haven
    please tell know want like also get got
""".split()) | _GREETINGS | _THANKS


def _words(text: str) -> list[str]:
    """Lowercase ASCII words: accents folded, punctuation dropped."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    return re.findall(r"[a-z0-9]+", plain)[:MAX_WORDS]


def _stem(word: str) -> str:
    """A light English stemmer: price, prices, pricing and priced all become ``pric``."""
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "i"  # policies -> polici, as policy below
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        word = word[:-1]
    # -ed needs a longer rest than -ing, or embed -> emb while embedded -> embed.
    for suffix, rest in (("ing", 3), ("ed", 4)):
        if word.endswith(suffix) and len(word) - len(suffix) >= rest:
            word = word[:-len(suffix)]
            if word[-1] == word[-2] and word[-1] not in "lsz":  # stopped -> stop, installed -> install
                word = word[:-1]
            break
    if len(word) > 3 and word.endswith(("e", "y")):
        word = word[:-1] if word[-1] == "e" else word[:-1] + "i"  # cookie/cookies, policy/policies
    return word


def _content(text: str, synonyms: Mapping[str, str] | None = None) -> list[str]:
    """The stems of a text's non-stopwords, in order, each as its synonym group's."""
    stems = [_stem(w) for w in _words(text) if w not in _STOPWORDS]
    return [synonyms.get(t, t) for t in stems] if synonyms else stems


def _phrases(text: str, phrases: Mapping[str, str]) -> str:
    """Multi-word synonyms ("send back") written as their group's word, before words are split."""
    if not phrases:
        return text
    plain = " ".join(_words(text))
    for phrase, word in phrases.items():
        plain = re.sub(rf"\b{re.escape(phrase)}\b", word, plain)
    return plain


def _synonym_maps(groups: Sequence[Sequence[str]]) -> tuple[dict[str, str], dict[str, str]]:
    """Stem -> its group's first stem, and multi-word phrase -> its group's first word."""
    stems: dict[str, str] = {}
    phrases: dict[str, str] = {}
    for group in groups:
        heads = [w for w in (" ".join(_words(g)) for g in group) if w]
        if not heads:
            continue
        head = heads[0].split()[0]
        for word in heads:
            if " " in word:
                phrases[word] = head
            else:
                stems.setdefault(_stem(word), _stem(head))
    return stems, phrases


@dataclass
class _Entry:
    id: str
    answer: str
    questions: list[frozenset[str]]
    keywords: set[frozenset[str]]
    handoff: bool = False
    answer_words: frozenset[str] = frozenset()


class KnowledgeBot:
    """Answers from a knowledge document; see the module docstring for how."""

    def __init__(self, knowledge: Mapping[str, Any] | None = None) -> None:
        """Indexes the document; a malformed one raises ValueError (see ``validate_knowledge``)."""
        doc = validate_knowledge(knowledge or {}, allow_empty=True)
        self.fallback = doc.get("fallback", FALLBACK)
        # The file's synonym groups: a site's own words for the same thing ("bike", "bicycle").
        self._synonyms, self._phrase_map = _synonym_maps(doc.get("synonyms", []))

        def content(text: str) -> list[str]:
            return _content(_phrases(text, self._phrase_map), self._synonyms)

        self._entries = [
            _Entry(e["id"], e["answer"],
                   [frozenset(content(q)) for q in e["questions"]],
                   {frozenset(content(k)) for k in e["keywords"]} - {frozenset()},
                   bool(e.get("handoff")), frozenset(content(e["answer"])))
            for e in doc["entries"]
        ]
        # Surface words map to their stems, so a typo is corrected against
        # what an author wrote ("pricing"), not against a stem ("pric").
        self._surface: dict[str, str] = {}
        for e in doc["entries"]:
            for text in e["questions"] + e["keywords"]:
                for w in _words(text):
                    if w not in _STOPWORDS:
                        self._surface[w] = self._synonyms.get(_stem(w), _stem(w))
        self._typo_candidates = sorted(w for w in self._surface if len(w) >= TYPO_MIN_LENGTH)
        # IDF: a word found in many entries ("parley", "widget") tells them apart less.
        df: dict[str, int] = {}
        for entry in self._entries:
            for stem in set().union(*entry.questions, *entry.keywords, entry.answer_words):
                df[stem] = df.get(stem, 0) + 1
        n = len(self._entries)
        self._idf = {stem: math.log((1 + n) / (1 + count)) + 1 for stem, count in df.items()}
        self._unknown_idf = math.log(1 + n) + 1  # a word no entry knows weighs the most

    def reply(self, text: str, history: Sequence[Mapping[str, Any]] = ()) -> BotReply:
        """Answers one message; ``history`` is ignored, each message stands alone."""
        all_words = _words(text or "")
        words = set(all_words)
        talk = SMALL_TALK["de" if words & _GERMAN else "en"]
        # "Are you a bot?" is answered as small talk; "let me talk to a human, not the bot" is a handoff.
        if words & _BOT_WORDS and len(all_words) <= _BOT_QUESTION_MAX_WORDS and not words & _ASKS_TO_TALK:
            return BotReply(talk["bot"], None, True)
        asks_for_person = len(all_words) <= _HANDOFF_MAX_WORDS and bool(words & _PEOPLE and words & _REACH)
        reply = self._answer(text, words, talk)
        if reply.matched and (reply.handoff or asks_for_person):
            return BotReply(reply.text, reply.matched, True, handoff=True)
        if asks_for_person:
            return BotReply(HANDOFF, None, True, handoff=True)
        return reply

    def _answer(self, text: str, words: set[str], talk: Mapping[str, str]) -> BotReply:
        for kind, vocabulary in (("greeting", _GREETINGS), ("thanks", _THANKS), ("goodbye", _GOODBYES)):
            if words and words & vocabulary and words <= vocabulary | _PADDING:
                return BotReply(talk[kind], None, True)
        tokens = self._tokens(text or "")
        if not tokens or not self._entries:
            return BotReply(self.fallback, None, False)
        ranked = sorted(((self._score(e, tokens), i) for i, e in enumerate(self._entries)),
                        key=lambda pair: (-pair[0], pair[1]))
        best, index = ranked[0]
        runner_up = ranked[1][0] if len(ranked) > 1 else 0.0
        entry = self._entries[index]
        if best < THRESHOLD or best - runner_up < MARGIN:
            return BotReply(self.fallback, None, False)
        return BotReply(entry.answer, entry.id, True, handoff=entry.handoff)

    def _tokens(self, text: str) -> frozenset[str]:
        """The message's stems, each unknown long word replaced by its closest known one."""
        tokens = set()
        for word in _words(_phrases(text, self._phrase_map)):
            if word in _STOPWORDS:
                continue
            stem = self._synonyms.get(_stem(word), _stem(word))
            if stem not in self._idf and len(word) >= TYPO_MIN_LENGTH:
                close = difflib.get_close_matches(word, self._typo_candidates, n=1, cutoff=TYPO_CUTOFF)
                if close:
                    stem = self._surface[close[0]]
            tokens.add(stem)
        return frozenset(tokens)

    def _weight(self, stem: str) -> float:
        return self._idf.get(stem, self._unknown_idf)

    def _score(self, entry: _Entry, tokens: frozenset[str]) -> float:
        """Best cosine over the entry's questions plus the keyword bonus."""
        query_norm = math.sqrt(sum(self._weight(t) ** 2 for t in tokens))
        best = 0.0
        for question in entry.questions:
            shared = tokens & question
            if shared:
                dot = sum(self._weight(t) ** 2 for t in shared)
                norm = math.sqrt(sum(self._weight(t) ** 2 for t in question))
                best = max(best, dot / (query_norm * norm))
        hits = sum(1 for keyword in entry.keywords if keyword <= tokens)
        return best + KEYWORD_WEIGHT * min(hits, MAX_KEYWORD_HITS)
