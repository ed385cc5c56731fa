"""Bounded storage and privacy: retention by TTL, token revocation, delete, transcript, and the CLI's side.

No emulator expires TTL items, so "expired" here is a ``ttl`` set in the past
straight in the table: what DynamoDB would still hold (and return) for up to
a couple of days after the instant passed.
"""
from __future__ import annotations

import base64
import calendar
import json
import time
from typing import Any

import pytest

from chalicelib import tokens
from chalicelib.data import messages as message_store
from chalicelib.data.table import STATE_SK, conv_pk, msg_sk
from chalicelib.models import Site
from infra import sites as sites_cli

from ..fakes import FakeManagement, FakePusher
from .conftest import KNOWLEDGE, ORIGIN, stored_messages
from .test_realtime import REALTIME_ENV, SECRET, auth, invoke, ws_event

DAY = 86400
SLACK = 30  # seconds between a write here and the check of its ttl


def items_of(data, conversation_id: str) -> list[dict[str, Any]]:
    """Every item under the conversation's partition, straight from the table."""
    return list(data.table.query_all(KeyConditionExpression="PK = :pk",
                                     ExpressionAttributeValues=data.table.values(pk=conv_pk(conversation_id))))


def epoch(iso: str) -> int:
    return calendar.timegm(time.strptime(iso[:19], "%Y-%m-%dT%H:%M:%S"))


def expire(data, conversation_id: str, sk: str, ago: int = 3600) -> None:
    """Sets an item's ttl in the past, as if its retention ran out ``ago`` seconds ago."""
    data.table.client.update_item(TableName=data.table.name, Key=data.table.key(conv_pk(conversation_id), sk),
                                  UpdateExpression="SET #t = :t", ExpressionAttributeNames={"#t": "ttl"},
                                  ExpressionAttributeValues=data.table.values(t=int(time.time()) - ago))


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "Origin": ORIGIN}


def header(resp, name: str) -> str:
    """A response header by name, whatever its case."""
    return next((v for k, v in resp.headers.items() if k.lower() == name.lower()), "")


def err(resp) -> tuple[int, str]:
    return resp.status_code, resp.json_body["error"]["code"]


def delete(http, conversation_id: str | None, token: str | None):
    path = "/api/chatbot/conversation" + (f"?conversation_id={conversation_id}" if conversation_id else "")
    headers = {"Origin": ORIGIN, **({"Authorization": f"Bearer {token}"} if token else {})}
    return http.c.http.request("DELETE", path, headers=headers)


def transcript(http, conversation_id: str, token: str, fmt: str | None = None):
    query = f"conversation_id={conversation_id}" + (f"&format={fmt}" if fmt else "")
    return http.get(f"/api/chatbot/transcript?{query}", bearer(token))


def post(http, path: str, conversation_id: str, token: str):
    return http.post(path, {"conversation_id": conversation_id}, bearer(token))


def resume(http, session: dict[str, Any], token: str | None = None):
    return http.init(conversation_id=session["conversation_id"], token=token or session["token"])


@pytest.fixture
def realtime(http, make_root):
    """Every provider on, with recording fakes (after ``http``: the graph the app uses from here on)."""
    pusher, management = FakePusher(), FakeManagement()
    make_root(REALTIME_ENV, pusher=pusher, management=management)
    return pusher, management


# -- retention: ttl on every item ---------------------------------------------------------------


def test_every_item_of_a_conversation_expires_retention_after_its_last_activity(http, data):
    session = http.session()
    cid = session["conversation_id"]
    state = next(i for i in items_of(data, cid) if i["SK"] == STATE_SK)
    assert abs(state["ttl"] - (time.time() + 180 * DAY)) < SLACK, "a new conversation: now + 180 days (the default)"
    assert http.send(session, cmid="c-1").status_code == 201
    items = items_of(data, cid)
    kinds = {i["SK"].split("#")[0] for i in items}
    assert kinds == {"MSG", "CMID", STATE_SK}, kinds
    for item in items:
        assert "ttl" in item, f"{item['SK']} carries no ttl"
        if item["SK"] != STATE_SK:
            assert abs(item["ttl"] - (epoch(item["created_at"]) + 180 * DAY)) <= 1, (
                f"{item['SK']}: its own created_at + retention")
    state = next(i for i in items if i["SK"] == STATE_SK)
    assert state["ttl"] == max(i["ttl"] for i in items), "the conversation outlives every message of it"


