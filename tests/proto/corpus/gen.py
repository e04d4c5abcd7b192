#!/usr/bin/env python3
"""gen.py - writes the proto decode corpus (tests/proto/corpus/{valid,invalid}).

Run from anywhere: python3 tests/proto/corpus/gen.py. Standard library only;
MessagePack is packed by hand below so that the corpus needs no msgpack module.
Invalid files are named <reason>__<what>.<json|mp>: test_corpus.c expects every
message of the record to be rejected with <reason>.
"""
import json
import math
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
SENSOR = "XXXX03X2Z74162459"
GATEWAY = "XXXX00X1O73360355"
TS = 1559638241


def write(folder, name, data):
    os.makedirs(os.path.join(HERE, folder), exist_ok=True)
    if isinstance(data, str):
        data = data.encode("utf-8")
    with open(os.path.join(HERE, folder, name), "wb") as f:
        f.write(data)


def mp(v):
    """Packs v in shortest MessagePack form (dict order kept; float -> float64)."""
    if v is None:
        return b"\xc0"
    if v is True:
        return b"\xc3"
    if v is False:
        return b"\xc2"
    if isinstance(v, int):
        if 0 <= v < 128:
            return bytes([v])
        if -32 <= v < 0:
            return struct.pack("b", v)
        if v >= 0:
            for code, fmt, lim in ((0xcc, ">B", 1 << 8), (0xcd, ">H", 1 << 16),
                                   (0xce, ">I", 1 << 32), (0xcf, ">Q", 1 << 64)):
                if v < lim:
                    return bytes([code]) + struct.pack(fmt, v)
        for code, fmt, lim in ((0xd0, ">b", 1 << 7), (0xd1, ">h", 1 << 15),
                               (0xd2, ">i", 1 << 31), (0xd3, ">q", 1 << 63)):
            if v >= -lim:
                return bytes([code]) + struct.pack(fmt, v)
        raise ValueError(v)
    if isinstance(v, float):
        return b"\xcb" + struct.pack(">d", v)
    if isinstance(v, str):
        b = v.encode("utf-8", "surrogatepass")
        return str_head(len(b)) + b
    if isinstance(v, bytes):  # raw str bytes, to write invalid UTF-8
        return str_head(len(v)) + v
    if isinstance(v, list):
        return container(len(v), 0x90, 0xdc) + b"".join(mp(x) for x in v)
    if isinstance(v, dict):
        return container(len(v), 0x80, 0xde) + b"".join(mp(k) + mp(x) for k, x in v.items())
    if isinstance(v, Raw):
        return v.data
    raise TypeError(v)


class Raw:
    def __init__(self, data):
        self.data = data


def str_head(n):
    if n < 32:
        return bytes([0xa0 | n])
    if n < 256:
        return b"\xd9" + bytes([n])
    if n < 65536:
        return b"\xda" + struct.pack(">H", n)
    return b"\xdb" + struct.pack(">I", n)


def container(n, fix, c16):
    if n < 16:
        return bytes([fix | n])
    if n < 65536:
        return bytes([c16]) + struct.pack(">H", n)
    return bytes([c16 + 1]) + struct.pack(">I", n)


def msg(tsm_id, ev, tuid=SENSOR, ts=TS, gw=GATEWAY, **fields):
    m = {"tsmId": tsm_id, "tsmEv": ev}
    if ts is not None:
        m["tsmTs"] = ts
    m["tsmTuid"] = tuid
    if gw is not None:
        m["tsmGw"] = gw
    m.update(fields)
    return m


def deep(levels):
    """A message nested `levels` deep in total (the message is level 1)."""
    inner = {}
    for _ in range(levels - 2):
        inner = {"d": inner}
    m = msg(12100, 10)
    if levels > 1:
        m["d"] = inner
    return m


