#!/usr/bin/python3
"""PyTorch transcription of SPT's released path, from a plan to a trained model.

An independent reference for `spt-sensitivity` and `peft-train --method
spt-lora|spt-adapter` (issue 22), written from ziplab/SPT @ e385f67 in its
own module structure, not from vpet's code:

- the model (`model/vision_transformer_timm.py`): timm's ViT with q, k and
  v as separate Linears (the fused qkv of the checkpoint split in three, as
  `train_spt.py` splits MAE's and MoCo's), stochastic depth
  linspace(0, --drop-path, depth) over the blocks;
- `StructuredTuningModule`: LoRA is Linear(in, r) kaiming_uniform(a=√5) then
  Linear(r, out) zeros, no scale; Adapter is Linear(in, r) with torch's
  default bias, GELU, Linear(r, out) zeros with a zero bias (biases because
  the scripts pass --structured_vector); both end in DropPath(0.1);
- `BlockSPTParallel` (LoRA): q, k and v's modules read one Dropout(0.1)
  sample of the block's normed input, proj's reads the attention output
  undropped, fc1's and fc2's each their own dropout of the Linear's input;
  every module's output is added to its Linear's;
- `BlockSPTSeq` (Adapter): the modules of q, k, v, fc1 and fc2 read a
  dropout of their Linear's output and are added to it; proj's reads the
  attention output (proj's input) and is added to proj's output;
- `LinearSPTSparseGrad`/`replace_linear`: a matrix's sparse entries are a
  zero-initialised parameter added at (row, col) of the frozen weight, in
  the order of `nonzero()` (row-major), a bias's likewise; sparse entries
  the plan puts on a LayerNorm are dropped, as `replace_linear` replaces
  only Linears (--train-sparse-norms trains them, as vpet does);
- `freeze_stages`: the head, the class token, the modules, the sparse
  entries and the plan's vectors train; everything else is frozen;
- the optimiser (`lib/utils.py` build_optimizer, set_weight_decay):
  AdamW(eps 1e-8) with --wd on every trained tensor of two or more
  dimensions that is not a bias, none on the rest (vectors, biases, the
  sparse entries, cls_token);
- the schedule (`train_spt.py`, timm's CosineLRScheduler stepped with
  `lr_scheduler.step(epoch)` after epoch `epoch`): epoch e trains at f(e-1)
  (epoch 0 at f(0)), f(t) the warmup from --warmup-lr over --warmup epochs,
  then lr_min + (lr - lr_min)(1 + cos(pi t / epochs)) / 2; --schedule
  cosine is peft-train's default instead (per step, no warmup, to --min-lr);
- the loader: shuffled every epoch, the last partial batch kept;
- the sensitivity pass (`engine.py` get_sensitivity): every parameter
  requires gradients, the model in training mode (stochastic depth on), the
  first --batches batches in file order; the score of a weight is the sum
  over batches of its squared batch gradient; the head is SPT's fresh
  trunc_normal_(std=0.02) (bias 0) drawn with --seed, or --init's;
- the allocation (the same function's sweep, with --structured_vector on):
  the top-tau entries, a vector tuned in full from numel/beta of them, a
  matrix given a module from its cost/alpha (get_structured_param_num), the
  rest sparse, the class token in the total, the closest total per budget
  with ties to the later tau.

    bench/spt_reference.py --model VIT.safetensors --data TRAIN --plan PLAN
        [--budget COUNT] [--test TEST] [--init BUNDLE] [--epochs 100]
        [--batch 64] [--lr 1e-3] [--wd 1e-4] [--schedule timm-cosine|cosine]
        [--warmup 10] [--warmup-lr 1e-6] [--min-lr 1e-5] [--drop-path 0.1]
        [--no-structured-drop-out] [--no-structured-drop-path]
        [--train-sparse-norms] [--seed 0] [--threads 1]
    bench/spt_reference.py --model VIT.safetensors --data TRAIN
        --sensitivity SCORES.safetensors [--batches 16] [--batch 32]
        [--drop-path 0.1] [--init BUNDLE] [--seed 0]
    bench/spt_reference.py --model VIT.safetensors --data TRAIN --plan PLAN
        --check-allocation SCORES.safetensors

--data and --test are folders of class folders or 'path label' lists of
images at the model's size (bench/reference.py's loader: ImageNet
normalisation). --plan is spt-sensitivity's output (--budget: the exact
parameter count of one of its plans, when it holds several); the module
kind comes from the plan. --init starts from a vpet bundle: an spt bundle
gives the head and every trained tensor (what `peft-train --rewind-from`
does), any other bundle the head only.

Prints one JSON line: the loss of every step, the trainable count (without
the head), test top-1 (%) after the last epoch with --test, and the
settings. --sensitivity writes the score of every candidate tensor under
spt-sensitivity's names (what its --scores writes) and prints the losses.
--check-allocation applies SPT's rule to spt-sensitivity's --scores at every
tau of the plan file's sweep (its header) and exits 1 unless every total
and every plan (tau, modules, vectors, sparse entries) is the file's; ties
among equal scores go to the lower flat index, as spt-sensitivity breaks
them (topk's order is unspecified).
"""
import argparse
import json
import math
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from full_to_safetensors import read_safetensors, write_safetensors  # noqa: E402
from reference import load_images, print_result, read_vpet, tensors_of  # noqa: E402

