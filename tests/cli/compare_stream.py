#!/usr/bin/python3
"""Compare a tensor of a vpet stream, read with msgpack_numpy (the real peer),
against a tensor of a safetensors file written by the fixture scripts.

usage: compare_stream.py STREAM EXPECTED.safetensors KEY [TOLERANCE] [--field NAME]
Concatenates the stream's records along the first axis; exits 1 if the max
absolute difference exceeds TOLERANCE (default 1e-4) or shapes differ.
"""
import json
import struct
import sys

import msgpack
import msgpack_numpy
import numpy as np

DTYPES = {"F32": np.float32, "F16": np.float16, "F64": np.float64, "I64": np.int64,
          "I32": np.int32, "U8": np.uint8, "BOOL": np.bool_}


def read_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    header.pop("__metadata__", None)
    out = {}
    for name, entry in header.items():
        begin, end = entry["data_offsets"]
        raw = data[8 + n + begin:8 + n + end]
        out[name] = np.frombuffer(raw, DTYPES[entry["dtype"]]).reshape(entry["shape"])
    return out


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    field = "features"
    if "--field" in sys.argv:
        field = sys.argv[sys.argv.index("--field") + 1]
        args.remove(field)
    stream, expected_path, key = args[:3]
    tolerance = float(args[3]) if len(args) > 3 else 1e-4
    with open(stream, "rb") as f:
        maps = list(msgpack.Unpacker(f, object_hook=msgpack_numpy.decode, raw=False))
    header, records, end = maps[0], maps[1:-1], maps[-1]
    assert header["format"] == "vpet", header
    assert end == {"format": "vpet-end", "records": len(records),
                   "samples": sum(len(r[field]) for r in records)}, end
    got = np.concatenate([r[field] for r in records]).astype(np.float64)
    want = read_safetensors(expected_path)[key].astype(np.float64)
    if got.shape != want.shape:
        print(f"shape {got.shape} != expected {want.shape}")
        return 1
    diff = float(np.max(np.abs(got - want)))
    print(f"{key}: max abs diff {diff:.3g}")
    return 0 if diff <= tolerance else 1


if __name__ == "__main__":
    sys.exit(main())
