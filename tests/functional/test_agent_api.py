"""The agent API on moto: sign-in by Cognito ID token, membership, the inbox, replies and the lifecycle."""
from __future__ import annotations

import json
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from chalicelib.models import Member

from ..cognito import AGENT_ENV, CLIENT_ID, FakePool
from ..fakes import PUSHER_APP_ID, PUSHER_KEY, PUSHER_SECRET, FakeClock, FakeManagement, FakePusher
from .conftest import ORIGIN
from .test_realtime import invoke, ws_event

CONSOLE = "http://127.0.0.1:8090"
ENV = {**AGENT_ENV, "PARLEY_REALTIME_PROVIDERS": "pusher,websocket,polling",
       "PARLEY_WEBSOCKET_URL": "ws://127.0.0.1:8001", "PARLEY_WEBSOCKET_ENDPOINT": "http://127.0.0.1:8001",
       "PUSHER_APP_ID": PUSHER_APP_ID, "PUSHER_KEY": PUSHER_KEY, "PUSHER_SECRET": PUSHER_SECRET}


class Desk:
    """The agents' side of a test: a pool, three agents (two of demo, one of other), the fakes."""

    def __init__(self, http, make_root, data) -> None:
        self.http = http
        self.pool = FakePool()
        self.pusher, self.management, self.clock = FakePusher(), FakeManagement(), FakeClock(2_000_000_000.0)
        self.monotonic = FakeClock()
        self.root = make_root(ENV, pusher=self.pusher, management=self.management, jwks=self.pool.fetch,
                              clock=self.clock, monotonic=self.monotonic)
        data.agents.put_member(Member("ana-sub", "demo", "agent", "Ana", "ana@example.com"))
        data.agents.put_member(Member("boss-sub", "demo", "admin", "Bo", "bo@example.com"))
        data.agents.put_member(Member("carl-sub", "other", "agent", "Carl", "carl@example.com"))
        self.tokens = {name: self.pool.id_token(f"{name}-sub", f"{name}@example.com")
                       for name in ("ana", "boss", "carl")}

    def headers(self, who: str = "ana", token: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {token or self.tokens[who]}", "Origin": CONSOLE,
                "Content-Type": "application/json"}

    def get(self, path: str, who: str = "ana", **kw: Any):
        return self.http.c.http.get(f"/api/agent{path}", headers=self.headers(who, **kw))

    def post(self, path: str, body: Any = None, who: str = "ana", **kw: Any):
        payload = "" if body is None else (body if isinstance(body, str) else json.dumps(body))
        return self.http.c.http.post(f"/api/agent{path}", body=payload, headers=self.headers(who, **kw))

    def conv(self, cid: str, rest: str = "", site: str = "demo") -> str:
        return f"/sites/{site}/conversations/{cid}{rest}"

    def waiting(self) -> dict[str, Any]:
        """A visitor's conversation that asked for a person."""
        session = self.http.session()
        self.http.send(session, text="Hello there")
        resp = self.http.post("/api/chatbot/handoff", {"conversation_id": session["conversation_id"]},
                              {"Authorization": f"Bearer {session['token']}", "Origin": ORIGIN})
        assert resp.status_code == 200 and resp.json_body["status"] == "pending", resp.body
        return session


@pytest.fixture
def desk(http, make_root, data) -> Desk:
    return Desk(http, make_root, data)  # after http: the graph the app uses from here on


def err(resp) -> tuple[int, str]:
    return resp.status_code, resp.json_body["error"]["code"]


# -- sign-in ------------------------------------------------------------------------


def test_me_names_the_agent_and_only_their_sites(desk):
    resp = desk.get("/me")
    assert resp.status_code == 200 and resp.headers["Access-Control-Allow-Origin"] == CONSOLE
    assert resp.json_body["agent"] == {"id": "ana-sub", "email": "ana@example.com", "name": "Ana"}
    assert resp.json_body["sites"] == [{"site_key": "demo", "name": "demo", "role": "agent"}]


