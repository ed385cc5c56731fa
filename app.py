"""Parley's Chalice app: wiring only. All logic lives in chalicelib.

``root`` (chalicelib/root.py) builds every object on first use; each view
hands its request or event to ``root.http``, ``root.sockets`` or ``root.replies``.
"""
import gc

from chalice import Chalice

from chalicelib import web
from chalicelib.root import Root

app = Chalice(app_name="parley")
app.log.setLevel("INFO")
# The API Gateway WebSocket API (on_ws_* below) is still experimental in Chalice.
app.experimental_feature_flags.update(["WEBSOCKETS"])

root = Root()
# A missing or malformed setting stops the function here, at cold start, with
# the variable's name, instead of at some visitor's first request.
root.settings

JSON_IN = ["application/json", "text/plain"]
FORM_IN = ["application/x-www-form-urlencoded", "application/json"]
ANY_METHOD = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"]


@app.middleware("http")
def parley_http(event, get_response):
    return web.middleware(event, get_response, lambda request: root.http.cors_for_error(request))


@app.route("/api/chatbot/config", methods=["GET"])
def config():
    return root.http.config(app.current_request)


@app.route("/api/chatbot/init", methods=["POST"], content_types=JSON_IN)
def init():
    return root.http.init(app.current_request)


@app.route("/api/chatbot/send", methods=["POST"], content_types=JSON_IN)
def send():
    return root.http.send(app.current_request)


@app.route("/api/chatbot/messages", methods=["GET"])
def messages():
    return root.http.messages(app.current_request)


@app.route("/api/chatbot/pusher/auth", methods=["POST"], content_types=FORM_IN)
def pusher_auth():
    return root.http.pusher_auth(app.current_request)


@app.route("/api/chatbot/handoff", methods=["POST"], content_types=JSON_IN)
def handoff():
    return root.http.handoff(app.current_request)


@app.route("/api/chatbot/contact", methods=["POST"], content_types=JSON_IN)
def contact():
    return root.http.contact(app.current_request)


@app.route("/api/chatbot/typing", methods=["POST"], content_types=JSON_IN)
def visitor_typing():
    return root.http.typing(app.current_request)


@app.route("/api/chatbot/conversation", methods=["DELETE"])
def delete_conversation():
    return root.http.delete_conversation(app.current_request)


@app.route("/api/chatbot/transcript", methods=["GET"])
def transcript():
    return root.http.transcript(app.current_request)


@app.route("/api/openapi.json", methods=["GET"])
def openapi_document():
    from chalicelib import openapi  # imported on first ask: a cold start never pays for it

    return openapi.response()


# -- the agent API (docs/agent-api.md) ----------------------------------------
AGENT = "/api/agent"
SITE = AGENT + "/sites/{site_key}"
CONVERSATION = SITE + "/conversations/{conversation_id}"


@app.route(AGENT + "/me", methods=["GET"])
def agent_me():
    return root.agent_http.me(app.current_request)


@app.route(SITE + "/inbox", methods=["GET"])
def agent_inbox(site_key):
    return root.agent_http.inbox(app.current_request, site_key)


@app.route(SITE + "/members", methods=["GET"])
def agent_members(site_key):
    return root.agent_http.members(app.current_request, site_key)


@app.route(SITE + "/presence", methods=["POST", "DELETE"], content_types=JSON_IN)
def agent_presence(site_key):
    return root.agent_http.presence(app.current_request, site_key)


@app.route(SITE + "/webhooks", methods=["GET"])
def agent_webhooks(site_key):
    return root.agent_http.webhooks(app.current_request, site_key)


@app.route(SITE + "/webhooks/deliveries", methods=["GET"])
def agent_webhook_deliveries(site_key):
    return root.agent_http.webhook_deliveries(app.current_request, site_key)


@app.route(CONVERSATION, methods=["GET"])
def agent_conversation(site_key, conversation_id):
    return root.agent_http.conversation(app.current_request, site_key, conversation_id)


@app.route(CONVERSATION + "/messages", methods=["GET", "POST"], content_types=JSON_IN)
def agent_messages(site_key, conversation_id):
    return root.agent_http.messages(app.current_request, site_key, conversation_id)


for _action in ("claim", "assign", "unassign", "resolve", "reopen", "handback", "read", "typing"):
    app.route(f"{CONVERSATION}/{_action}", methods=["POST"], content_types=JSON_IN, name=f"agent_{_action}")(
        lambda site_key, conversation_id, _action=_action: root.agent_http.action(
            app.current_request, site_key, conversation_id, _action))


@app.route(AGENT + "/pusher/auth", methods=["POST"], content_types=FORM_IN)
def agent_pusher_auth():
    return root.agent_http.pusher_auth(app.current_request)


@app.on_ws_connect()
def ws_connect(event):
    return root.sockets.connect(event.to_dict())


@app.on_ws_message()
def ws_message(event):
    return root.sockets.message(event.to_dict())


@app.on_ws_disconnect()
def ws_disconnect(event):
    return root.sockets.disconnect(event.to_dict())


# A streaming bot engine's replies, off the request path (chalicelib/replies.py). One job per
# invocation: a job that fails is delivered again alone, and never holds others back.
@app.on_sqs_message(queue=root.settings.reply_queue_name, batch_size=1)
def reply_worker(event):
    root.replies.handle(event.to_dict())


# Later work (chalicelib/jobs.py): team notifications, transcripts, webhook deliveries, each
# delayed by SQS itself. One job per invocation, as above.
@app.on_sqs_message(queue=root.settings.job_queue_name, batch_size=1)
def job_worker(event):
    root.job_worker.handle(event.to_dict())


for _path in ("config", "init", "send", "messages", "pusher/auth", "handoff", "typing", "conversation",
              "transcript", "contact"):
    app.route(f"/api/chatbot/{_path}", methods=["OPTIONS"], name=f"preflight_{_path.replace('/', '_')}")(
        lambda: root.http.preflight(app.current_request))
for _name, _path in [("me", AGENT + "/me"), ("pusher_auth", AGENT + "/pusher/auth"),
                     ("inbox", SITE + "/inbox"), ("members", SITE + "/members"),
                     ("presence", SITE + "/presence"), ("webhooks", SITE + "/webhooks"),
                     ("webhook_deliveries", SITE + "/webhooks/deliveries"),
                     ("conversation", CONVERSATION), ("messages", CONVERSATION + "/messages"),
                     *[(a, f"{CONVERSATION}/{a}") for a in ("claim", "assign", "unassign", "resolve", "reopen",
                                                            "handback", "read", "typing")]]:
    app.route(_path, methods=["OPTIONS"], name=f"preflight_agent_{_name}")(
        lambda **_: root.agent_http.preflight(app.current_request))

# Chalice has no greedy route, and `chalice local` (like API Gateway) answers an
# unknown path with a 403 "Missing Authentication Token". One catch-all per
# depth gives every unknown path our JSON 404 instead.
for _depth in range(1, 7):
    _path = "".join(f"/{{p{i}}}" for i in range(1, _depth + 1))
    app.route(_path, methods=ANY_METHOD + ["OPTIONS"], name=f"not_found_{_depth}")(
        lambda **_: root.http.not_found(app.current_request))
app.route("/", methods=ANY_METHOD, name="not_found_root")(lambda: root.http.not_found(app.current_request))

# Everything made at import (modules, models, routes) lives as long as the
# process. Freezing it keeps the cyclic GC from walking it again in every
# collection; the first request, which builds the boto3 client and allocates
# a great deal, is measured ~25 ms faster for it (bench/cold_start.py).
gc.freeze()
