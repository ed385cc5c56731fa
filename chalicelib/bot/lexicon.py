"""The offline bot's own vocabulary: what visitors' words mean on any site.

Two kinds of data, both general (written for shops, services, venues and
software alike, never for one knowledge file):

``CONCEPTS``: groups of words and phrases visitors use for the same need. A
word of a group matches another word of the same group, but weaker than the
word itself ("postage" finds an entry about "shipping"), and a word may sit in
several groups. A site adds its own groups with the knowledge file's
``synonyms``.

``FILLER``: words that say nothing about which entry is meant ("hey", "quick
question", "pls"). They are dropped like stopwords, so that they neither match
nor count as a topic the site never mentions.
"""
from __future__ import annotations

CONCEPTS: dict[str, tuple[str, ...]] = {
    "price": ("price", "prices", "pricing", "cost", "costs", "charge", "charges", "fee", "fees",
              "expensive", "cheap", "rate", "rates", "tariff", "how much", "quote", "spend", "amount",
              "what do you charge", "per hour", "hourly", "extra", "surcharge", "on top", "extra charge",
              "additional charge", "cost extra", "pay extra"),
    "free": ("free", "gratis", "complimentary", "no charge", "without paying", "included", "nothing"),
    "shipping": ("shipping", "ship", "ships", "shipped", "delivery", "deliver", "delivered", "postage",
                 "post", "dispatch", "dispatched", "send out", "courier", "freight", "shipment",
                 "send to", "sent to", "send", "sends", "sending", "sent", "to my house", "to my home",
                 "to my door", "home delivery", "doorstep"),
    "abroad": ("abroad", "international", "internationally", "overseas", "foreign", "other countries",
               "outside", "worldwide", "countries", "country", "usa", "america", "canada", "uk",
               "britain", "england", "ireland", "france", "austria", "switzerland", "italy", "spain",
               "portugal", "netherlands", "belgium", "denmark", "sweden", "norway", "poland", "australia",
               "japan", "china", "india"),
    "date": ("january", "february", "march", "april", "may", "june", "july", "august", "september",
             "october", "november", "december", "date", "dates"),
    "duration": ("how long", "how many days", "how fast", "how soon", "how quickly", "day", "days", "week",
                 "weeks", "month", "months", "year", "years", "until", "quick", "quickly", "fast",
                 "wait", "waiting", "valid", "expire", "expiry", "last"),
    "arrive": ("arrive", "arrives", "arrival", "get here", "gets here", "show up", "shows up",
               "receive", "received", "come", "comes", "turn up"),
    "return": ("return", "returns", "send back", "bring back", "give back", "take back", "refund",
               "refunds", "money back", "exchange", "swap", "replace", "replacement", "wrong size",
               "don't like", "dont like", "change my mind", "wrong colour", "wrong color", "doesn't fit",
               "does not fit", "too big", "too small"),
    "repair": ("repair", "repairs", "fix", "fixed", "fixing", "mend", "service", "servicing",
               "tune up", "tune-up", "maintenance", "adjust", "adjusted", "check up", "inspection",
               "mechanic", "workshop"),
    "broken": ("broken", "broke", "breaks", "defect", "defective", "faulty", "fault", "damaged",
               "damage", "cracked", "crack", "stopped working", "not working", "doesn't work", "doesnt work",
               "does not work", "problem", "issue", "bug"),
    "warranty": ("warranty", "guarantee", "guaranteed", "covered", "cover", "coverage"),
    "booking": ("book", "booking", "appointment", "reserve", "reservation", "schedule", "slot",
                "drop off", "bring in", "walk in", "make an appointment"),
    "cancel": ("cancel", "cancellation", "cancelling", "canceling", "call off", "no show", "cut short",
               "leave early", "check out early"),
    "hours": ("hours", "open", "opens", "opening", "close", "closes", "closed", "closing",
              "what time", "when", "today", "tomorrow", "tonight", "morning", "evening", "weekend",
              "weekday", "weekdays", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday",
              "sunday", "holiday", "holidays", "christmas", "xmas", "easter", "public holiday", "midnight", "24/7",
              "opening times", "opening hours", "new year", "new years eve", "bank holiday",
              "around the clock", "round the clock", "after hours"),
    "location": ("where", "located", "location", "address", "find you", "directions", "get to",
                 "how to get", "near", "nearby", "close by", "map", "situated", "based", "how far", "far", "distance",
                 "walking distance", "close to", "how close", "street", "sat nav", "navigation", "gps"),
    "transport": ("parking", "park", "car park", "tram", "bus", "train", "station", "metro",
                  "subway", "public transport", "airport", "shuttle", "transfer", "taxi", "garage",
                  "parking space", "parking spot", "charging station", "charging point", "ev charger",
                  "electric car"),
    "payment": ("pay", "paying", "payment", "payments", "cash", "card", "cards", "credit card",
                "debit card", "visa", "mastercard", "amex", "paypal", "apple pay", "google pay",
                "klarna", "bank transfer", "invoice", "checkout", "methods"),
    "instalments": ("instalments", "installments", "instalment", "installment", "monthly", "financing",
                    "finance", "loan", "leasing", "lease", "spread", "bit by bit", "pay later",
                    "payment plan", "afford", "per month", "in parts"),
    "contact": ("contact", "reach", "phone", "call", "telephone", "number", "email", "e-mail",
                "mail", "customer service", "support", "get in touch", "hotline", "write to", "email address",
                "e-mail address", "mail address", "phone number", "reply", "replies", "respond", "response",
                "response time", "get back to", "ring", "front desk", "reception desk"),
    "order": ("order", "orders", "ordered", "purchase", "purchased", "bought"),
    "tracking": ("track", "tracking", "status", "where is my", "parcel", "package", "hasn't arrived",
                 "not arrived", "still waiting", "nothing has arrived"),
    "gift": ("gift card", "giftcard", "gift cards", "voucher", "vouchers", "gift", "present",
             "gift certificate", "redeem"),
    "discount": ("discount", "discounts", "coupon", "promo", "promotion", "sale", "code", "deal",
                 "offer", "offers", "student"),
    "newsletter": ("newsletter", "subscribe", "unsubscribe", "mailing list", "marketing", "emails",
                   "updates", "sign up", "opt out", "spam", "news", "stop sending", "stop emailing", "mailing"),
    "size": ("size", "sizes", "sizing", "fit", "fits", "fitting", "height", "tall", "inseam",
             "leg length", "measurements", "measure", "small", "medium", "large", "which size"),
    "rent": ("rent", "rental", "rentals", "hire", "borrow", "lend", "per day", "day rate"),
    "sell": ("sell", "selling", "trade in", "trade-in", "used", "second hand", "second-hand", "old",
             "buy back", "part exchange"),
    "account": ("account", "login", "log in", "logging in", "sign in", "password", "register",
                "registration", "profile", "username", "locked out", "forgot", "forgotten", "reset",
                "can't log in", "cant log in", "two-factor", "2fa"),
    "outage": ("down", "outage", "offline", "not loading", "status page", "uptime", "maintenance",
               "incident", "unavailable", "not responding", "error", "errors", "slow"),
    "billing": ("bill", "billed", "billing", "charged", "charged twice", "double charged", "invoice",
                "receipt", "subscription", "plan", "renew", "renewal", "automatically"),
    "privacy": ("privacy", "data", "gdpr", "personal data", "cookies", "tracking cookies", "delete my data",
                "safe", "secure", "security", "protected", "encrypted", "encryption", "stored", "storage"),
    "pets": ("dog", "dogs", "pet", "pets", "cat", "cats", "animal", "animals", "puppy"),
    "food": ("breakfast", "lunch", "dinner", "restaurant", "meal", "meals", "food", "eat", "menu",
             "vegan", "vegetarian", "gluten", "allergy", "allergies", "coeliac", "celiac", "lactose",
             "intolerance", "intolerant", "dietary", "diet", "halal", "kosher"),
    "internet": ("wifi", "wi-fi", "wlan", "internet", "online access", "password for the wifi", "connection",
                 "bandwidth", "signal", "video call", "video calls", "streaming"),
    "children": ("child", "children", "kid", "kids", "baby", "babies", "cot", "crib", "family", "toddler",
                 "babysitter", "babysitting", "childcare", "nanny", "high chair", "playground"),
    "events": ("event", "events", "wedding", "weddings", "married", "marry", "birthday", "party", "parties",
               "celebration", "celebrate", "reunion", "conference", "meeting", "meetings", "meeting room",
               "venue", "function room", "banquet", "seminar", "private hire", "corporate"),
    "pool": ("pool", "swimming pool", "swim", "swimming", "bathe"),
    "accessible": ("wheelchair", "accessible", "accessibility", "disabled", "disability", "lift",
                   "elevator", "step-free", "ramp", "mobility", "stairs", "steps", "walk-in shower", "get around",
                   "grab rails"),
    "stay": ("check in", "check-in", "check out", "check-out", "late checkout", "early check-in", "stay",
             "room", "rooms", "night", "nights", "overnight", "stay longer", "extend", "extension", "bed", "beds"),
    "job": ("job", "jobs", "are you hiring", "career", "careers", "apply", "vacancy", "vacancies", "work for you",
            "internship", "train as", "training as", "apprenticeship", "apprentice", "trainee"),
    "install": ("install", "installation", "set up", "setup", "embed", "add to my site", "integrate",
                "integration", "plugin"),
    "language": ("language", "languages", "speak", "translate", "translation", "german", "english",
                 "french", "spanish", "italian"),
    "country": ("country", "countries", "usa", "america", "canada", "uk", "britain", "england",
                "ireland", "france", "germany", "austria", "switzerland", "italy", "spain", "portugal",
                "netherlands", "belgium", "luxembourg", "denmark", "sweden", "norway", "finland", "poland",
                "czechia", "czech republic", "hungary", "australia", "japan", "china", "india", "europe",
                "eu", "european"),
    "business": ("shop", "store", "company", "business", "website", "site", "place", "outlet", "branch",
                 "premises", "you guys"),
    "stock": ("stock", "in stock", "available", "availability", "sold out", "out of stock", "back in stock"),
    "invoice": ("invoice", "receipt", "bill", "vat"),
}