OPERATIONS = {"q": 0, "k": 1, "v": 2, "proj": 3, "fc1": 4, "fc2": 5}  # engine.py vit_operation_dict
SKIPPED = ("head", "cls_token", "patch_embed", "pos_embed")  # engine.py grad_skip_kwd_list


# ---------------------------------------------------------------- modules

class DropPath(nn.Module):
    """timm's stochastic depth: the whole branch of a sample dropped."""

    def __init__(self, rate):
        super().__init__()
        self.rate = rate

    def forward(self, x):
        if self.rate == 0.0 or not self.training:
            return x
        keep = 1.0 - self.rate
        mask = (keep + torch.rand((x.shape[0],) + (1,) * (x.dim() - 1), dtype=x.dtype)).floor_()
        return x.div(keep) * mask


class StructuredTuningModule(nn.Module):
    def __init__(self, inp, out, rank, kind, no_drop_path):
        super().__init__()
        if kind == "lora":
            self.learnable = nn.Sequential(nn.Linear(inp, rank, bias=False),
                                           nn.Linear(rank, out, bias=False))
            nn.init.kaiming_uniform_(self.learnable[0].weight, a=math.sqrt(5))
            nn.init.zeros_(self.learnable[1].weight)
        else:
            self.learnable = nn.Sequential(nn.Linear(inp, rank), nn.GELU(), nn.Linear(rank, out))
            nn.init.kaiming_uniform_(self.learnable[0].weight, a=math.sqrt(5))
            nn.init.zeros_(self.learnable[2].weight)
            nn.init.zeros_(self.learnable[2].bias)
        self.drop_path = nn.Identity() if no_drop_path else DropPath(0.1)

    def forward(self, x):
        return self.drop_path(self.learnable(x))


class SparseLinear(nn.Linear):
    """LinearSPTSparseGrad: trained entries added to a frozen weight and bias."""

    def set_sparse_weight(self, indexes):
        self.sparse_weight = nn.Parameter(torch.zeros(indexes.shape[1]))
        self.register_buffer("sparse_weight_indexes", indexes)

    def set_sparse_bias(self, indexes):
        self.sparse_bias = nn.Parameter(torch.zeros(indexes.shape[1]))
        self.register_buffer("sparse_bias_indexes", indexes)

    def forward(self, x):
        weight, bias = self.weight, self.bias
        if hasattr(self, "sparse_weight"):
            rows, cols = self.sparse_weight_indexes
            weight = weight.index_put((rows, cols), self.sparse_weight, accumulate=True)
        if hasattr(self, "sparse_bias"):
            bias = bias.index_put((self.sparse_bias_indexes[0],), self.sparse_bias, accumulate=True)
        return F.linear(x, weight, bias)


