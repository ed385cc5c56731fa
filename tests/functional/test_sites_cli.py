"""The site registry CLI (python -m infra.sites) on a moto table."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from infra import sites

KNOWLEDGE = str(Path(__file__).resolve().parents[2] / "infra/local/demo-knowledge.json")


def run(capsys, *argv: str) -> tuple[int, object, str]:
    code = sites.main(list(argv))
    out, err = capsys.readouterr()
    return code, (json.loads(out) if out.strip() else None), err


def test_create_list_show_and_update_a_site(data, capsys):
    code, created, _ = run(capsys, "create", "acme", "--origin", "https://www.acme.example/",
                           "--origin", "HTTPS://Shop.Acme.Example", "--knowledge", KNOWLEDGE,
                           "--title", "Acme help")
    assert code == 0
    assert created["origins"] == ["https://shop.acme.example", "https://www.acme.example"], \
        "origins are normalized (lower case, no trailing slash) and sorted"
    assert created["knowledge_entries"] > 0 and created["widget"] == {"title": "Acme help"}
    code, listed, _ = run(capsys, "list")
    assert code == 0 and {s["site_key"] for s in listed} >= {"demo", "other", "acme"}
    code, _, _ = run(capsys, "update", "acme", "--add-origin", "http://localhost:3000",
                     "--remove-origin", "https://shop.acme.example", "--greeting", "Hello!")
    assert code == 0
    code, shown, _ = run(capsys, "show", "acme")
    assert shown["origins"] == ["http://localhost:3000", "https://www.acme.example"]
    assert shown["widget"] == {"title": "Acme help", "greeting": "Hello!"}
    # The origin index follows the site: the removed origin no longer passes a preflight.
    assert data.sites.origin_is_listed("http://localhost:3000")
    assert not data.sites.origin_is_listed("https://shop.acme.example")


def test_the_cli_site_is_served_by_the_api(data, http, capsys):
    run(capsys, "create", "acme", "--origin", "https://www.acme.example", "--knowledge", KNOWLEDGE)
    resp = http.init("acme", origin="https://www.acme.example")
    assert resp.status_code == 201, resp.body


@pytest.mark.parametrize("argv,needle", [
    (["create", "demo", "--origin", "https://x.example"], "exists"),
    (["create", "bad key!", "--origin", "https://x.example"], "site key"),
    (["create", "acme", "--origin", "https://x.example/path"], "not an origin"),
    (["create", "acme", "--origin", "ftp://x.example"], "not an origin"),
    (["create", "acme", "--origin", "https://x.example", "--knowledge", "/no/such/file.json"], "cannot read"),
    (["update", "nope", "--add-origin", "https://x.example"], "no site"),
    (["update", "demo", "--remove-origin", "http://127.0.0.1:8080", "--remove-origin", "http://localhost:8080"],
     "1 to"),
    (["show", "nope"], "no site"),
])
def test_bad_cli_input_is_refused_with_a_message_and_changes_nothing(data, capsys, argv, needle):
    before = data.sites.list()
    code, out, err = run(capsys, *argv)
    assert code == 2 and out is None, f"expected exit 2 and no output, got {code} {out}"
    assert needle in err, f"expected {needle!r} in the error, got {err!r}"
    assert data.sites.list() == before, "a refused command must not change any site"


def test_a_knowledge_file_with_a_broken_entry_is_refused(data, capsys, tmp_path):
    bad = tmp_path / "kb.json"
    bad.write_text(json.dumps({"entries": [{"id": "x", "questions": ["q?"]}]}))
    code, _, err = run(capsys, "create", "acme", "--origin", "https://x.example", "--knowledge", str(bad))
    assert code == 2 and "answer" in err
    assert data.sites.get("acme") is None


def test_a_site_switches_to_the_bedrock_engine_with_its_settings_file(data, capsys, tmp_path):
    settings = tmp_path / "bedrock.json"
    settings.write_text(json.dumps({"model_id": "anthropic.claude-3-haiku-20240307-v1:0", "temperature": 0.2,
                                    "max_tokens": 300, "daily_calls": 50, "daily_tokens": 20000}))
    assert run(capsys, "create", "acme", "--origin", "https://x.example", "--knowledge", KNOWLEDGE)[0] == 0
    code, out, err = run(capsys, "update", "acme", "--engine", "bedrock", "--bedrock", str(settings))
    assert code == 0, err
    bot = data.sites.get("acme").bot
    assert bot["engine"] == "bedrock" and bot["bedrock"]["daily_calls"] == 50
    assert bot["knowledge"]["entries"], "switching engines keeps the knowledge it retrieves from"


@pytest.mark.parametrize("settings, needle", [
    ({"temperature": 0.2}, "model_id"),
    ({"model_id": "m", "temperature": 7}, "temperature"),
    ({"model_id": "m", "guardrail_id": "g"}, "guardrail"),
    ({"model_id": "m", "colour": "red"}, "colour"),
])
def test_bad_bedrock_settings_are_refused_and_change_nothing(data, capsys, tmp_path, settings, needle):
    path = tmp_path / "bedrock.json"
    path.write_text(json.dumps(settings))
    assert run(capsys, "create", "acme", "--origin", "https://x.example", "--knowledge", KNOWLEDGE)[0] == 0
    before = data.sites.get("acme")
    code, _, err = run(capsys, "update", "acme", "--engine", "bedrock", "--bedrock", str(path))
    assert code == 2 and needle in err, f"expected exit 2 naming {needle!r}, got {code} {err!r}"
    assert data.sites.get("acme") == before


def test_the_bedrock_engine_without_its_settings_is_refused(data, capsys):
    code, _, err = run(capsys, "create", "acme", "--origin", "https://x.example", "--engine", "bedrock")
    assert code == 2 and "bedrock" in err
    assert data.sites.get("acme") is None


# --- agents: invite, members, remove-member (Cognito on moto, in process) ---

LENIENT = {"MinimumLength": 8, "RequireUppercase": False, "RequireLowercase": False,
           "RequireNumbers": False, "RequireSymbols": False}


@pytest.fixture
def pool(data, monkeypatch) -> str:
    """A user pool like the console's (email as the user name); PARLEY_COGNITO_POOL_ID names it."""
    import boto3

    # A developer's shell may point boto3 at a running `make dev`; these tests bring moto.
    monkeypatch.delenv("AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER", raising=False)
    idp = boto3.client("cognito-idp", region_name="us-east-1")
    pool_id = idp.create_user_pool(PoolName="agents", UsernameAttributes=["email"],
                                   Policies={"PasswordPolicy": LENIENT})["UserPool"]["Id"]
    monkeypatch.setenv("PARLEY_COGNITO_POOL_ID", pool_id)
    return pool_id


