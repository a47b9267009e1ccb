#!/usr/bin/python3
"""Write a randomly initialised ViT in timm's key layout as safetensors.

The benchmarks need ViT-B/S-shaped models and the machine has no model hub:
weights are drawn as timm initialises a ViT (truncated normal, std 0.02, for
linears and tokens; zero biases; unit LayerNorms), from a fixed seed.

    bench/make_vit.py --width 768 --depth 12 --heads 12 --patch 16 --img 224 -o vit_b16.safetensors
"""
import argparse
import json
import struct

import numpy as np


def trunc_normal(rng, shape, std=0.02):
    values = rng.normal(0.0, std, size=shape)
    return np.clip(values, -2.0, 2.0).astype(np.float32)  # timm cuts at ±2 absolute


def vit_tensors(width, depth, patch, img, classes, mlp_ratio, channels, seed):
    rng = np.random.default_rng(seed)
    grid = (img // patch) ** 2
    hidden = int(width * mlp_ratio)
    t = {
        "cls_token": trunc_normal(rng, (1, 1, width), 1e-6),
        "pos_embed": trunc_normal(rng, (1, grid + 1, width)),
        "patch_embed.proj.weight": trunc_normal(rng, (width, channels, patch, patch)),
        "patch_embed.proj.bias": np.zeros(width, np.float32),
    }
    for i in range(depth):
        b = f"blocks.{i}."
        for norm in ("norm1", "norm2"):
            t[b + norm + ".weight"] = np.ones(width, np.float32)
            t[b + norm + ".bias"] = np.zeros(width, np.float32)
        for name, out, inp in (("attn.qkv", 3 * width, width), ("attn.proj", width, width),
                               ("mlp.fc1", hidden, width), ("mlp.fc2", width, hidden)):
            t[b + name + ".weight"] = trunc_normal(rng, (out, inp))
            t[b + name + ".bias"] = np.zeros(out, np.float32)
    t["norm.weight"] = np.ones(width, np.float32)
    t["norm.bias"] = np.zeros(width, np.float32)
    if classes:
        t["head.weight"] = trunc_normal(rng, (classes, width))
        t["head.bias"] = np.zeros(classes, np.float32)
    return t


def write_safetensors(path, tensors, metadata):
    header, offset, blobs = {"__metadata__": metadata}, 0, []
    for name, array in tensors.items():
        data = np.ascontiguousarray(array).tobytes()
        header[name] = {"dtype": "F32", "shape": list(array.shape),
                        "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    encoded = json.dumps(header).encode()
    encoded += b" " * (-len(encoded) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(encoded)))
        f.write(encoded)
        for blob in blobs:
            f.write(blob)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--width", type=int, default=768)
    parser.add_argument("--depth", type=int, default=12)
    parser.add_argument("--heads", type=int, default=12)
    parser.add_argument("--patch", type=int, default=16)
    parser.add_argument("--img", type=int, default=224)
    parser.add_argument("--classes", type=int, default=1000)
    parser.add_argument("--mlp-ratio", type=float, default=4.0)
    parser.add_argument("--channels", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("-o", "--output", required=True)
    args = parser.parse_args()
    tensors = vit_tensors(args.width, args.depth, args.patch, args.img, args.classes,
                          args.mlp_ratio, args.channels, args.seed)
    write_safetensors(args.output, tensors, {"num_heads": str(args.heads)})


if __name__ == "__main__":
    main()
