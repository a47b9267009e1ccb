#!/usr/bin/python3
"""PyTorch reference of one `peft-train` training step, for the benchmarks.

It computes what `peft-train` computes per step — the same timm-layout ViT
loaded from the same safetensors, the same method with peft-train's
defaults, a new head, cross-entropy, vpet's AdamW (operation for operation)
and cosine schedule — written the way a PyTorch user would write it, and
times it.

    bench/reference.py --model VIT.safetensors --method lora [--data SPEC]
        [--batch 64] [--steps 20] [--warmup 3] [--threads 2]
        [--device cpu|cuda] [--precision fp32|bf16]
        [--init BUNDLE] [--plan PLAN [--budget B]] [--heads N] [--classes K]
        [--lr 1e-3] [--wd 1e-4] [--seed 0] [--lora-scale standard|rs] [--lr-ratio-b R]
        [--no-dropout]
        [--recompute]

--method: linear, full, vpt-deep, lora, dora, ssf, adapter, head-class, memory (masked memory
tokens), spt-lora, lion, pgn. --data: a folder of class folders or a
'path label' list file of images already at the model's input size (they are
normalised with ImageNet's mean and std, as peft-train's default; a
differing size is squashed with PIL's bilinear resize); without it, random
pixels and --classes classes. --init: start the method's tensors and the head
from a vpet adapter bundle (what `peft-train --rewind-from` does), so both
programs start from identical weights; spt-lora takes its plan from the
bundle, or from --plan (spt-sensitivity's output). --no-dropout turns off
the methods' dropout and drop-path (LoRA's and SPT's default 0.1), so that
the first loss is deterministic. --recompute: the linear probe runs the
frozen backbone (without autograd) every step instead of caching its
features once, as peft-train does. The training set is the images of --data,
reshuffled every epoch as peft-train does; --warmup + --steps steps run.

Prints one JSON line: method, images/s over the --steps steps after the
--warmup steps (each step timed from assembling its batch to the loss on
the host, as peft-train's --metrics times it), the first step's loss, peak
RSS (CPU) or peak GPU memory (CUDA: torch.cuda.max_memory_allocated), and
the settings. CPU and CUDA (PyTorch 1.13 or 2.x); bf16 is torch.autocast
around the forward pass and loss; attention uses
F.scaled_dot_product_attention where it exists (PyTorch >= 2.0). Only the
CPU path with PyTorch 1.13 has run so far (no GPU has been lent here).

--threads is torch.set_num_threads; a PyTorch that multiplies matrices with
OpenBLAS (Debian's) also wants OPENBLAS_NUM_THREADS set to the same number
(bench.py sets it), as peft-train's -t sets both.

Only timm's standard layout is covered: class token, pre-norm blocks with a
fused qkv, final LayerNorm, class-token pooling (what bench/make_vit.py
writes and timm's vit_*_patch16_224 are).
"""
import argparse
import json
import math
import os
import resource
import sys
import time

import msgpack
import msgpack_numpy
import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from full_to_safetensors import read_safetensors  # noqa: E402

LN_EPS = 1e-6  # timm's ViT LayerNorm
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
FUSED_ATTENTION = hasattr(F, "scaled_dot_product_attention")
SITES = ("q", "k", "v", "o", "fc1", "fc2")


# ---------------------------------------------------------------- files

def read_vpet(path):
    """A vpet file's header and records (msgpack maps; tensors as numpy arrays)."""
    with open(path, "rb") as f:
        maps = list(msgpack.Unpacker(f, object_hook=msgpack_numpy.decode, raw=False))
    # A stream's last map is its end record (vpet-format(5)), not a record.
    return maps[0], [m for m in maps[1:] if m.get("format") != "vpet-end"]


def tensors_of(record):
    return {k: torch.from_numpy(np.array(v)) for k, v in record.items()
            if isinstance(v, np.ndarray)}


# ---------------------------------------------------------------- the ViT

class Hooks:
    """The named points of the forward pass where a method acts (vpet's
    model/hooks.h): each is the identity unless a method overrides it."""

    def pixels(self, x):
        return x

    def tokens(self, x):
        return x

    def patches(self, x):
        """The patch embedding's output [B, N, D], before the class token."""
        return x

    def block_input(self, block, x):
        return x

    def attention(self, block, q, k, v):
        """Keys, values and mask of one attention: (k, v, mask or None)."""
        return k, v, None

    def linear(self, block, site, inp, out):
        return out

    def norm(self, block, site, inp, out):
        return out

    def final_tokens(self, x):
        return x

    def pooled(self, feature):
        return feature


