"""A Hugging Face Hub endpoint on 127.0.0.1 for the tests: the HTTP routes `snapshot_download` uses.

`serve(root)` serves every folder `root/ORG/NAME/<commit>/` (files of one commit) with the refs in
`root/ORG/NAME/refs.json` (`{"main": "<commit>", "v1": "<commit>"}`), the way the hub answers:
`GET /api/models/ORG/NAME/revision/REV` (the commit and its file list), `GET
/api/models/ORG/NAME/tree/REV` (the files with sizes) and `HEAD`/`GET
/ORG/NAME/resolve/REV/FILE` (the file, with `X-Repo-Commit` and `ETag`). An unknown repository
or revision gets the hub's 404 with `X-Error-Code`, so huggingface_hub raises its own errors. The
server counts the file downloads it served (`server.downloads`).
"""

import hashlib
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlparse


def _entry(path):
    """A file of the hub's tree listing (git blob id: sha1 of the blob header and content)."""
    body = path.read_bytes()
    blob = hashlib.sha1(b"blob %d\0" % len(body) + body).hexdigest()
    return {"type": "file", "path": path.name, "size": len(body), "oid": blob}


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):  # keep pytest's output clean
        pass

    def _error(self, code):
        self.send_response(404)
        self.send_header("X-Error-Code", code)
        self.send_header("X-Error-Message", code)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _resolve(self, org, name, revision):
        """(commit folder, commit) of a revision, or None after answering with the hub's error."""
        repo = self.server.root / org / name
        if not repo.is_dir():
            self._error("RepoNotFound")
            return None
        refs = json.loads((repo / "refs.json").read_text())
        commit = refs.get(revision, revision)
        if not (repo / commit).is_dir():
            self._error("RevisionNotFound")
            return None
        return repo / commit, commit

    def _send(self, body, content_type, headers=(), with_body=True):
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for key, value in headers:
            self.send_header(key, value)
        self.end_headers()
        if with_body:
            self.wfile.write(body)

    def _route(self, with_body):
        parts = [unquote(p) for p in urlparse(self.path).path.strip("/").split("/")]
        if parts[:2] == ["api", "models"] and len(parts) == 6 and parts[4] == "tree":
            found = self._resolve(parts[2], parts[3], parts[5])
            if found:
                tree = [_entry(path) for path in sorted(found[0].iterdir())]
                self._send(json.dumps(tree).encode(), "application/json", with_body=with_body)
        elif parts[:2] == ["api", "models"] and len(parts) == 6 and parts[4] == "revision":
            found = self._resolve(parts[2], parts[3], parts[5])
            if found:
                folder, commit = found
                files = sorted(p.name for p in folder.iterdir())
                info = {
                    "id": f"{parts[2]}/{parts[3]}",
                    "sha": commit,
                    "siblings": [{"rfilename": f} for f in files],
                }
                self._send(json.dumps(info).encode(), "application/json", with_body=with_body)
        elif len(parts) >= 5 and parts[2] == "resolve":
            found = self._resolve(parts[0], parts[1], parts[3])
            if found:
                folder, commit = found
                path = folder / "/".join(parts[4:])
                if not path.is_file():
                    self._error("EntryNotFound")
                    return
                body = path.read_bytes()
                etag = '"' + hashlib.sha256(body).hexdigest() + '"'
                headers = [("X-Repo-Commit", commit), ("ETag", etag)]
                if with_body:
                    self.server.downloads.append(f"{parts[0]}/{parts[1]}/{path.name}")
                self._send(body, "application/octet-stream", headers, with_body)
        else:
            self._error("RepoNotFound")

    def do_GET(self):
        self._route(with_body=True)

    def do_HEAD(self):
        self._route(with_body=False)


def add_repo(root, repo_id, write, commit, refs=("main",)):
    """Writes one commit of `repo_id` (files by `write(folder)`) and points `refs` at it."""
    repo = Path(root) / repo_id
    folder = repo / commit
    folder.mkdir(parents=True)
    write(folder)
    refs_file = repo / "refs.json"
    table = json.loads(refs_file.read_text()) if refs_file.exists() else {}
    table.update({ref: commit for ref in refs})
    refs_file.write_text(json.dumps(table))


def serve(root):
    """Starts the endpoint in a thread; returns the server (`.url`, `.downloads`, `.shutdown()`)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.root = Path(root)
    server.downloads = []
    server.url = f"http://127.0.0.1:{server.server_address[1]}"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server
