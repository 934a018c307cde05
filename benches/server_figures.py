"""Whole-process figures of tms-server: start to ready, idle RSS, login and
locked-account rejection latency over HTTP on loopback (SQLite, embedded
defaults, fresh data directories under /tmp). Bounded: 10 starts, 25 logins."""
import json, os, shutil, subprocess, sys, time, urllib.request, urllib.error, statistics
# Run from the repository root after `cargo build --release -p tms-http --bin tms-server`.
BIN = os.environ.get("TMS_SERVER_BIN", "target/release/tms-server")
PORT = 18090
def ready(base):
    try:
        with urllib.request.urlopen(base + "/readyz", timeout=1) as r:
            return r.status == 200
    except Exception:
        return False
def start(datadir):
    env = dict(os.environ, TMS_DATA_DIR=datadir, TMS_LISTEN=f"127.0.0.1:{PORT}", TMS_LOG="warn")
    t0 = time.perf_counter()
    p = subprocess.Popen([BIN], env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    base = f"http://127.0.0.1:{PORT}"
    while not ready(base):
        time.sleep(0.002)
    return p, time.perf_counter() - t0
def stop(p):
    p.terminate(); p.wait()
def post(path, body):
    req = urllib.request.Request(f"http://127.0.0.1:{PORT}{path}", data=json.dumps(body).encode(), headers={"content-type": "application/json"})
    t0 = time.perf_counter()
    try:
        with urllib.request.urlopen(req) as r:
            code = r.status; r.read()
    except urllib.error.HTTPError as e:
        code = e.code; e.read()
    return code, (time.perf_counter() - t0) * 1000
first, later = [], []
for i in range(5):
    d = f"/tmp/measure-data-{i}"; shutil.rmtree(d, ignore_errors=True)
    p, t = start(d); first.append(t * 1000)
    out = p.stdout
    stop(p)
    p, t = start(d); later.append(t * 1000)
    if i < 4: stop(p)
# p is running on data dir 4 (second start): read RSS after idle
time.sleep(2)
rss = [l for l in open(f"/proc/{p.pid}/status") if l.startswith("VmRSS")][0].split()[1]
stop(p)
# logins: restart a fresh data dir and capture password
d = "/tmp/measure-login"; shutil.rmtree(d, ignore_errors=True)
env = dict(os.environ, TMS_DATA_DIR=d, TMS_LISTEN=f"127.0.0.1:{PORT}", TMS_LOG="warn")
p = subprocess.Popen([BIN], env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
pw = None
for line in p.stdout:
    if "password:" in line:
        pw = line.split()[-1]; break
while not ready(f"http://127.0.0.1:{PORT}"): time.sleep(0.01)
good = {"tenant": "demo", "email": "owner@demo.example", "password": pw}
bad = dict(good, password="wrong-password-x")
ok_times = [post("/api/v1/auth/login", good)[1] for _ in range(5)]
wrong = [post("/api/v1/auth/login", bad) for _ in range(5)]
locked = [post("/api/v1/auth/login", good) for _ in range(15)]
stop(p)
print("start to ready, first run (ms):", [round(x,1) for x in first], "median", round(statistics.median(first),1))
print("start to ready, later (ms):", [round(x,1) for x in later], "median", round(statistics.median(later),1))
print("idle RSS after start (KiB):", rss)
print("successful login (ms):", [round(x,1) for x in ok_times], "median", round(statistics.median(ok_times),1))
print("wrong password (codes, ms):", [(c, round(t,1)) for c,t in wrong])
print("locked rejection codes:", sorted(set(c for c,_ in locked)), "ms median", round(statistics.median(t for _,t in locked),2), "max", round(max(t for _,t in locked),2))