def _other_key_token(desk):
    return desk.pool.id_token("ana-sub", key=rsa.generate_private_key(public_exponent=65537, key_size=2048))


@pytest.mark.parametrize("make,code", [
    (lambda d: None, "missing_token"),
    (lambda d: "not-a-jwt", "invalid_token"),
    (_other_key_token, "invalid_token"),
    (lambda d: d.pool.id_token("ana-sub", kid="unknown-kid"), "invalid_token"),
    (lambda d: d.pool.id_token("ana-sub", expires_in=-60), "token_expired"),
    (lambda d: d.pool.id_token("ana-sub", aud="someone-elses-client"), "invalid_token"),
    (lambda d: d.pool.id_token("ana-sub", iss="https://cognito-idp.us-east-1.amazonaws.com/other"), "invalid_token"),
    (lambda d: d.pool.id_token("ana-sub", token_use="access"), "invalid_token"),
    (lambda d: __import__("jwt").encode({"sub": "ana-sub", "aud": CLIENT_ID}, "k" * 32, algorithm="HS256",
                                        headers={"kid": d.pool.kid}), "invalid_token"),
])
def test_a_forged_expired_or_foreign_token_is_a_401_the_console_can_read(desk, make, code):
    token = make(desk)
    headers = {"Origin": CONSOLE, **({"Authorization": f"Bearer {token}"} if token else {})}
    resp = desk.http.c.http.get("/api/agent/me", headers=headers)
    assert err(resp) == (401, code)
    assert resp.headers.get("Access-Control-Allow-Origin") == CONSOLE, "a 401 must be readable to renew sign-in"


def test_the_pool_keys_are_fetched_once_and_a_stream_of_unknown_kids_does_not_refetch_each_time(desk):
    for _ in range(3):
        assert desk.get("/me").status_code == 200
    for _ in range(5):
        desk.get("/me", token=desk.pool.id_token("ana-sub", kid="rotated?"))
    assert len(desk.pool.fetches) == 1, f"expected one JWKS fetch, got {len(desk.pool.fetches)}"


def test_an_origin_that_is_not_the_console_is_refused_without_cors(desk):
    resp = desk.http.c.http.get("/api/agent/me", headers={"Authorization": f"Bearer {desk.tokens['ana']}",
                                                          "Origin": ORIGIN})
    assert err(resp) == (403, "origin_not_allowed") and "Access-Control-Allow-Origin" not in resp.headers


def test_the_console_preflight_is_answered_for_its_origin_only(desk):
    path = "/api/agent/sites/demo/conversations/abc/claim"
    ok = desk.http.c.http.request("OPTIONS", path, headers={"Origin": CONSOLE})
    assert ok.status_code == 204 and ok.headers["Access-Control-Allow-Origin"] == CONSOLE
    assert desk.http.c.http.request("OPTIONS", path, headers={"Origin": ORIGIN}).status_code == 403


# -- membership: a member of one site sees nothing of another -------------------------


ROUTES = [("GET", "/sites/demo/inbox"), ("GET", "/sites/demo/members"), ("GET", "{conv}"),
          ("GET", "{conv}/messages?after=0"), ("POST", "{conv}/messages"), ("POST", "{conv}/claim"),
          ("POST", "{conv}/assign"), ("POST", "{conv}/unassign"), ("POST", "{conv}/resolve"),
          ("POST", "{conv}/reopen"), ("POST", "{conv}/handback"), ("POST", "{conv}/read"),
          ("POST", "{conv}/typing")]


