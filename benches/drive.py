"""Drives the asynchronous parts for benches/run.sh and prints JSON figures:
security checks decided per minute (gateway vs the directorate driven
directly), SMS dispatch rate with the rate limit lifted, and the outbox under
an SMSC outage. Standard library only; bounded in count and time."""
import json, sys, time, uuid, threading, urllib.request, urllib.error
from concurrent.futures import ThreadPoolExecutor

PHASE, API, SANDBOX, TOKEN, IDS = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5]
ids = [l.strip() for l in open(IDS) if l.strip()]


def call(method, url, body=None, headers=None, token=True):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)
    req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", "Bearer " + TOKEN)
    for k, v in (headers or {}).items():
        req.add_header(k, v)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, None


def ok(result, what):
    status, body = result
    if body is None:
        raise SystemExit(f"{what}: HTTP {status}")
    return body


def until_decided(get, limit=120):
    started = time.time()
    while time.time() - started < limit:
        status = get()
        if status not in ("pending", None):
            return status
        time.sleep(0.2)
    return "timeout"


def security(n=300):
    pool = ThreadPoolExecutor(16)
    ctx = {"operator_id": "EMP-1", "purpose": "shop_license", "case_ref": "BENCH"}
    t0 = time.time()
    subs = list(pool.map(lambda i: ok(call("POST", API + "/v1/security-checks",
                                            {"national_id": i, "check_type": "shop_license", "context": ctx}), "submit")["id"], ids[:n]))
    done = list(pool.map(lambda cid: until_decided(lambda: call("GET", f"{API}/v1/security-checks/{cid}")[1]["status"]), subs))
    gateway_s = time.time() - t0
    assert all(d in ("cleared", "not_cleared") for d in done), done
    t0 = time.time()
    tickets = list(pool.map(lambda i: call("POST", SANDBOX + "/security/v1/checks",
                                            {"reference": str(uuid.uuid4()), "national_id": i, "check_type": "shop_license"},
                                            token=False)[1]["ticket"], ids[n:2 * n]))
    list(pool.map(lambda t: until_decided(lambda: call("GET", f"{SANDBOX}/security/v1/checks/{t}", token=False)[1]["status"]), tickets))
    direct_s = time.time() - t0
    return {"n": n, "gateway_s": gateway_s, "gateway_per_min": n / gateway_s * 60,
            "direct_s": direct_s, "direct_per_min": n / direct_s * 60}


def smsc_count():
    return len(call("GET", SANDBOX + "/_smsc/messages", token=False)[1]["messages"])


def queued():
    with urllib.request.urlopen(API + "/metrics", timeout=10) as r:
        for line in r.read().decode().splitlines():
            if line.startswith("bawaba_sms_outbox_queued "):
                return int(float(line.split()[1]))
    return -1


def sms(i, tag):
    body = {"to": "01001234567", "template": "request_status", "lang": "en",
            "params": {"case_ref": f"B-{i}", "status": "approved", "center": "Zagazig"},
            "context": {"operator_id": "EMP-1", "purpose": "status_notification", "case_ref": f"B-{i}"}}
    return call("POST", API + "/v1/sms", body, {"Idempotency-Key": f"{tag}-{i}-{uuid.uuid4()}"})[0]


def dispatch(n=3000):
    before = smsc_count()
    pool = ThreadPoolExecutor(32)
    t0 = time.time()
    statuses = list(pool.map(lambda i: sms(i, "dispatch"), range(n)))
    assert all(s == 202 for s in statuses)
    while smsc_count() - before < n and time.time() - t0 < 120:
        time.sleep(0.05)
    seconds = time.time() - t0
    return {"n": n, "seconds": seconds, "per_s": n / seconds}


def outage(seconds=5):
    before = smsc_count()
    call("POST", SANDBOX + "/_faults", {"registry": "smsc", "mode": "http_503"}, token=False)
    pool = ThreadPoolExecutor(16)
    stop = time.time() + seconds
    accepted = [0]
    lock = threading.Lock()

    def worker(k):
        i = 0
        while time.time() < stop:
            if sms(f"{k}-{i}", "outage") == 202:
                with lock:
                    accepted[0] += 1
            i += 1
    list(pool.map(worker, range(16)))
    time.sleep(0.3)
    peak = queued()
    call("DELETE", SANDBOX + "/_faults", token=False)
    t0 = time.time()
    while smsc_count() - before < accepted[0] and time.time() - t0 < 120:
        time.sleep(0.1)
    drained = time.time() - t0
    return {"accepted": accepted[0], "seconds": seconds, "queued_peak": peak, "drain_s": drained,
            "delivered": smsc_count() - before}


if PHASE == "security":
    print(json.dumps({"security": security()}))
else:
    print(json.dumps({"dispatch": dispatch(), "outage": outage()}))
