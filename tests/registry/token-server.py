#!/usr/bin/env python3
# token-server.py - a stand-in for Docker Hub's token endpoint (auth.docker.io/token), started
# by tests/registry/registry --token. Python standard library; RS256 signatures by openssl.
#
# Usage: token-server.py PORT KEY CERT USERS [TLS_CERT TLS_KEY]
#   KEY/CERT   the signing key and its self-signed cert (the registry's rootcertbundle); the
#              cert goes in each token's x5c header, which is how distribution finds the key
#   USERS      lines "user:password"
#
# GET /token?service=S&scope=repository:NAME:pull,push[&scope=...]  (Docker's token flow)
# POST /token with a form grant_type=password&username=..&password=..&service=..&scope=..
#   (the OAuth2 variant) answers the same way.
# Anonymous: only "pull" of repository scopes is granted; the other actions are dropped from
# the token (the registry then answers 401 insufficient_scope), as Docker Hub does.
# Basic auth (or form credentials) of a listed user: every action asked for.
# Wrong credentials: 401. Tokens live 300 s.
import base64, json, ssl, subprocess, sys, time, uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

PORT, KEY, CERT, USERS = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
ISSUER = "sandboxd-test-token-server"
with open(USERS) as f:
    users = dict(line.rstrip("\n").split(":", 1) for line in f if ":" in line)
der = subprocess.run(["openssl", "x509", "-in", CERT, "-outform", "DER"], check=True,
                     capture_output=True).stdout


def b64url(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def sign(claims):
    head = {"typ": "JWT", "alg": "RS256", "x5c": [base64.b64encode(der).decode()]}
    msg = b64url(json.dumps(head).encode()) + "." + b64url(json.dumps(claims).encode())
    sig = subprocess.run(["openssl", "dgst", "-sha256", "-sign", KEY], input=msg.encode(),
                         check=True, capture_output=True).stdout
    return msg + "." + b64url(sig)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def reply(self, code, body, headers=()):
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def deny(self):
        self.reply(401, {"details": "incorrect username or password"},
                   [("WWW-Authenticate", 'Basic realm="%s"' % ISSUER)])

    def issue(self, q, who, password):
        authed = False
        if who is not None:
            if users.get(who) != password:
                return self.deny()
            authed = True
        access = []
        for scope in q.get("scope", []):
            for item in scope.split(" "):
                parts = item.split(":")
                if len(parts) < 3:
                    continue
                typ, name, actions = parts[0], ":".join(parts[1:-1]), parts[-1].split(",")
                granted = [a for a in actions if authed or (typ == "repository" and a == "pull")]
                access.append({"type": typ, "name": name, "actions": granted})
        now = int(time.time())
        tok = sign({"iss": ISSUER, "sub": who or "", "aud": q.get("service", [""])[0],
                    "exp": now + 300, "nbf": now - 10, "iat": now, "jti": uuid.uuid4().hex,
                    "access": access})
        self.reply(200, {"token": tok, "access_token": tok, "expires_in": 300,
                         "issued_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now))})

    def do_GET(self):
        url = urlsplit(self.path)
        if url.path != "/token":
            return self.reply(404, {"details": "not found"})
        who = password = None
        auth = self.headers.get("Authorization", "")
        if auth.startswith("Basic "):
            try:
                who, _, password = base64.b64decode(auth[6:]).decode().partition(":")
            except ValueError:
                return self.deny()
        self.issue(parse_qs(url.query), who, password)

    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        form = parse_qs(self.rfile.read(n).decode(errors="replace"))
        if urlsplit(self.path).path != "/token":
            return self.reply(404, {"details": "not found"})
        if form.get("grant_type", [""])[0] != "password":
            return self.reply(400, {"error": "unsupported_grant_type"})
        self.issue(form, form.get("username", [""])[0], form.get("password", [""])[0])


srv = ThreadingHTTPServer(("127.0.0.1", PORT), Handler)
srv.daemon_threads = True
if len(sys.argv) > 6:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(sys.argv[5], sys.argv[6])
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
srv.serve_forever()
