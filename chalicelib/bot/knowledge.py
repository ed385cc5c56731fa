"""The default bot: answers from a site's knowledge file, offline and deterministic.

Retrieval, in three steps:

1. Words. A message and every question, keyword and answer of the file are
   reduced to word stems (lowercased, accents and punctuation gone, stopwords
   and chat filler dropped, plurals, -ing and -ed cut). A web address is one
   name too ("booking.com" -> bookingcom). British and American spellings
   meet ("colour", "color"). A word neither the site nor the lexicon knows is
   read as the site's form of it: its base ("cheapest" -> cheap), two words of
   the site written as one ("noshow" -> no show), the one longer word it is
   short for ("physio" -> physiotherapist), or else the closest known word it
   is a typo of ("adress"); a common word of any chat is no typo ("looking").
2. Meaning. Each stem, and each phrase ("send back", "how much"), also stands
   for the concepts it belongs to: the bot's general lexicon (``lexicon.py``:
   "postage" and "shipping" are one need) and the file's own ``synonyms``.
3. Score. Each entry gets the share of the message's weight it covers: a word
   counts fully when the entry's questions or keywords hold it, less when only
   its answer does, less again when only a word of the same concept matches,
   and less still when the entry's word stands for several concepts ("email").
   Weights are IDF over entries, so words every entry shares ("shop") tell
   little, and a word the site never mentions ("bakery") weighs as a rare one:
   a message about something else covers little of any entry. A number the
   site never uses ("2023", "40th") and a common word of any chat ("ago")
   weigh little instead. An answer that states a price ("€35") is about price.

The best entry answers only when its share clears ``THRESHOLD`` and beats the
runner-up by ``MARGIN``; otherwise the bot says it does not know and offers a
person (a wrong answer is worse than an honest "I don't know"). With that, it
offers the questions of up to ``SUGGESTIONS`` entries that came close (a share
of at least ``SUGGEST_SHARE``) as ones the visitor may have meant: each is an
entry's own question that this bot answers with that entry, so a tap on it
gets the answer.

Small talk (hello, thanks, goodbye, "are you a bot?") is answered as such, in
German when the visitor wrote German small talk, else in English.
"""
from __future__ import annotations

import bisect
import math
import re
import unicodedata
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from . import BotReply, validate_knowledge
from .lexicon import COMMON, CONCEPTS, FILLER

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

THRESHOLD = 0.55        # the best entry must cover at least this share of the message
MARGIN = 0.04          # and beat the runner-up by this much, or it is a guess
ANSWER_ONLY = 0.85      # a word found only in the entry's answer counts this much
RELATED = 0.7          # a word of the same concept (not the word itself) counts this much
RELATED_IN_ANSWER = 0.3  # and this much when only the answer holds the related word
KEYWORD_BONUS = 0.1    # each of the entry's keywords found whole in the message adds this
MAX_KEYWORD_HITS = 2   # so a keyword-stuffed entry cannot drown a question match
COMMON_WEIGHT = 0.5    # a common word the site never uses ("keep") weighs half a word every entry uses
STRANGER = 0.1         # the bar rises this much per word the site never uses (no entry, no lexicon)
UNMATCHED = 0.75        # how much a word of the message that the entry does not hold counts against it
QUESTION_SHARE = 0.2   # how much the best-matching question's own coverage counts in the score
AMBIG = 0.7            # a concept an entry holds only through a word of several ("email") counts this share
PREFIX_MIN = 6         # an unknown word this long that starts exactly one known word is short for it ("physio")
TYPO_MIN_LENGTH = 4    # shorter words have too many near neighbours to correct
MAX_WORDS = 100        # a chat message longer than this is no FAQ lookup; bounds the typo search
SEARCH_LIMIT = 3        # entries search() gives an engine that writes its own answer: the best few
SUGGESTIONS = 2         # entry questions offered when the bot does not know ("Did you mean: …")
SUGGEST_SHARE = 0.4     # an entry's share must reach this to be offered

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
# fragments (s, t, don, ...); texting forms ("r u open", "ur") likewise.
_STOPWORDS = frozenset("""
    a about above after again against all am an and any anything are as at be been before
    being below between both but by can could did do does doing during each few for from
    further had has have having he her here hers him his how i if in into is it its itself just
    let me more most my myself no nor not of off on once only or other our ours out over own
    same she should so some something such than that the their theirs them then there these
    they this those through to too under until up very was we were what when where which while
    who whom why will with would you your yours yourself
    s t d ll m re ve don doesn didn isn aren wasn weren won wouldn shouldn couldn cant hasn haven
    please tell know want like also get got
    whats hows wheres whens whos thats theres im ive youre youve theyre dont doesnt didnt isnt
    arent wasnt werent wont wouldnt shouldnt couldnt hasnt havent
    us somewhere anywhere everywhere somehow
    u r ur ya thru cuz coz
""".split()) | _GREETINGS | _THANKS


