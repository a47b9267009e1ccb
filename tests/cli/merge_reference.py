#!/usr/bin/python3
"""Merge parity oracle for peft-export --merge (tests/cli/peft-export.bats).

usage: merge_reference.py BASE BUNDLE TORCHVISION TIMM HF_DIR LIST OUT

BASE         the backbone the bundle was trained on (timm layout safetensors)
BUNDLE       a vpet adapter bundle (lora, dora, ssf, spt-lora, bitfit or full), read with
             msgpack_numpy
TORCHVISION  peft-export --merge --layout torchvision's file: loaded by name
             into torchvision's VisionTransformer (load_state_dict, strict)
TIMM         --layout timm's file, run by a forward written from timm's
             VisionTransformer (timm/models/vision_transformer.py: Block,
             Attention with fused qkv, Mlp, global_pool='token'; timm is not
             packaged in Debian)
HF_DIR       --layout hf's folder (model.safetensors + config.json), run by a
             forward written from transformers' modeling_vit.py
             (ViTForImageClassification: query/key/value, layernorm_before/
             after, classifier on the final-normed class token), with the
             architecture config.json gives
LIST         'path class' lines (class: one of the bundle's class names):
             32x32 images, preprocessed as
             Resize((S, S)) (PIL bilinear) -> ToTensor -> Normalize(ImageNet)

The reference is the adapted model *unmerged*: BASE run by the same timm
forward with the bundle's method applied as its paper defines it, beside
the frozen weights:
  lora      y = W x + b + (alpha / rank) * B (A x) at each target
            (alpha / sqrt(rank) with lora_scale "rs")
            (Hu et al. 2021; HF peft's LoRA forward)
  dora      y = W x + b + (g - 1) * W x + g * s * B (A x), g = m / ||W + s B A||
            (row norms): HF peft's DoraLinearLayer.forward
            (src/peft/tuners/lora/dora.py), s as for lora
  ssf       y * scale + shift after the patch embedding, norm1, q/k/v (thirds
            of the qkv vectors), proj, norm2, fc1, fc2 and the final norm
            (dongzelian/SSF, models/vision_transformer.py)
  spt-lora  W + scatter(indices, delta) for sparse and full deltas of
            weights, biases and LayerNorms, the class token's delta added
            after the position embedding, y += B (A x) at each module
            (no scaling; ziplab/SPT)
  bitfit, full  the bundle's "backbone.<name>" tensors replace the base's
Writes OUT (safetensors) holding "ref", the reference logits; prints how far
the method moves the logits from the frozen backbone's with the same head,
each merged file's largest difference from the reference, and the
reference's top-1 on LIST in percent ("top1 X"); exits 1 unless every merged
file's logits equal the reference's to 1e-4.
"""

import json
import os
import struct
import sys

import msgpack
import msgpack_numpy
import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torchvision import transforms
from torchvision.models.vision_transformer import VisionTransformer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hf_reference import write_safetensors  # noqa: E402

IMAGENET = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
DTYPES = {"F32": np.float32, "F16": np.float16, "F64": np.float64}
TOLERANCE = 1e-4


def read_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    metadata = header.pop("__metadata__", {})
    out = {}
    for name, entry in header.items():
        begin, end = entry["data_offsets"]
        array = np.frombuffer(data[8 + n + begin:8 + n + end], DTYPES[entry["dtype"]])
        out[name] = torch.from_numpy(array.astype(np.float32)).reshape(entry["shape"])
    return out, metadata


def read_bundle(path):
    with open(path, "rb") as f:
        header, record = list(msgpack.Unpacker(f, object_hook=msgpack_numpy.decode, raw=False))[:2]
    return header, {k: torch.from_numpy(np.array(v)) for k, v in record.items()}


def images(list_path):
    t = transforms.Compose([transforms.Resize((32, 32)), transforms.ToTensor(),
                            transforms.Normalize(*IMAGENET)])
    paths = [line.rsplit(None, 1)[0] for line in open(list_path) if line.strip()]
    return torch.stack([t(Image.open(p).convert("RGB")) for p in paths])


