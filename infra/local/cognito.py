"""The local Cognito user pool: moto's cognito-idp, served by the same moto server as DynamoDB.

`make dev` calls ``create_local_pool`` once the moto server listens: a user pool
(email as the user name, a lenient password policy), an app client without a
secret that allows USER_PASSWORD_AUTH and REFRESH_TOKEN_AUTH (what the console
uses from the browser), and the demo agent with a fixed, permanent password.
moto keeps it all in memory, so every run gets a new pool id and client id.

moto signs its tokens with one fixed key pair (shipped in moto itself), serves
the public half at ``/<pool id>/.well-known/jwks.json`` on the server's root, and
puts ``iss = https://cognito-idp.<region>.amazonaws.com/<pool id>`` in its
tokens, as Cognito does. These are what the app's PARLEY_COGNITO_* settings name.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

REGION = "us-east-1"
DEMO_AGENT_EMAIL = "agent@demo.parley.local"
DEMO_AGENT_NAME = "Demo Agent"
DEMO_AGENT_PASSWORD = "parley-demo-1"
POOL_NAME = "parley-local"
CLIENT_NAME = "parley-console"
# The demo password has no capitals or symbols; Cognito's default policy would refuse it.
PASSWORD_POLICY = {"MinimumLength": 8, "RequireUppercase": False, "RequireLowercase": False,
                   "RequireNumbers": False, "RequireSymbols": False, "TemporaryPasswordValidityDays": 7}


@dataclass(frozen=True)
class LocalPool:
    endpoint: str       # the moto server's base URL, with a trailing slash (the console's cognito.endpoint)
    region: str
    pool_id: str
    client_id: str
    agent_id: str       # the demo agent's sub
    agent_email: str = DEMO_AGENT_EMAIL
    agent_name: str = DEMO_AGENT_NAME
    agent_password: str = DEMO_AGENT_PASSWORD

    @property
    def issuer(self) -> str:
        return f"https://cognito-idp.{self.region}.amazonaws.com/{self.pool_id}"

    @property
    def jwks_url(self) -> str:
        return f"{self.endpoint}{self.pool_id}/.well-known/jwks.json"

    def settings(self) -> dict[str, str]:
        """The app's environment for this pool (PARLEY_CONSOLE_ORIGINS is the console's to add)."""
        return {"PARLEY_COGNITO_ISSUER": self.issuer, "PARLEY_COGNITO_CLIENT_ID": self.client_id,
                "PARLEY_COGNITO_JWKS_URL": self.jwks_url}


def cognito_client(endpoint: str, region: str = REGION) -> Any:
    import boto3

    return boto3.client("cognito-idp", endpoint_url=endpoint, region_name=region,
                        aws_access_key_id="local", aws_secret_access_key="local")


def create_local_pool(endpoint: str, region: str = REGION) -> LocalPool:
    """Creates the pool, the console's app client and the demo agent on the moto server at ``endpoint``."""
    endpoint = endpoint.rstrip("/") + "/"
    idp = cognito_client(endpoint, region)
    pool_id = idp.create_user_pool(
        PoolName=POOL_NAME, UsernameAttributes=["email"], AutoVerifiedAttributes=["email"],
        Policies={"PasswordPolicy": PASSWORD_POLICY},
    )["UserPool"]["Id"]
    client_id = idp.create_user_pool_client(
        UserPoolId=pool_id, ClientName=CLIENT_NAME, GenerateSecret=False,
        ExplicitAuthFlows=["ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
    )["UserPoolClient"]["ClientId"]
    user = idp.admin_create_user(
        UserPoolId=pool_id, Username=DEMO_AGENT_EMAIL, MessageAction="SUPPRESS",
        UserAttributes=[{"Name": "email", "Value": DEMO_AGENT_EMAIL}, {"Name": "email_verified", "Value": "true"},
                        {"Name": "name", "Value": DEMO_AGENT_NAME}],
    )["User"]
    idp.admin_set_user_password(UserPoolId=pool_id, Username=DEMO_AGENT_EMAIL, Password=DEMO_AGENT_PASSWORD,
                                Permanent=True)
    sub = next(a["Value"] for a in user["Attributes"] if a["Name"] == "sub")
    return LocalPool(endpoint=endpoint, region=region, pool_id=pool_id, client_id=client_id, agent_id=sub)