def cognito_user(pool_id: str, email: str) -> dict | None:
    import boto3

    users = boto3.client("cognito-idp", region_name="us-east-1").list_users(
        UserPoolId=pool_id, Filter=f'email = "{email}"')["Users"]
    if not users:
        return None
    return {**users[0], "attrs": {a["Name"]: a["Value"] for a in users[0]["Attributes"]}}


def sign_in(pool_id: str, email: str, password: str) -> dict:
    import boto3

    idp = boto3.client("cognito-idp", region_name="us-east-1")
    client_id = idp.create_user_pool_client(UserPoolId=pool_id, ClientName="console", GenerateSecret=False,
                                            ExplicitAuthFlows=["ALLOW_USER_PASSWORD_AUTH"])["UserPoolClient"]["ClientId"]
    return idp.initiate_auth(AuthFlow="USER_PASSWORD_AUTH", ClientId=client_id,
                             AuthParameters={"USERNAME": email, "PASSWORD": password})


def test_invite_with_a_password_creates_a_user_who_can_sign_in_and_a_membership(data, pool, capsys):
    code, out, err = run(capsys, "invite", "demo", "--email", "Ana@Example.com", "--name", "Ana",
                         "--role", "admin", "--password", "ana-secret-1")
    assert code == 0, err
    user = cognito_user(pool, "ana@example.com")
    assert user is not None, "the Cognito user is created, with the email lower-cased"
    assert user["UserStatus"] == "CONFIRMED", "a --password is permanent: no change is forced at sign-in"
    assert user["attrs"]["name"] == "Ana"
    sub = user["attrs"]["sub"]
    assert out["member"] == {"id": sub, "name": "Ana", "email": "ana@example.com", "role": "admin"}
    assert out["user_created"] is True and out["was_member"] is False
    membership = data.agents.membership(sub, "demo")
    assert (membership.role, membership.name, membership.email) == ("admin", "Ana", "ana@example.com")
    assert [m.site_key for m in data.agents.sites_of(sub)] == ["demo"]
    assert "IdToken" in sign_in(pool, "ana@example.com", "ana-secret-1")["AuthenticationResult"]