# Words any visitor of any site uses ("keep", "thing", "option"): unknown to a
# site, they weigh little, unlike a topic the site never mentions ("bakery").
COMMON = frozenset("""
    accept add allow answer ask back bad best better big bring buy can change check choose come
    do done else end enough find first fine get give go going good got great happen have hear here
    keep know last leave less let like little live long look lose lot make many mean more much
    new next nice now offer okay old one only option options choice choices other part pick put
    question quick ready right run same say see seem send set show small soon start still sure
    take talk tell thing think time try turn two use usual usually want way week well work write
    wrong year again another any anyone anything everything something someone own there else
    currently right now already before after since without within
    ago join longer manage couple friend friends arrange organise organize organising organizing
    plan planning possible normally generally exactly earlier later usual whole
    people person someone everyone anybody everybody nobody myself yourself ourselves themselves
    said made found feel felt called thought getting looking making told believe took came trying
    using following makes given become coming started starting taking remember understand wanted
    saw asked heard gave seems thinking wants goes happened happens knew tried giving brought became
    decided turned considered began changed knows forget followed missing seeing gives expect kept
    consider agree asking telling explain helped showing putting showed appear appears keeping
    mentioned wondered hoping hope wish guess suppose assume mean meant
    never always different however hard full important least often almost true pretty probably
    rather whether quite although sometimes easy clear especially likely similar certain finally
    alone various cannot serious simple simply difficult huge recent straight specific normal
    certainly completely nearly particular previous immediately absolutely definitely particularly
    regular anymore seriously clearly easily necessary supposed directly fully highly otherwise
    therefore truly actual actually instead either neither both around across along towards
    reason example case fact idea matter moment chance sense result
""".split())

FILLER = frozenset("""
    hey hi hello hiya yo ok okay pls plz please thx quick question questions wondering wonder
    just really actually maybe perhaps basically anyway btw so well um uh hmm thing things stuff
    kind sort bit lot lots way ways somebody anybody need needs needed wanna gonna gotta
    would could might must shall may help thanks thank guys folks dear sir madam
    possible able sure exactly still yet already also even ever
""".split())

