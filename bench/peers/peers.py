"""pyiso8583 on the messages `peers-bench emit` wrote: time per decode and encode in Python's own
loop (median of five rounds), and which hostile variants it refuses.

python peers.py MSG_DIR   -> TIME/CHECK lines as the Rust program prints them
"""

import os
import sys
import time

import iso8583
from iso8583.specs import default, default_ascii

SPECS = {"iso87-binary": default, "iso87-ascii": default_ascii}
ROUND_S = int(os.environ.get("PEERS_MS", "300")) / 1000


def time_ns(f):
    batch = 1
    while True:
        t = time.perf_counter_ns()
        for _ in range(batch):
            f()
        if time.perf_counter_ns() - t > 10_000_000:
            break
        batch *= 2
    rounds = []
    for _ in range(5):
        t = time.perf_counter_ns()
        n = 0
        while time.perf_counter_ns() - t < ROUND_S * 1e9:
            for _ in range(batch):
                f()
            n += batch
        rounds.append((time.perf_counter_ns() - t) / n)
    rounds.sort()
    return rounds[2]


def main(msg_dir):
    version = iso8583.__version__ if hasattr(iso8583, "__version__") else "?"
    for name, spec in SPECS.items():
        with open(os.path.join(msg_dir, name + ".hex")) as fh:
            wire = bytes.fromhex(fh.read().strip())
        doc, _ = iso8583.decode(wire, spec)
        again, _ = iso8583.encode(doc, spec)
        same = "re-encodes byte-identical" if bytes(again) == wire else "RE-ENCODES DIFFERENT BYTES"
        ns = time_ns(lambda: iso8583.decode(wire, spec))
        print(f"TIME\tpyiso8583 {version}\t{name}\tdecode\t{ns:.1f}\tbytes -> dict of str (CPython loop)")
        ns = time_ns(lambda: iso8583.encode(doc, spec))
        print(f"TIME\tpyiso8583 {version}\t{name}\tencode\t{ns:.1f}\t{same}")
        with open(os.path.join(msg_dir, name + ".cases")) as fh:
            for line in fh:
                case, hexmsg = line.split()
                try:
                    iso8583.decode(bytes.fromhex(hexmsg), spec)
                    verdict = "accepted"
                except iso8583.DecodeError:
                    verdict = "rejected"
                except Exception:  # anything else is a crash of the decoder
                    verdict = "raised " + sys.exc_info()[0].__name__
                print(f"CHECK\tpyiso8583 {version}\t{name}\t{case}\t{verdict}")


if __name__ == "__main__":
    main(sys.argv[1])
