"""Serving a built site over HTTP on 127.0.0.1 as a static host serves it: text files
(HTML, CSS, JavaScript, SVG, JSON) gzip-compressed when the browser accepts it, with a
short cache lifetime. The website's browser tests and ``bench/lighthouse.py`` measure
pages through it, so the bytes they count are the bytes a reader would download.
"""
from __future__ import annotations

import functools
import gzip
import http.server
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

#: Types a static host compresses (fonts in WOFF2 and PNG images are compressed already).
COMPRESSED_TYPES = ("text/", "application/javascript", "application/json", "image/svg+xml", "application/xml")
#: What GitHub Pages sends: caches may keep a file ten minutes.
CACHE_CONTROL = "max-age=600"


class StaticHandler(http.server.SimpleHTTPRequestHandler):
    """``SimpleHTTPRequestHandler`` with gzip for text types; quiet."""

    def send_head(self):
        path = Path(self.translate_path(self.path))
        if path.is_dir():
            if not self.path.split("?")[0].endswith("/"):
                return super().send_head()  # redirects to the folder's URL with a slash
            path = path / "index.html"
        kind = self.guess_type(str(path))
        accepts_gzip = "gzip" in self.headers.get("Accept-Encoding", "")
        if not (path.is_file() and accepts_gzip and kind.startswith(COMPRESSED_TYPES)):
            return super().send_head()
        body = gzip.compress(path.read_bytes(), compresslevel=6, mtime=0)
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Encoding", "gzip")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Vary", "Accept-Encoding")
        self.end_headers()
        return _Body(body)

    def end_headers(self):
        self.send_header("Cache-Control", CACHE_CONTROL)
        super().end_headers()

    def log_message(self, *args):
        pass


class _Body:
    """What ``send_head`` returns: a file-like body ``copyfile`` reads."""

    def __init__(self, data: bytes):
        self._data = data

    def read(self, size: int = -1) -> bytes:
        data, self._data = (self._data, b"") if size < 0 else (self._data[:size], self._data[size:])
        return data

    def close(self) -> None:
        pass


@contextmanager
def serve(folder: Path) -> Iterator[str]:
    """Serve ``folder`` on a free port of 127.0.0.1 while the block runs; yields the base
    URL (``http://127.0.0.1:PORT/``)."""
    handler = functools.partial(StaticHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