class ViT(torch.nn.Module):
    """timm's VisionTransformer (standard layout), frozen, with the hooks."""

    def __init__(self, path, heads=None):
        super().__init__()
        arrays, metadata = read_safetensors(path)
        weights = {k: torch.from_numpy(v.astype(np.float32)) for k, v in arrays.items()
                   if not k.startswith("head.")}
        self.w = torch.nn.ParameterDict(
            {k.replace(".", "/"): torch.nn.Parameter(v, requires_grad=False)
             for k, v in weights.items()})
        self.width = weights["pos_embed"].shape[-1]
        self.depth = 1 + max(int(k.split(".")[1]) for k in weights if k.startswith("blocks."))
        self.patch = weights["patch_embed.proj.weight"].shape[-1]
        self.img_size = self.patch * int(round(math.sqrt(weights["pos_embed"].shape[1] - 1)))
        self.heads = heads or int(metadata.get("num_heads", self.width // 64))

    def p(self, name):
        return self.w[name.replace(".", "/")]

    def ln(self, x, prefix):
        return F.layer_norm(x, (self.width,), self.p(prefix + ".weight"), self.p(prefix + ".bias"),
                            LN_EPS)

    def project(self, block, x):
        """The block's fused q, k, v projection of x, split: ([B, N, D],) * 3."""
        b = f"blocks.{block}.attn.qkv."
        return F.linear(x, self.p(b + "weight"), self.p(b + "bias")).chunk(3, -1)

    def attend(self, q, k, v, mask):
        batch, n, width = q.shape
        hd = width // self.heads

        def split(t):
            return t.reshape(batch, t.shape[1], self.heads, hd).transpose(1, 2)

        q, k, v = split(q), split(k), split(v)
        if FUSED_ATTENTION:
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        else:
            scores = (q * (1.0 / math.sqrt(hd))) @ k.transpose(-2, -1)
            if mask is not None:
                scores = scores.masked_fill(~mask, float("-inf"))
            out = scores.softmax(-1) @ v
        return out.transpose(1, 2).reshape(batch, n, width)

    def block(self, i, x, hooks):
        b = f"blocks.{i}."
        normed = hooks.norm(i, "norm1", x, self.ln(x, b + "norm1"))
        q, k, v = self.project(i, normed)
        q = hooks.linear(i, "q", normed, q)
        k = hooks.linear(i, "k", normed, k)
        v = hooks.linear(i, "v", normed, v)
        k, v, mask = hooks.attention(i, q, k, v)
        attended = self.attend(q, k, v, mask)
        branch = F.linear(attended, self.p(b + "attn.proj.weight"), self.p(b + "attn.proj.bias"))
        x = x + hooks.linear(i, "o", attended, branch)
        mlp_in = hooks.norm(i, "norm2", x, self.ln(x, b + "norm2"))
        fc1 = F.linear(mlp_in, self.p(b + "mlp.fc1.weight"), self.p(b + "mlp.fc1.bias"))
        hidden = F.gelu(hooks.linear(i, "fc1", mlp_in, fc1))
        fc2 = F.linear(hidden, self.p(b + "mlp.fc2.weight"), self.p(b + "mlp.fc2.bias"))
        mlp_out = hooks.linear(i, "fc2", hidden, fc2)
        return x + hooks.linear(i, "mlp", mlp_in, mlp_out)

    def features(self, pixels, hooks):
        """The pooled feature [B, D] the head sees."""
        x = F.conv2d(hooks.pixels(pixels), self.p("patch_embed.proj.weight"),
                     self.p("patch_embed.proj.bias"), stride=self.patch)
        x = hooks.patches(x.flatten(2).transpose(1, 2))
        x = torch.cat([self.p("cls_token").expand(x.shape[0], -1, -1), x], 1)
        x = hooks.tokens(x + self.p("pos_embed"))
        for i in range(self.depth):
            x = self.block(i, hooks.block_input(i, x), hooks)
        x = hooks.final_tokens(x)
        x = hooks.norm(-1, "norm", x, self.ln(x, "norm"))
        return hooks.pooled(x[:, 0])


# ---------------------------------------------------------------- methods

def uniform(shape, fan_in):
    """U(±1/√fan_in): torch's Linear default (kaiming_uniform with a = √5, and its bias)."""
    return torch.empty(shape).uniform_(-1 / math.sqrt(fan_in), 1 / math.sqrt(fan_in))


def kaiming_uniform(out, fan_in):
    return uniform((out, fan_in), fan_in)


class Method(Hooks):
    """A method's trainable tensors (vpet's names) and its forward hooks."""

    changes_features = True  # False: the frozen features are cached once (linear probe)

    def __init__(self, vit, args):
        self.vit = vit
        self.args = args
        self.params = {}

    def add(self, name, value):
        self.params[name] = torch.nn.Parameter(value.to(self.vit.p("pos_embed").device))
        return self.params[name]

    def is_prompt(self, name):
        return False

    def decays(self, name):
        """vpet's default: matrices decay; vectors, tokens and prompts do not."""
        return self.params[name].dim() >= 2 and not self.is_prompt(name)

    def train(self, training):
        self.training = training


class LinearProbe(Method):
    changes_features = False


class Full(Method):
    def __init__(self, vit, args):
        super().__init__(vit, args)
        for key, value in vit.w.items():
            value.requires_grad_(True)
            self.params["backbone." + key.replace("/", ".")] = value

    def is_prompt(self, name):
        return name in ("backbone.cls_token", "backbone.pos_embed")


class VptDeep(Method):
    prompts = 10

    def __init__(self, vit, args):
        super().__init__(vit, args)
        bound = math.sqrt(6.0 / (3 * vit.patch ** 2 + vit.width))
        self.prompt = self.add("prompts", torch.empty(vit.depth, self.prompts, vit.width)
                               .uniform_(-bound, bound))

    def is_prompt(self, name):
        return True

    def tokens(self, x):
        return torch.cat([x[:, :1], self.prompt[0].expand(x.shape[0], -1, -1), x[:, 1:]], 1)

    def block_input(self, block, x):
        if block == 0:
            return x
        inserted = self.prompt[block].expand(x.shape[0], -1, -1)
        return torch.cat([x[:, :1], inserted, x[:, 1 + self.prompts:]], 1)

    def final_tokens(self, x):
        return torch.cat([x[:, :1], x[:, 1 + self.prompts:]], 1)


class LoRA(Method):
    rank, alpha, targets = 8, 8.0, ("q", "v")

    def __init__(self, vit, args):
        super().__init__(vit, args)
        self.dropout = 0.0 if args.no_dropout else 0.1
        self.factors = {}
        for i in range(vit.depth):
            for site in self.targets:
                self.factors[i, site] = (
                    self.add(f"blocks.{i}.lora_{site}.A", kaiming_uniform(self.rank, vit.width)),
                    self.add(f"blocks.{i}.lora_{site}.B", torch.zeros(vit.width, self.rank)))

    def linear(self, block, site, inp, out):
        factors = self.factors.get((block, site))
        if factors is None:
            return out
        a, b = factors
        x = F.dropout(inp, self.dropout, self.training)
        # peft's LoraLayer.update_layer: lora_alpha / r, or / sqrt(r) with use_rslora.
        scaling = self.alpha / (math.sqrt(self.rank) if self.args.lora_scale == "rs" else self.rank)
        return out + scaling * F.linear(F.linear(x, a), b)


class DoRA(LoRA):
    """DoRA as Hugging Face peft's use_dora computes it (src/peft/tuners/lora/
    dora.py, DoraLinearLayer; tuners/lora/variants.py, DoraLinearVariant):
    LoRA's factors and a magnitude per output row, started at the frozen
    weight's row norms (DoraLinearLayer.update_layer with B = 0)."""

    LINEARS = {"o": "attn.proj", "fc1": "mlp.fc1", "fc2": "mlp.fc2"}

    def __init__(self, vit, args):
        super().__init__(vit, args)
        self.magnitudes = {
            (i, site): self.add(f"blocks.{i}.lora_{site}.magnitude",
                                torch.linalg.norm(self.frozen(i, site, "weight"), dim=1).clone())
            for i, site in self.factors}

    def frozen(self, block, site, kind):
        """The frozen weight or bias of a target (q, k, v: rows of the fused qkv)."""
        if site in ("q", "k", "v"):
            return self.vit.p(f"blocks.{block}.attn.qkv.{kind}").chunk(3, 0)["qkv".index(site)]
        return self.vit.p(f"blocks.{block}.{self.LINEARS[site]}.{kind}")

    def linear(self, block, site, inp, out):
        factors = self.factors.get((block, site))
        if factors is None:
            return out
        a, b = factors
        weight = self.frozen(block, site, "weight")
        scaling = self.alpha / (math.sqrt(self.rank) if self.args.lora_scale == "rs" else self.rank)
        # DoraLinearLayer.forward: get_weight_norm(W, lora_weight.detach(), scaling), detached.
        weight_norm = torch.linalg.norm(weight + scaling * (b @ a).detach(), dim=1).detach()
        mag_norm_scale = (self.magnitudes[block, site] / weight_norm).view(1, -1)
        # DoraLinearVariant.forward: without dropout the base result (less its
        # bias) is reused; with it, the dropped-out input goes through W again.
        if self.dropout == 0 or not self.training:
            x, base_result = inp, out - self.frozen(block, site, "bias")
        else:
            x = F.dropout(inp, self.dropout, True)
            base_result = F.linear(x, weight)
        lora_result = F.linear(F.linear(x, a), b)
        return out + (mag_norm_scale - 1) * base_result + mag_norm_scale * lora_result * scaling


class Ssf(Method):
    """SSF where dongzelian/SSF's models/vision_transformer.py (tuning_mode
    'ssf') puts ssf_ada(x, scale, shift) = x * scale + shift: after
    PatchEmbed's proj (before the class token and position embedding), each
    Block's norm1 and norm2, Attention's qkv (all 3D channels; the hooks see
    q, k and v, each its third) and proj, Mlp's fc1 and fc2, and the model's
    final norm; init_ssf_scale_shift draws scale N(1, .02), shift N(0, .02)."""

    def __init__(self, vit, args):
        super().__init__(vit, args)
        d, hidden = vit.width, vit.p("blocks.0.mlp.fc1.weight").shape[0]

        def scale_shift(prefix, index, channels):
            self.add(f"{prefix}ssf_scale_{index}", torch.empty(channels).normal_(1, 0.02))
            self.add(f"{prefix}ssf_shift_{index}", torch.empty(channels).normal_(std=0.02))

        scale_shift("patch_embed.", "1", d)
        scale_shift("", "1", d)
        for i in range(vit.depth):
            for prefix, index, channels in ((".attn.", "1", 3 * d), (".attn.", "2", d),
                                            (".mlp.", "1", hidden), (".mlp.", "2", d),
                                            (".", "1", d), (".", "2", d)):
                scale_shift(f"blocks.{i}{prefix}", index, channels)

    def ssf_ada(self, x, prefix, index, part=None):
        scale, shift = self.params[prefix + "ssf_scale_" + index], self.params[
            prefix + "ssf_shift_" + index]
        if part is not None:
            scale, shift = scale.chunk(3)[part], shift.chunk(3)[part]
        return x * scale + shift

    def patches(self, x):
        return self.ssf_ada(x, "patch_embed.", "1")

    def linear(self, block, site, inp, out):
        prefix = f"blocks.{block}."
        if site in ("q", "k", "v"):
            return self.ssf_ada(out, prefix + "attn.", "1", "qkv".index(site))
        where = {"o": ("attn.", "2"), "fc1": ("mlp.", "1"), "fc2": ("mlp.", "2")}.get(site)
        return out if where is None else self.ssf_ada(out, prefix + where[0], where[1])

    def norm(self, block, site, inp, out):
        if block < 0:
            return self.ssf_ada(out, "", "1")
        return self.ssf_ada(out, f"blocks.{block}.", "1" if site == "norm1" else "2")


class Adapter(Method):
    """Sequential (Houlsby-style, after the MLP) adapters, bottleneck 8, scale 0.1."""

    bottleneck, scale = 8, 0.1

    def __init__(self, vit, args):
        super().__init__(vit, args)
        d, r = vit.width, self.bottleneck
        self.layers = [(self.add(f"blocks.{i}.adapter.down.weight", kaiming_uniform(r, d)),
                        self.add(f"blocks.{i}.adapter.down.bias", torch.zeros(r)),
                        self.add(f"blocks.{i}.adapter.up.weight", torch.zeros(d, r)),
                        self.add(f"blocks.{i}.adapter.up.bias", torch.zeros(d)))
                       for i in range(vit.depth)]

    def linear(self, block, site, inp, out):
        if site != "mlp":
            return out
        down_w, down_b, up_w, up_b = self.layers[block]
        return out + self.scale * F.linear(F.relu(F.linear(out, down_w, down_b)), up_w, up_b)


class HeadClass(Method):
    """The memory paper's "head + class token" baseline (Sandler et al., Fig. 1):
    the model's class token trained, from the pretrained one, beside the head."""

    def __init__(self, vit, args):
        super().__init__(vit, args)
        self.token = self.add("class_token", vit.p("cls_token").detach().clone())

    def is_prompt(self, name):
        return True

    def tokens(self, x):
        embedded = (self.token + self.vit.p("pos_embed")[:, :1]).expand(x.shape[0], -1, -1)
        return torch.cat([embedded, x[:, 1:]], 1)


class TaskRows(Hooks):
    """Memory: the task token's pass through one block; its attention reads
    the original tokens' keys and values, its own and the memory's."""

    def __init__(self, keys, values, memory_k, memory_v):
        self.keys, self.values = keys, values
        self.memory_k, self.memory_v = memory_k, memory_v

    def attention(self, block, q, k, v):
        batch = q.shape[0]
        k = torch.cat([self.keys, k, self.memory_k.expand(batch, -1, -1)], 1)
        v = torch.cat([self.values, v, self.memory_v.expand(batch, -1, -1)], 1)
        # One task: its row may attend to every key (Table 1 of the paper);
        # vpet still passes the all-true mask, so this does too.
        mask = torch.ones(1, k.shape[1], dtype=torch.bool, device=k.device)
        return k, v, mask


class Memory(Method):
    """Learnable memory tokens, masked mode: one task token runs its own rows
    through each block beside the untouched original tokens."""

    count = 5

    def __init__(self, vit, args):
        super().__init__(vit, args)
        self.memory = self.add("memory", torch.randn(vit.depth, self.count, vit.width) * 0.02)
        self.task_token = self.add("task_token", vit.p("cls_token").detach().clone())

    def is_prompt(self, name):
        return True

    def tokens(self, x):
        embedded = self.task_token + self.vit.p("pos_embed")[:, :1]
        self.state = embedded.expand(x.shape[0], -1, -1)
        return x

    def attention(self, block, q, k, v):
        memory = self.vit.ln(self.memory[block], f"blocks.{block}.norm1")
        _, memory_k, memory_v = self.vit.project(block, memory)
        self.state = self.vit.block(block, self.state, TaskRows(k, v, memory_k, memory_v))
        return k, v, None

    def final_tokens(self, x):
        self.feature = self.vit.ln(self.state, "norm")[:, 0]
        return x

    def pooled(self, feature):
        return self.feature


class UnmaskedMemory(HeadClass):
    """Learnable memory tokens, unmasked mode (the paper's Fig. 1): every token
    attends to each block's memory (through the block's norm1 and its k/v
    projection), and the class token is trained with it."""

    count = 5

    def __init__(self, vit, args):
        super().__init__(vit, args)
        self.memory = self.add("memory", torch.randn(vit.depth, self.count, vit.width) * 0.02)

    def attention(self, block, q, k, v):
        memory = self.vit.ln(self.memory[block], f"blocks.{block}.norm1")
        _, memory_k, memory_v = self.vit.project(block, memory)
        batch = k.shape[0]
        return (torch.cat([k, memory_k.expand(batch, -1, -1)], 1),
                torch.cat([v, memory_v.expand(batch, -1, -1)], 1), None)


class SptLoRA(Method):
    """SPT-LoRA: the plan's LoRA modules (parallel, no scaling, DropPath and
    a shared dropout on q, k, v's input), full vectors and sparse entries as
    deltas on the frozen tensors, and a class-token delta."""

    def __init__(self, vit, args, fields, sparse):
        super().__init__(vit, args)
        self.dropout = 0.0 if args.no_dropout else 0.1
        self.path_rate = 0.0 if args.no_dropout else 0.1
        d, hidden = vit.width, vit.p("blocks.0.mlp.fc1.weight").shape[0]
        self.class_token = self.add("cls_token.delta", torch.zeros(1, 1, d))
        self.modules, self.deltas = {}, {}
        sites = {"attn.q": "q", "attn.k": "k", "attn.v": "v", "attn.proj": "o",
                 "mlp.fc1": "fc1", "mlp.fc2": "fc2"}
        rank = fields["rank"]

        def place(name):
            """(block, site, "weight" or "bias", shape) of a candidate tensor name:
            "blocks.3.attn.q.weight" is (3, "q", "weight", (D, D)), "norm.bias"
            is (-1, "norm", "bias", (D,))."""
            parts = name.split(".")
            block = int(parts[1]) if parts[0] == "blocks" else -1
            path = ".".join(parts[2:-1] if block >= 0 else parts[:-1])
            site = sites.get(path, path)
            out = hidden if site == "fc1" else d
            matrix = parts[-1] == "weight" and site in SITES
            shape = (out, hidden if site == "fc2" else d) if matrix else (out,)
            return block, site, parts[-1], shape

        for name in fields["modules"]:
            block, site, _, (out, inp) = place(name)
            prefix = name[:name.rfind(".")]
            self.modules[block, site] = (self.add(prefix + ".lora.A", kaiming_uniform(rank, inp)),
                                         self.add(prefix + ".lora.B", torch.zeros(out, rank)))
        for name in list(fields["vectors"]) + list(sparse):
            block, site, kind, shape = place(name)
            numel = int(np.prod(shape))
            indices = sparse.get(name)
            count = numel if indices is None else indices.numel()
            values = self.add(name + ".delta", torch.zeros(count))
            entry = {"values": values, "numel": numel, "shape": shape}
            if indices is not None:
                entry["indices"] = indices.long().to(values.device)
                if len(shape) == 2:
                    entry["rows"] = entry["indices"] // shape[1]
                    entry["cols"] = entry["indices"] % shape[1]
            self.deltas[block, site, kind] = entry

    def is_prompt(self, name):
        return name == "cls_token.delta"

    @staticmethod
    def dense(entry):
        if "indices" not in entry:
            return entry["values"]
        zeros = torch.zeros(entry["numel"], device=entry["values"].device,
                            dtype=entry["values"].dtype)
        return zeros.scatter(0, entry["indices"], entry["values"])

    def tokens(self, x):
        return torch.cat([x[:, :1] + self.class_token, x[:, 1:]], 1)

    def block_input(self, block, x):
        self.shared = None
        return x

    def final_tokens(self, x):
        self.shared = None
        return x

    def norm(self, block, site, inp, out):
        weight = self.deltas.get((block, site, "weight"))
        bias = self.deltas.get((block, site, "bias"))
        if weight is not None:
            out = out + F.layer_norm(inp, (inp.shape[-1],), eps=LN_EPS) * self.dense(weight)
        if bias is not None:
            out = out + self.dense(bias)
        return out

    def drop_path(self, x):
        """timm's DropPath: the whole branch dropped per sample."""
        if not self.training or self.path_rate == 0.0:
            return x
        keep = 1.0 - self.path_rate
        mask = x.new_empty((x.shape[0],) + (1,) * (x.dim() - 1)).bernoulli_(keep)
        return x * mask / keep

    def lora_input(self, site, inp):
        if site == "o":
            return inp
        if site in ("q", "k", "v"):
            if self.shared is None or self.shared[0] is not inp:
                self.shared = (inp, F.dropout(inp, self.dropout, self.training))
            return self.shared[1]
        return F.dropout(inp, self.dropout, self.training)

    def linear(self, block, site, inp, out):
        if site == "mlp":
            return out
        weight = self.deltas.get((block, site, "weight"))
        bias = self.deltas.get((block, site, "bias"))
        if weight is not None:
            values = weight["values"]
            if "indices" in weight and values.numel() <= inp.shape[-1]:
                picked = inp.index_select(-1, weight["cols"]) * values
                out = out.index_add(out.dim() - 1, weight["rows"], picked.to(out.dtype))
            else:
                out = out + F.linear(inp, self.dense(weight).view(weight["shape"]))
        if bias is not None:
            out = out + self.dense(bias)
        module = self.modules.get((block, site))
        if module is None:
            return out
        a, b = module
        return out + self.drop_path(F.linear(F.linear(self.lora_input(site, inp), a), b))


def spt_plan(args):
    """(plan fields, {tensor: sparse indices}) from --init's bundle or --plan."""
    if args.init:
        header, records = read_vpet(args.init)
        tensors = tensors_of(records[0])
        prefix = "structure.sparse."
        return header["config"]["plan"], {k[len(prefix):]: v for k, v in tensors.items()
                                          if k.startswith(prefix)}
    if not args.plan:
        sys.exit("spt-lora needs --plan (spt-sensitivity's output) or --init (a bundle)")
    _, records = read_vpet(args.plan)
    if args.budget is not None:
        records = [r for r in records if r["budget"] == args.budget]
    if len(records) != 1:
        sys.exit(f"{args.plan}: choose one plan with --budget (an exact parameter count)")
    if records[0]["structured"] != "lora":
        sys.exit(f"{args.plan}: a plan for {records[0]['structured']} modules, not LoRA")
    return records[0], {k[len("sparse."):]: v for k, v in tensors_of(records[0]).items()}


class Anderson:
    """vpet's deep-equilibrium solvers (peft/deq.cpp), operation for operation."""

    memory, ridge, beta = 5, 1e-4, 1.0

    @staticmethod
    def residual(z, fz):
        return (fz - z).norm().item() / (1e-12 + fz.norm().item())

    @classmethod
    def solve(cls, f, start, max_iter, tol):
        """z ≈ f(z) from start, without autograd: (z, evaluations, residual)."""
        with torch.no_grad():
            shape = start.shape
            batch = start.shape[0]
            n = start.numel() // max(1, batch)
            m = cls.memory
            xs = start.new_zeros(batch, m, n)
            fs = start.new_zeros(batch, m, n)
            evaluations = 0

            def apply(x):
                nonlocal evaluations
                evaluations += 1
                return f(x.view(shape)).reshape(batch, n)

            x = start.reshape(batch, n)
            fx = apply(x)
            residual = cls.residual(x, fx)
            xs[:, 0] = x
            fs[:, 0] = fx
            if residual < tol or evaluations >= max_iter:
                return fx.view(shape), evaluations, residual
            x = fx
            fx = apply(x)
            residual = cls.residual(x, fx)
            xs[:, 1 % m] = x
            fs[:, 1 % m] = fx
            result, k = x, 2
            while residual >= tol and evaluations < max_iter:
                used = min(k, m)
                g = fs[:, :used] - xs[:, :used]
                h = start.new_zeros(batch, used + 1, used + 1)
                h[:, 0, 1:] = 1.0
                h[:, 1:, 0] = 1.0
                gram = torch.bmm(g, g.transpose(1, 2))
                scale = gram.diagonal(0, 1, 2).max(1)[0].view(batch, 1, 1)
                h[:, 1:, 1:] = gram + cls.ridge * (scale + 1e-30) * torch.eye(
                    used, device=start.device, dtype=start.dtype).unsqueeze(0)
                y = start.new_zeros(batch, used + 1, 1)
                y[:, 0] = 1.0
                alpha = torch.linalg.solve(h, y)[:, 1:]
                x = cls.beta * (alpha * fs[:, :used]).sum(1) + \
                    (1.0 - cls.beta) * (alpha * xs[:, :used]).sum(1)
                fx = apply(x)
                residual = cls.residual(x, fx)
                xs[:, k % m] = x
                fs[:, k % m] = fx
                result = x
                k += 1
            return result.view(shape), evaluations, residual


def equilibrium(layer, start):
    """LION's fixed point with the implicit (IFT) gradient, as vpet's equilibrium():
    the iterates stay at least float32 when the layer runs under bf16 autocast."""
    dtype = torch.promote_types(torch.float32, start.dtype)
    start = start.to(dtype)

    def f(z):
        return layer(z).to(dtype)

    fixed, _, _ = Anderson.solve(f, start, Lion.max_iter, Lion.tol)
    if not torch.is_grad_enabled():
        return fixed
    out = f(fixed)
    if not out.requires_grad:
        return out
    at = fixed.detach().requires_grad_(True)
    applied = f(at)

    def implicit(g):
        def adjoint(v):
            with torch.enable_grad():
                return torch.autograd.grad(applied, at, v, retain_graph=True)[0] + g
        return Anderson.solve(adjoint, g, Lion.backward_max_iter, Lion.backward_tol)[0]

    out.register_hook(implicit)
    return out


class Lion(Method):
    """LION with peft-train's defaults: a pixel-space input layer (8 channels,
    3×3 convolutions) and an output layer (width 256) on the pooled feature,
    tanh, spectral contraction to Lipschitz 0.9, Anderson, implicit gradient."""

    channels, width, lipschitz = 8, 256, 0.9
    tol, max_iter, backward_tol, backward_max_iter = 1e-3, 30, 1e-6, 40

    def __init__(self, vit, args):
        super().__init__(vit, args)
        ch, d = self.channels, vit.width
        self.layers = {
            "input": (self.add("input.recurrent.weight", kaiming_uniform(ch, ch * 9)
                               .view(ch, ch, 3, 3)),
                      self.add("input.injection.weight", kaiming_uniform(ch, 27).view(ch, 3, 3, 3)),
                      self.add("input.injection.bias", uniform(ch, 27)),
                      self.add("input.prompt.weight", torch.zeros(3, ch, 1, 1))),
            "output": (self.add("output.recurrent.weight", kaiming_uniform(self.width, self.width)),
                       self.add("output.injection.weight", kaiming_uniform(self.width, d)),
                       self.add("output.injection.bias", uniform(self.width, d)),
                       self.add("output.prompt.weight", torch.zeros(d, self.width)))}

    def contractive(self, w, bound):
        norm = torch.linalg.svdvals(w.reshape(w.shape[0], -1)).max() * bound
        return w * torch.clamp_max(self.lipschitz / (norm + 1e-12), 1.0)

    def pixels(self, x):
        recurrent, injection, bias, prompt = self.layers["input"]
        w = self.contractive(recurrent, 3.0)
        injected = F.conv2d(x, injection, bias, 1, 1)
        fixed = equilibrium(lambda z: torch.tanh(F.conv2d(z, w, None, 1, 1) + injected),
                            torch.zeros_like(injected))
        return x + F.conv2d(fixed, prompt)

    def pooled(self, feature):
        recurrent, injection, bias, prompt = self.layers["output"]
        w = self.contractive(recurrent, 1.0)
        injected = F.linear(feature, injection, bias)
        fixed = equilibrium(lambda z: torch.tanh(F.linear(z, w) + injected),
                            torch.zeros_like(injected))
        return feature + F.linear(fixed, prompt)


class PgnBlock(torch.nn.Module):
    def __init__(self, inp, out, stride):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(inp, out, 3, stride, 1, bias=False)
        self.bn1 = torch.nn.BatchNorm2d(out)
        self.conv2 = torch.nn.Conv2d(out, out, 3, 1, 1, bias=False)
        self.bn2 = torch.nn.BatchNorm2d(out)
        self.shortcut = (torch.nn.Conv2d(inp, out, 1, stride, 0, bias=True)
                         if stride != 1 or inp != out else None)

    def forward(self, x):
        y = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        return F.relu(y + (self.shortcut(x) if self.shortcut is not None else x))


class PgnGenerator(torch.nn.Module):
    """PGN's "resnet10" prompt generator (vpet's peft/pgn_generator.h)."""

    def __init__(self, channels, out):
        super().__init__()
        self.stem = torch.nn.Conv2d(channels, 16, 3, 2, 1, bias=False)
        self.stem_bn = torch.nn.BatchNorm2d(16)
        self.layer1 = PgnBlock(16, 16, 1)
        self.layer2 = PgnBlock(16, 32, 2)
        self.layer3 = PgnBlock(32, 64, 2)
        self.layer4 = PgnBlock(64, 128, 2)
        self.fc = torch.nn.Linear(128, out)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.stem_bn(self.stem(x))), 3, 2, 1)
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(x.mean((2, 3)))


