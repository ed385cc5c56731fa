"""The `make dev` stack over real HTTP: the contract as a browser or curl sees it."""
from __future__ import annotations

import uuid

import pytest
import requests

from .conftest import LocalStack


def start(stack: LocalStack, s: requests.Session) -> dict:
    r = s.post(f"{stack.api}/api/chatbot/init", json={"site_key": "demo"},
               headers={"Origin": stack.demo_origin}, timeout=10)
    assert r.status_code == 201, f"init should answer 201, got {r.status_code}: {r.text}"
    return r.json()


def test_the_demo_page_embeds_the_widget_pointed_at_the_running_api(stack):
    r = requests.get(f"{stack.demo}/", timeout=10)
    assert r.status_code == 200
    assert f'<script src="/parley.js" data-site-key="demo" data-api="{stack.api}"' in r.text, \
        "the demo page must embed the widget with the API it was started with"
    bundle = requests.get(f"{stack.demo}/parley.js", timeout=10)
    assert bundle.status_code == 200 and bundle.headers["Content-Type"].startswith("text/javascript")


def test_config_answers_the_demo_origin_with_cors_and_no_secret(stack):
    r = requests.get(f"{stack.api}/api/chatbot/config", params={"site_key": "demo"},
                     headers={"Origin": stack.demo_origin}, timeout=10)
    assert r.status_code == 200, r.text
    assert r.headers.get("Access-Control-Allow-Origin") == stack.demo_origin
    realtime = r.json()["realtime"]
    assert realtime["providers"] == ["pusher", "websocket", "polling"]
    assert (realtime["pusher"]["key"], realtime["pusher"]["host"], realtime["pusher"]["port"],
            realtime["pusher"]["use_tls"]) == (stack.pusher_key, "127.0.0.1", stack.pusher_port, False)
    assert realtime["websocket"]["url"] == stack.websocket
    for secret in (stack.token_secret, stack.pusher_secret):
        assert secret not in r.text, "no secret may leave the server"


def test_a_preflight_from_the_demo_origin_is_allowed_and_from_another_refused(stack):
    ok = requests.options(f"{stack.api}/api/chatbot/send?site_key=demo", timeout=10, headers={
        "Origin": stack.demo_origin, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type"})
    assert ok.status_code == 204 and ok.headers["Access-Control-Allow-Origin"] == stack.demo_origin
    assert "authorization" in ok.headers["Access-Control-Allow-Headers"].lower()
    bad = requests.options(f"{stack.api}/api/chatbot/send?site_key=demo", timeout=10,
                           headers={"Origin": "https://attacker.example",
                                    "Access-Control-Request-Method": "POST"})
    assert bad.status_code == 403 and "Access-Control-Allow-Origin" not in bad.headers
    assert bad.json()["error"]["code"] == "origin_not_allowed"


def test_init_send_and_poll_over_real_http(stack):
    s = requests.Session()
    session = start(stack, s)
    auth = {"Authorization": f"Bearer {session['token']}", "Origin": stack.demo_origin}
    sent = s.post(f"{stack.api}/api/chatbot/send", headers=auth, timeout=10, json={
        "conversation_id": session["conversation_id"], "text": "How much does it cost?",
        "client_message_id": str(uuid.uuid4())})
    assert sent.status_code == 201, sent.text
    assert [sent.json()["message"]["seq"], sent.json()["reply"]["seq"]] == [1, 2]
    polled = s.get(f"{stack.api}/api/chatbot/messages", headers=auth, timeout=10,
                   params={"conversation_id": session["conversation_id"], "after": 1})
    assert polled.status_code == 200
    assert [m["sender"] for m in polled.json()["messages"]] == ["bot"]
    assert polled.json()["last_seq"] == 2
    resumed = s.post(f"{stack.api}/api/chatbot/init", timeout=10, headers={"Origin": stack.demo_origin},
                     json={"site_key": "demo", "conversation_id": session["conversation_id"],
                           "token": session["token"]})
    assert resumed.status_code == 200 and [m["seq"] for m in resumed.json()["messages"]] == [1, 2]


def test_errors_over_real_http_are_json_in_the_documented_shape(stack):
    cases = [
        requests.get(f"{stack.api}/no/such/route", timeout=10),
        requests.get(f"{stack.api}/api/chatbot/send", timeout=10),
        requests.post(f"{stack.api}/api/chatbot/init", data="{not json", timeout=10,
                      headers={"Content-Type": "application/json"}),
        requests.get(f"{stack.api}/api/chatbot/messages?conversation_id=x&after=-1", timeout=10),
    ]
    statuses = [r.status_code for r in cases]
    assert statuses == [404, 405, 400, 401], f"expected 404/405/400/401, got {statuses}"
    for r in cases:
        assert r.headers["Content-Type"].startswith("application/json")
        error = r.json()["error"]
        assert set(error) == {"code", "message"} and error["code"] and error["message"]


@pytest.mark.parametrize("path", ["/a/b/c/d/e/f/g", "/api/chatbot/send/x/y/z/1/2/3/4/5", "/" + "/".join("x" * 12)])
@pytest.mark.parametrize("auth", [None, "Bearer something"])
def test_an_unknown_path_of_any_depth_is_our_json_404(stack, path, auth):
    headers = {"Authorization": auth} if auth else {}
    r = requests.get(f"{stack.api}{path}", headers=headers, timeout=10)
    assert r.status_code == 404 and r.headers["Content-Type"].startswith("application/json"), (r.status_code, r.text)
    assert r.json() == {"error": {"code": "route_not_found", "message": f"No route GET {path}."}}
