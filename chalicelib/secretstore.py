"""Secrets: the token key and the Pusher secret, from the environment or SSM.

In AWS a secret lives in SSM Parameter Store as a SecureString; its *name*
is a setting (``PARLEY_TOKEN_SECRET_PARAM``, ``PUSHER_SECRET_PARAM``) and the
value is read on first use, then kept for a while (``PARLEY_SECRETS_TTL_SECONDS``)
so a rotated value is picked up without a redeploy. For local use the value
itself may be set instead (``PARLEY_TOKEN_SECRET``, ``PUSHER_SECRET``), and it
wins. A value never goes to a log line or an answer; a missing parameter
fails with an error that names it.
"""
from __future__ import annotations

import time
from typing import Any, Callable

from .cache import Cache
from .errors import ParleyError
from .lazy import Lazy
from .settings import Settings


def _ssm_client() -> Any:
    from . import aws  # only when a secret really comes from SSM

    return aws.client("ssm")


class SecretError(RuntimeError):
    """A secret cannot be had; the message names the setting or parameter, never a value."""


class Secrets:
    def __init__(self, settings: Settings, ssm: Any = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.settings = settings
        self._ssm = Lazy(_ssm_client, ssm)
        self._cache: Cache[str, str] = Cache(16, ttl=settings.secrets_ttl_seconds, clock=clock)

    @property
    def ssm(self) -> Any:
        return self._ssm.get()

    def token_secret(self) -> str:
        return self._get(self.settings.token_secret, self.settings.token_secret_param,
                         "PARLEY_TOKEN_SECRET", min_length=32)

    def pusher_secret(self) -> str:
        return self._get(self.settings.pusher_secret, self.settings.pusher_secret_param, "PUSHER_SECRET")

    def _get(self, value: str | None, parameter: str | None, variable: str, min_length: int = 1) -> str:
        if value:
            return value
        if not parameter:
            raise SecretError(f"{variable} is not set, nor {variable}_PARAM (an SSM parameter name)")
        return self._cache.get(parameter, lambda name: self._fetch(name, min_length))

    def _fetch(self, parameter: str, min_length: int) -> str:
        from botocore.exceptions import ClientError, ConnectionError as BotoConnectionError, HTTPClientError

        try:
            answer = self.ssm.get_parameter(Name=parameter, WithDecryption=True)
        except (BotoConnectionError, HTTPClientError) as exc:
            # SSM is slow or unreachable: the request may be retried, unlike a missing parameter.
            raise ParleyError("unavailable", "A secret cannot be read right now; please retry.") from exc
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code == "ParameterNotFound":
                raise SecretError(f"SSM parameter {parameter} does not exist: create it as a SecureString "
                                  f"(docs/deploy.md)") from None
            raise SecretError(f"SSM parameter {parameter} could not be read ({code})") from None
        secret = answer["Parameter"]["Value"]
        if len(secret) < min_length:
            raise SecretError(f"SSM parameter {parameter} holds a value shorter than {min_length} characters")
        return secret
