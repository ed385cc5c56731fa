"""Environment every test starts from: fake AWS credentials, a token key, a table name.

Set before any test module imports app.py, which loads the settings at import.
"""
import os

_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "PARLEY_TABLE": "parley-test",
    "PARLEY_TOKEN_SECRET": "test-secret-test-secret-test-secret-0123",
}
for _name, _value in _ENV.items():
    os.environ[_name] = _value
# A developer's shell may point boto3 at a running `make dev`; tests bring their own.
os.environ.pop("AWS_ENDPOINT_URL_DYNAMODB", None)
os.environ.pop("AWS_ENDPOINT_URL", None)
os.environ.pop("AWS_PROFILE", None)


def pytest_collection_modifyitems(items):
    """Browser tests run last.

    Playwright's sync API keeps an asyncio loop running on the main thread
    for the rest of the session once a browser starts, and the realtime e2e
    tests use asyncio.run(), which refuses to start inside a running loop.
    """
    items.sort(key=lambda item: "tests/e2e/browser/" in item.nodeid.replace("\\", "/"))