@pytest.mark.parametrize("method,path", ROUTES)
def test_an_agent_of_another_site_gets_403_on_every_route_and_nothing_changes(desk, data, method, path):
    session = desk.waiting()
    cid = session["conversation_id"]
    before = [m.to_json() for m in data.messages.messages_after(cid, 0, 100).messages]
    url = path.format(conv=desk.conv(cid))
    body = {"text": "hi", "client_message_id": "x1", "agent_id": "carl-sub", "seq": 1}
    resp = desk.get(url, who="carl") if method == "GET" else desk.post(url, body, who="carl")
    assert err(resp) == (403, "not_a_member")
    assert [m.to_json() for m in data.messages.messages_after(cid, 0, 100).messages] == before
    assert data.messages.get_conversation(cid).status == "pending"


@pytest.mark.parametrize("method,path", [r for r in ROUTES if "{conv}" in r[1]])
def test_a_conversation_of_another_site_is_not_found_through_ones_own_site(desk, data, method, path):
    session = desk.waiting()  # a demo conversation; Carl asks for it through his own site
    url = path.format(conv=desk.conv(session["conversation_id"], site="other"))
    body = {"text": "hi", "client_message_id": "x1", "agent_id": "carl-sub", "seq": 1}
    resp = desk.get(url, who="carl") if method == "GET" else desk.post(url, body, who="carl")
    assert err(resp) == (404, "conversation_not_found")


def test_pusher_auth_signs_the_feed_and_conversations_of_ones_own_sites_only(desk):
    session = desk.waiting()
    cid = session["conversation_id"]

    def auth(channel: str, who: str):
        return desk.http.c.http.post("/api/agent/pusher/auth", body=f"socket_id=1.2&channel_name={channel}",
                                     headers={**desk.headers(who), "Content-Type": "application/x-www-form-urlencoded"})
    for channel in ("private-agent.site.demo", f"private-chat.conversation.{cid}"):
        ok = auth(channel, "ana")
        assert ok.status_code == 200 and ok.json_body["auth"].startswith(f"{PUSHER_KEY}:")
        assert err(auth(channel, "carl")) == (403, "not_a_member")
    assert err(auth("private-chat.conversation.nope", "ana")) == (403, "channel_forbidden")
    assert err(auth("presence-x", "ana")) == (403, "channel_forbidden")


def test_a_membership_removed_is_refused_once_the_short_cache_expires(desk, data):
    assert desk.get("/sites/demo/inbox").status_code == 200
    data.agents.remove_member("demo", "ana-sub")
    assert desk.get("/sites/demo/inbox").status_code == 200, "cached for a few seconds"
    desk.monotonic.advance(10.5)  # PARLEY_MEMBERSHIP_CACHE_SECONDS, 10 by default
    assert err(desk.get("/sites/demo/inbox")) == (403, "not_a_member")


# -- the inbox ------------------------------------------------------------------------


def test_the_inbox_lists_waiting_conversations_oldest_first_with_last_message_and_unread(desk):
    first = desk.waiting()
    desk.clock.advance(5)
    second = desk.waiting()
    resp = desk.get("/sites/demo/inbox?status=pending")
    assert resp.status_code == 200
    rows = resp.json_body["conversations"]
    assert [r["conversation_id"] for r in rows] == [first["conversation_id"], second["conversation_id"]]
    row = rows[0]
    assert row["status"] == "pending" and row["assignee"] is None and row["unread"] == row["last_seq"] == 3
    assert row["last_message"]["sender"] == "system" and row["last_message"]["seq"] == 3
    assert resp.json_body["next_cursor"] is None