# ------------------------------------------------------------- timm's forward
SITES = {"q": "attn.q", "k": "attn.k", "v": "attn.v", "o": "attn.proj", "fc1": "mlp.fc1",
         "fc2": "mlp.fc2"}


def split_qkv(w):
    """timm's fused qkv rows [q; k; v] as three linears "attn.{q,k,v}"."""
    out = {}
    for name, t in w.items():
        if ".attn.qkv." in name:
            for part, chunk in zip("qkv", t.chunk(3, 0)):
                out[name.replace(".attn.qkv.", f".attn.{part}.")] = chunk
        else:
            out[name] = t
    return out


def dora_update(x, weight, a, b, scale, magnitude):
    """What peft's DoraLinearLayer.forward adds to the base layer's output
    (src/peft/tuners/lora/dora.py, base_result given): the weight norm of
    W + scale·B·A per output row, detached; mag_norm_scale = m / norm;
    (mag_norm_scale - 1)·(W x) + mag_norm_scale·B(A x)·scale."""
    weight_norm = torch.linalg.norm(weight + scale * (b @ a), dim=1).detach()
    mag_norm_scale = (magnitude / weight_norm).view(1, -1)
    return (mag_norm_scale - 1) * F.linear(x, weight) + mag_norm_scale * F.linear(
        F.linear(x, a), b) * scale


