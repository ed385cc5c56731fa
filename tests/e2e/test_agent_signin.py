"""The agent side of the `make dev` stack: the demo agent signs in to the local Cognito pool
(moto, on the DynamoDB stand-in's server), and the console is served with its config.json.
"""
from __future__ import annotations

import json

import boto3
import jwt
import pytest
import requests
from botocore import UNSIGNED
from botocore.config import Config

from .conftest import ROOT, LocalStack

TARGET = "AWSCognitoIdentityProviderService.InitiateAuth"


def cognito(stack: LocalStack):
    """An unsigned cognito-idp client, as the console's browser code is: InitiateAuth needs no credentials."""
    return boto3.client("cognito-idp", endpoint_url=stack.cognito_endpoint, region_name=stack.cognito_region,
                        config=Config(signature_version=UNSIGNED, retries={"max_attempts": 1},
                                      connect_timeout=5, read_timeout=10))


def sign_in(stack: LocalStack) -> dict:
    answer = cognito(stack).initiate_auth(
        AuthFlow="USER_PASSWORD_AUTH", ClientId=stack.cognito_client_id,
        AuthParameters={"USERNAME": stack.agent_email, "PASSWORD": stack.agent_password})
    return answer["AuthenticationResult"]


@pytest.fixture(scope="module")
def tokens(stack: LocalStack) -> dict:
    return sign_in(stack)


def test_the_stack_names_its_pool_and_app_client(stack):
    assert stack.cognito_endpoint.startswith("http://127.0.0.1:") and stack.cognito_endpoint.endswith("/")
    assert stack.cognito_endpoint == stack.dynamodb + "/", "the DynamoDB stand-in's moto server is the pool"
    assert stack.cognito_pool_id.startswith(f"{stack.cognito_region}_") and stack.cognito_client_id


def test_the_demo_agent_signs_in_and_the_id_token_verifies_against_the_pools_jwks(stack, tokens):
    jwks = requests.get(f"{stack.cognito_endpoint}{stack.cognito_pool_id}/.well-known/jwks.json", timeout=10)
    assert jwks.status_code == 200, jwks.text
    keys = {k["kid"]: k for k in jwks.json()["keys"]}
    kid = jwt.get_unverified_header(tokens["IdToken"])["kid"]
    assert kid in keys, "the ID token is signed by a key the pool publishes"
    key = jwt.PyJWK(keys[kid], algorithm="RS256").key
    claims = jwt.decode(tokens["IdToken"], key, algorithms=["RS256"], audience=stack.cognito_client_id,
                        issuer=stack.cognito_issuer)
    assert claims["iss"] == f"https://cognito-idp.us-east-1.amazonaws.com/{stack.cognito_pool_id}"
    assert claims["aud"] == stack.cognito_client_id
    assert claims["token_use"] == "id"
    assert claims["email"] == stack.agent_email and claims["sub"]


def test_a_wrong_password_is_refused(stack):
    idp = cognito(stack)
    with pytest.raises(idp.exceptions.NotAuthorizedException):
        idp.initiate_auth(AuthFlow="USER_PASSWORD_AUTH", ClientId=stack.cognito_client_id,
                          AuthParameters={"USERNAME": stack.agent_email, "PASSWORD": "not-the-password"})


def test_the_refresh_token_gets_a_new_id_token(stack, tokens):
    fresh = cognito(stack).initiate_auth(AuthFlow="REFRESH_TOKEN_AUTH", ClientId=stack.cognito_client_id,
                                         AuthParameters={"REFRESH_TOKEN": tokens["RefreshToken"]})
    claims = jwt.decode(fresh["AuthenticationResult"]["IdToken"], options={"verify_signature": False})
    assert claims["token_use"] == "id" and claims["aud"] == stack.cognito_client_id


