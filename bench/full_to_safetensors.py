#!/usr/bin/python3
"""Write a fully fine-tuned backbone as a timm-layout safetensors checkpoint.

A `peft-train --method full` bundle holds the trained backbone tensors as
"backbone.<timm name>"; the checkpoint it started from supplies the rest
(the tensors full fine-tuning does not train). The old head is left out.
The benchmarks use it to make a small "pre-trained" backbone here, where no
model hub can be reached.

    bench/full_to_safetensors.py START.safetensors FULL.vpet OUT.safetensors
"""
import json
import struct
import sys

import msgpack
import msgpack_numpy
import numpy as np

DTYPES = {"F16": np.float16, "F32": np.float32, "F64": np.float64, "BF16": None}


def read_safetensors(path):
    with open(path, "rb") as f:
        size = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(size))
        data = f.read()
    metadata = header.pop("__metadata__", {})
    tensors = {}
    for name, info in header.items():
        dtype = DTYPES.get(info["dtype"])
        if dtype is None:
            sys.exit(f"{path}: {name}: dtype {info['dtype']} is not handled here")
        start, end = info["data_offsets"]
        tensors[name] = np.frombuffer(data[start:end], dtype=dtype).reshape(info["shape"])
    return tensors, metadata


def write_safetensors(path, tensors, metadata):
    header, offset, blobs = {"__metadata__": metadata}, 0, []
    for name, array in tensors.items():
        blob = np.ascontiguousarray(array, dtype=np.float32).tobytes()
        header[name] = {"dtype": "F32", "shape": list(array.shape),
                        "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    encoded = json.dumps(header).encode()
    encoded += b" " * (-len(encoded) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(encoded)))
        f.write(encoded)
        for blob in blobs:
            f.write(blob)


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__.strip().splitlines()[-1].strip())
    start, bundle, out = sys.argv[1:]
    tensors, metadata = read_safetensors(start)
    with open(bundle, "rb") as f:
        header, record = list(msgpack.Unpacker(f, object_hook=msgpack_numpy.decode, raw=False))
    if header.get("method") != "full":
        sys.exit(f"{bundle}: a {header.get('method')} bundle, not full")
    for name, value in record.items():
        if name.startswith("backbone."):
            target = name[len("backbone."):]
            if target not in tensors:
                sys.exit(f"{bundle}: {target} is not in {start}")
            tensors[target] = np.asarray(value)
    tensors = {k: v for k, v in tensors.items() if not k.startswith("head.")}
    write_safetensors(out, tensors, metadata)


if __name__ == "__main__":
    main()