VALID = {
    "1110_battery": msg(1110, 10, batl=74),
    "1110_battery_float": msg(1110, 10, batl=86.5, ts=TS + 0.25),
    "1100_version": msg(1100, 10, swVersion="2019.11.15.2_ts_pod3wp34"),
    "1210_gateway_location": msg(1210, 10, tuid=GATEWAY, gw=None, lat=65.01, lon=25.52),
    "12100_environment": msg(12100, 10, temp=21.5, hum=40, pres=1013.25),
    "18_disconnected_without_ts": msg(1110, 18, ts=None),
    "batch_of_four": [msg(1110, 10, batl=73), msg(1100, 10, swVersion="2019.11.15.2"),
                      msg(12100, 10, temp=-3.75, hum=88), msg(1110, 18, ts=None)],
    "dynamic_fields_of_every_type": msg(12100, 10, count=18446744073709551615, neg=-42,
                                        ratio=0.1, flag=True, off=False, none=None,
                                        samples=[1, 2.5, "x", [None]],
                                        meta={"site": "Oulu \u2013 Pokkinen \u2603",
                                              "tags": []}),
    "depth_sixteen": deep(16),
    "ten_years_ahead": msg(1110, 10, ts=TS + 10 * 365 * 86400, batl=50),
    "ten_years_behind": msg(1110, 10, ts=TS - 10 * 365 * 86400, batl=50),
    "tuid_dots": msg(1110, 10, tuid="..", gw="a..b"),
    "tuid_64_chars": msg(1110, 10, tuid="T" * 64),
    "gateway_null": msg(1110, 10, gw=None, tsmGw=None),
}


def pretty_and_compact():
    for name, m in VALID.items():
        write("valid", name + ".json", json.dumps(m, ensure_ascii=False, separators=(",", ":")))
        write("valid", name + ".mp", mp(m))
    write("valid", "pretty_printed.json", "\n  " + json.dumps(msg(1110, 10, batl=74), indent=2) + "\n")
    write("valid", "escaped_strings.json",
          '{"tsmId":1100,"tsmEv":10,"tsmTuid":"A","tsmTs":1,"swVersion":"v\\u0031 \\"q\\" \\ud83d\\ude00"}')
    # Non-canonical MessagePack: str8 keys, map16, float32, int64 for small values.
    write("valid", "noncanonical.mp",
          b"\xde\x00\x05" + b"\xd9\x05tsmId" + b"\xd3" + struct.pack(">q", 1110) +
          b"\xd9\x05tsmEv" + b"\xcd\x00\x0a" + b"\xa7tsmTuid" + mp(SENSOR) +
          b"\xa5tsmTs" + b"\xce" + struct.pack(">I", TS) + b"\xa4batl" + b"\xca" + struct.pack(">f", 74.5))


def s(obj):
    return json.dumps(obj, separators=(",", ":"))