def test_the_inbox_pages_with_a_cursor_and_refuses_a_forged_one(desk):
    ids = []
    for _ in range(3):
        ids.append(desk.waiting()["conversation_id"])
        desk.clock.advance(1)
    page1 = desk.get("/sites/demo/inbox?status=pending&limit=2").json_body
    assert [r["conversation_id"] for r in page1["conversations"]] == ids[:2] and page1["next_cursor"]
    page2 = desk.get(f"/sites/demo/inbox?status=pending&limit=2&cursor={page1['next_cursor']}").json_body
    assert [r["conversation_id"] for r in page2["conversations"]] == ids[2:]
    import base64
    forged = base64.urlsafe_b64encode(json.dumps({"PK": "CONV#x", "SK": "STATE", "GSI2PK": "INBOX#other#pending",
                                                  "GSI2SK": "0"}).encode()).decode()
    for cursor in (forged, "%%%", page1["next_cursor"][:-4]):
        assert err(desk.get(f"/sites/demo/inbox?status=pending&cursor={cursor}")) == (400, "invalid_request")
    # A cursor of another list (pending) is not one of "open".
    assert err(desk.get(f"/sites/demo/inbox?status=open&cursor={page1['next_cursor']}")) == (400, "invalid_request")


@pytest.mark.parametrize("query", ["status=closed", "limit=0", "limit=51", "limit=abc", "status="])
def test_bad_inbox_queries_are_400(desk, query):
    assert err(desk.get(f"/sites/demo/inbox?{query}")) == (400, "invalid_request")


def test_mine_open_and_resolved_tabs_follow_claims_and_resolves(desk):
    a, b = desk.waiting(), desk.waiting()
    assert desk.post(desk.conv(a["conversation_id"], "/claim")).status_code == 200
    assert desk.post(desk.conv(b["conversation_id"], "/claim"), who="boss").status_code == 200
    tab = lambda s, who="ana": [r["conversation_id"] for r in desk.get(f"/sites/demo/inbox?status={s}", who).json_body["conversations"]]  # noqa: E731
    assert tab("pending") == []
    assert sorted(tab("open")) == sorted([a["conversation_id"], b["conversation_id"]])
    assert tab("mine") == [a["conversation_id"]] and tab("mine", "boss") == [b["conversation_id"]]
    assert desk.post(desk.conv(a["conversation_id"], "/resolve")).status_code == 200
    assert tab("mine") == [] and tab("resolved") == [a["conversation_id"]]


# -- lifecycle ------------------------------------------------------------------------


def test_claim_opens_the_conversation_with_a_system_message_and_silences_the_bot(desk, http):
    session = desk.waiting()
    cid = session["conversation_id"]
    resp = desk.post(desk.conv(cid, "/claim"))
    assert resp.status_code == 200
    message = resp.json_body["message"]
    assert message["sender"] == "system" and message["text"] == "Ana joined the conversation"
    assert message["event"] == {"type": "status", "status": "open", "previous": "pending",
                                "assignee": {"id": "ana-sub", "name": "Ana"}}
    assert resp.json_body["conversation"]["status"] == "open"
    assert resp.json_body["conversation"]["unread"] == 0, "an agent's own action is read"
    sent = http.send(session, text="How much does it cost?", cmid="after-claim")
    assert sent.status_code == 201 and sent.json_body["reply"] is None, "the bot never talks over an agent"
    seqs = [(m["seq"], m["sender"]) for m in http.poll(session).json_body["messages"]]
    assert seqs == [(1, "visitor"), (2, "bot"), (3, "system"), (4, "system"), (5, "visitor")]
    assert http.init(conversation_id=cid, token=session["token"]).json_body["assignee"] == {
        "id": "ana-sub", "name": "Ana"}


def test_claiming_again_changes_nothing_and_another_agent_cannot_take_it(desk):
    cid = desk.waiting()["conversation_id"]
    desk.post(desk.conv(cid, "/claim"))
    again = desk.post(desk.conv(cid, "/claim"))
    assert again.status_code == 200 and again.json_body["message"] is None
    assert err(desk.post(desk.conv(cid, "/claim"), who="boss")) == (409, "already_claimed")