def timm_forward(w, x, heads, depth, eps=1e-6, branches=None, cls_delta=None, dora=None,
                 ssf=None, appended=None):
    """timm VisionTransformer.forward (class token, token pooling, pre-norm
    blocks, GELU MLP) on weights with q, k, v split; `branches` maps a linear
    ("blocks.0.attn.q") to [(A, B, scale)] added beside it: y += scale·B(A x);
    `dora` maps one to (A, B, scale, magnitude): y += dora_update(...);
    `ssf` maps a linear, a norm or "patch_embed.proj" to (scale, shift)
    applied to its output: y * scale + shift; `appended` [B, K, D] tokens go
    after the position-embedded sequence, with no position embedding (PGN)."""
    branches, dora, ssf = branches or {}, dora or {}, ssf or {}

    def scaled(t, name):
        return t * ssf[name][0] + ssf[name][1] if name in ssf else t

    def ln(t, n):
        return scaled(F.layer_norm(t, t.shape[-1:], w[n + ".weight"], w[n + ".bias"], eps), n)

    def linear(t, name):
        y = scaled(F.linear(t, w[name + ".weight"], w.get(name + ".bias")), name)
        for a, b, scale in branches.get(name, []):
            y = y + scale * F.linear(F.linear(t, a), b)
        if name in dora:
            y = y + dora_update(t, w[name + ".weight"], *dora[name])
        return y

    patch = w["patch_embed.proj.weight"].shape[-1]
    B = x.shape[0]
    x = F.conv2d(x, w["patch_embed.proj.weight"], w["patch_embed.proj.bias"], stride=patch)
    x = scaled(x.flatten(2).transpose(1, 2), "patch_embed.proj")
    x = torch.cat([w["cls_token"].expand(B, -1, -1), x], 1) + w["pos_embed"]
    if cls_delta is not None:
        x = torch.cat([x[:, :1] + cls_delta, x[:, 1:]], 1)
    if appended is not None:
        x = torch.cat([x, appended], 1)
    D = x.shape[-1]
    for i in range(depth):
        p = f"blocks.{i}."
        y = ln(x, p + "norm1")
        N = y.shape[1]
        q, k, v = (linear(y, p + "attn." + s).reshape(B, N, heads, D // heads).transpose(1, 2)
                   for s in "qkv")
        attn = ((q * (D // heads) ** -0.5) @ k.transpose(-2, -1)).softmax(-1)
        y = (attn @ v).transpose(1, 2).reshape(B, N, D)
        x = x + linear(y, p + "attn.proj")
        y = F.gelu(linear(ln(x, p + "norm2"), p + "mlp.fc1"))
        x = x + linear(y, p + "mlp.fc2")
    x = ln(x, "norm")
    return F.linear(x[:, 0], w["head.weight"], w["head.bias"])


# ------------------------------------------------- the bundle, applied unmerged
def adapted_logits(base, header, tensors, pixels, heads, depth):
    method, config = header["method"], header["config"]
    w = dict(base)
    for name in [n for n in w if n.startswith("head.")]:
        del w[name]
    w["head.weight"], w["head.bias"] = tensors["head.weight"], tensors["head.bias"]
    branches, dora, ssf, cls_delta = {}, {}, {}, None
    if method in ("bitfit", "full"):
        for name, t in tensors.items():
            if name.startswith("backbone."):
                w[name[len("backbone."):]] = t.reshape(w[name[len("backbone."):]].shape)
        w = split_qkv(w)
    elif method in ("lora", "dora"):
        w = split_qkv(w)
        # rsLoRA (lora_scale "rs"): alpha / sqrt(rank), peft's use_rslora.
        rank = config["rank"] ** 0.5 if config.get("lora_scale") == "rs" else config["rank"]
        scale = config["alpha"] / rank
        for name, a in tensors.items():
            if name.endswith(".A") and ".lora_" in name:
                block, site = name[:-2].split(".lora_")
                linear, b = block + "." + SITES[site], tensors[name[:-2] + ".B"]
                if method == "dora":
                    dora[linear] = (a, b, scale, tensors[name[:-2] + ".magnitude"])
                else:
                    branches.setdefault(linear, []).append((a, b, scale))
    elif method == "ssf":
        w = split_qkv(w)

        def pair(prefix, index):
            return tensors[prefix + "ssf_scale_" + index], tensors[prefix + "ssf_shift_" + index]

        ssf["patch_embed.proj"], ssf["norm"] = pair("patch_embed.", "1"), pair("", "1")
        for i in range(depth):
            p = f"blocks.{i}."
            scales, shifts = (t.chunk(3) for t in pair(p + "attn.", "1"))
            for part, scale, shift in zip("qkv", scales, shifts):
                ssf[p + "attn." + part] = scale, shift
            ssf[p + "attn.proj"] = pair(p + "attn.", "2")
            ssf[p + "mlp.fc1"], ssf[p + "mlp.fc2"] = pair(p + "mlp.", "1"), pair(p + "mlp.", "2")
            ssf[p + "norm1"], ssf[p + "norm2"] = pair(p, "1"), pair(p, "2")
    elif method == "spt-lora":
        w = split_qkv(w)
        for name, delta in tensors.items():
            if name == "cls_token.delta":
                cls_delta = delta
            elif name.endswith(".delta"):
                target = name[:-len(".delta")]
                flat = w[target].flatten().clone()
                indices = tensors.get("structure.sparse." + target)
                if indices is None:
                    flat += delta
                else:
                    flat[indices.long()] += delta
                w[target] = flat.reshape(w[target].shape)
            elif name.endswith(".lora.A"):
                matrix = name[:-len(".lora.A")]
                branches.setdefault(matrix, []).append((delta, tensors[matrix + ".lora.B"], 1.0))
    else:
        sys.exit(f"merge_reference.py: no reference for method {method}")
    return timm_forward(w, pixels, heads, depth, branches=branches, cls_delta=cls_delta, dora=dora,
                        ssf=ssf)


# ------------------------------------------------------------ the merged files
def torchvision_logits(path, pixels, heads, depth):
    sd, _ = read_safetensors(path)
    D = sd["class_token"].shape[-1]
    model = VisionTransformer(image_size=pixels.shape[-1],
                              patch_size=sd["conv_proj.weight"].shape[-1], num_layers=depth,
                              num_heads=heads, hidden_dim=D,
                              mlp_dim=sd["encoder.layers.encoder_layer_0.mlp.0.weight"].shape[0],
                              num_classes=sd["heads.head.weight"].shape[0])
    model.load_state_dict(sd, strict=True)
    return model.eval()(pixels)


def timm_logits(path, pixels, depth):
    w, metadata = read_safetensors(path)
    return timm_forward(split_qkv(w), pixels, int(metadata["num_heads"]), depth)


def hf_logits(folder, pixels):
    """ViTForImageClassification.forward (modeling_vit.py), eval mode."""
    w, _ = read_safetensors(os.path.join(folder, "model.safetensors"))
    config = json.load(open(os.path.join(folder, "config.json")))
    assert config["architectures"] == ["ViTForImageClassification"], config
    assert config["hidden_act"] == "gelu", config
    eps, H = config["layer_norm_eps"], config["num_attention_heads"]
    D = config["hidden_size"]
    ln = lambda t, n: F.layer_norm(t, (D,), w[n + ".weight"], w[n + ".bias"], eps)
    dense = lambda t, n: F.linear(t, w[n + ".weight"], w[n + ".bias"])
    B = pixels.shape[0]
    e = "vit.embeddings."
    x = F.conv2d(pixels, w[e + "patch_embeddings.projection.weight"],
                 w[e + "patch_embeddings.projection.bias"], stride=config["patch_size"])
    x = torch.cat([w[e + "cls_token"].expand(B, -1, -1), x.flatten(2).transpose(1, 2)], 1)
    x = x + w[e + "position_embeddings"]
    for i in range(config["num_hidden_layers"]):
        p = f"vit.encoder.layer.{i}."
        y = ln(x, p + "layernorm_before")
        N = y.shape[1]
        q, k, v = (dense(y, p + "attention.attention." + s).view(B, N, H, D // H).transpose(1, 2)
                   for s in ("query", "key", "value"))
        scores = (q @ k.transpose(-1, -2)) / (D // H) ** 0.5
        y = (scores.softmax(-1) @ v).transpose(1, 2).reshape(B, N, D)
        x = x + dense(y, p + "attention.output.dense")
        y = F.gelu(dense(ln(x, p + "layernorm_after"), p + "intermediate.dense"))
        x = x + dense(y, p + "output.dense")
    x = ln(x, "vit.layernorm")
    return dense(x[:, 0], "classifier")


def main():
    if len(sys.argv) != 8:
        sys.exit(__doc__)
    base_path, bundle_path, tv_path, timm_path, hf_dir, list_path, out = sys.argv[1:]
    torch.set_num_threads(1)
    base, metadata = read_safetensors(base_path)
    heads = int(metadata["num_heads"])
    depth = 1 + max(int(n.split(".")[1]) for n in base if n.startswith("blocks."))
    header, tensors = read_bundle(bundle_path)
    pixels = images(list_path)
    with torch.no_grad():
        ref = adapted_logits(base, header, tensors, pixels, heads, depth)
        merged = {"torchvision": torchvision_logits(tv_path, pixels, heads, depth),
                  "timm": timm_logits(timm_path, pixels, depth),
                  "hf": hf_logits(hf_dir, pixels)}
    write_safetensors(out, {"ref": ref})
    frozen = timm_forward(split_qkv(dict(base, **{"head.weight": tensors["head.weight"],
                                                  "head.bias": tensors["head.bias"]})),
                          pixels, heads, depth)
    print(f"{header['method']}: the method moves the logits by "
          f"{(ref - frozen).abs().max().item():.3g}")
    failed = False
    for layout, logits in merged.items():
        diff = (logits - ref).abs().max().item()
        print(f"{layout}: max |merged - adapted| = {diff:.3g}")
        failed |= not diff <= TOLERANCE
    names = [line.rsplit(None, 1)[1] for line in open(list_path) if line.strip()]
    labels = torch.tensor([header["classes"].index(name) for name in names])
    print(f"top1 {100.0 * (ref.argmax(1) == labels).double().mean().item():.4f}")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