class Pgn(Method):
    """PGN: K = 16 input-dependent prompts mixed from a 128-token library by a
    generator reading each image resized to 224, appended after the patches."""

    prompts, library_size, input_size = 16, 128, 224

    def __init__(self, vit, args):
        super().__init__(vit, args)
        device = vit.p("pos_embed").device
        self.generator = PgnGenerator(3, self.prompts * self.library_size).to(device)
        for name, value in self.generator.named_parameters():
            self.params["generator." + name] = value
        self.library = self.add("library", torch.randn(self.library_size, vit.width) * 0.02)

    def is_prompt(self, name):
        return name == "library"

    def train(self, training):
        super().train(training)
        self.generator.train(training)

    def pixels(self, x):
        # tlpgn.py: torchvision's resize(images, S), the shorter side to S
        # (torchvision 0.13: bilinear, no antialiasing on tensors).
        h, w = x.shape[-2:]
        short, long = min(h, w), max(h, w)
        size = (self.input_size, int(self.input_size * long / short))
        size = size if h <= w else size[::-1]
        resized = x if (h, w) == size else F.interpolate(
            x, size=size, mode="bilinear", align_corners=False)
        logits = self.generator(resized).view(x.shape[0], self.prompts, self.library_size)
        self.weights = logits.softmax(-1)
        return x

    def tokens(self, x):
        return torch.cat([x, self.weights @ self.library], 1)

    def final_tokens(self, x):
        return x[:, :-self.prompts]