# Suffixes a visitor's word may carry that the site's word does not ("cheapest", "quicker",
# "easily", "payable", "cancelled"): tried only on a word the site and the lexicon do not know.
_DERIVATIONS = (("lled", "l"), ("lling", "l"), ("ed", "e"), ("iest", "y"), ("ier", "y"), ("ily", "y"),
                ("est", ""), ("er", ""), ("ly", ""), ("ness", ""), ("ment", ""), ("able", ""),
                ("ation", "e"), ("ation", ""), ("ion", "e"), ("ion", ""), ("al", ""), ("ful", ""))
# British and American spellings of a word ending: organize/organise, color/colour, center/centre.
_SPELLINGS = {"ize": "ise", "izes": "ises", "ized": "ised", "izing": "ising", "ization": "isation",
              "izations": "isations", "yze": "yse", "yzed": "ysed", "our": "or", "ours": "ors",
              "tre": "ter", "tres": "ters"}
_SPELLING = re.compile(r"(?<=[a-z]{3})(ize|izes|ized|izing|izations?|yze|yzed|ours?|tres?)$")
_WORD = re.compile(r"[a-z0-9]+")
_NUMBER = re.compile(r"\d+[a-z]{0,3}")  # 3, 2023, 40th, 160cm, 5pm
_TLDS = tuple(f".{t}" for t in "com net org io co app info biz de at ch uk eu fr it es nl be".split())
_DOMAIN = re.compile(r"\b([a-z0-9][a-z0-9-]*(?:\.[a-z0-9-]+)*)\.(?:%s)\b" % "|".join(t[1:] for t in _TLDS))
# A price stated in an answer ("€35", "12 euros", "$9.99") makes the entry one about a price.
_AMOUNT = re.compile(r"[€$£¥]\s?\d|\d\s?[€$£¥]|\b\d+(?:[.,]\d+)?\s?(?:eur|euros?|usd|dollars?|chf|gbp|pounds?)\b")


def _words(text: str) -> list[str]:
    """Lowercase ASCII words: accents folded, punctuation dropped."""
    folded = text.casefold()
    if not folded.isascii():  # most text is: skip the per-character pass
        decomposed = unicodedata.normalize("NFKD", folded)
        folded = "".join(c for c in decomposed if not unicodedata.combining(c))
    if "." in folded and any(tld in folded for tld in _TLDS):  # "booking.com": a name ("bookingcom"); "com" no word
        folded = _DOMAIN.sub(lambda m: f"{m.group(1)} {m.group(0).replace('.', '').replace('-', '')}", folded)
    return _WORD.findall(folded)[:MAX_WORDS]


@lru_cache(maxsize=8192)
def _stem(word: str) -> str:
    """A light English stemmer: price, prices, pricing and priced all become ``pric``.

    British and American spellings meet: colour/color, organise/organize, centre/center.
    """
    word = _SPELLING.sub(lambda m: _SPELLINGS[m.group(1)], word)
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


_COMMON_STEMS = frozenset(_stem(w) for w in COMMON)


def _swapped(a: str, b: str) -> bool:
    """b is a with two neighbouring letters swapped ("opne" -> "open")."""
    if len(a) != len(b) or a == b:
        return False
    diff = [i for i in range(len(a)) if a[i] != b[i]]
    return len(diff) == 2 and diff[1] == diff[0] + 1 and a[diff[0]] == b[diff[1]] and a[diff[1]] == b[diff[0]]