class SparseLayerNorm(nn.LayerNorm):
    """--train-sparse-norms only: what vpet trains and SPT's code drops."""

    def set_sparse(self, kind, indexes):
        setattr(self, "sparse_" + kind, nn.Parameter(torch.zeros(indexes.shape[1])))
        self.register_buffer(f"sparse_{kind}_indexes", indexes)

    def forward(self, x):
        weight, bias = self.weight, self.bias
        if hasattr(self, "sparse_weight"):
            weight = weight.index_put((self.sparse_weight_indexes[0],), self.sparse_weight,
                                      accumulate=True)
        if hasattr(self, "sparse_bias"):
            bias = bias.index_put((self.sparse_bias_indexes[0],), self.sparse_bias, accumulate=True)
        return F.layer_norm(x, self.normalized_shape, weight, bias, self.eps)


class Attention(nn.Module):
    """AttentionSepQKV with AttentionSPTParallel's (LoRA) or AttentionSPTSeq's
    (Adapter) modules."""

    def __init__(self, dim, heads, tuned, rank, kind, args):
        super().__init__()
        self.heads, self.kind = heads, kind
        self.q, self.k, self.v, self.proj = (SparseLinear(dim, dim) for _ in range(4))
        self.structured = nn.ModuleDict({
            name: StructuredTuningModule(dim, dim, rank, kind, args.no_structured_drop_path)
            for name, on in zip(("q", "k", "v", "proj"), tuned) if on})
        self.structured_drop = nn.Identity() if args.no_structured_drop_out else nn.Dropout(0.1)

    def forward(self, x):
        batch, n, dim = x.shape
        q, k, v = self.q(x), self.k(x), self.v(x)
        if self.kind == "lora":
            dropped = self.structured_drop(x)
            q, k, v = (t + self.structured[s](dropped) if s in self.structured else t
                       for s, t in (("q", q), ("k", k), ("v", v)))
        else:
            q, k, v = (t + self.structured[s](self.structured_drop(t))
                       if s in self.structured else t
                       for s, t in (("q", q), ("k", k), ("v", v)))
        q, k, v = (t.reshape(batch, n, self.heads, dim // self.heads).permute(0, 2, 1, 3)
                   for t in (q, k, v))
        attention = ((q @ k.transpose(-2, -1)) * (dim // self.heads) ** -0.5).softmax(dim=-1)
        x = (attention @ v).transpose(1, 2).reshape(batch, n, dim)
        delta = self.structured["proj"](x) if "proj" in self.structured else 0.0
        return self.proj(x) + delta


class Mlp(nn.Module):
    """timm's Mlp with MlpSPTParallel's (LoRA) or MlpSPTSeq's (Adapter) modules."""

    def __init__(self, dim, hidden, tuned, rank, kind, args):
        super().__init__()
        self.kind = kind
        self.fc1, self.fc2 = SparseLinear(dim, hidden), SparseLinear(hidden, dim)
        shapes = {"fc1": (dim, hidden), "fc2": (hidden, dim)} if kind == "lora" else \
            {"fc1": (hidden, hidden), "fc2": (dim, dim)}
        self.structured = nn.ModuleDict({
            name: StructuredTuningModule(*shapes[name], rank, kind, args.no_structured_drop_path)
            for name, on in zip(("fc1", "fc2"), tuned) if on})
        self.structured_drop = nn.Identity() if args.no_structured_drop_out else nn.Dropout(0.1)

    def site(self, name, x):
        linear = getattr(self, name)
        if name not in self.structured:
            return linear(x)
        if self.kind == "lora":
            return linear(x) + self.structured[name](self.structured_drop(x))
        y = linear(x)
        return y + self.structured[name](self.structured_drop(y))

    def forward(self, x):
        return self.site("fc2", F.gelu(self.site("fc1", x)))


class Block(nn.Module):
    def __init__(self, dim, heads, hidden, drop_path, tuned, rank, kind, args):
        super().__init__()
        self.norm1 = SparseLayerNorm(dim, eps=1e-6)
        self.attn = Attention(dim, heads, tuned[:4], rank, kind, args)
        self.drop_path = DropPath(drop_path)
        self.norm2 = SparseLayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, hidden, tuned[4:], rank, kind, args)

    def forward(self, x):
        x = x + self.drop_path(self.attn(self.norm1(x)))
        return x + self.drop_path(self.mlp(self.norm2(x)))


class VisionTransformerSPT(nn.Module):
    def __init__(self, path, classes, args, tuned_matrices=None, rank=8, kind="lora"):
        super().__init__()
        arrays, metadata = read_safetensors(path)
        weights = {k: torch.from_numpy(v.astype(np.float32)) for k, v in arrays.items()
                   if not k.startswith("head.")}
        dim = weights["pos_embed"].shape[-1]
        depth = 1 + max(int(k.split(".")[1]) for k in weights if k.startswith("blocks."))
        hidden = weights["blocks.0.mlp.fc1.weight"].shape[0]
        heads = int(metadata.get("num_heads", dim // 64))
        patch = weights["patch_embed.proj.weight"].shape[-1]
        self.img_size = patch * int(round(math.sqrt(weights["pos_embed"].shape[1] - 1)))
        self.patch_embed = nn.Module()
        self.patch_embed.proj = nn.Conv2d(3, dim, patch, stride=patch)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embed = nn.Parameter(torch.zeros_like(weights["pos_embed"]))
        tuned_matrices = tuned_matrices or [[0] * 6 for _ in range(depth)]
        rates = [x.item() for x in torch.linspace(0, args.drop_path, depth)]
        self.blocks = nn.Sequential(*[Block(dim, heads, hidden, rates[i], tuned_matrices[i], rank,
                                            kind, args) for i in range(depth)])
        self.norm = SparseLayerNorm(dim, eps=1e-6)
        self.head = nn.Linear(dim, classes)
        nn.init.trunc_normal_(self.head.weight, std=0.02)
        nn.init.zeros_(self.head.bias)
        state = {}
        for name, value in weights.items():
            if ".attn.qkv." in name:  # train_spt.py's split of a fused qkv
                for part, chunk in zip("qkv", value.chunk(3, 0)):
                    state[name.replace("qkv", part)] = chunk
            else:
                state[name] = value
        missing, unexpected = self.load_state_dict(state, strict=False)
        missing = [m for m in missing if "structured" not in m and not m.startswith("head.")]
        if missing or unexpected:
            sys.exit(f"{path}: not timm's standard ViT layout (missing {missing[:3]}, "
                     f"unexpected {unexpected[:3]})")

    def forward(self, x):
        x = self.patch_embed.proj(x).flatten(2).transpose(1, 2)
        x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], 1) + self.pos_embed
        return self.head(self.norm(self.blocks(x))[:, 0])


# ---------------------------------------------------------------- the plan

def checkpoint_shape(path):
    """(input side, depth) of a timm-layout checkpoint."""
    arrays, _ = read_safetensors(path)
    patch = arrays["patch_embed.proj.weight"].shape[-1]
    depth = 1 + max(int(k.split(".")[1]) for k in arrays if k.startswith("blocks."))
    return patch * int(round(math.sqrt(arrays["pos_embed"].shape[1] - 1))), depth


def read_plan(path, budget):
    _, records = read_vpet(path)
    if budget is not None:
        records = [r for r in records if r["budget"] == budget]
    if len(records) != 1:
        sys.exit(f"{path}: choose one of its plans with --budget (an exact parameter count)")
    record = records[0]
    return record, {k[len("sparse."):]: v.long() for k, v in tensors_of(record).items()}


def build_model(args, classes, depth):
    """train_spt.py main: the plan's modules, vectors and sparse entries on
    the model, then freeze_stages."""
    plan, sparse = read_plan(args.plan, args.budget)
    tuned_matrices = [[0] * 6 for _ in range(depth)]
    for name in plan["modules"]:
        attr = name.split(".")
        tuned_matrices[int(attr[1])][OPERATIONS[attr[3]]] = 1
    torch.manual_seed(args.seed)
    model = VisionTransformerSPT(args.model, classes, args, tuned_matrices, plan["rank"],
                                 plan["structured"])
    dropped = 0
    for name, flat in sparse.items():
        owner_name, kind = name.rsplit(".", 1)
        owner = model.get_submodule(owner_name)
        shape = getattr(owner, kind).shape
        mask = torch.zeros(int(np.prod(shape)))
        mask[flat] = 1.0
        indexes = (mask.view(shape) != 0).nonzero().t()
        if isinstance(owner, SparseLinear):
            (owner.set_sparse_weight if kind == "weight" else owner.set_sparse_bias)(indexes)
        elif args.train_sparse_norms:
            owner.set_sparse(kind, indexes)
        else:
            dropped += indexes.shape[1]
    trained = ("head", "cls_token", "structured", "sparse_") + tuple(plan["vectors"])
    for name, parameter in model.named_parameters():
        parameter.requires_grad_(any(k in name for k in trained))
    return model, plan, dropped


def load_init(path, model):
    """--init: the head, and an spt bundle's tensors under SPT's names."""
    header, records = read_vpet(path)
    stored = tensors_of(records[0])
    with torch.no_grad():
        model.head.weight.copy_(stored["head.weight"])
        model.head.bias.copy_(stored["head.bias"])
        if not header.get("method", "").startswith("spt-"):
            return
        for name, value in stored.items():
            if name == "cls_token.delta":
                model.cls_token.add_(value.view_as(model.cls_token))
            elif ".lora." in name or ".adapter." in name:
                # "blocks.3.attn.v.lora.A", "blocks.3.mlp.fc1.adapter.down.bias"
                layer = "lora" if ".lora." in name else "adapter"
                matrix, part = name.split(f".{layer}.")
                owner_name, site = matrix.rsplit(".", 1)
                module = model.get_submodule(owner_name).structured[site]
                if layer == "lora":
                    module.learnable[0 if part == "A" else 1].weight.copy_(value)
                else:
                    linear, field = part.split(".")
                    getattr(module.learnable[0 if linear == "down" else 2], field).copy_(value)
            elif name.endswith(".delta"):
                tensor = name[:-len(".delta")]
                owner_name, kind = tensor.rsplit(".", 1)
                owner = model.get_submodule(owner_name)
                indices = stored.get("structure.sparse." + tensor)
                if indices is None:  # a vector tuned in full
                    getattr(owner, kind).add_(value)
                elif hasattr(owner, "sparse_" + kind):  # values in nonzero()'s row-major order
                    getattr(owner, "sparse_" + kind).copy_(value[indices.long().argsort()])


# ---------------------------------------------------------------- training

def param_groups(model, weight_decay):
    """lib/utils.py set_weight_decay with no_weight_decay() = {pos_embed, cls_token}."""
    decay, no_decay = [], []
    for name, parameter in model.named_parameters():
        if not parameter.requires_grad:
            continue
        if parameter.dim() == 1 or name.endswith(".bias") or name in ("pos_embed", "cls_token"):
            no_decay.append(parameter)
        else:
            decay.append(parameter)
    return [{"params": decay}, {"params": no_decay, "weight_decay": 0.0}]


def cosine(args, t, total):
    return args.min_lr + 0.5 * (args.lr - args.min_lr) * (1 + math.cos(math.pi * t / total))


def timm_cosine(args, t):
    """timm's CosineLRScheduler at epoch t (t_in_epochs, one cycle of --epochs)."""
    if t < args.warmup:
        return args.warmup_lr + t * (args.lr - args.warmup_lr) / args.warmup
    if t >= args.epochs:
        return args.min_lr
    return cosine(args, t, args.epochs)


def rate(args, epoch, step, steps):
    if args.schedule == "timm-cosine":
        return timm_cosine(args, max(epoch - 1, 0))  # step(epoch) after epoch `epoch`
    return cosine(args, epoch * steps + step, args.epochs * steps)


def train(args):
    size, depth = checkpoint_shape(args.model)
    pixels, labels = load_images(args.data, size)
    classes = int(labels.max()) + 1
    model, plan, dropped = build_model(args, classes, depth)
    if args.init:
        load_init(args.init, model)
    optimizer = torch.optim.AdamW(param_groups(model, args.wd), lr=args.lr, eps=1e-8,
                                  weight_decay=args.wd)
    generator = torch.Generator().manual_seed(args.seed)
    losses = []
    steps = math.ceil(len(pixels) / args.batch)
    for epoch in range(args.epochs):
        model.train()
        order = torch.randperm(len(pixels), generator=generator)
        for step in range(steps):
            for group in optimizer.param_groups:
                group["lr"] = rate(args, epoch, step, steps)
            rows = order[step * args.batch:(step + 1) * args.batch]
            loss = F.cross_entropy(model(pixels[rows]), labels[rows])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
    trainable = sum(p.numel() for n, p in model.named_parameters()
                    if p.requires_grad and not n.startswith("head."))
    result = {"impl": "spt-reference", "method": "spt-" + plan["structured"],
              "budget": plan["budget"], "trainable": trainable,
              "sparse_norm_entries_dropped": dropped, "epochs": args.epochs, "batch": args.batch,
              "lr": args.lr, "wd": args.wd, "schedule": args.schedule, "seed": args.seed,
              "losses": losses}
    print_result(result, model, args.test, model.img_size)


def sensitivity(args):
    """engine.py get_sensitivity: Σ over the first batches of grad²."""
    pixels, labels = load_images(args.data, checkpoint_shape(args.model)[0])
    torch.manual_seed(args.seed)
    model = VisionTransformerSPT(args.model, int(labels.max()) + 1, args)
    if args.init:
        load_init(args.init, model)
    model.train()
    scores = {name: torch.zeros_like(p) for name, p in model.named_parameters()}
    losses = []
    for index, start in enumerate(range(0, len(pixels), args.batch)):
        if index >= args.batches:
            break
        model.zero_grad()
        loss = F.cross_entropy(model(pixels[start:start + args.batch]),
                               labels[start:start + args.batch])
        loss.backward()
        for name, parameter in model.named_parameters():
            scores[name] += parameter.grad.detach() ** 2
        losses.append(loss.item())
    kept = {name: score.numpy() for name, score in scores.items()
            if not any(k in name for k in SKIPPED)}
    write_safetensors(args.sensitivity, kept, {"vpet": "spt_reference.py sensitivity"})
    print(json.dumps({"impl": "spt-reference", "sensitivity": args.sensitivity,
                      "batches": len(losses), "losses": losses}), flush=True)


def module_cost(kind, inp, out, rank):
    """engine.py get_structured_param_num."""
    if kind == "lora":
        return inp * rank + rank * out
    return out * rank + rank * out + rank + out


def allocate(scores, shapes, tau, kind, rank, alpha, beta, class_token):
    """engine.py get_sensitivity's loop body for one tau (structured_vector
    on, structured_only off): {"params", "modules", "vectors", "sparse"}."""
    names = list(shapes)
    flat = torch.cat([scores[n].flatten() for n in names])
    # topk's order among equal scores is unspecified; the lower flat index first.
    order = torch.sort(flat, descending=True, stable=True).indices[:tau]
    mask = torch.zeros_like(flat)
    mask[order] = 1.0
    plan = {"modules": [], "vectors": [], "sparse": {}}
    structured = unstructured = 0
    for name, part in zip(names, mask.split([int(np.prod(shapes[n])) for n in names])):
        shape, selected = shapes[name], int(part.sum().item())
        if any(k in name for k in ("norm", "bias")):
            if len(shape) == 1 and selected >= shape[0] / beta:
                structured += shape[0]
                plan["vectors"].append(name)
                continue
        else:
            cost = module_cost(kind, shape[1], shape[0], rank)
            if selected >= cost / alpha:
                structured += cost
                plan["modules"].append(name)
                continue
        unstructured += selected
        if selected:
            plan["sparse"][name] = part.nonzero().flatten()
    plan["params"] = unstructured + structured + class_token
    return plan


def check_allocation(args):
    """--check-allocation: SPT's rule on spt-sensitivity's --scores, at
    every tau of the plan file's sweep, against the file's plans."""
    header, records = read_vpet(args.plan)
    arrays, _ = read_safetensors(args.check_allocation)
    # The candidates in the order of SPT's named_parameters (ties only).
    model = VisionTransformerSPT(args.model, 2, args)
    names = [n for n, _ in model.named_parameters() if not any(k in n for k in SKIPPED)]
    scores = {n: torch.from_numpy(np.array(arrays[n], dtype=np.float64)) for n in names}
    shapes = {n: tuple(arrays[n].shape) for n in names}
    settings = header["allocation"]
    kind, rank = header["structured"], records[0]["rank"]
    class_token = model.cls_token.shape[-1]
    sweep = []
    for tau, total in settings["sweep"]:
        plan = allocate(scores, shapes, tau, kind, rank, settings["alpha"], settings["beta"],
                        class_token)
        if plan["params"] != total:
            sys.exit(f"{args.plan}: at tau {tau} SPT's rule gives {plan['params']} parameters, "
                     f"the sweep says {total}")
        sweep.append((tau, plan))
    for record in records:
        budget = record["budget"]
        best = 0
        for j, (_, plan) in enumerate(sweep):  # the closest total, ties to the later tau
            if abs(plan["params"] - budget) <= abs(sweep[best][1]["params"] - budget):
                best = j
        tau, plan = sweep[best]
        sparse = {k[len("sparse."):]: v.long() for k, v in tensors_of(record).items()}
        same = (tau == record["selected"] and plan["params"] == record["params"]
                and sorted(plan["modules"]) == sorted(record["modules"])
                and sorted(plan["vectors"]) == sorted(record["vectors"])
                and plan["sparse"].keys() == sparse.keys()
                and all(torch.equal(plan["sparse"][k], sparse[k]) for k in sparse))
        if not same:
            sys.exit(f"{args.plan}: the plan for {budget} is not SPT's (tau {tau}, "
                     f"{plan['params']} parameters, modules {plan['modules']})")
    print(json.dumps({"impl": "spt-reference", "check_allocation": args.plan,
                      "taus": len(sweep), "plans": len(records)}), flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="timm-layout ViT safetensors")
    parser.add_argument("--data", required=True, help="training images (folder or list)")
    parser.add_argument("--plan", help="spt-sensitivity's plans")
    parser.add_argument("--budget", type=int, help="the plan of this exact parameter count")
    parser.add_argument("--test", help="test images: top-1 after training")
    parser.add_argument("--init",
                        help="vpet bundle to start from (its head; an spt bundle's tensors)")
    parser.add_argument("--sensitivity", metavar="SCORES", help="run the sensitivity pass instead")
    parser.add_argument("--check-allocation", metavar="SCORES",
                        help="check --plan's sweep and plans against SPT's rule on these scores")
    parser.add_argument("--batches", type=int, default=16, help="sensitivity batches (default 16)")
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--wd", type=float, default=1e-4)
    parser.add_argument("--schedule", choices=("timm-cosine", "cosine"), default="timm-cosine")
    parser.add_argument("--warmup", type=int, default=10, help="timm-cosine warmup epochs")
    parser.add_argument("--warmup-lr", type=float, default=1e-6)
    parser.add_argument("--min-lr", type=float, default=1e-5)
    parser.add_argument("--drop-path", type=float, default=0.1, help="backbone stochastic depth")
    parser.add_argument("--no-structured-drop-out", action="store_true")
    parser.add_argument("--no-structured-drop-path", action="store_true")
    parser.add_argument("--train-sparse-norms", action="store_true",
                        help="train the plan's sparse LayerNorm entries "
                        "(vpet does; SPT drops them)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    if args.epochs < 1 or args.batch < 1 or args.batches < 1:
        parser.error("--epochs, --batch and --batches must be >= 1")
    if not args.sensitivity and not args.plan:
        parser.error("give --plan (training) or --sensitivity (the scoring pass)")
    torch.set_num_threads(args.threads)
    if args.check_allocation:
        check_allocation(args)
    elif args.sensitivity:
        sensitivity(args)
    else:
        train(args)


if __name__ == "__main__":
    main()