def test_each_append_moves_the_conversations_ttl_forward(make_root, http, data):
    clock = [time.time()]
    make_root(clock=lambda: clock[0])
    session = http.session()
    http.send(session, cmid="c-1")
    first = next(i for i in items_of(data, session["conversation_id"]) if i["SK"] == STATE_SK)["ttl"]
    clock[0] += 10 * DAY
    http.send(session, cmid="c-2")
    items = items_of(data, session["conversation_id"])
    state = next(i for i in items if i["SK"] == STATE_SK)
    assert state["ttl"] - first == 10 * DAY, "a message ten days later keeps the conversation ten days longer"
    assert items_of(data, session["conversation_id"])[0]["ttl"] == first, "message 1 keeps its own ttl"


def test_a_sites_retention_days_sets_the_ttl_of_its_new_items(make_root, http, data):
    site = data.sites.get("demo")
    data.sites.put(site.changed(retention_days=7), previous_origins=site.origins)
    make_root()  # a new container: the site is read anew
    session = http.session()
    http.send(session, cmid="c-1")
    for item in items_of(data, session["conversation_id"]):
        assert abs(item["ttl"] - (time.time() + 7 * DAY)) < SLACK, item["SK"]


def test_connection_rows_keep_their_own_short_ttl(realtime, http, client, data):
    session = http.session()
    assert invoke(client, "ws_connect", ws_event("$connect", "conn1", session["token"]))["statusCode"] == 200
    conn = next(i for i in items_of(data, session["conversation_id"]) if i["SK"].startswith("CONN#"))
    assert conn["ttl"] - time.time() < 3 * 3600, "a connection row lives hours, not the retention"


def test_the_table_template_has_ttl_enabled_on_ttl(aws):
    import boto3

    from infra.table import create_table, table_properties

    assert table_properties()["TimeToLiveSpecification"] == {"AttributeName": "ttl", "Enabled": True}
    # moto's CloudFormation keeps no TTL setting; the local stack's table (infra/table.py) does.
    client = boto3.client("dynamodb")
    create_table(client, "parley-ttl-check")
    answer = client.describe_time_to_live(TableName="parley-ttl-check")["TimeToLiveDescription"]
    assert (answer["AttributeName"], answer["TimeToLiveStatus"]) == ("ttl", "ENABLED")


# -- expired items are ignored on every read path ---------------------------------------------------


def test_an_expired_conversation_is_not_found_on_every_visitor_route(http, data, realtime, client):
    session = http.session()
    http.send(session, cmid="c-1")
    cid, token = session["conversation_id"], session["token"]
    expire(data, cid, STATE_SK)
    assert err(http.poll(session)) == (404, "conversation_not_found")
    assert err(http.poll(session, "before=3")) == (404, "conversation_not_found")
    assert err(http.send(session, cmid="c-2")) == (404, "conversation_not_found")
    assert err(post(http, "/api/chatbot/handoff", cid, token)) == (404, "conversation_not_found")
    assert err(post(http, "/api/chatbot/typing", cid, token)) == (404, "conversation_not_found")
    assert err(transcript(http, cid, token)) == (404, "conversation_not_found")
    assert err(auth(http, session, f"socket_id=1.2&channel_name=private-chat.conversation.{cid}")) == (
        404, "conversation_not_found")
    resp = invoke(client, "ws_connect", ws_event("$connect", "conn1", token))
    assert resp["statusCode"] == 404 and data.connections.ids(cid) == []
    assert len([i for i in items_of(data, cid) if i["SK"].startswith("MSG#")]) == 2, "the late send stored nothing"
    assert data.messages.get_conversation(cid) is None