def test_a_stale_claim_is_replanned_on_the_stored_state(desk, data):
    """The conditional write itself: a claim planned on an old revision loses to the one that landed."""
    from chalicelib.lifecycle import Agent

    cid = desk.waiting()["conversation_id"]
    stale = data.messages.get_conversation(cid)
    desk.root.transitions.apply(stale, "claim", by=Agent("ana-sub", "Ana"))
    with pytest.raises(Exception) as lost:
        desk.root.transitions.apply(stale, "claim", by=Agent("boss-sub", "Bo"))
    assert getattr(lost.value, "code", None) == "already_claimed"
    assert data.messages.get_conversation(cid).assignee_id == "ana-sub"


def test_assign_unassign_handback_and_the_roles(desk, data):
    cid = desk.waiting()["conversation_id"]
    assert err(desk.post(desk.conv(cid, "/assign"), {"agent_id": "carl-sub"})) == (400, "invalid_request")
    assert err(desk.post(desk.conv(cid, "/assign"), {})) == (400, "invalid_request")
    to_bo = desk.post(desk.conv(cid, "/assign"), {"agent_id": "boss-sub"})
    assert to_bo.status_code == 200 and to_bo.json_body["conversation"]["assignee"]["id"] == "boss-sub"
    assert to_bo.json_body["message"]["text"] == "Ana assigned the conversation to Bo"
    assert err(desk.post(desk.conv(cid, "/resolve"))) == (409, "already_claimed"), "an agent cannot resolve Bo's"
    assert err(desk.post(desk.conv(cid, "/unassign"))) == (409, "already_claimed")
    back = desk.post(desk.conv(cid, "/unassign"), who="boss")
    assert back.status_code == 200 and back.json_body["conversation"]["status"] == "pending"
    bot = desk.post(desk.conv(cid, "/handback"))
    assert bot.status_code == 200 and bot.json_body["conversation"]["status"] == "bot"
    assert err(desk.post(desk.conv(cid, "/unassign"))) == (409, "invalid_transition")
    assert err(desk.post(desk.conv(cid, "/reopen"))) == (409, "invalid_transition")
    assert desk.post(desk.conv(cid, "/claim"), "[1]").status_code == 400, "a body must be an object"


def test_resolve_then_a_visitor_message_reopens_to_pending_within_a_day_and_to_the_bot_after(desk, http, data):
    session = desk.waiting()
    cid = session["conversation_id"]
    desk.post(desk.conv(cid, "/claim"))
    assert desk.post(desk.conv(cid, "/resolve")).json_body["conversation"]["status"] == "resolved"
    desk.clock.advance(3600)
    sent = http.send(session, text="One more thing", cmid="later")
    assert sent.status_code == 201 and sent.json_body["reply"] is None
    assert data.messages.get_conversation(cid).status == "pending"
    desk.post(desk.conv(cid, "/claim"))
    desk.post(desk.conv(cid, "/resolve"))
    desk.clock.advance(25 * 3600)
    sent = http.send(session, text="How much does it cost?", cmid="much-later")
    assert sent.json_body["reply"] is not None, "a day later the bot takes the new question"
    assert data.messages.get_conversation(cid).status == "bot"
    reopened = desk.post(desk.conv(cid, "/handback"))
    assert err(reopened) == (409, "invalid_transition")


def test_reopen_gives_the_conversation_back_to_the_agent(desk):
    cid = desk.waiting()["conversation_id"]
    desk.post(desk.conv(cid, "/resolve"))
    resp = desk.post(desk.conv(cid, "/reopen"))
    assert resp.status_code == 200 and resp.json_body["conversation"]["status"] == "open"
    assert resp.json_body["conversation"]["assignee"]["id"] == "ana-sub"


# -- replies --------------------------------------------------------------------------