def test_invite_without_a_password_leaves_cognito_to_send_the_invitation(data, pool, capsys):
    code, out, err = run(capsys, "invite", "demo", "--email", "bo@example.com")
    assert code == 0, err
    user = cognito_user(pool, "bo@example.com")
    assert user["UserStatus"] == "FORCE_CHANGE_PASSWORD", "a temporary password, from Cognito's own email"
    assert out["member"]["role"] == "agent", "the default role is agent"
    assert any("invitation" in note for note in out["notes"])
    assert data.agents.membership(user["attrs"]["sub"], "demo").role == "agent"


def test_inviting_an_existing_user_adds_them_to_another_site_without_a_second_user(data, pool, capsys):
    assert run(capsys, "invite", "demo", "--email", "ana@example.com", "--name", "Ana",
               "--password", "ana-secret-1")[0] == 0
    code, out, err = run(capsys, "invite", "other", "--email", "ANA@example.com", "--password", "other-pass-2")
    assert code == 0, err
    assert out["user_created"] is False and out["member"]["name"] == "Ana", \
        "the name comes from the Cognito user when none is given"
    assert any("unchanged" in note for note in out["notes"])
    sub = cognito_user(pool, "ana@example.com")["attrs"]["sub"]
    assert sorted(m.site_key for m in data.agents.sites_of(sub)) == ["demo", "other"]
    assert "IdToken" in sign_in(pool, "ana@example.com", "ana-secret-1")["AuthenticationResult"], \
        "an existing user's password is left alone"
    # Inviting again to the same site changes the role, and keeps the name.
    code, out, _ = run(capsys, "invite", "demo", "--email", "ana@example.com", "--role", "admin")
    assert code == 0 and out["was_member"] is True
    assert data.agents.membership(sub, "demo").role == "admin" and out["member"]["name"] == "Ana"


def test_members_lists_and_remove_member_takes_off_by_email_or_id(data, pool, capsys):
    run(capsys, "invite", "demo", "--email", "ana@example.com", "--name", "Ana", "--password", "ana-secret-1")
    run(capsys, "invite", "demo", "--email", "bo@example.com", "--role", "admin", "--password", "bo-secret-12")
    run(capsys, "invite", "other", "--email", "bo@example.com")
    code, listed, _ = run(capsys, "members", "demo")
    assert code == 0
    assert [(m["email"], m["role"]) for m in listed["members"]] == [("ana@example.com", "agent"),
                                                                   ("bo@example.com", "admin")]
    bo = listed["members"][1]["id"]
    code, out, _ = run(capsys, "remove-member", "demo", "ANA@example.com")
    assert code == 0 and out["removed"]["email"] == "ana@example.com"
    code, out, _ = run(capsys, "remove-member", "demo", bo)
    assert code == 0 and out["removed"]["id"] == bo
    assert run(capsys, "members", "demo")[1]["members"] == []
    assert [m.site_key for m in data.agents.sites_of(bo)] == ["other"], "other sites keep the agent"
    assert cognito_user(pool, "ana@example.com") is not None, "the Cognito user stays"


@pytest.mark.parametrize("argv,needle", [
    (["invite", "nope", "--email", "ana@example.com"], "no site"),
    (["invite", "demo", "--email", "not-an-email"], "not an email"),
    (["invite", "demo", "--email", "ana@example.com", "--role", "owner"], "role must be"),
    (["invite", "demo", "--email", "ana@example.com", "--password", "short"], "Cognito refused"),
    (["invite", "demo", "--email", "ana@example.com", "--pool", "us-east-1_doesnotexist"], "no Cognito user pool"),
    (["invite", "demo", "--email", "ana@example.com", "--pool", "not a pool"], "not a Cognito user pool id"),
    (["members", "nope"], "no site"),
    (["remove-member", "demo", "nobody@example.com"], "not a member"),
    (["remove-member", "nope", "nobody@example.com"], "no site"),
])
def test_bad_agent_commands_are_refused_with_a_message(data, pool, capsys, argv, needle):
    code, out, err = run(capsys, *argv)
    assert code == 2 and out is None, f"expected exit 2 and no output, got {code} {out}"
    assert needle in err, f"expected {needle!r} in the error, got {err!r}"
    assert data.agents.members_of("demo") == []
    assert cognito_user(pool, "ana@example.com") is None, \
        "a refused invite leaves no Cognito user (a refused password included)"