BASE = '"tsmId":1110,"tsmEv":10,"tsmTuid":"%s","tsmTs":%d' % (SENSOR, TS)
INVALID_JSON = {
    "empty__zero_bytes": "",
    "empty__blank": " \r\n\t ",
    "empty__array": "[]",
    "bad_format__text": "tsmId=1110 tsmEv=10",
    "bad_format__bom": "\ufeff{" + BASE + "}",
    "bad_format__string": '"{' + BASE + '}"',
    "bad_json__truncated": "{" + BASE + ',"batl":7',
    "bad_json__trailing_garbage": "{" + BASE + "}garbage",
    "bad_json__two_documents": "{" + BASE + "}{" + BASE + "}",
    "bad_json__nan": "{" + BASE + ',"batl":NaN}',
    "bad_json__infinity": "{" + BASE + ',"batl":Infinity}',
    "bad_json__single_quotes": "{'tsmId':1110}",
    "bad_json__lone_surrogate": "{" + BASE + ',"s":"\\ud800"}',
    "bad_json__unquoted_key": "{tsmId:1110}",
    "bad_number__1e999": "{" + BASE + ',"batl":1e999}',
    "bad_number__2_pow_64": "{" + BASE + ',"n":18446744073709551616}',
    "bad_number__id_2_pow_64": '{"tsmId":18446744073709551616,"tsmEv":10,"tsmTuid":"A"}',
    "nul_char__string": "{" + BASE + ',"s":"a\\u0000b"}',
    "nul_char__key": "{" + BASE + ',"a\\u0000":1}',
    "duplicate_key__top": "{" + BASE + ',"tsmTs":1}',
    "duplicate_key__nested": "{" + BASE + ',"o":{"a":[{"b":1,"b":2}]}}',
    "duplicate_key__after_unescape": "{" + BASE + ',"batl":1,"b\\u0061tl":2}',
    "too_deep__seventeen": s(deep(17)),
    "too_deep__array_element_sixteen": "[" + s(deep(16)) + "]",
    "not_object__numbers": "[1,2,3]",
    "not_object__nested_array": "[[{" + BASE + "}]]",
    "missing_field__tsmId": '{"tsmEv":10,"tsmTuid":"A","tsmTs":1}',
    "missing_field__tsmEv": '{"tsmId":1110,"tsmTuid":"A","tsmTs":1}',
    "missing_field__tsmTuid": '{"tsmId":1110,"tsmEv":10,"tsmTs":1}',
    "missing_field__empty_object": "{}",
    "bad_field__id_float": '{"tsmId":5.0,"tsmEv":10,"tsmTuid":"A","tsmTs":1}',
    "bad_field__id_exponent": '{"tsmId":1.11e3,"tsmEv":10,"tsmTuid":"A","tsmTs":1}',
    "bad_field__id_string": '{"tsmId":"1110","tsmEv":10,"tsmTuid":"A","tsmTs":1}',
    "bad_field__ev_uint64": '{"tsmId":1110,"tsmEv":9223372036854775808,"tsmTuid":"A"}',
    "bad_field__tuid_number": '{"tsmId":1110,"tsmEv":10,"tsmTuid":42,"tsmTs":1}',
    "bad_field__ts_string": '{"tsmId":1110,"tsmEv":10,"tsmTuid":"A","tsmTs":"1559638241"}',
    "bad_field__gw_number": '{"tsmId":1110,"tsmEv":10,"tsmTuid":"A","tsmGw":7}',
    "bad_tuid__space": '{"tsmId":1110,"tsmEv":10,"tsmTuid":"XXXX 03","tsmTs":1}',
    "bad_tuid__crlf": '{"tsmId":1110,"tsmEv":10,"tsmTuid":"XXXX\\r\\n03","tsmTs":1}',
    "bad_tuid__colon": '{"tsmId":1110,"tsmEv":10,"tsmTuid":"tsm:XXXX","tsmTs":1}',
    "bad_tuid__braces": '{"tsmId":1110,"tsmEv":10,"tsmTuid":"{XXXX}","tsmTs":1}',
    "bad_tuid__star": '{"tsmId":1110,"tsmEv":10,"tsmTuid":"XXXX*","tsmTs":1}',
    "bad_tuid__65_chars": '{"tsmId":1110,"tsmEv":10,"tsmTuid":"%s","tsmTs":1}' % ("T" * 65),
    "bad_tuid__empty": '{"tsmId":1110,"tsmEv":10,"tsmTuid":"","tsmTs":1}',
    "bad_tuid__non_ascii": '{"tsmId":1110,"tsmEv":10,"tsmTuid":"XX\u00c4X","tsmTs":1}',
    "bad_gateway__space": "{" + BASE + ',"tsmGw":"XXXX 00"}',
    "bad_gateway__slash": "{" + BASE + ',"tsmGw":"../../etc"}',
    "bad_timestamp__negative": '{"tsmId":1110,"tsmEv":10,"tsmTuid":"A","tsmTs":-1}',
    "bad_timestamp__after_2106": '{"tsmId":1110,"tsmEv":10,"tsmTuid":"A","tsmTs":4294967296}',
    "bad_timestamp__milliseconds": '{"tsmId":1110,"tsmEv":10,"tsmTuid":"A","tsmTs":1559638241000}',
}