def test_a_reply_claims_a_waiting_conversation_and_is_stored_once(desk, http):
    session = desk.waiting()
    cid = session["conversation_id"]
    body = {"text": "Hi, I'm Ana. How can I help?", "client_message_id": "r-1"}
    first = desk.post(desk.conv(cid, "/messages"), body)
    assert first.status_code == 201, first.body
    message = first.json_body["message"]
    assert message["sender"] == "agent" and message["sender_name"] == "Ana" and message["seq"] == 5
    again = desk.post(desk.conv(cid, "/messages"), body)
    assert again.status_code == 201 and again.json_body["duplicate"] and again.json_body["message"] == message
    assert err(desk.post(desk.conv(cid, "/messages"), {**body, "text": "other"})) == (409, "idempotency_conflict")
    seen = [(m["seq"], m["sender"]) for m in http.poll(session).json_body["messages"]]
    assert seen == [(1, "visitor"), (2, "bot"), (3, "system"), (4, "system"), (5, "agent")]
    assert err(desk.post(desk.conv(cid, "/messages"), {**body, "client_message_id": "r-2"}, who="boss")) == (
        409, "already_claimed")


@pytest.mark.parametrize("body", [{}, {"text": "", "client_message_id": "x"}, {"text": "  ", "client_message_id": "x"},
                                  {"text": "x" * 4001, "client_message_id": "x"}, {"text": 5, "client_message_id": "x"},
                                  {"text": "hi"}, {"text": "hi", "client_message_id": ""}, "not json", "[]"])
def test_a_bad_reply_is_400_and_stores_nothing(desk, data, body):
    cid = desk.waiting()["conversation_id"]
    resp = desk.post(desk.conv(cid, "/messages"), body)
    assert resp.status_code == 400 and resp.json_body["error"]["code"] in ("invalid_request", "invalid_json")
    assert data.messages.get_conversation(cid).last_seq == 3 and data.messages.get_conversation(cid).status == "pending"


def test_a_repeated_reply_id_never_shows_another_sites_message(desk, data):
    cid = desk.waiting()["conversation_id"]
    body = {"text": "Hi from demo", "client_message_id": "same-id"}
    assert desk.post(desk.conv(cid, "/messages"), body).status_code == 201
    # Carl knows the id and the client_message_id, and asks through a site of his.
    resp = desk.post(desk.conv(cid, "/messages", site="other"), body, who="carl")
    assert err(resp) == (404, "conversation_not_found") and "Hi from demo" not in resp.body.decode()


def test_a_reply_to_a_resolved_conversation_is_409(desk):
    cid = desk.waiting()["conversation_id"]
    desk.post(desk.conv(cid, "/resolve"))
    assert err(desk.post(desk.conv(cid, "/messages"), {"text": "hi", "client_message_id": "z"})) == (
        409, "invalid_transition")


def test_unknown_conversation_ids_are_404_or_400(desk):
    assert err(desk.get(desk.conv("doesnotexist"))) == (404, "conversation_not_found")
    assert err(desk.get("/sites/demo/conversations/bad%20id")) == (400, "invalid_request")


# -- reading --------------------------------------------------------------------------


def test_the_conversation_view_has_history_and_visitor_facts(desk, http):
    resp = http.init(page="https://shop.example/pricing", locale="de-DE")
    session = resp.json_body
    http.send(session, text="Hello")
    http.post("/api/chatbot/handoff", {"conversation_id": session["conversation_id"]},
              {"Authorization": f"Bearer {session['token']}", "Origin": ORIGIN})
    view = desk.get(desk.conv(session["conversation_id"])).json_body
    facts = view["conversation"]
    assert facts["page"] == "https://shop.example/pricing" and facts["locale"] == "de-DE"
    assert facts["created_at"] and "user_agent" in facts
    assert [m["seq"] for m in view["messages"]] == [1, 2, 3] and view["last_seq"] == 3
    page = desk.get(desk.conv(session["conversation_id"], "/messages?after=1&limit=1")).json_body
    assert [m["seq"] for m in page["messages"]] == [2] and page["has_more"]
    assert err(desk.get(desk.conv(session["conversation_id"], "/messages?after=1&before=3"))) == (400, "invalid_request")