def test_a_browser_on_the_console_origin_may_call_cognito(stack):
    """The console calls InitiateAuth from the browser: the preflight names X-Amz-Target."""
    pre = requests.options(stack.cognito_endpoint, timeout=10, headers={
        "Origin": stack.console_origin, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type,x-amz-target,x-amz-user-agent"})
    assert pre.status_code in (200, 204), pre.text
    assert pre.headers.get("Access-Control-Allow-Origin") in (stack.console_origin, "*")
    assert "x-amz-target" in pre.headers.get("Access-Control-Allow-Headers", "").lower()
    assert "POST" in pre.headers.get("Access-Control-Allow-Methods", "")
    body = {"AuthFlow": "USER_PASSWORD_AUTH", "ClientId": stack.cognito_client_id,
            "AuthParameters": {"USERNAME": stack.agent_email, "PASSWORD": stack.agent_password}}
    r = requests.post(stack.cognito_endpoint, data=json.dumps(body), timeout=10, headers={
        "Origin": stack.console_origin, "Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": TARGET})
    assert r.status_code == 200, r.text
    assert r.headers.get("Access-Control-Allow-Origin") in (stack.console_origin, "*")
    assert "IdToken" in r.json()["AuthenticationResult"]


def test_the_console_serves_its_config_for_this_stack(stack):
    r = requests.get(f"{stack.console}config.json", timeout=10)
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("application/json")
    assert r.json() == {"api": stack.api, "cognito": {"endpoint": stack.cognito_endpoint, "region": "us-east-1",
                                                       "client_id": stack.cognito_client_id}}


def test_the_console_serves_its_index_page(stack):
    if not (ROOT / "console" / "package.json").is_file():
        pytest.skip("console/ is not in the tree yet")
    r = requests.get(stack.console, timeout=10)
    assert r.status_code == 200, f"console/dist should be built by `make setup`: {r.status_code} {r.text[:200]}"
    assert r.headers["Content-Type"].startswith("text/html") and "<html" in r.text.lower()
    assert requests.get(f"{stack.console}index.html", timeout=10).text == r.text


def test_the_demo_agent_is_an_admin_of_the_demo_site(stack, tokens):
    r = requests.get(f"{stack.api}/api/agent/me", timeout=10, headers={
        "Authorization": f"Bearer {tokens['IdToken']}", "Origin": stack.console_origin})
    assert r.status_code == 200, r.text
    assert r.headers.get("Access-Control-Allow-Origin") == stack.console_origin
    body = r.json()
    assert body["agent"]["email"] == stack.agent_email and body["agent"]["name"] == stack.agent_name
    assert [(s["site_key"], s["role"]) for s in body["sites"]] == [("demo", "admin")]


def test_the_in_process_stack_serves_the_console_on_a_free_port_with_its_own_pool(live):
    """Stack(Ports(...)) without a console port (the fault tests, the benchmarks) picks a free one."""
    stack_object, local = live
    assert stack_object.ports.console == 0 and stack_object.console_port > 0
    assert stack_object.env["PARLEY_CONSOLE_ORIGINS"].split(",")[-2:] == [
        local.console_origin, f"http://localhost:{stack_object.console_port}"]
    assert stack_object.env["PARLEY_COGNITO_JWKS_URL"] == (
        f"{local.cognito_endpoint}{local.cognito_pool_id}/.well-known/jwks.json")
    config = requests.get(f"{local.console}config.json", timeout=10).json()
    assert config["cognito"]["client_id"] == local.cognito_client_id and config["api"] == local.api
    assert sign_in(local)["IdToken"]


# -- the agent flow on the stack: handoff in the feed, reply, resolve; concurrent claims ----------


def _visitor(stack: LocalStack) -> dict:
    r = requests.post(f"{stack.api}/api/chatbot/init", json={"site_key": "demo"},
                      headers={"Origin": stack.demo_origin}, timeout=30)
    assert r.status_code == 201, r.text
    return r.json()


def _handoff(stack: LocalStack, session: dict) -> None:
    r = requests.post(f"{stack.api}/api/chatbot/handoff", json={"conversation_id": session["conversation_id"]},
                      headers={"Authorization": f"Bearer {session['token']}", "Origin": stack.demo_origin},
                      timeout=30)
    assert r.status_code == 200 and r.json()["status"] == "pending", r.text


def _agent(stack: LocalStack, tokens: dict, method: str, path: str, body: dict | None = None):
    return requests.request(method, f"{stack.api}/api/agent{path}", json=body, timeout=30,
                            headers={"Authorization": f"Bearer {tokens['IdToken']}", "Origin": stack.console_origin})


def test_a_signed_in_agent_gets_a_handoff_in_the_inbox_feed_replies_and_resolves(stack, tokens):
    import asyncio

    import aiohttp

    async def run() -> tuple[list[dict], dict]:
        url = f"{stack.websocket}?agent_token={tokens['IdToken']}&site_key=demo"
        async with aiohttp.ClientSession() as http:
            async with http.ws_connect(url, headers={"Origin": stack.console_origin}) as ws:
                session = await asyncio.to_thread(_visitor, stack)
                await asyncio.to_thread(_handoff, stack, session)
                seen: list[dict] = []
                async with asyncio.timeout(15):
                    while not any(f["event"] == "ChatMessageReceived" and (f["data"].get("event") or {}).get(
                            "status") == "pending" and f["data"]["conversation_id"] == session["conversation_id"]
                            for f in seen):
                        seen.append(json.loads((await ws.receive()).data))
                return seen, session

    frames, session = asyncio.run(run())
    cid = session["conversation_id"]
    inbox = _agent(stack, tokens, "GET", "/sites/demo/inbox?status=pending&limit=50").json()
    assert cid in [c["conversation_id"] for c in inbox["conversations"]]
    reply = _agent(stack, tokens, "POST", f"/sites/demo/conversations/{cid}/messages",
                   {"text": "Hello from the team", "client_message_id": "e2e-1"})
    assert reply.status_code == 201 and reply.json()["message"]["sender"] == "agent", reply.text
    resolved = _agent(stack, tokens, "POST", f"/sites/demo/conversations/{cid}/resolve")
    assert resolved.status_code == 200 and resolved.json()["conversation"]["status"] == "resolved"
    polled = requests.get(f"{stack.api}/api/chatbot/messages?conversation_id={cid}&after=0", timeout=30,
                          headers={"Authorization": f"Bearer {session['token']}", "Origin": stack.demo_origin}).json()
    assert [(m["sender"], (m.get("event") or {}).get("status")) for m in polled["messages"]] == [
        ("system", "pending"), ("system", "open"), ("agent", None), ("system", "resolved")]


def _second_agent(stack: LocalStack) -> dict:
    """Bo, invited to demo with the site CLI (as a team would), signed in."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "PARLEY_TABLE": "parley-local", "PARLEY_COGNITO_POOL_ID": stack.cognito_pool_id,
           "AWS_ENDPOINT_URL_DYNAMODB": stack.dynamodb, "AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER": stack.dynamodb,
           "AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local", "AWS_DEFAULT_REGION": stack.cognito_region}
    done = subprocess.run([sys.executable, "-m", "infra.sites", "invite", "demo", "--email", "bo@example.com",
                           "--name", "Bo", "--password", "parley-bo-123"], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    answer = cognito(stack).initiate_auth(AuthFlow="USER_PASSWORD_AUTH", ClientId=stack.cognito_client_id,
                                          AuthParameters={"USERNAME": "bo@example.com", "PASSWORD": "parley-bo-123"})
    return answer["AuthenticationResult"]


def test_two_agents_claiming_at_once_make_exactly_one_owner(stack, tokens):
    """The demo agent and Bo (invited with the site CLI) race for the same conversations."""
    from concurrent.futures import ThreadPoolExecutor

    bo = _second_agent(stack)
    for _ in range(6):
        session = _visitor(stack)
        _handoff(stack, session)
        cid = session["conversation_id"]
        with ThreadPoolExecutor(2) as pool:
            answers = list(pool.map(lambda who: _agent(stack, who, "POST", f"/sites/demo/conversations/{cid}/claim"),
                                    [tokens, bo]))
        codes = sorted(a.status_code for a in answers)
        assert codes == [200, 409], [a.text for a in answers]
        loser = next(a for a in answers if a.status_code == 409)
        assert loser.json()["error"]["code"] == "already_claimed"
        polled = requests.get(f"{stack.api}/api/chatbot/messages?conversation_id={cid}&after=0", timeout=30,
                              headers={"Authorization": f"Bearer {session['token']}"}).json()
        joined = [m for m in polled["messages"] if m["text"].endswith("joined the conversation")]
        assert len(joined) == 1, "exactly one owner, one system message"
        winner = next(a for a in answers if a.status_code == 200).json()["conversation"]["assignee"]
        assert joined[0]["event"]["assignee"] == winner