INVALID_BYTES_JSON = {
    "bad_utf8__latin1": b'{"tsmId":1110,"tsmEv":10,"tsmTuid":"A","site":"P\xe4\xe4"}',
    "bad_utf8__overlong": b'{"tsmId":1110,"tsmEv":10,"tsmTuid":"A","s":"\xc0\xaf"}',
    "bad_utf8__surrogate": b'{"tsmId":1110,"tsmEv":10,"tsmTuid":"A","s":"\xed\xa0\x80"}',
}

GOOD = msg(1110, 10, batl=74)


def good_with(**extra):
    m = dict(GOOD)
    m.update(extra)
    return mp(m)


INVALID_MP = {
    "bad_msgpack__truncated": mp(GOOD)[:-3],
    "bad_msgpack__trailing_byte": mp(GOOD) + b"\xc0",
    "bad_msgpack__never_used_c1": good_with(x=Raw(b"\xc1")),
    "bad_msgpack__ext_timestamp": good_with(x=Raw(b"\xd6\xff" + struct.pack(">I", TS))),
    "bad_msgpack__bin": good_with(x=Raw(b"\xc4\x02ab")),
    "bad_msgpack__array32_count": b"\xdd\xff\xff\xff\xff" + mp(GOOD),
    "bad_key__integer": mp(GOOD)[:1].replace(b"\x86", b"\x87") + mp(GOOD)[1:] + b"\x01\x02",
    "bad_key__nil_in_nested": good_with(o=Raw(b"\x81\xc0\x01")),
    "bad_utf8__value": good_with(s=b"P\xe4\xe4"),
    "bad_utf8__key": mp(GOOD)[:1].replace(b"\x86", b"\x87") + mp(GOOD)[1:] + mp(b"\xff") + b"\x01",
    "bad_number__nan": good_with(x=float("nan")),
    "bad_number__float32_inf": good_with(x=Raw(b"\xca" + struct.pack(">f", math.inf))),
    "bad_number__ts_nan": mp(msg(1110, 10, ts=float("nan"))),
    "nul_char__value": good_with(s="a\x00b"),
    "duplicate_key__top": mp(GOOD)[:1].replace(b"\x86", b"\x87") + mp(GOOD)[1:] + mp("batl") + mp(1),
    "too_deep__seventeen": mp(deep(17)),
    "not_object__array_of_ints": mp([1, 2]),
    "empty__array": mp([]),
    "bad_format__fixstr": mp("tsmId"),
    "bad_format__nil": b"\xc0",
    "missing_field__tsmEv": mp({"tsmId": 1110, "tsmTuid": SENSOR, "tsmTs": TS}),
    "bad_field__id_uint64": mp({"tsmId": 1 << 63, "tsmEv": 10, "tsmTuid": SENSOR}),
    "bad_field__id_float": mp({"tsmId": 1110.0, "tsmEv": 10, "tsmTuid": SENSOR}),
    "bad_tuid__space": mp(msg(1110, 10, tuid="XXXX 03")),
    "bad_gateway__colon": mp(msg(1110, 10, gw="gw:1")),
    "bad_timestamp__negative_float": mp(msg(1110, 10, ts=-0.5)),
}


def main():
    for folder in ("valid", "invalid"):
        d = os.path.join(HERE, folder)
        if os.path.isdir(d):
            for f in os.listdir(d):
                os.remove(os.path.join(d, f))
    pretty_and_compact()
    for name, text in INVALID_JSON.items():
        write("invalid", name + ".json", text)
    for name, data in INVALID_BYTES_JSON.items():
        write("invalid", name + ".json", data)
    for name, data in INVALID_MP.items():
        write("invalid", name + ".mp", data)


if __name__ == "__main__":
    main()