def test_mark_read_moves_forward_only_and_not_past_the_last_message(desk):
    cid = desk.waiting()["conversation_id"]
    assert desk.post(desk.conv(cid, "/read"), {"seq": 2}).json_body["conversation"]["unread"] == 1
    assert desk.post(desk.conv(cid, "/read"), {"seq": 1}).json_body["conversation"]["agent_read_seq"] == 2
    assert err(desk.post(desk.conv(cid, "/read"), {"seq": 99})) == (400, "invalid_request")
    assert err(desk.post(desk.conv(cid, "/read"), {"seq": "2"})) == (400, "invalid_request")


def test_members_lists_the_sites_agents(desk):
    members = desk.get("/sites/demo/members").json_body["members"]
    assert [(m["id"], m["role"]) for m in members] == [("ana-sub", "agent"), ("boss-sub", "admin")]


# -- the bot hands off ----------------------------------------------------------------


def test_the_bot_hands_off_after_two_answers_in_a_row_that_did_not_help(desk, http, data):
    session = http.session()
    cid = session["conversation_id"]
    http.send(session, text="Do you sell bicycles?", cmid="m1")
    assert data.messages.get_conversation(cid).status == "bot"
    http.send(session, text="What about unicycles?", cmid="m2")
    conversation = data.messages.get_conversation(cid)
    assert conversation.status == "pending"
    last = data.messages.messages_after(cid, 0, 100).messages[-1]
    assert last.sender == "system" and last.event["status"] == "pending"


def test_one_miss_between_answers_does_not_hand_off(desk, http, data):
    session = http.session()
    http.send(session, text="Do you sell bicycles?", cmid="m1")
    http.send(session, text="How much does it cost?", cmid="m2")
    http.send(session, text="Do you sell unicycles?", cmid="m3")
    assert data.messages.get_conversation(session["conversation_id"]).status == "bot"


def test_asking_for_a_person_in_words_hands_off(desk, http, data):
    session = http.session()
    resp = http.send(session, text="Can I talk to a human please?")
    assert resp.json_body["reply"]["sender"] == "bot"
    assert data.messages.get_conversation(session["conversation_id"]).status == "pending"


def test_the_handoff_route_is_idempotent_and_guarded_by_the_token(desk, http):
    session = desk.waiting()
    headers = {"Authorization": f"Bearer {session['token']}", "Origin": ORIGIN}
    again = http.post("/api/chatbot/handoff", {"conversation_id": session["conversation_id"]}, headers)
    assert again.status_code == 200 and again.json_body["message"] is None and again.json_body["status"] == "pending"
    other = http.session()
    assert err(http.post("/api/chatbot/handoff", {"conversation_id": other["conversation_id"]}, headers)) == (
        403, "conversation_mismatch")
    assert err(http.post("/api/chatbot/handoff", {}, headers)) == (400, "invalid_request")
    assert err(http.post("/api/chatbot/handoff", {"conversation_id": session["conversation_id"]},
                         {"Origin": ORIGIN})) == (401, "missing_token")


# -- realtime for agents --------------------------------------------------------------


def test_every_message_of_the_site_reaches_its_agent_feed(desk, http):
    session = desk.waiting()
    feed = [t for t in desk.pusher.triggered if t[0] == "private-agent.site.demo"]
    assert [t[1] for t in feed] == ["ChatMessageReceived", "ConversationCreated", "ChatMessageReceived",
                                    "ChatMessageReceived"]
    assert [t[2]["seq"] for t in feed if t[1] == "ChatMessageReceived"] == [1, 2, 3]
    assert feed[-1][2]["event"]["status"] == "pending"
    assert not any(t[0] == "private-agent.site.other" for t in desk.pusher.triggered)


