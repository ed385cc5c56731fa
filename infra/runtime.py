"""The Lambda runtime Parley deploys: stated here, never taken from whoever runs the deploy.

Chalice has no runtime setting: it deploys for the Python it runs under
(python3.11 under 3.11, and so on). So the runtime is pinned by running
Chalice under that Python: the Makefile makes the venv with it where the
machine has one, and ``make package`` / ``make deploy`` refuse under any
other. python3.13 is supported by Lambda well past python3.11's deprecation
(2027-06-30), and by Chalice 1.34.
"""
from __future__ import annotations

import sys

LAMBDA_RUNTIME = "python3.13"
VERSION = (3, 13)


class WrongRuntime(SystemExit):
    pass


def require_lambda_python(version: tuple[int, int] | None = None) -> None:
    """Refuses to package or deploy unless this interpreter is the Lambda runtime's Python."""
    found = tuple(sys.version_info[:2]) if version is None else version
    if found != VERSION:
        raise WrongRuntime(
            f"Parley deploys to {LAMBDA_RUNTIME}, and Chalice packages for the Python it runs under "
            f"({found[0]}.{found[1]} here). Install Python {VERSION[0]}.{VERSION[1]} "
            f"(pyenv, or Debian's python3.{VERSION[1]}), then `make clean` and run this again: "
            f"the Makefile makes the venv with it.")