def test_resuming_an_expired_conversation_starts_a_new_one(http, data):
    session = http.session()
    expire(data, session["conversation_id"], STATE_SK)
    resp = resume(http, session)
    assert resp.status_code == 201, resp.body
    body = resp.json_body
    assert body["resumed"] is False and body["conversation_id"] != session["conversation_id"]
    assert body["messages"] == [] and tokens.verify(SECRET, body["token"]).conversation_id == body["conversation_id"]


def test_the_inbox_leaves_expired_conversations_out(http, data):
    kept, gone = http.session(), http.session()
    expire(data, gone["conversation_id"], STATE_SK)
    listed, _ = data.messages.inbox("demo", "bot", 25)
    assert [c.conversation_id for c in listed] == [kept["conversation_id"]]


def test_expired_messages_are_skipped_and_the_history_starts_after_them(http, data):
    session = http.session()
    for n in range(3):
        http.send(session, text=f"question {n}", cmid=f"c-{n}")  # seqs 1-6
    cid = session["conversation_id"]
    expire(data, cid, msg_sk(1))
    expire(data, cid, msg_sk(2))
    page = http.poll(session, "after=0").json_body
    assert [m["seq"] for m in page["messages"]] == [3, 4, 5, 6] and page["has_more"] is False, (
        "expired messages still stored are stepped over, not a gap to wait at")
    resumed = resume(http, session).json_body
    assert [m["seq"] for m in resumed["messages"]] == [3, 4, 5, 6]
    assert [m["seq"] for m in http.poll(resumed, "before=4", token=resumed["token"]).json_body["messages"]] == [3]
    text = transcript(http, cid, resumed["token"], "json").json_body
    assert [m["seq"] for m in text["messages"]] == [3, 4, 5, 6]


def test_history_that_dynamodb_deleted_is_a_gap_stepped_over_when_it_is_old(http, data):
    session = http.session()
    http.send(session, cmid="c-1")
    http.send(session, cmid="c-2")  # seqs 1-4
    cid = session["conversation_id"]
    # TTL deleted messages 1 and 2; message 3 is a day old, so no append of 1-2 can be in flight.
    for seq in (1, 2):
        data.table.client.delete_item(TableName=data.table.name, Key=data.table.key(conv_pk(cid), msg_sk(seq)))
    data.table.client.update_item(TableName=data.table.name, Key=data.table.key(conv_pk(cid), msg_sk(3)),
                                  UpdateExpression="SET created_at = :c",
                                  ExpressionAttributeValues=data.table.values(c="2020-01-01T00:00:00.000Z"))
    page = http.poll(session, "after=0").json_body
    assert [m["seq"] for m in page["messages"]] == [3, 4] and page["has_more"] is False


# -- revocation ---------------------------------------------------------------------------------------


def _route_call(name: str, http, client, session: dict[str, Any], token: str):
    """Calls one token-guarded route with ``token``; answers (status, error code or None)."""
    cid = session["conversation_id"]
    if name == "$connect":
        resp = invoke(client, "ws_connect", ws_event("$connect", "conn-" + token[-6:], token))
        body = json.loads(resp.get("body") or "{}")
        return resp["statusCode"], (body.get("error") or {}).get("code")
    resp = {
        "send": lambda: http.send(session, cmid="c-" + token[-6:], token=token),
        "messages": lambda: http.poll(session, "after=0", token=token),
        "messages_before": lambda: http.poll(session, "before=2", token=token),
        "pusher_auth": lambda: auth(http, session, f"socket_id=1.2&channel_name=private-chat.conversation.{cid}",
                                    token=token),
        "handoff": lambda: post(http, "/api/chatbot/handoff", cid, token),
        "typing": lambda: post(http, "/api/chatbot/typing", cid, token),
        "transcript": lambda: transcript(http, cid, token),
        "resume": lambda: resume(http, session, token),
        "delete": lambda: delete(http, cid, token),
    }[name]()
    body = resp.json_body if header(resp, "content-type").startswith("application/json") else {}
    return resp.status_code, ((body or {}).get("error") or {}).get("code")


ROUTES = ["send", "messages", "messages_before", "pusher_auth", "handoff", "typing", "transcript", "resume",
          "delete", "$connect"]