def _slips(a: str, b: str, limit: int, substitute: bool) -> int:
    """Edits from a to b (optimal string alignment: insert, delete, swap neighbours, change), or limit+1."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    change = 1 if substitute else limit + 1
    previous2: list[int] = []
    previous = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        row = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else change
            row[j] = min(previous[j] + 1, row[j - 1] + 1, previous[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                row[j] = min(row[j], previous2[j - 2] + 1)
        if min(row) > limit:
            return limit + 1
        previous2, previous = previous, row
    return min(previous[-1], limit + 1)


def _phrase_pattern(phrases: Sequence[str]) -> re.Pattern[str] | None:
    """One regex finding any of the phrases as whole words, longest first."""
    if not phrases:
        return None
    ordered = sorted(set(phrases), key=lambda p: (-len(p), p))
    return re.compile(r"\b(?:" + "|".join(re.escape(p) for p in ordered) + r")\b")


class _Vocabulary:
    """Concepts of stems and phrases: the lexicon's groups plus the site's ``synonyms``.

    The lexicon's part is built once per process (``_Vocabulary.general``);
    a site with synonyms gets a copy with its groups added.
    """

    _general: "_Vocabulary | None" = None

    def __init__(self, groups: Sequence[tuple[str, Sequence[str]]], base: "_Vocabulary | None" = None) -> None:
        self.stem_concepts: dict[str, set[str]] = {k: set(v) for k, v in (base.stem_concepts if base else {}).items()}
        self.phrase_concepts: dict[str, set[str]] = {k: set(v) for k, v in (base.phrase_concepts if base else {}).items()}
        for name, members in groups:
            for member in members:
                words = _words(member)
                if not words:
                    continue
                if len(words) == 1:
                    self.stem_concepts.setdefault(_stem(words[0]), set()).add(name)
                else:
                    self.phrase_concepts.setdefault(" ".join(words), set()).add(name)
        self.pattern = _phrase_pattern(list(self.phrase_concepts))
        # Single lexicon words are typo targets too ("expensiv" -> "expensive").
        self.surface = base.surface if base else frozenset(
            w for members in CONCEPTS.values() for m in members for w in _words(m) if len(w) >= TYPO_MIN_LENGTH)

    @classmethod
    def for_site(cls, site_groups: Sequence[Sequence[str]]) -> "_Vocabulary":
        if cls._general is None:
            cls._general = cls(list(CONCEPTS.items()))  # two threads may both build it: same result
        if not site_groups:
            return cls._general
        return cls([(f"site{i}", tuple(g)) for i, g in enumerate(site_groups)], base=cls._general)

    def split(self, words: list[str]) -> tuple[list[str], list[str]]:
        """The phrases found in a message's words, and the words outside them."""
        if self.pattern is None:
            return [], words
        text = " ".join(words)
        phrases = [m.group(0) for m in self.pattern.finditer(text)]
        rest = self.pattern.sub(" ", text).split() if phrases else words
        return phrases, rest


@dataclass
class _Field:
    """What one part of an entry (its questions and keywords, or its answer) says: stems and concepts."""

    stems: set[str] = field(default_factory=set)
    concepts: set[str] = field(default_factory=set)
    sure: set[str] = field(default_factory=set)  # concepts held by a word of one concept only


@dataclass(frozen=True)
class _Term:
    """One thing the message says: a stem (None for a phrase's concept) and its concepts."""

    stem: str | None
    concepts: frozenset[str]


@dataclass
class _Entry:
    id: str
    title: str
    answer: str
    asked: _Field           # questions and keywords: what the author expects visitors to say
    answered: _Field        # the answer: what the entry is about
    keywords: list[frozenset[str]]
    questions: list[list[_Term]]
    handoff: bool = False
    asks: tuple[str, ...] = ()  # the entry's questions as written, for suggestions


@dataclass(frozen=True)
class Hit:
    """One entry found for a message, for an engine that writes its own answer from it."""

    entry_id: str
    title: str
    answer: str
    score: float