def test_invite_without_a_pool_says_which_setting_is_missing(data, capsys, monkeypatch):
    monkeypatch.delenv("PARLEY_COGNITO_POOL_ID", raising=False)
    code, out, err = run(capsys, "invite", "demo", "--email", "ana@example.com")
    assert code == 2 and out is None
    assert "PARLEY_COGNITO_POOL_ID" in err and "--pool" in err


# --- webhooks: webhook-add, webhook-list, webhook-remove, webhook-log ---

def stored_webhooks(data, site_key: str = "demo") -> list:
    from chalicelib.data.webhooks import WebhookStore

    return WebhookStore(data.table).webhooks(site_key)


def test_webhook_add_prints_the_secret_once_and_list_log_remove_follow(data, capsys, monkeypatch):
    monkeypatch.setenv("PARLEY_WEBHOOK_ALLOW_LOOPBACK", "true")
    code, out, err = run(capsys, "webhook-add", "demo", "http://127.0.0.1:9/hook", "--event", "message.created",
                         "--event", "conversation.handoff")
    assert code == 0, err
    hook, secret = out["webhook"], out["secret"]
    assert secret.startswith("whsec_") and hook["id"].startswith("wh_")
    assert hook["events"] == ["conversation.handoff", "message.created"]
    (stored,) = stored_webhooks(data)
    assert (stored.id, stored.url, stored.secret) == (hook["id"], "http://127.0.0.1:9/hook", secret)
    code, out, _ = run(capsys, "webhook-add", "demo", "https://93.184.216.34/parley")
    assert code == 0 and out["webhook"]["events"] == ["conversation.created", "conversation.handoff",
                                                      "conversation.resolved", "message.created"], \
        "without --event, every event"
    code, listed, _ = run(capsys, "webhook-list", "demo")
    assert code == 0 and {h["id"] for h in listed["webhooks"]} == {hook["id"], out["webhook"]["id"]}
    shown = next(h for h in listed["webhooks"] if h["id"] == hook["id"])
    assert secret not in json.dumps(listed) and shown["secret_hint"] == "…" + secret[-4:], \
        "the list never shows a secret"
    from chalicelib.data.webhooks import WebhookStore

    WebhookStore(data.table).log("demo", {"webhook_id": hook["id"], "url": stored.url, "event": "message.created",
                                          "event_id": "msg_1", "attempt": 1, "status": 500, "ok": False,
                                          "error": "HTTP 500", "latency_ms": 7, "next_retry_at": None})
    code, log, _ = run(capsys, "webhook-log", "demo", "--limit", "5")
    assert code == 0 and [(r["event_id"], r["status"], r["error"]) for r in log["deliveries"]] == \
        [("msg_1", 500, "HTTP 500")]
    code, out, _ = run(capsys, "webhook-remove", "demo", hook["id"])
    assert code == 0 and out["removed"] == hook["id"]
    assert [h.id for h in stored_webhooks(data)] != [] and hook["id"] not in [h.id for h in stored_webhooks(data)]
    code, out, err = run(capsys, "webhook-remove", "demo", hook["id"])
    assert code == 2 and out is None and "no webhook" in err


