#!/usr/bin/python3
"""Hugging Face snapshots in the layouts transformers saves, and their forward.

usage: hf_reference.py KIND DIR IMAGE...

KIND is one of
  dinov2     Dinov2Model: layer scale, norm1/norm2, mask token, eps 1e-6, GELU;
             BitImageProcessor preprocessing (shorter side, centre crop, bicubic)
  clip       CLIPVisionModel under "vision_model.": class_embedding [D],
             position_embedding.weight [N, D], pre_layrnorm, no patch bias,
             QuickGELU, eps 1e-5; CLIPImageProcessor preprocessing
  clipmodel  a whole CLIPModel (text tower, projections, logit_scale) with
             config.json's vision_config: only the image tower is read
  sharded    ViTModel split over two shards by model.safetensors.index.json;
             ViTImageProcessor preprocessing (squash, bilinear, mean/std 0.5)

Writes DIR/ (weights, config.json, preprocessor_config.json) and, beside it,
DIR.expected.safetensors holding "pooled": the pooled output (pooler_output for Dinov2 and CLIP: the
final norm of the class token; the final-normed class token for ViT) of the
IMAGEs, preprocessed as the preprocessor config says with Pillow and
torchvision. The forward passes are written from transformers'
modeling_dinov2.py, modeling_clip.py and modeling_vit.py (transformers is not
packaged in Debian): every weight random, LayerNorms included.
"""

import json
import os
import struct
import sys

import torch
import torch.nn.functional as F
from PIL import Image
from torchvision import transforms

WIDTH, DEPTH, HEADS, MLP, PATCH, IMG = 24, 2, 3, 40, 7, 28
IMAGENET = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
CLIP_NORM = ((0.48145466, 0.4578275, 0.40821073), (0.26862954, 0.26130258, 0.27577711))


def write_safetensors(path, tensors, metadata=None):
    header, offset, blobs = {}, 0, []
    if metadata:
        header["__metadata__"] = metadata
    for name, t in tensors.items():
        data = t.contiguous().float().numpy().astype("<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape),
                        "data_offsets": [offset, offset + len(data)]}
        offset += len(data)
        blobs.append(data)
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def rand(*shape, std=1.0):
    return torch.randn(*shape) * std


def norm_weights(w, prefix):
    w[prefix + ".weight"] = 1 + 0.3 * torch.randn(WIDTH)
    w[prefix + ".bias"] = rand(WIDTH, std=0.3)


def linear_weights(w, prefix, out, inp, bias=True):
    w[prefix + ".weight"] = rand(out, inp, std=inp ** -0.5)
    if bias:
        w[prefix + ".bias"] = rand(out, std=0.2)


def linear(x, w, prefix):
    return F.linear(x, w[prefix + ".weight"], w.get(prefix + ".bias"))


def layer_norm(x, w, prefix, eps):
    return F.layer_norm(x, (WIDTH,), w[prefix + ".weight"], w[prefix + ".bias"], eps)


