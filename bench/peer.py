#!/usr/bin/python3
"""bench/peer.py - the Python peer tsmd is compared with (issue 16): the same
ingest as a platform team would write it, with Debian 12's packages
(python3-confluent-kafka, python3-redis, python3-hiredis).

Per poll batch: one Redis pipeline (no MULTI), the state of each thing
coalesced into one HSET (timestamp, gateway_tuid, battery_level, lat, lon,
version of its newest message), one ZADD per thing with every message of the
batch (score tsmTs, member the record's JSON text), one ZREMRANGEBYRANK per
thing (trim to --keep), then the offsets committed (async). No alerting, no
API: a lower bound on what such a consumer costs.

    bench/peer.py --bootstrap-file F --topic T --group G --redis-port P
                  --expect N [--batch 10000] [--keep 100] [--prefix peer:]

Stops once it has consumed N records (valid or not) and committed them.
Prints one JSON object: messages, seconds (first record to last commit),
steady_msgs_per_sec (from 20% of N), cpu_s (its own).
"""
import argparse
import json
import resource
import sys
import time

import redis
from confluent_kafka import Consumer, KafkaError, KafkaException


def cpu_s():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def write_batch(pipe, prefix, msgs, keep):
    state, hist = {}, {}
    for raw in msgs:
        try:
            m = json.loads(raw)
            tuid, ts = m["tsmTuid"], float(m.get("tsmTs", 0))
        except (ValueError, KeyError, TypeError):
            continue
        if not isinstance(tuid, str):
            continue
        hist.setdefault(tuid, {})[raw] = ts
        s = state.setdefault(tuid, {"timestamp": 0})
        if ts >= s["timestamp"]:
            s["timestamp"] = ts
            for k, f in (("tsmGw", "gateway_tuid"), ("batl", "battery_level"),
                         ("lat", "lat"), ("lon", "lon"), ("swVersion", "version")):
                if isinstance(m.get(k), (int, float, str)) and not isinstance(m[k], bool):
                    s[f] = m[k]
    for tuid, s in state.items():
        s["timestamp"] = int(s["timestamp"])
        pipe.hset(f"{prefix}{{{tuid}}}:thing", mapping=s)
    for tuid, members in hist.items():
        key = f"{prefix}{{{tuid}}}:msgs"
        pipe.zadd(key, members)
        pipe.zremrangebyrank(key, 0, -(keep + 1))
    pipe.execute()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bootstrap-file", required=True)
    ap.add_argument("--topic", required=True)
    ap.add_argument("--group", required=True)
    ap.add_argument("--redis-port", type=int, required=True)
    ap.add_argument("--expect", type=int, required=True)
    ap.add_argument("--batch", type=int, default=10000)
    ap.add_argument("--keep", type=int, default=100)
    ap.add_argument("--prefix", default="peer:")
    a = ap.parse_args()
    with open(a.bootstrap_file) as f:
        bootstrap = f.readline().strip()
    r = redis.Redis(port=a.redis_port)
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": a.group,
                         "auto.offset.reset": "earliest", "enable.auto.commit": False})
    consumer.subscribe([a.topic])
    seen, t0, t20, n20 = 0, None, None, 0
    deadline = time.time() + 600
    while seen < a.expect and time.time() < deadline:
        recs = consumer.consume(num_messages=a.batch, timeout=1.0)
        if not recs:
            continue
        if t0 is None:
            t0 = time.time()
        msgs = [m.value() for m in recs if m.error() is None and m.value()]
        write_batch(r.pipeline(transaction=False), a.prefix, msgs, a.keep)
        consumer.commit(asynchronous=True)
        seen += len(recs)
        if t20 is None and seen >= a.expect // 5:
            t20, n20 = time.time(), seen
    try:
        consumer.commit(asynchronous=False)
    except KafkaException as e:  # _NO_OFFSET: the async commits already took everything
        if e.args[0].code() != KafkaError._NO_OFFSET:
            raise
    t1 = time.time()
    consumer.close()
    secs = t1 - (t0 or t1)
    steady = (seen - n20) / (t1 - t20) if t20 and t1 > t20 else 0
    print(json.dumps({"messages": seen, "seconds": round(secs, 3),
                      "msgs_per_sec": round(seen / secs) if secs > 0 else 0,
                      "steady_msgs_per_sec": round(steady), "cpu_s": round(cpu_s(), 2)}))
    return 0 if seen >= a.expect else 1


if __name__ == "__main__":
    sys.exit(main())