@pytest.mark.parametrize("loopback,argv,needle", [
    ("", ["webhook-add", "demo", "http://127.0.0.1:9/hook"], "https"),
    ("", ["webhook-add", "demo", "https://127.0.0.1/hook"], "loopback"),
    ("", ["webhook-add", "demo", "https://localhost/hook"], "loopback"),
    ("1", ["webhook-add", "demo", "http://127.0.0.1:9/hook"], "https"),  # only "true" allows loopback
    ("", ["webhook-add", "demo", "https://169.254.169.254/latest/meta-data"], "link-local"),
    ("", ["webhook-add", "demo", "https://[::ffff:127.0.0.1]/"], "IPv6 form"),
    ("", ["webhook-add", "demo", "https://0x7f000001/"], "non-standard"),
    ("", ["webhook-add", "demo", "https://2130706433/"], "non-standard"),
    ("", ["webhook-add", "demo", "https://10.0.0.1/"], "private"),
    ("", ["webhook-add", "demo", "https://[fd00::1]/"], "unique-local"),
    ("", ["webhook-add", "demo", "https://user:pw@93.184.216.34/"], "user name"),
    ("", ["webhook-add", "demo", "https://[::1/"], "malformed"),
    ("", ["webhook-add", "demo", "file:///etc/passwd"], "https"),
    ("", ["webhook-add", "demo", "javascript:alert(1)"], "https"),
    ("true", ["webhook-add", "demo", "http://10.0.0.1/hook"], "private"),
    ("true", ["webhook-add", "demo", "http://169.254.169.254/latest/meta-data"], "link-local"),
    ("true", ["webhook-add", "nope", "http://127.0.0.1:9/hook"], "no site"),
    ("true", ["webhook-add", "demo", "http://127.0.0.1:9/hook", "--event", "message.deleted"], "events must be"),
    ("", ["webhook-list", "nope"], "no site"),
    ("", ["webhook-log", "nope"], "no site"),
    ("", ["webhook-log", "demo", "--limit", "0"], "1 to 100"),
    ("", ["webhook-log", "demo", "--limit", "lots"], "whole number"),
    ("", ["webhook-remove", "demo", "wh_0123456789abcdef"], "no webhook"),
    ("", ["webhook-remove", "nope", "wh_0123456789abcdef"], "no site"),
])
def test_bad_webhook_commands_are_refused_and_store_nothing(data, capsys, monkeypatch, loopback, argv, needle):
    monkeypatch.setenv("PARLEY_WEBHOOK_ALLOW_LOOPBACK", loopback)
    code, out, err = run(capsys, *argv)
    assert code == 2 and out is None, f"expected exit 2 and no output, got {code} {out}"
    assert needle.lower() in err.lower(), f"expected {needle!r} in the error, got {err!r}"
    assert stored_webhooks(data) == [] and stored_webhooks(data, "nope") == []
    assert data.sites.get("demo").webhook_events == ()


# -- desk settings (issue 13) ------------------------------------------------------------------


def test_desk_settings_come_from_a_file_and_update_keeps_what_it_leaves_out(data, capsys, tmp_path):
    first = tmp_path / "desk.json"
    first.write_text(json.dumps({"timezone": "Europe/Berlin", "hours": {"mon": [["09:00", "17:00"]]},
                                 "reply_within_hours": 4, "prechat": {"email": "required"}}))
    code, _, err = run(capsys, "update", "demo", "--desk", str(first))
    assert code == 0, err
    second = tmp_path / "more.json"
    second.write_text(json.dumps({"notify_delay_seconds": 60}))
    assert run(capsys, "update", "demo", "--desk", str(second))[0] == 0
    desk = run(capsys, "show", "demo")[1]["desk"]
    assert desk["timezone"] == "Europe/Berlin" and desk["hours"]["mon"] == [["09:00", "17:00"]]
    assert desk["notify_delay_seconds"] == 60 and desk["prechat"] == {"name": "off", "email": "required"}
    assert data.sites.get("demo").desk == desk


@pytest.mark.parametrize("content, needle", [
    ({"timezone": "Nowhere/City"}, "desk.timezone"),
    ({"hours": {"mon": [["18:00", "09:00"]]}}, "ends before it begins"),
    ({"notify_delay_seconds": 0}, "desk.notify_delay_seconds"),
    ({"prechat": {"email": "sometimes"}}, "desk.prechat.email"),
    (["not", "an", "object"], "must be a JSON object"),
])
def test_bad_desk_settings_exit_2_and_change_nothing(data, capsys, tmp_path, content, needle):
    path = tmp_path / "desk.json"
    path.write_text(json.dumps(content))
    before = data.sites.get("demo")
    code, out, err = run(capsys, "update", "demo", "--desk", str(path))
    assert code == 2 and needle in err, err
    assert data.sites.get("demo") == before
