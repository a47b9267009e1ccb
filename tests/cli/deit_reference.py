#!/usr/bin/python3
"""A tiny distilled DeiT in timm's layout, and its forward.

usage: deit_reference.py write MODEL.safetensors
       deit_reference.py forward MODEL.safetensors PIXELS.vpet EXPECTED.safetensors

`write` saves a VisionTransformerDistilled state dict (every weight random,
LayerNorms included): cls_token and dist_token [1, 1, D], pos_embed with
N + 2 positions, head and head_dist. `forward` runs it on the pixels of a
vit-extract --feature pixels stream (so that preprocessing is not what is
tested) and writes "pre_logits" (timm's forward_head(pre_logits=True): the
mean of the final-normed class and distillation tokens) and "logits" (the
mean of head(class token) and head_dist(distillation token), what the model
gives at inference). Written from timm/models/deit.py
(VisionTransformerDistilled._pos_embed, forward_head) and
timm/models/vision_transformer.py (Block, Attention); timm is not packaged
in Debian.
"""

import sys

import msgpack
import msgpack_numpy
import numpy as np
import torch
import torch.nn.functional as F

from hf_reference import write_safetensors
from compare_stream import read_safetensors

WIDTH, DEPTH, HEADS, MLP, PATCH, IMG, CLASSES = 24, 2, 3, 40, 7, 28, 5
EPS = 1e-6  # timm's ViT LayerNorm


def weights():
    torch.manual_seed(4)
    grid = IMG // PATCH
    r = lambda *shape, std=1.0: torch.randn(*shape) * std
    w = {"cls_token": r(1, 1, WIDTH, std=0.5), "dist_token": r(1, 1, WIDTH, std=0.5),
         "pos_embed": r(1, grid * grid + 2, WIDTH, std=0.5),
         "patch_embed.proj.weight": r(WIDTH, 3, PATCH, PATCH, std=0.1),
         "patch_embed.proj.bias": r(WIDTH, std=0.2)}

    def linear(name, out, inp):
        w[name + ".weight"] = r(out, inp, std=inp ** -0.5)
        w[name + ".bias"] = r(out, std=0.2)

    def norm(name):
        w[name + ".weight"] = 1 + 0.3 * torch.randn(WIDTH)
        w[name + ".bias"] = r(WIDTH, std=0.3)

    for i in range(DEPTH):
        p = f"blocks.{i}."
        norm(p + "norm1")
        linear(p + "attn.qkv", 3 * WIDTH, WIDTH)
        linear(p + "attn.proj", WIDTH, WIDTH)
        norm(p + "norm2")
        linear(p + "mlp.fc1", MLP, WIDTH)
        linear(p + "mlp.fc2", WIDTH, MLP)
    norm("norm")
    linear("head", CLASSES, WIDTH)
    linear("head_dist", CLASSES, WIDTH)
    return w


def attention(x, w, p):
    # timm Attention.forward: fused qkv, q scaled, softmax, proj.
    B, N, C = x.shape
    qkv = F.linear(x, w[p + "qkv.weight"], w[p + "qkv.bias"])
    q, k, v = qkv.reshape(B, N, 3, HEADS, C // HEADS).permute(2, 0, 3, 1, 4).unbind(0)
    q = q * (C // HEADS) ** -0.5
    attn = (q @ k.transpose(-2, -1)).softmax(dim=-1)
    x = (attn @ v).transpose(1, 2).reshape(B, N, C)
    return F.linear(x, w[p + "proj.weight"], w[p + "proj.bias"])


def forward(w, pixels):
    ln = lambda x, p: F.layer_norm(x, (WIDTH,), w[p + ".weight"], w[p + ".bias"], EPS)
    x = F.conv2d(pixels, w["patch_embed.proj.weight"], w["patch_embed.proj.bias"], stride=PATCH)
    x = x.flatten(2).transpose(1, 2)
    # _pos_embed (no_embed_class False): concatenate cls, dist, patches, then add.
    B = x.shape[0]
    x = torch.cat((w["cls_token"].expand(B, -1, -1), w["dist_token"].expand(B, -1, -1), x), 1)
    x = x + w["pos_embed"]
    for i in range(DEPTH):
        p = f"blocks.{i}."
        x = x + attention(ln(x, p + "norm1"), w, p + "attn.")
        h = F.gelu(F.linear(ln(x, p + "norm2"), w[p + "mlp.fc1.weight"], w[p + "mlp.fc1.bias"]))
        x = x + F.linear(h, w[p + "mlp.fc2.weight"], w[p + "mlp.fc2.bias"])
    x = ln(x, "norm")
    # forward_head
    x, x_dist = x[:, 0], x[:, 1]
    pre_logits = (x + x_dist) / 2
    logits = (F.linear(x, w["head.weight"], w["head.bias"]) +
              F.linear(x_dist, w["head_dist.weight"], w["head_dist.bias"])) / 2
    return pre_logits, logits


def main():
    if sys.argv[1] == "write":
        # num_heads as vpet's and timm's exports record it (width 24 is not 64-wide heads).
        write_safetensors(sys.argv[2], weights(), {"format": "pt", "num_heads": str(HEADS)})
        return
    model, stream, out = sys.argv[2:5]
    w = {k: torch.from_numpy(v.copy()) for k, v in read_safetensors(model).items()}
    maps = list(msgpack.Unpacker(open(stream, "rb"), object_hook=msgpack_numpy.decode, raw=False))
    pixels = torch.from_numpy(np.concatenate([m["features"] for m in maps[1:-1]]))
    with torch.no_grad():
        pre_logits, logits = forward(w, pixels)
    write_safetensors(out, {"pre_logits": pre_logits, "logits": logits})


if __name__ == "__main__":
    main()
