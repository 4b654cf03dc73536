"""The interactive terminal as a small local web page: the screen (refreshed twice a second),
the 4x4 keypad as buttons, a field to scan a code. Loopback only."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PAGE = """<!doctype html><html lang="fr"><meta charset="utf-8"><title>Terminal</title>
<style>body{font-family:sans-serif;background:#222;color:#eee}
#screen{background:#000;color:#7df;font:20px monospace;width:17ch;padding:8px;
white-space:pre;border:4px solid #555;margin:12px 0}
button{width:3.2em;height:2.6em;margin:2px;font-size:18px}</style>
<h3 id="name"></h3><div id="screen"></div><div id="pad"></div>
<form id="f"><input id="code" placeholder="code" size="16"><button>Scan</button></form>
<script>
const pad=document.getElementById('pad');
for(const row of ['123A','456B','789C','*0#D']){const d=document.createElement('div');
for(const k of row){const b=document.createElement('button');b.textContent=k;
b.onclick=()=>send(k);d.appendChild(b)}pad.appendChild(d)}
function send(t){fetch('/cmd',{method:'POST',body:t})}
document.getElementById('f').onsubmit=e=>{e.preventDefault();
send('scan '+document.getElementById('code').value)};
async function draw(){const r=await fetch('/screen');const s=await r.json();
document.getElementById('name').textContent=s.name;
document.getElementById('screen').textContent=s.lines.map(l=>l.padEnd(16)).join('\\n')}
setInterval(draw,500);draw();
</script></html>"""


def serve(session, port: int) -> str:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            if self.path == "/screen":
                body = json.dumps({"name": session.terminal.name or "",
                                   "lines": list(session.terminal.screen or [])}).encode()
                self._reply(200, "application/json", body)
            elif self.path == "/":
                self._reply(200, "text/html; charset=utf-8", PAGE.encode())
            else:
                self._reply(404, "text/plain", b"not found")

        def do_POST(self):
            length = int(self.headers.get("Content-Length") or 0)
            if self.path != "/cmd" or not 0 < length <= 256:
                return self._reply(400, "text/plain", b"POST /cmd with a short command")
            text = self.rfile.read(length).decode("utf-8", "replace")
            if text.split(" ", 1)[0] in ("quit", "exit", "qr"):  # not from a web page
                return self._reply(403, "text/plain", b"not from the page")
            session.commands.put(text)
            self._reply(204, "text/plain", b"")

        def _reply(self, code, kind, body):
            self.send_response(code)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}/"
