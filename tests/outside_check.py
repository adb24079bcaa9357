#!/usr/bin/env python3
"""From-outside checks on a running `burstline dev` (issue 10's "Done when"), stdlib only.

usage: outside_check.py URL KEY order|reuse
  order: 5 tasks x 300 events, one request each; a loopback receiver answers 503 to its third
         POST; waits until every event arrived, then checks each task's arrival order.
  reuse: two requests reuse id step-1 across tasks a and b (same batch), with other events;
         checks that everything else is stored and the conflict is visible.
"""
import json, sys, threading, time, urllib.request, uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

URL, KEY, MODE = sys.argv[1], sys.argv[2], sys.argv[3]


def call(method, path, body=None, expect=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(URL + path, data=data, method=method)
    req.add_header("authorization", "Bearer " + KEY)
    if data is not None:
        req.add_header("content-type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            status, raw = r.status, r.read()
    except urllib.error.HTTPError as e:
        status, raw = e.code, e.read()
    if expect and status not in expect:
        raise SystemExit(f"{method} {path} -> {status} {raw[:300]!r}")
    return status, (json.loads(raw) if raw else None)


def order():
    got, lock, posts = [], threading.Lock(), [0]

    class H(BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def do_POST(self):
            body = self.rfile.read(int(self.headers["content-length"]))
            with lock:
                posts[0] += 1
                n = posts[0]
            if n == 3:
                self.send_response(503)
                self.end_headers()
                return
            ev = json.loads(body)
            for e in ev.get("events", [ev]):
                with lock:
                    got.append((e["task_id"], e["seq"]))
            self.send_response(200)
            self.end_headers()

    srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    run = uuid.uuid4().hex[:6]
    _, ep = call("POST", "/v1/endpoints",
                 {"url": f"http://127.0.0.1:{srv.server_port}/hook", "filters": ["*"]}, {201})
    tasks = [f"order-{run}-{i}" for i in range(5)]
    try:
        for t in tasks:
            evs = [{"type": "token.delta", "task_id": t, "data": {"i": i}} for i in range(300)]
            call("POST", "/v1/events", {"events": evs}, {202})
        deadline = time.time() + 240
        while time.time() < deadline:
            with lock:
                seen = {(t, s) for t, s in got if t in tasks}
            if len(seen) == 1500:
                break
            time.sleep(1)
        with lock:
            mine = [(t, s) for t, s in got if t in tasks]
        ok = True
        for t in tasks:
            seqs = [s for tt, s in mine if tt == t]
            in_order = all(a <= b for a, b in zip(seqs, seqs[1:]))
            complete = sorted(set(seqs)) == list(range(1, 301))
            print(f"{t}: {len(seqs)} POSTed events, {len(set(seqs))} distinct, "
                  f"in seq order: {in_order}, complete: {complete}")
            ok &= in_order and complete
        print(f"receiver saw {posts[0]} POSTs (one answered 503)")
        print("ORDER CHECK", "PASSED" if ok else "FAILED")
        return ok
    finally:
        call("DELETE", f"/v1/endpoints/{ep['id']}")
        srv.shutdown()


def reuse():
    run = uuid.uuid4().hex[:6]
    a, b, c = f"reuse-{run}-a", f"reuse-{run}-b", f"reuse-{run}-c"
    rid = f"step-1-{run}"
    call("POST", "/v1/events", {"events": [
        {"id": rid, "type": "reasoning.step", "task_id": a},
        {"type": "token.delta", "task_id": a}]}, {202})
    call("POST", "/v1/events", {"events": [
        {"id": rid, "type": "reasoning.step", "task_id": b},
        {"type": "token.delta", "task_id": b},
        {"type": "token.delta", "task_id": b}]}, {202})
    call("POST", "/v1/events", {"type": "token.delta", "task_id": c}, {202})
    time.sleep(4)
    ok = True
    for t, want in [(a, 2), (b, 2), (c, 1)]:
        st, body = call("GET", f"/v1/tasks/{t}")
        print(t, st, body and body.get("last_seq"))
        ok &= st in (200, 303) and body.get("last_seq") == want
    st, body = call("GET", "/v1/tasks/burstline.rejections")
    print("burstline.rejections", st, body)
    ok &= st in (200, 303)
    # a later batch reusing the id again, for task c
    call("POST", "/v1/events", {"id": rid, "type": "reasoning.step", "task_id": c}, {202})
    call("POST", "/v1/events", {"type": "token.delta", "task_id": c}, {202})
    time.sleep(4)
    st, body = call("GET", f"/v1/tasks/{c}")
    print(c, st, body and body.get("last_seq"))
    ok &= body.get("last_seq") == 2
    st, body2 = call("GET", "/v1/tasks/burstline.rejections")
    print("burstline.rejections", st, body2)
    ok &= body2.get("last_seq", 0) >= 2
    print("REUSE CHECK", "PASSED" if ok else "FAILED")
    return ok


sys.exit(0 if {"order": order, "reuse": reuse}[MODE]() else 1)
