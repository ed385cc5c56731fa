"""Runs a deployed Lambda zip's handler the way the Lambda Python runtime would, one event per line.

    python -I -S lambda_runner.py <unzipped-package> <runtime-libs> <handler>

A TEST TOOL: started under ``python -I -S`` so that sys.path holds only the
standard library, the package's own contents and ``<runtime-libs>`` (boto3,
botocore and their dependencies, which the Lambda runtime ships), never the
venv. The handler (``app.app``) is imported once, as at a cold start; each
line on stdin is an event (JSON), each line on stdout its result (JSON), or
``{"__error__": traceback}``.
"""
import importlib
import json
import sys
import traceback
import uuid

package, runtime_libs, handler_name = sys.argv[1:4]
sys.path[:0] = [package, runtime_libs]


class Context:
    """What the Lambda runtime passes as ``context`` (the attributes Chalice and Parley may read)."""

    def __init__(self, function_name):
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.memory_limit_in_mb = "512"
        self.aws_request_id = str(uuid.uuid4())
        self.invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:" + function_name
        self.log_group_name = "/aws/lambda/" + function_name
        self.log_stream_name = "e2e"

    def get_remaining_time_in_millis(self):
        return 20000


def main():
    out = sys.stdout
    sys.stdout = sys.stderr  # the handler's prints are logs, not results
    module_name, attribute = handler_name.rsplit(".", 1)
    try:
        handler = getattr(importlib.import_module(module_name), attribute)
        paths = sorted({getattr(m, "__file__", None) or "" for n, m in list(sys.modules.items())
                        if n != "__main__"})  # every module the cold start loaded, but this runner
        out.write(json.dumps({"ready": True, "paths": [p for p in paths if p]}) + "\n")
    except Exception:  # noqa: BLE001 - reported to the test, as the runtime reports an init error
        out.write(json.dumps({"__error__": traceback.format_exc()}) + "\n")
        out.flush()
        return 1
    out.flush()
    for line in sys.stdin:
        if not line.strip():
            continue
        event = json.loads(line)
        try:
            result = handler(event, Context(event.pop("__function__", "parley-dev")))
        except Exception:  # noqa: BLE001 - reported to the test, as the runtime reports an error
            result = {"__error__": traceback.format_exc()}
        out.write(json.dumps(result) + "\n")
        out.flush()
    return 0


sys.exit(main())
