#!/usr/bin/env python3
"""Writes the pyiso8583 fixtures used by tests/pyiso8583_fixtures.rs.

For each realistic message below, encodes it with pyiso8583 (pip install pyiso8583; made with
4.0.1) in specs.default (our iso87-binary) and specs.default_ascii (our iso87-ascii), writes the
bytes as one hex line to <name>.<spec>.hex, and writes what pyiso8583 decodes back from those
bytes, in our JSON form, to <name>.json (binary fields as uppercase hex, bitmaps left out).

Run from this directory: python3 make_pyiso8583_fixtures.py
"""
import json

import iso8583
from iso8583.specs import default, default_ascii

ICC = (
    "9F02060000000015009F03060000000000009F1A0208405F2A020840950500000080009A03251125"
    "9C01009F3704A1B2C3D49F2608C2D1E0F1A2B3C4D59F2701809F10120110A00003220000000000000000000000FF"
    "82025C008407A0000000031010"
)

MESSAGES = {
    "auth_0100_icc": {
        "t": "0100",
        "2": "4761739001010119",
        "3": "000000",
        "4": "000000001500",
        "7": "1125063015",
        "11": "000123",
        "12": "143015",
        "13": "1125",
        "14": "2812",
        "18": "5411",
        "22": "051",
        "23": "001",
        "32": "12345678901",
        "35": "4761739001010119=28122011143804400000",
        "37": "532914000123",
        "41": "TERM0001",
        "42": "MERCHANT0000001",
        "43": "CORNER SHOP              SEOUL        KR",
        "49": "840",
        "52": "A1B2C3D4E5F60718",
        "55": ICC,
    },
    "reversal_0400_de90": {
        "t": "0400",
        "2": "4761739001010119",
        "3": "000000",
        "4": "000000001500",
        "7": "1125063115",
        "11": "000124",
        "32": "12345678901",
        "37": "532914000123",
        "39": "68",
        "41": "TERM0001",
        "42": "MERCHANT0000001",
        "49": "840",
        "90": "010000012311250630150001234567800000000000",
        "95": "000000000000000000000000C00000000C00000000",
    },
    "network_0800_echo": {
        "t": "0800",
        "7": "1125063015",
        "11": "000001",
        "70": "301",
    },
}

def our_json(decoded):
    fields = {}
    for k, v in decoded.items():
        if k in ("t", "p", "1", "h"):
            continue
        fields[k] = v
    return {"mti": decoded["t"], "fields": dict(sorted(fields.items(), key=lambda kv: int(kv[0])))}


for name, msg in MESSAGES.items():
    expected = None
    for spec_name, spec in (("iso87-binary", default), ("iso87-ascii", default_ascii)):
        # pyiso8583 takes and returns binary ("b") fields as hex strings.
        doc = dict(msg)
        raw, _ = iso8583.encode(doc, spec)
        with open(f"{name}.{spec_name}.hex", "w") as f:
            f.write(raw.hex().upper() + "\n")
        decoded, _ = iso8583.decode(bytes(raw), spec)
        got = our_json(decoded)
        assert expected is None or got == expected, (name, spec_name)
        expected = got
    with open(f"{name}.json", "w") as f:
        json.dump(expected, f, indent=1)
        f.write("\n")