def test_typing_flows_both_ways(desk, http):
    session = desk.waiting()
    cid = session["conversation_id"]
    desk.post(desk.conv(cid, "/claim"))
    assert desk.post(desk.conv(cid, "/typing")).status_code == 202
    resp = http.post("/api/chatbot/typing", {"conversation_id": cid},
                     {"Authorization": f"Bearer {session['token']}", "Origin": ORIGIN})
    assert resp.status_code == 202
    typing = [t[2] for t in desk.pusher.triggered if t[1] == "ClientTyping"]
    assert typing == [{"conversation_id": cid, "sender": "agent", "name": "Ana"},
                      {"conversation_id": cid, "sender": "visitor"}]


def test_an_agent_websocket_gets_the_feed_and_the_watched_conversation(desk, http, client, data):
    connect = ws_event("$connect", "agent1")
    connect["queryStringParameters"] = {"agent_token": desk.tokens["ana"], "site_key": "demo"}
    connect["headers"] = {"Origin": CONSOLE}
    assert invoke(client, "ws_connect", connect)["statusCode"] == 200
    session = desk.waiting()
    cid = session["conversation_id"]
    posted = desk.management.posted["agent1"]
    assert [p["data"]["seq"] for p in posted if p["event"] == "ChatMessageReceived"] == [1, 2, 3]
    invoke(client, "ws_message", ws_event("$default", "agent1", body=json.dumps({"action": "watch",
                                                                                 "conversation_id": cid})))
    assert desk.management.posted["agent1"][-1] == {"event": "watching", "data": {"conversation_id": cid}}
    invoke(client, "ws_connect", ws_event("$connect", "visitor1", session["token"]))
    invoke(client, "ws_message", ws_event("$default", "visitor1", body='{"action":"typing"}'))
    assert desk.management.posted["agent1"][-1]["data"] == {"conversation_id": cid, "sender": "visitor"}
    invoke(client, "ws_message", ws_event("$default", "agent1", body='{"action":"typing"}'))
    assert desk.management.posted["visitor1"][-1]["data"] == {"conversation_id": cid, "sender": "agent", "name": "Ana"}
    # A message now reaches the agent once, though it is on both the feed and the conversation.
    before = len(desk.management.posted["agent1"])
    http.send(session, text="still there?", cmid="ws-1")
    assert len(desk.management.posted["agent1"]) == before + 1
    invoke(client, "ws_disconnect", ws_event("$disconnect", "agent1"))
    assert data.connections.of_feed("demo") == [] and "agent1" not in data.connections.ids(cid)


@pytest.mark.parametrize("who,site,code", [("carl", "demo", 403), ("ana", "other", 403), ("ana", "", 400)])
def test_an_agent_websocket_for_a_site_not_ones_own_is_refused(desk, client, who, site, code):
    connect = ws_event("$connect", "agentX")
    connect["queryStringParameters"] = {"agent_token": desk.tokens[who], "site_key": site}
    connect["headers"] = {"Origin": CONSOLE}
    assert invoke(client, "ws_connect", connect)["statusCode"] == code


def test_watching_a_conversation_of_another_site_is_refused(desk, http, client, data):
    connect = ws_event("$connect", "agentC")
    connect["queryStringParameters"] = {"agent_token": desk.tokens["carl"], "site_key": "other"}
    connect["headers"] = {"Origin": CONSOLE}
    invoke(client, "ws_connect", connect)
    cid = desk.waiting()["conversation_id"]
    invoke(client, "ws_message", ws_event("$default", "agentC", body=json.dumps({"action": "watch",
                                                                                 "conversation_id": cid})))
    reply = desk.management.posted["agentC"][-1]
    assert reply["event"] == "error" and reply["data"]["code"] == "conversation_not_found"
    assert "agentC" not in data.connections.ids(cid)


def test_the_agent_api_is_disabled_without_a_pool(make_root, http):
    make_root()
    assert err(http.c.http.get("/api/agent/me", headers={"Authorization": "Bearer x"})) == (404, "agents_disabled")