METHODS = {"linear": LinearProbe, "full": Full, "vpt-deep": VptDeep, "lora": LoRA, "dora": DoRA,
           "ssf": Ssf, "adapter": Adapter, "head-class": HeadClass, "memory": Memory,
           "spt-lora": SptLoRA, "lion": Lion, "pgn": Pgn}


def make_method(vit, args):
    if args.method == "memory" and args.memory_mode == "unmasked":
        return UnmaskedMemory(vit, args)
    if args.method == "spt-lora":
        fields, sparse = spt_plan(args)
        return SptLoRA(vit, args, fields, sparse)
    return METHODS[args.method](vit, args)


# ---------------------------------------------------------------- training

class AdamW:
    """vpet's AdamW (train/optimizer.cpp): torch.optim.AdamW's single-tensor
    path, operation for operation."""

    def __init__(self, params, beta1=0.9, beta2=0.999, eps=1e-8):
        self.params = params  # [(tensor, weight decay, learning-rate multiple)]
        self.beta1, self.beta2, self.eps = beta1, beta2, eps
        self.state = [None] * len(params)

    def zero_grad(self):
        for p, _, _ in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self, base_lr):
        for i, (p, decay, scale) in enumerate(self.params):
            lr = base_lr * scale
            if p.grad is None:
                continue
            if self.state[i] is None:
                self.state[i] = [torch.zeros_like(p), torch.zeros_like(p), 0]
            first, second, _ = state = self.state[i]
            state[2] += 1
            p.mul_(1.0 - lr * decay)
            first.mul_(self.beta1).add_(p.grad, alpha=1.0 - self.beta1)
            second.mul_(self.beta2).addcmul_(p.grad, p.grad, value=1.0 - self.beta2)
            correction1 = 1.0 - self.beta1 ** state[2]
            correction2 = 1.0 - self.beta2 ** state[2]
            denom = (second.sqrt() / math.sqrt(correction2)).add_(self.eps)
            p.addcdiv_(first, denom, value=-lr / correction1)