@pytest.mark.parametrize("route", ROUTES)
def test_a_resume_revokes_the_earlier_token_on_every_token_guarded_route(route, realtime, http, client):
    session = http.session()
    http.send(session, cmid="c-0")
    resumed = resume(http, session)
    assert resumed.status_code == 200
    new_token = resumed.json_body["token"]
    assert tokens.verify(SECRET, new_token).version == 1
    assert _route_call(route, http, client, session, session["token"]) == (401, "token_revoked")
    status, code = _route_call(route, http, client, session, new_token)
    assert status < 300 and code is None, f"the new token still opens {route}: {status} {code}"


def test_a_resume_with_a_stale_token_is_refused_and_starts_nothing(http, data):
    session = http.session()
    second = resume(http, session).json_body  # tab B resumes: tab A's token is stale
    resp = resume(http, session)  # tab A resumes with its stale token
    assert err(resp) == (401, "token_revoked"), "a stale token is refused, not given a new conversation"
    assert [c.conversation_id for c in data.messages.inbox("demo", "bot", 25)[0]] == [session["conversation_id"]]
    third = resume(http, session, second["token"]).json_body
    assert tokens.verify(SECRET, third["token"]).version == 2


def test_a_token_from_before_versions_counts_as_version_0(http):
    session = http.session()
    claims = tokens.verify(SECRET, session["token"])
    payload = {"c": claims.conversation_id, "s": claims.site_key, "e": claims.expires_at, "o": claims.origin}
    part = "v1." + base64.urlsafe_b64encode(json.dumps(payload).encode()).rstrip(b"=").decode()
    old = f"{part}.{tokens._sign(SECRET, part)}"
    assert tokens.verify(SECRET, old).version == 0
    assert http.send(session, cmid="c-1", token=old).status_code == 201, "it works until the next resume"
    assert resume(http, session, old).status_code == 200
    assert err(http.poll(session, token=old)) == (401, "token_revoked")


def test_a_send_checks_the_token_version_in_its_transaction_at_no_extra_call(http, data):
    session = http.session()
    http.send(session, cmid="c-0")
    seen: list[str] = []

    def on_call(event_name: str = "", **_: object) -> None:
        seen.append(event_name.rsplit(".", 1)[-1])

    data.table.client.meta.events.register("before-call.dynamodb", on_call)
    try:
        assert http.send(session, cmid="c-1").status_code == 201
        assert seen == ["TransactWriteItems", "TransactWriteItems"], seen
        seen.clear()
        assert post(http, "/api/chatbot/typing", session["conversation_id"], session["token"]).status_code == 202
        assert seen == ["GetItem"], "typing: one GetItem for the version"
    finally:
        data.table.client.meta.events.unregister("before-call.dynamodb", on_call)


# -- delete ------------------------------------------------------------------------------------------


def test_delete_removes_every_item_of_the_conversation_and_its_connections(realtime, http, client, data):
    pusher, _ = realtime
    session = http.session()
    cid = session["conversation_id"]
    http.send(session, cmid="c-1")
    post(http, "/api/chatbot/handoff", cid, session["token"])
    invoke(client, "ws_connect", ws_event("$connect", "conn1", session["token"]))
    other = http.session()
    assert {c.conversation_id for c in data.messages.inbox("demo", "pending", 25)[0]} == {cid}
    resp = delete(http, cid, session["token"])
    assert resp.status_code == 200 and resp.json_body == {"deleted": True, "conversation_id": cid}
    assert header(resp, "access-control-allow-origin") == ORIGIN
    assert items_of(data, cid) == [], "nothing under the conversation is left"
    assert data.connections.conversation_of("conn1") is None, "the connection's own row went too"
    assert data.messages.inbox("demo", "pending", 25)[0] == []
    assert [c.conversation_id for c in data.messages.inbox("demo", "bot", 25)[0]] == [other["conversation_id"]]
    assert ("private-agent.site.demo", "ConversationDeleted", {"conversation_id": cid, "site_key": "demo"},
            None) in pusher.triggered
    assert err(delete(http, cid, session["token"])) == (404, "conversation_not_found"), "gone: a repeat is 404"
    assert err(http.poll(session)) == (404, "conversation_not_found")