def attention(x, w, q, k, v, out, scale_query_first=False):
    """Multi-head self-attention as the three modeling files compute it."""
    B, N, D = x.shape
    split = lambda t: t.reshape(B, N, HEADS, D // HEADS).transpose(1, 2)
    scale = (D // HEADS) ** -0.5
    if scale_query_first:  # CLIPAttention scales the projected queries
        scores = split(linear(x, w, q) * scale) @ split(linear(x, w, k)).transpose(-1, -2)
    else:  # ViTSelfAttention / Dinov2SelfAttention scale the scores
        scores = split(linear(x, w, q)) @ split(linear(x, w, k)).transpose(-1, -2) * scale
    context = (scores.softmax(-1) @ split(linear(x, w, v))).transpose(1, 2).reshape(B, N, D)
    return linear(context, w, out)


def quick_gelu(x):
    return x * torch.sigmoid(1.702 * x)


def patch_embed(pixels, weight, bias):
    return F.conv2d(pixels, weight, bias, stride=PATCH).flatten(2).transpose(1, 2)


# ------------------------------------------------------------------ ViT and Dinov2
# The two share embeddings and attention; their blocks' names differ, and
# Dinov2 scales both residual branches (layer_scale{1,2}.lambda1).
VIT_NAMES = {"norm1": "layernorm_before", "norm2": "layernorm_after",
             "fc1": "intermediate.dense", "fc2": "output.dense"}
DINOV2_NAMES = {"norm1": "norm1", "norm2": "norm2", "fc1": "mlp.fc1", "fc2": "mlp.fc2"}


def encoder_weights(names, layer_scale):
    w, grid = {}, IMG // PATCH
    w["embeddings.cls_token"] = rand(1, 1, WIDTH, std=0.5)
    if layer_scale:
        w["embeddings.mask_token"] = rand(1, WIDTH)
    w["embeddings.position_embeddings"] = rand(1, grid * grid + 1, WIDTH, std=0.5)
    w["embeddings.patch_embeddings.projection.weight"] = rand(WIDTH, 3, PATCH, PATCH, std=0.1)
    w["embeddings.patch_embeddings.projection.bias"] = rand(WIDTH, std=0.2)
    for i in range(DEPTH):
        p = f"encoder.layer.{i}."
        norm_weights(w, p + names["norm1"])
        for part in ("query", "key", "value"):
            linear_weights(w, p + "attention.attention." + part, WIDTH, WIDTH)
        linear_weights(w, p + "attention.output.dense", WIDTH, WIDTH)
        norm_weights(w, p + names["norm2"])
        linear_weights(w, p + names["fc1"], MLP, WIDTH)
        linear_weights(w, p + names["fc2"], WIDTH, MLP)
        if layer_scale:
            w[p + "layer_scale1.lambda1"] = rand(WIDTH, std=0.5)
            w[p + "layer_scale2.lambda1"] = rand(WIDTH, std=0.5)
    norm_weights(w, "layernorm")
    return w


def encoder_forward(w, pixels, names, layer_scale, eps):
    """ViTModel.forward (the final-normed class token, before the pooler) and
    Dinov2Model.forward (pooler_output), at the checkpoint's own size."""
    x = patch_embed(pixels, w["embeddings.patch_embeddings.projection.weight"],
                    w["embeddings.patch_embeddings.projection.bias"])
    x = torch.cat([w["embeddings.cls_token"].expand(x.shape[0], -1, -1), x], 1)
    x = x + w["embeddings.position_embeddings"]
    scale = lambda h, p, j: h * w[f"{p}layer_scale{j}.lambda1"] if layer_scale else h
    for i in range(DEPTH):
        p = f"encoder.layer.{i}."
        a = p + "attention.attention."
        h = attention(layer_norm(x, w, p + names["norm1"], eps), w, a + "query", a + "key",
                      a + "value", p + "attention.output.dense")
        x = x + scale(h, p, 1)
        h = linear(F.gelu(linear(layer_norm(x, w, p + names["norm2"], eps), w, p + names["fc1"])),
                   w, p + names["fc2"])
        x = x + scale(h, p, 2)
    return layer_norm(x, w, "layernorm", eps)[:, 0]


# ------------------------------------------------------------------ CLIP
def clip_weights():
    w, grid = {}, IMG // PATCH
    v = "vision_model."
    w[v + "embeddings.class_embedding"] = rand(WIDTH, std=0.5)
    w[v + "embeddings.patch_embedding.weight"] = rand(WIDTH, 3, PATCH, PATCH, std=0.1)
    w[v + "embeddings.position_embedding.weight"] = rand(grid * grid + 1, WIDTH, std=0.5)
    norm_weights(w, v + "pre_layrnorm")
    for i in range(DEPTH):
        p = f"{v}encoder.layers.{i}."
        norm_weights(w, p + "layer_norm1")
        for part in ("q_proj", "k_proj", "v_proj", "out_proj"):
            linear_weights(w, p + "self_attn." + part, WIDTH, WIDTH)
        norm_weights(w, p + "layer_norm2")
        linear_weights(w, p + "mlp.fc1", MLP, WIDTH)
        linear_weights(w, p + "mlp.fc2", WIDTH, MLP)
    norm_weights(w, v + "post_layernorm")
    return w


def clip_forward(w, pixels, eps=1e-5):
    """CLIPVisionTransformer.forward: pooler_output."""
    v = "vision_model."
    x = patch_embed(pixels, w[v + "embeddings.patch_embedding.weight"], None)
    cls = w[v + "embeddings.class_embedding"].expand(x.shape[0], 1, -1)
    x = torch.cat([cls, x], 1) + w[v + "embeddings.position_embedding.weight"]
    x = layer_norm(x, w, v + "pre_layrnorm", eps)
    for i in range(DEPTH):
        p = f"{v}encoder.layers.{i}."
        a = p + "self_attn."
        x = x + attention(layer_norm(x, w, p + "layer_norm1", eps), w, a + "q_proj", a + "k_proj",
                          a + "v_proj", a + "out_proj", scale_query_first=True)
        x = x + linear(quick_gelu(linear(layer_norm(x, w, p + "layer_norm2", eps), w,
                                         p + "mlp.fc1")), w, p + "mlp.fc2")
    return layer_norm(x[:, 0], w, v + "post_layernorm", eps)


# ------------------------------------------------------------------ preprocessing
def processor_config(kind):
    if kind == "dinov2":  # BitImageProcessor, as facebook/dinov2-* ship it (256 -> 224)
        return {"image_processor_type": "BitImageProcessor", "do_resize": True,
                "size": {"shortest_edge": 32}, "resample": 3, "do_center_crop": True,
                "crop_size": {"height": IMG, "width": IMG}, "do_rescale": True,
                "rescale_factor": 1 / 255, "do_normalize": True,
                "image_mean": list(IMAGENET[0]), "image_std": list(IMAGENET[1])}
    if kind in ("clip", "clipmodel"):  # CLIPImageProcessor (224 -> 224)
        return {"image_processor_type": "CLIPImageProcessor", "do_resize": True,
                "size": {"shortest_edge": IMG}, "resample": 3, "do_center_crop": True,
                "crop_size": {"height": IMG, "width": IMG}, "do_normalize": True,
                "image_mean": list(CLIP_NORM[0]), "image_std": list(CLIP_NORM[1])}
    return {"image_processor_type": "ViTImageProcessor", "do_resize": True,  # ViTImageProcessor
            "size": {"height": IMG, "width": IMG}, "resample": 2, "do_normalize": True,
            "image_mean": [0.5, 0.5, 0.5], "image_std": [0.5, 0.5, 0.5]}


def preprocess(config, paths):
    """What the image processor does, with Pillow + torchvision on PIL images."""
    interp = {2: transforms.InterpolationMode.BILINEAR,
              3: transforms.InterpolationMode.BICUBIC}[config["resample"]]
    steps = []
    if config.get("do_center_crop"):
        steps += [transforms.Resize(config["size"]["shortest_edge"], interpolation=interp),
                  transforms.CenterCrop(config["crop_size"]["height"])]
    else:
        steps += [transforms.Resize((config["size"]["height"], config["size"]["width"]),
                                    interpolation=interp)]
    steps += [transforms.ToTensor(), transforms.Normalize(config["image_mean"],
                                                          config["image_std"])]
    t = transforms.Compose(steps)
    return torch.stack([t(Image.open(p).convert("RGB")) for p in paths])


def main():
    kind, out, images = sys.argv[1], sys.argv[2], sys.argv[3:]
    torch.manual_seed({"dinov2": 1, "clip": 2, "clipmodel": 2, "sharded": 3}[kind])
    os.makedirs(out, exist_ok=True)
    vision = {"hidden_size": WIDTH, "num_hidden_layers": DEPTH, "num_attention_heads": HEADS,
              "intermediate_size": MLP, "patch_size": PATCH, "image_size": IMG}
    pre = processor_config(kind)
    pixels = preprocess(pre, images)
    with torch.no_grad():
        if kind == "dinov2":
            w = encoder_weights(DINOV2_NAMES, layer_scale=True)
            expected = encoder_forward(w, pixels, DINOV2_NAMES, True, eps=1e-6)
            config = dict(vision, model_type="dinov2", hidden_act="gelu", layer_norm_eps=1e-6,
                          layerscale_value=1.0, use_swiglu_ffn=False)
            write_safetensors(os.path.join(out, "model.safetensors"), w)
        elif kind in ("clip", "clipmodel"):
            w = clip_weights()
            expected = clip_forward(w, pixels)
            vision.update(model_type="clip_vision_model", hidden_act="quick_gelu",
                          layer_norm_eps=1e-5)
            config = vision
            if kind == "clipmodel":  # the text tower and projections vpet must leave out
                w["text_model.embeddings.token_embedding.weight"] = rand(10, WIDTH)
                w["text_model.final_layer_norm.weight"] = torch.ones(WIDTH)
                w["visual_projection.weight"] = rand(8, WIDTH)
                w["text_projection.weight"] = rand(8, WIDTH)
                w["logit_scale"] = torch.tensor(2.6592)
                config = {"model_type": "clip", "vision_config": vision,
                          "text_config": {"hidden_size": WIDTH}}
            write_safetensors(os.path.join(out, "model.safetensors"), w)
        else:
            w = encoder_weights(VIT_NAMES, layer_scale=False)
            expected = encoder_forward(w, pixels, VIT_NAMES, False, eps=1e-12)
            config = dict(vision, model_type="vit", hidden_act="gelu", layer_norm_eps=1e-12)
            names = sorted(w)
            shards = {"model-00001-of-00002.safetensors": names[: len(names) // 2],
                      "model-00002-of-00002.safetensors": names[len(names) // 2:]}
            for file, keys in shards.items():
                write_safetensors(os.path.join(out, file), {k: w[k] for k in keys})
            index = {"metadata": {"total_size": 4 * sum(t.numel() for t in w.values())},
                     "weight_map": {k: f for f, keys in shards.items() for k in keys}}
            with open(os.path.join(out, "model.safetensors.index.json"), "w") as f:
                json.dump(index, f, indent=2)
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
    with open(os.path.join(out, "preprocessor_config.json"), "w") as f:
        json.dump(pre, f, indent=2)
    write_safetensors(out.rstrip("/") + ".expected.safetensors", {"pooled": expected})


if __name__ == "__main__":
    main()