def cosine_lr(base, step, total):
    return base * 0.5 * (1.0 + math.cos(math.pi * step / total))


def load_images(spec, size):
    """(pixels [N, 3, size, size] normalised, labels [N]) of a folder or list file."""
    if os.path.isdir(spec):
        classes = sorted(d for d in os.listdir(spec) if os.path.isdir(os.path.join(spec, d)))
        items = [(os.path.join(spec, c, f), label) for label, c in enumerate(classes)
                 for f in sorted(os.listdir(os.path.join(spec, c)))]
    else:
        base = os.path.dirname(spec)
        with open(spec) as f:
            items = [(os.path.join(base, line.rsplit(None, 1)[0]), int(line.rsplit(None, 1)[1]))
                     for line in f if line.strip() and not line.startswith("#")]
    mean = torch.tensor(IMAGENET_MEAN).view(3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(3, 1, 1)
    pixels = []
    for path, _ in items:
        image = Image.open(path).convert("RGB")
        if image.size != (size, size):
            image = image.resize((size, size), Image.BILINEAR)
        array = torch.from_numpy(np.asarray(image, dtype=np.uint8).copy())
        pixels.append((array.permute(2, 0, 1).float() / 255.0 - mean) / std)
    return torch.stack(pixels), torch.tensor([label for _, label in items])


@torch.no_grad()
def top1(model, pixels, labels, batch=256):
    """Top-1 (%) of an nn.Module classifier, in eval mode."""
    model.eval()
    correct = sum((model(pixels[i:i + batch]).argmax(1) == labels[i:i + batch]).sum().item()
                  for i in range(0, len(pixels), batch))
    return 100.0 * correct / len(pixels)


def print_result(result, model, test, size):
    """A training run's JSON line, with "test_top1" when `test` (a folder or
    list of images at `size`) is given."""
    if test:
        test_pixels, test_labels = load_images(test, size)
        result["test_top1"] = top1(model, test_pixels, test_labels)
    print(json.dumps(result), flush=True)


def load_init(path, method, head):
    """--init: the method's tensors and the head from a vpet adapter bundle."""
    header, records = read_vpet(path)
    if header.get("method") != method.args.method:
        sys.exit(f"{path}: a {header.get('method')} bundle, not {method.args.method}")
    stored = tensors_of(records[0])
    with torch.no_grad():
        for name, target in list(method.params.items()) + [("head.weight", head.weight),
                                                          ("head.bias", head.bias)]:
            if name not in stored or tuple(stored[name].shape) != tuple(target.shape):
                sys.exit(f"{path}: no tensor '{name}' of shape {tuple(target.shape)}")
            target.copy_(stored[name])
    if isinstance(method, Pgn):  # BatchNorm statistics (structure)
        buffers = dict(method.generator.named_buffers())
        for name, value in stored.items():
            if name.startswith("structure.generator."):
                buffers[name[len("structure.generator."):]].copy_(value)


def peak_memory(device):
    if device.type == "cuda":
        return {"peak_gpu_bytes": torch.cuda.max_memory_allocated(device)}
    return {"peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}


def run(args):
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    device = torch.device(args.device)
    vit = ViT(args.model, args.heads).to(device)
    if args.data:
        pixels, labels = load_images(args.data, vit.img_size)
        classes = int(labels.max()) + 1
    else:
        pixels = torch.randn(args.batch, 3, vit.img_size, vit.img_size)
        labels = torch.arange(args.batch) % args.classes
        classes = args.classes
    method = make_method(vit, args)
    head = torch.nn.Linear(vit.width, classes).to(device)
    with torch.no_grad():
        torch.nn.init.trunc_normal_(head.weight, std=0.02)  # timm and torch: cut at ±2
        head.bias.zero_()
    if args.init:
        load_init(args.init, method, head)
    # LoRA+ (--lr-ratio-b): the B factors' param group has lr * ratio, as
    # peft's create_loraplus_optimizer builds it; weight decay is scaled with it.
    params = [(p, args.wd if method.decays(name) else 0.0,
               args.lr_ratio_b if name.endswith(".B") else 1.0)
              for name, p in method.params.items()]
    optimizer = AdamW(params + [(head.weight, args.wd, 1.0), (head.bias, 0.0, 1.0)])
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=args.precision == "bf16")
    cached = not method.changes_features and not args.recompute
    if cached:
        # peft-train computes a linear probe's features once, outside the steps.
        with torch.inference_mode(), autocast:
            pixels = torch.cat([vit.features(pixels[i:i + args.batch].to(device), Hooks())
                                .float().cpu() for i in range(0, len(pixels), args.batch)])
        pixels = pixels.clone()
    method.train(True)
    n = len(pixels)
    steps_per_epoch = -(-n // args.batch)
    total = args.warmup + args.steps
    generator = torch.Generator().manual_seed(args.seed)
    times, losses = [], []
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    for step in range(total):
        start = time.perf_counter()
        if step % steps_per_epoch == 0:
            order = torch.randperm(n, generator=generator)
        rows = order[(step % steps_per_epoch) * args.batch:][:args.batch]
        x = pixels.index_select(0, rows).to(device)
        y = labels.index_select(0, rows).to(device)
        optimizer.zero_grad()
        with autocast:
            if cached:
                features = x
            elif method.changes_features:
                features = vit.features(x, method)
            else:
                with torch.no_grad():
                    features = vit.features(x, method)
            loss = F.cross_entropy(head(features), y)
        loss.backward()
        optimizer.step(cosine_lr(args.lr, step, total))
        losses.append(loss.item())
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        times.append((time.perf_counter() - start, len(rows)))
    steady = times[args.warmup:]
    seconds = sum(t for t, _ in steady)
    result = {"impl": "pytorch", "method": args.method, "device": args.device,
              "precision": args.precision, "batch": args.batch, "img_size": vit.img_size,
              "threads": args.threads, "warmup": args.warmup, "steps": args.steps,
              "images_per_second": sum(k for _, k in steady) / seconds if seconds > 0 else None,
              "step_seconds_median": float(np.median([t for t, _ in steady])) if steady else None,
              "first_loss": losses[0], "losses": losses, "fused_attention": FUSED_ATTENTION,
              "params_trainable": sum(p.numel() for p in method.params.values()),
              "torch": torch.__version__}
    result.update(peak_memory(device))
    print(json.dumps(result), flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="timm-layout ViT safetensors")
    parser.add_argument("--method", required=True, choices=sorted(METHODS))
    parser.add_argument("--data", help="folder of class folders, or a 'path label' list file")
    parser.add_argument("--classes", type=int, default=10, help="classes without --data")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--steps", type=int, default=20, help="timed steps after the warm-up")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps first")
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    parser.add_argument("--precision", default="fp32", choices=("fp32", "bf16"))
    parser.add_argument("--init", help="vpet adapter bundle: method tensors and head to start from")
    parser.add_argument("--plan", help="spt-lora: spt-sensitivity's plan file")
    parser.add_argument("--budget", type=int, help="spt-lora: the plan's budget (a count)")
    parser.add_argument("--heads", type=int, help="attention heads (default: the file's)")
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--wd", type=float, default=1e-4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--memory-mode", choices=("masked", "unmasked"), default="masked",
                        help="memory: masked (a task token beside the originals) or unmasked")
    parser.add_argument("--lora-scale", choices=("standard", "rs"), default="standard",
                        help="lora: alpha/r, or rsLoRA's alpha/sqrt(r)")
    parser.add_argument("--lr-ratio-b", type=float, default=1.0,
                        help="LoRA+: the LoRA B factors' learning rate multiple")
    parser.add_argument("--no-dropout", action="store_true",
                        help="turn off the methods' dropout and drop-path (for parity)")
    parser.add_argument("--recompute", action="store_true",
                        help="linear: recompute the frozen features every step")
    args = parser.parse_args()
    if args.steps < 1 or args.warmup < 0 or args.batch < 1:
        parser.error("--steps and --batch must be >= 1, --warmup >= 0")
    run(args)


if __name__ == "__main__":
    main()