def test_delete_is_token_guarded(http, data):
    session, other = http.session(), http.session()
    cid = session["conversation_id"]
    assert err(delete(http, cid, None)) == (401, "missing_token")
    assert err(delete(http, cid, other["token"])) == (403, "conversation_mismatch")
    assert err(delete(http, cid, session["token"][:-2] + "xx")) == (401, "invalid_token")
    assert err(delete(http, None, session["token"])) == (400, "invalid_request")
    assert data.messages.get_conversation(cid) is not None


def test_a_delete_that_ran_out_of_time_is_finished_by_the_same_request(http, data, monkeypatch):
    session = http.session()
    cid = session["conversation_id"]
    http.send(session, cmid="c-1")
    monkeypatch.setattr(message_store, "DELETE_BUDGET_SECONDS", -1.0)
    resp = delete(http, cid, session["token"])
    assert resp.status_code == 202 and resp.json_body == {"deleted": False, "conversation_id": cid}
    assert err(http.poll(session)) == (404, "conversation_not_found"), "hidden from the first moment"
    assert data.messages.inbox("demo", "bot", 25)[0] == []
    monkeypatch.setattr(message_store, "DELETE_BUDGET_SECONDS", 10.0)
    assert delete(http, cid, session["token"]).status_code == 200
    assert items_of(data, cid) == []


def test_delete_and_transcript_answer_preflights_for_listed_origins(http):
    for path in ("conversation", "transcript"):
        resp = http.c.http.request("OPTIONS", f"/api/chatbot/{path}?site_key=demo",
                                   headers={"Origin": ORIGIN, "Access-Control-Request-Method": "DELETE"})
        assert resp.status_code == 204, path
        assert header(resp, "access-control-allow-origin") == ORIGIN
        assert "DELETE" in header(resp, "access-control-allow-methods")


# -- transcript --------------------------------------------------------------------------------------


def test_the_text_transcript_is_an_attachment_with_every_message_in_order(http):
    session = http.session()
    http.send(session, text="How much does it cost?\nAnd is there a trial?", cmid="c-1")
    http.send(session, text="Thanks", cmid="c-2")
    resp = transcript(http, session["conversation_id"], session["token"])
    assert resp.status_code == 200
    assert header(resp, "content-type") == "text/plain; charset=utf-8"
    assert header(resp, "content-disposition") == f'attachment; filename="parley-{session["conversation_id"]}.txt"'
    assert header(resp, "access-control-allow-origin") == ORIGIN
    assert "Content-Disposition" in header(resp, "access-control-expose-headers")
    text = resp.body.decode()
    lines = [line for line in text.splitlines() if line.startswith("[")]
    assert len(lines) == 4 and lines[0].endswith("You: How much does it cost?") and "Bot:" in lines[1]
    assert "\n    And is there a trial?\n" in text, "a message's further lines are indented"
    assert lines[2].endswith("You: Thanks")


def test_the_json_transcript_holds_the_messages_as_the_api_shows_them(http):
    session = http.session()
    sent = http.send(session, cmid="c-1").json_body
    resp = transcript(http, session["conversation_id"], session["token"], "json")
    assert resp.status_code == 200 and header(resp, "content-type").startswith("application/json")
    body = resp.json_body
    assert body["messages"] == [sent["message"], sent["reply"]]
    assert body["conversation_id"] == session["conversation_id"] and body["truncated"] is False
    assert body["site"] == "Parley demo" or body["site"] == "demo"


def test_a_transcript_is_paged_internally_and_bounded(http, data, monkeypatch):
    monkeypatch.setattr(message_store, "HISTORY_PAGE", 3)
    session = http.session()
    for n in range(4):
        http.send(session, text=f"question {n}", cmid=f"c-{n}")
    stored = [m["seq"] for m in stored_messages(data, session["conversation_id"])]
    assert len(stored) > 6, "more messages than two pages hold"
    body = transcript(http, session["conversation_id"], session["token"], "json").json_body
    assert [m["seq"] for m in body["messages"]] == stored and body["truncated"] is False
    from chalicelib import chat

    monkeypatch.setattr(chat, "MAX_TRANSCRIPT_MESSAGES", 5)
    body = transcript(http, session["conversation_id"], session["token"], "json").json_body
    assert [m["seq"] for m in body["messages"]] == [1, 2, 3, 4, 5] and body["truncated"] is True