class KnowledgeBot:
    """Answers from a knowledge document; see the module docstring for how."""

    streams = False  # fast enough to answer inside the send request

    def __init__(self, knowledge: Mapping[str, Any] | None = None) -> None:
        """Indexes the document; a malformed one raises ValueError (see ``validate_knowledge``)."""
        doc = validate_knowledge(knowledge or {}, allow_empty=True)
        self.fallback = doc.get("fallback", FALLBACK)
        self._vocab = _Vocabulary.for_site(doc.get("synonyms", []))
        # Surface words map to their stems, so a typo is corrected against what
        # an author wrote ("pricing") or the lexicon knows, not against a stem ("pric").
        surface = set(self._vocab.surface)
        # "noshow", "giftcard": two neighbouring words of the site's text, written as one.
        self._joined: dict[str, list[str]] = {}
        self._entries = [self._entry(e, surface) for e in doc["entries"]]
        self._known_words = frozenset(surface)
        self._sorted_words = sorted(surface)
        self._typo_candidates: dict[int, list[str]] = {}
        for w in self._sorted_words:
            self._typo_candidates.setdefault(len(w), []).append(w)
        # IDF over entries, of stems and of concepts alike.
        df: dict[str, int] = {}
        for entry in self._entries:
            for key in (entry.asked.stems | entry.answered.stems
                        | {"~" + c for c in entry.asked.concepts | entry.answered.concepts}):
                df[key] = df.get(key, 0) + 1
        n = len(self._entries)
        self._idf = {key: math.log((1 + n) / (1 + count)) + 1 for key, count in df.items()}
        self._unknown_idf = math.log(1 + n) + 1
        self._offers: dict[str, str | None] = {}  # entry id -> the question it is suggested with

    def _field(self, texts: Sequence[list[str]]) -> _Field:
        """What texts (as their words) hold."""
        result = _Field()
        for words in texts:
            phrases, _ = self._vocab.split(words)
            for phrase in phrases:
                result.stems.add("p:" + phrase)
                result.concepts |= self._vocab.phrase_concepts[phrase]
                if len(self._vocab.phrase_concepts[phrase]) == 1:
                    result.sure |= self._vocab.phrase_concepts[phrase]
            for w in words:
                if w in _STOPWORDS or w in FILLER:
                    continue
                stem = _stem(w)
                result.stems.add(stem)
                concepts = self._vocab.stem_concepts.get(stem, set())
                result.concepts |= concepts
                if len(concepts) == 1:
                    result.sure |= concepts
        return result

    def _entry(self, e: Mapping[str, Any], surface: set[str]) -> _Entry:
        """One entry indexed; its words join ``surface``, the words typos are corrected to."""
        questions = [_words(q) for q in e["questions"]]
        keywords = [_words(k) for k in e["keywords"]]
        answer = _words(e["answer"])
        for words in questions + keywords + [answer]:
            surface.update(w for w in words if len(w) >= TYPO_MIN_LENGTH and w not in _STOPWORDS)
            for a, b in zip(words, words[1:]):
                if len(a) + len(b) >= 5 and not (a.isdigit() or b.isdigit()):
                    self._joined.setdefault(a + b, [a, b])
        answered = self._field([answer])
        if _AMOUNT.search(e["answer"].casefold()):
            answered.concepts.add("price")  # "€35" answers "how much"
            answered.sure.add("price")
        stems = [frozenset(_stem(w) for w in k if w not in _STOPWORDS) for k in keywords]
        return _Entry(e["id"], e.get("title") or (e["questions"] or e["keywords"])[0], e["answer"],
                      self._field(questions + keywords), answered,
                      [k for k in stems if k], [self._terms_of(q) for q in questions],
                      bool(e.get("handoff")), tuple(e["questions"]))

    # --- answering ------------------------------------------------------------

    def reply(self, text: str, history: Sequence[Mapping[str, Any]] = (), context: Any = None) -> BotReply:
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
            return BotReply(reply.text, reply.matched, True, handoff=True, sources=reply.sources)
        if asks_for_person:
            return BotReply(HANDOFF, None, True, handoff=True)
        return reply

    def stream(self, text: str, history: Sequence[Mapping[str, Any]] = (),
               context: Any = None) -> Iterator[str | BotReply]:
        """The same answer as ``reply``, as one chunk and then the reply (this engine does not stream)."""
        answer = self.reply(text, history, context)
        yield answer.text
        yield answer

    def _answer(self, text: str, words: set[str], talk: Mapping[str, str]) -> BotReply:
        for kind, vocabulary in (("greeting", _GREETINGS), ("thanks", _THANKS), ("goodbye", _GOODBYES)):
            if words and words & vocabulary and words <= vocabulary | _PADDING:
                return BotReply(talk[kind], None, True)
        ranked, entry = self._match(text)
        if entry is None:
            return BotReply(self.fallback, None, False, suggestions=self._suggestions(ranked))
        return BotReply(entry.answer, entry.id, True, handoff=entry.handoff, sources=(entry.title,))

    def _match(self, text: str) -> tuple[list[tuple[float, _Entry]], _Entry | None]:
        """The entries ranked for a message, and the one that answers it (None: not sure)."""
        terms = self._terms(text or "")
        ranked = self._rank(terms)
        if not ranked:
            return ranked, None
        best, entry = ranked[0]
        runner_up = ranked[1][0] if len(ranked) > 1 else 0.0
        if best < self._bar(terms) or best - runner_up < MARGIN:
            return ranked, None
        return ranked, entry

    def _suggestions(self, ranked: list[tuple[float, _Entry]]) -> tuple[str, ...]:
        """Questions of the entries that came close, best first (see the module docstring)."""
        offered: list[str] = []
        for score, entry in ranked:
            if score < SUGGEST_SHARE or len(offered) == SUGGESTIONS:
                break
            if entry.handoff:
                continue
            if entry.id not in self._offers:
                # The first of its questions that the bot answers with it; None if none does.
                self._offers[entry.id] = next(
                    (q for q in entry.asks if self._match(q)[1] is entry), None)
            question = self._offers[entry.id]
            if question is not None:
                offered.append(question)
        return tuple(offered)

    def search(self, text: str, limit: int = SEARCH_LIMIT) -> list[Hit]:
        """The entries that answer a message, best first: those that clear the bar ``reply`` uses.

        For an engine that writes its own answer (Bedrock): the margin over
        the runner-up is not required here, since the model reads them all.
        """
        terms = self._terms(text or "")
        bar = self._bar(terms)
        return [Hit(entry.id, entry.title, entry.answer, round(score, 4))
                for score, entry in self._rank(terms)[:limit] if score >= bar]

    def _bar(self, terms: list[_Term]) -> float:
        """THRESHOLD, raised for each word no entry and no lexicon group knows ("bakery", "car").

        A message about something the site never mentions shares a few words
        with some entry ("what time does the bakery open"); the stranger the
        message, the surer the match must be.
        """
        strangers = sum(1 for t in terms if self._weight(t) == self._unknown_idf)
        return THRESHOLD + STRANGER * strangers

    def _rank(self, terms: list[_Term]) -> list[tuple[float, _Entry]]:
        if not terms or not self._entries:
            return []
        scored = [(self._score(entry, terms), i) for i, entry in enumerate(self._entries)]
        scored.sort(key=lambda pair: (-pair[0], pair[1]))
        return [(score, self._entries[i]) for score, i in scored]

    def _terms(self, text: str) -> list[_Term]:
        """What the message says: its stems (typos corrected) with their concepts, and its phrases' concepts."""
        words: list[str] = []
        for w in _words(text):
            words.extend(self._known_form(w))
        return self._terms_of(words)

    def _is_known(self, word: str) -> bool:
        """Whether an entry or the lexicon holds the word (or its stem)."""
        stem = _stem(word)
        return word in self._known_words or stem in self._idf or stem in self._vocab.stem_concepts

    def _known_form(self, word: str) -> list[str]:
        """The word as the site or the lexicon knows it: itself, its base ("cheapest" -> cheap),
        its two halves when the site writes them apart ("noshow" -> no show), the one longer
        word it is short for ("physio" -> physiotherapist) or the word it is a typo of
        ("adress"). A common word of any chat is no typo ("looking" is not "booking")."""
        if (len(word) < TYPO_MIN_LENGTH or word in _STOPWORDS or word in FILLER or word.isdigit()
                or word in COMMON or self._is_known(word)):
            return [word]
        for suffix, replacement in _DERIVATIONS:
            if word.endswith(suffix) and len(word) - len(suffix) >= 3:
                base = word[:-len(suffix)] + replacement
                if self._is_known(base):
                    return [base]
        if word in self._joined:
            return self._joined[word]
        if len(word) >= PREFIX_MIN:
            longer = []
            for known in self._sorted_words[bisect.bisect_left(self._sorted_words, word):]:
                if not known.startswith(word):
                    break
                if len(known) > len(word) + 1:
                    longer.append(known)
            if longer and len({_stem(w) for w in longer}) == 1:  # "physio" -> physiotherapist
                return [longer[0]]
        return [self._correct(word)]

    def _terms_of(self, words: list[str]) -> list[_Term]:
        phrases, words = self._vocab.split(words)
        terms: list[_Term] = [_Term("p:" + p, frozenset(self._vocab.phrase_concepts[p])) for p in dict.fromkeys(phrases)]
        seen: set[str] = set()
        for word in words:
            if word in _STOPWORDS or word in FILLER:
                continue
            stem = _stem(word)
            if stem in seen:
                continue
            seen.add(stem)
            terms.append(_Term(stem, frozenset(self._vocab.stem_concepts.get(stem, ()))))
        return terms

    def _correct(self, word: str) -> str:
        """The word, or the known word it is a typo of ("adress", "paymnet", "chekc", "resturant").

        One slip (a letter dropped, doubled, swapped with its neighbour or,
        from six letters on, changed), two from nine letters on. Five-letter
        words change no letter ("gears" is not a typo of "years"), and
        four-letter ones only swap two ("opne"; "cars" is not "cards").
        """
        if (len(word) < TYPO_MIN_LENGTH or word in self._known_words or word in _STOPWORDS
                or word in FILLER or _stem(word) in self._idf or word.isdigit()):
            return word
        limit = 2 if len(word) >= 9 else 1
        best, best_distance = word, limit + 1
        for length in range(len(word) - limit, len(word) + limit + 1):
            for candidate in self._typo_candidates.get(length, ()):
                if len(word) == 4 and not _swapped(word, candidate):
                    continue
                distance = _slips(word, candidate, limit, substitute=len(word) >= 6)
                if distance < best_distance:
                    best, best_distance = candidate, distance
        return best

    def _weight(self, term: _Term) -> float:
        """IDF of the word, or of its commonest concept if that is lower (store ~ shop: generic).

        A word no entry uses weighs as much as the rarest word (IDF with no
        entry holding it), unless it is a common word of any chat.
        """
        weights = [self._idf[k] for k in [term.stem] + ["~" + c for c in term.concepts] if k in self._idf]
        if weights:
            return min(weights)
        if term.stem in _COMMON_STEMS or _NUMBER.fullmatch(term.stem or "") or len(term.stem or "") == 1:
            return COMMON_WEIGHT  # a number the site never uses is a date or a count, a letter a fragment: no topic
        return self._unknown_idf

    def _score(self, entry: _Entry, terms: list[_Term]) -> float:
        """The share of the message's weight the entry covers, plus its keyword bonus."""
        total = covered = 0.0
        for term in terms:
            weight = self._weight(term)
            strength = self._strength(entry, term)
            total += weight * (strength + UNMATCHED * (1 - strength))
            covered += weight * strength
        if total == 0:
            return 0.0
        stems = {t.stem for t in terms if t.stem}
        concepts = set().union(*(t.concepts for t in terms))
        best_question = max((self._question_share(q, stems, concepts) for q in entry.questions), default=0.0)
        hits = sum(1 for keyword in entry.keywords if keyword <= stems)
        return ((1 - QUESTION_SHARE) * covered / total + QUESTION_SHARE * best_question
                + KEYWORD_BONUS * min(hits, MAX_KEYWORD_HITS))

    def _question_share(self, question: list[_Term], stems: set[str], concepts: set[str]) -> float:
        """How much of one of the entry's questions the message says (the other way round)."""
        total = covered = 0.0
        for term in question:
            weight = self._weight(term)
            total += weight
            if term.stem in stems:
                covered += weight
            elif term.concepts & concepts:
                covered += weight * RELATED
        return covered / total if total else 0.0

    @staticmethod
    def _strength(entry: _Entry, term: _Term) -> float:
        if term.stem is not None:
            if term.stem in entry.asked.stems:
                return 1.0
            if term.stem in entry.answered.stems:
                return ANSWER_ONLY
        if term.concepts & entry.asked.concepts:
            return RELATED if term.concepts & entry.asked.sure else RELATED * AMBIG
        if term.concepts & entry.answered.concepts:
            return RELATED_IN_ANSWER if term.concepts & entry.answered.sure else RELATED_IN_ANSWER * AMBIG
        return 0.0
