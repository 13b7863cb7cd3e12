"""Golden payloads: LangSmith's Python SDK sends the same runs runtrace's exporter sent, to a
capture server of its own on loopback, and the two ingest requests are compared part by part.

argv[1]: runtrace's trees, JSON Lines; argv[2]: runtrace's request, as JSON
`{"path", "content_type", "body"}`. The SDK gets each run's fields (what runtrace's tree
holds, but the children and nulls) through `Client.create_run`, as `RunTree.post` does.

Compared, for every run: the part names (`post.{id}`, `post.{id}.inputs`, ...), each part's
headers and content type, and each part's JSON. What the SDK adds of its own is allowed and
listed: `extra.runtime` (the SDK's version and platform) and `extra.metadata` entries it takes
from the environment. Exits non-zero at the first other difference.
"""

import json
import sys
import threading
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from langsmith import Client
from requests_toolbelt.multipart.decoder import MultipartDecoder

# All of `batch_ingest_config`: the SDK's background thread reads every key.
INFO = {
    "version": "0.10.0",
    "batch_ingest_config": {
        "use_multipart_endpoint": True,
        "scale_up_qsize_trigger": 1000,
        "scale_up_nthreads_limit": 16,
        "scale_down_nempty_trigger": 4,
        "size_limit": 100,
        "size_limit_bytes": 20 << 20,
    },
}
captured = []


class Capture(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def reply(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        self.reply(200, INFO) if self.path == "/info" else self.reply(404, {})

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        captured.append({"path": self.path, "content_type": self.headers.get("Content-Type"), "body": body})
        self.reply(202, {})


def runs_of(tree):
    yield tree
    for child in tree.get("child_runs") or []:
        yield from runs_of(child)


def parts(request):
    """A request's parts: name -> (content type, header names, JSON)."""
    found = {}
    for part in MultipartDecoder(request["body"], request["content_type"]).parts:
        headers = {key.decode().lower(): value.decode() for key, value in part.headers.items()}
        name = headers["content-disposition"].split('name="', 1)[1].split('"', 1)[0]
        found[name] = (headers.get("content-type"), sorted(headers), json.loads(part.content))
    return found


def instant(value):
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def same(key, ours, theirs):
    if key in ("start_time", "end_time"):
        return instant(ours) == instant(theirs)
    return ours == theirs


def main():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Capture)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    client = Client(api_url=url, api_key="lsv2_golden", auto_batch_tracing=True)

    trees = [json.loads(line) for line in open(sys.argv[1], encoding="utf-8") if line.strip()]
    runs = [run for tree in trees for run in runs_of(tree)]
    for run in runs:
        fields = {key: value for key, value in run.items() if key != "child_runs" and value is not None}
        client.create_run(**fields)
    flushing = threading.Thread(target=client.flush, daemon=True)
    flushing.start()
    flushing.join(timeout=60)
    if flushing.is_alive():
        sys.exit("the SDK did not send its runs within a minute")
    server.shutdown()

    ingests = [request for request in captured if request["path"].startswith("/runs/")]
    if [request["path"] for request in ingests] != ["/runs/multipart"]:
        sys.exit(f"the SDK sent {[request['path'] for request in ingests]}, not one multipart request")
    theirs = parts(ingests[0])
    ours_request = json.load(open(sys.argv[2], encoding="utf-8"))
    if ours_request["path"] != "/runs/multipart":
        sys.exit(f"runtrace posted to {ours_request['path']}")
    ours = parts({"body": ours_request["body"].encode(), "content_type": ours_request["content_type"]})

    if sorted(ours) != sorted(theirs):
        sys.exit(f"part names differ:\n  runtrace only {sorted(set(ours) - set(theirs))}\n  SDK only {sorted(set(theirs) - set(ours))}")
    sdk_own = set()
    for name, (our_type, our_headers, our_json) in ours.items():
        their_type, their_headers, their_json = theirs[name]
        if (our_type, our_headers) != (their_type, their_headers):
            sys.exit(f"{name}: runtrace's part has {our_type} {our_headers}, the SDK's {their_type} {their_headers}")
        if name.endswith(".extra"):
            their_json = dict(their_json)
            if "runtime" in their_json:
                sdk_own.add("extra.runtime")
                del their_json["runtime"]
            metadata = dict(their_json.get("metadata") or {})
            for key in set(metadata) - set(our_json.get("metadata") or {}):
                sdk_own.add(f"extra.metadata.{key}")
                del metadata[key]
            their_json["metadata"] = metadata
        if isinstance(our_json, dict) and isinstance(their_json, dict):
            if sorted(our_json) != sorted(their_json):
                sys.exit(f"{name}: fields differ: runtrace {sorted(our_json)}, SDK {sorted(their_json)}")
            for key in our_json:
                if not same(key, our_json[key], their_json[key]):
                    sys.exit(f"{name}.{key}: runtrace {our_json[key]!r}, SDK {their_json[key]!r}")
        elif our_json != their_json:
            sys.exit(f"{name}: runtrace {our_json!r}, SDK {their_json!r}")
    print(f"{len(runs)} runs, {len(ours)} parts: identical to the SDK's (the SDK adds {sorted(sdk_own)})")


if __name__ == "__main__":
    main()