@pytest.mark.parametrize("query,field", [("format=pdf", "format"), ("", "conversation_id"),
                                         ("conversation_id=bad id!", "conversation_id")])
def test_bad_transcript_queries_are_400_in_the_error_shape(http, query, field):
    session = http.session()
    resp = http.get(f"/api/chatbot/transcript?{query}" + ("&" if query else "")
                    + ("" if "conversation_id" in query or field == "conversation_id"
                       else f"conversation_id={session['conversation_id']}"), bearer(session["token"]))
    assert err(resp) == (400, "invalid_request")
    assert field in resp.json_body["error"]["message"]


def test_a_transcript_with_another_conversations_token_is_403(http):
    session, other = http.session(), http.session()
    assert err(transcript(http, session["conversation_id"], other["token"])) == (403, "conversation_mismatch")


# -- the site CLI ------------------------------------------------------------------------------------


def run(capsys, *argv: str) -> tuple[int, Any, str]:
    code = sites_cli.main(list(argv))
    out, err_ = capsys.readouterr()
    return code, (json.loads(out) if out.strip().startswith(("{", "[")) and "\n{" not in out.strip() else out), err_


def test_the_cli_sets_and_validates_retention_days(data, capsys):
    code, created, _ = run(capsys, "create", "acme", "--origin", "https://acme.example", "--retention-days", "30")
    assert code == 0 and created["retention_days"] == 30
    assert data.sites.get("acme").retention_days == 30
    code, shown, _ = run(capsys, "show", "demo")
    assert shown["retention_days"] == 180, "the default"
    code, _, _ = run(capsys, "update", "acme", "--retention-days", "3650")
    assert code == 0 and data.sites.get("acme").retention_days == 3650
    for bad in ("0", "3651", "abc", "-5", "1.5"):
        code, _, message = run(capsys, "update", "acme", "--retention-days", bad)
        assert code == 2 and "retention-days" in message, bad
    assert data.sites.get("acme").retention_days == 3650


def test_the_cli_deletes_a_visitors_conversation(http, data, capsys):
    session = http.session()
    cid = session["conversation_id"]
    http.send(session, cmid="c-1")
    code, _, message = run(capsys, "delete-conversation", "other", cid)
    assert code == 2 and "no conversation" in message, "another site's conversation is not found"
    code, out, _ = run(capsys, "delete-conversation", "demo", cid)
    assert code == 0 and out["deleted"] is True and out["items_deleted"] == 5  # 2 messages, 2 CMIDs, STATE
    assert items_of(data, cid) == []
    assert err(http.poll(session)) == (404, "conversation_not_found")
    code, _, message = run(capsys, "delete-conversation", "demo", cid)
    assert code == 2


def test_the_cli_exports_every_live_conversation_of_a_site_with_its_messages(http, data, capsys, tmp_path):
    first, second, gone = http.session(), http.session(), http.session()
    http.send(first, cmid="c-1")
    post(http, "/api/chatbot/handoff", second["conversation_id"], second["token"])  # pending
    expire(data, gone["conversation_id"], STATE_SK)
    data.sites.put(Site("acme", ("https://acme.example",), bot={"engine": "knowledge", "knowledge": KNOWLEDGE}),
                   create=True)
    out = tmp_path / "demo.jsonl"
    code, summary, _ = run(capsys, "export", "demo", "--out", str(out))
    assert code == 0 and summary == {"site_key": "demo", "conversations": 2, "messages": 3, "out": str(out)}
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    by_id = {line["conversation"]["conversation_id"]: line for line in lines}
    assert set(by_id) == {first["conversation_id"], second["conversation_id"]}
    assert [m["seq"] for m in by_id[first["conversation_id"]]["messages"]] == [1, 2]
    assert by_id[second["conversation_id"]]["conversation"]["status"] == "pending"
    code, _, _ = run(capsys, "export", "demo")  # to standard output: the same lines
    assert code == 0
