"""The agent API's HTTP handlers: ``/api/agent/...``, a Chalice request in, a Response out.

Each handler first asks the access policy (a valid Cognito ID token, from a
console origin, of a member of the site the path names), then checks the
body or query, then hands off to the agent service. Errors raised after the
decision stay readable by the console (``Decision.answering``), 401s
included, so it can renew its sign-in.
"""
from __future__ import annotations

import re
from typing import Any

from chalice.app import Request, Response

from . import tokens, web
from .access import AccessPolicy, Decision
from .agent_service import AgentService
from .errors import ParleyError
from .models import (CONVERSATION_ID, AssignRequest, DeliveriesQuery, InboxQuery, MessagesQuery, ReadRequest,
                     ReplyRequest, parse)
from .realtime import Realtime
from .routes import _form, _query, query_ints

ACTIONS = ("claim", "assign", "unassign", "resolve", "reopen", "handback")


def _conversation_id(value: Any) -> str:
    if not isinstance(value, str) or not re.fullmatch(CONVERSATION_ID, value):
        raise ParleyError("invalid_request", "conversation_id: is not a conversation id.")
    return value


def _body(request: Request) -> Any:
    """The JSON body; an empty one counts as {} (most actions take none)."""
    return web.json_body(request) if request.raw_body else {}


class AgentRoutes:
    def __init__(self, access: AccessPolicy, agents: AgentService, realtime: Realtime, limits: Any) -> None:
        self.access = access
        self.agents = agents
        self.realtime = realtime
        self.limits = limits

    def _token(self, request: Request) -> str | None:
        return tokens.bearer(request.headers.get("authorization"))

    def _decide(self, request: Request, site_key: str) -> Decision:
        return self.access.for_agent(self._token(request), site_key, web.origin_of(request))

    def me(self, request: Request) -> Response:
        decision = self.access.for_agent_identity(self._token(request), web.origin_of(request))
        with decision.answering():
            return web.json_response(200, self.agents.me(decision.identity), cors_origin=decision.cors_origin)

    def inbox(self, request: Request, site_key: str) -> Response:
        decision = self._decide(request, site_key)
        with decision.answering():
            query = query_ints(_query(request), ("limit",))
            answer = self.agents.inbox(decision.agent, parse(InboxQuery, query))
            return web.json_response(200, answer, cors_origin=decision.cors_origin)

    def members(self, request: Request, site_key: str) -> Response:
        decision = self._decide(request, site_key)
        with decision.answering():
            return web.json_response(200, self.agents.members(decision.agent), cors_origin=decision.cors_origin)

    def presence(self, request: Request, site_key: str) -> Response:
        """POST: the console's heartbeat (this agent is online on the site); DELETE: they left."""
        decision = self._decide(request, site_key)
        with decision.answering():
            agent = decision.agent
            self.limits.hit("presence", f"{agent.site_key}#{agent.id}", decision.site)
            answer = self.agents.leave(agent) if request.method == "DELETE" else self.agents.beat(agent)
            return web.json_response(200, answer, cors_origin=decision.cors_origin)

    def webhooks(self, request: Request, site_key: str) -> Response:
        decision = self._decide(request, site_key)
        with decision.answering():
            return web.json_response(200, self.agents.webhook_list(decision.agent), cors_origin=decision.cors_origin)

    def webhook_deliveries(self, request: Request, site_key: str) -> Response:
        decision = self._decide(request, site_key)
        with decision.answering():
            query = parse(DeliveriesQuery, query_ints(_query(request), ("limit",)))
            return web.json_response(200, self.agents.webhook_deliveries(decision.agent, query.limit),
                                     cors_origin=decision.cors_origin)

    def conversation(self, request: Request, site_key: str, conversation_id: str) -> Response:
        decision = self._decide(request, site_key)
        with decision.answering():
            answer = self.agents.conversation(decision.agent, _conversation_id(conversation_id))
            return web.json_response(200, answer, cors_origin=decision.cors_origin)

    def messages(self, request: Request, site_key: str, conversation_id: str) -> Response:
        decision = self._decide(request, site_key)
        with decision.answering():
            cid = _conversation_id(conversation_id)
            if request.method == "POST":
                req = parse(ReplyRequest, web.json_body(request))
                return web.json_response(201, self.agents.reply(decision.agent, cid, req),
                                         cors_origin=decision.cors_origin)
            query = query_ints(_query(request), ("after", "before", "limit"))
            query["conversation_id"] = cid
            answer = self.agents.messages(decision.agent, cid, parse(MessagesQuery, query))
            return web.json_response(200, answer, cors_origin=decision.cors_origin)

    def action(self, request: Request, site_key: str, conversation_id: str, action: str) -> Response:
        decision = self._decide(request, site_key)
        with decision.answering():
            cid = _conversation_id(conversation_id)
            body = _body(request)
            if action == "read":
                answer = self.agents.read(decision.agent, cid, parse(ReadRequest, body))
            elif action == "typing":
                return web.json_response(202, self.agents.typing(decision.agent, cid),
                                         cors_origin=decision.cors_origin)
            elif action == "assign":
                answer = self.agents.act(decision.agent, cid, "assign", parse(AssignRequest, body))
            elif action in ACTIONS:
                if not isinstance(body, dict):
                    raise ParleyError("invalid_request", "The request body must be a JSON object (or empty).")
                answer = self.agents.act(decision.agent, cid, action)  # type: ignore[arg-type]
            else:
                raise ParleyError("route_not_found", f"No agent action {action!r}.")
            return web.json_response(200, answer, cors_origin=decision.cors_origin)

    def pusher_auth(self, request: Request) -> Response:
        """Signs an agent's subscription to a site's feed or one of its conversations, for members only."""
        decision = self.access.for_agent_identity(self._token(request), web.origin_of(request))
        with decision.answering():
            form = _form(request)
            pusher = self.realtime.get("pusher")
            if pusher is None:
                raise ParleyError("pusher_disabled", "Pusher is not enabled here.")
            channel = pusher.checked_channel(form.get("socket_id"), form.get("channel_name"))  # type: ignore[attr-defined]
            site_key = self.agents.channel_site(channel)
            if site_key is None:
                raise ParleyError("channel_forbidden", "Agents may subscribe to a site's feed or conversations only.")
            self.access.member_or_refuse(decision.identity.agent_id, site_key)  # type: ignore[union-attr]
            signed = pusher.sign(form["socket_id"], channel)  # type: ignore[attr-defined]
            return web.json_response(200, signed, cors_origin=decision.cors_origin)

    def preflight(self, request: Request) -> Response:
        decision = self.access.for_console_preflight(web.origin_of(request))
        return web.preflight_response(decision.cors_origin)  # type: ignore[arg-type]
