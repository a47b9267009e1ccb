#!/usr/bin/python3
"""PyTorch transcription of Self-Prompt Tuning's released training path.

An independent reference for `prompt-init-proto` + `peft-train --method
vpt-deep` (issue 21), written from WangYZ1608/Self-Prompt-Tuning @ ce0754f,
not from vpet's code:

- prototypes (`train.py` prompt_generator, `utils.py` RepCatcher): the tokens
  of layer 0 are `patch_embed`'s output (no class token, no position
  embedding), of layer i >= 1 block i-1's output without the class token;
  `random` keeps P rows of a random permutation of all images' tokens;
  `mean_pooling`/`max_pooling` cut each image's N tokens into P-1 windows of
  w = N // (P-1) and one last window `x[:, -(N % w):]` (all of x when
  N % w is 0), pool them, and keep P random rows of the P*n pooled rows;
- VPT-deep (`Models/vpt_deep.py` PromptVisionTransformer.forward_features):
  prompt set 0 after the position embedding, between the class token and the
  patches; set i replaces the P tokens after the class token before block
  i; no dropout on the prompts; the head reads norm(x)[:, 0];
- the optimiser (`utils.py` param_groups_weight_decay, `train.py` main):
  torch.optim.AdamW with three groups: ndim <= 1 and biases without decay,
  the prompts with --wd, the head's weight with --wd-head;
- the schedule (`utils.py` adjust_learning_rate, called with
  step / steps_per_epoch + epoch before every step): linear warmup from 0
  over --warmup epochs, then half-cycle cosine to --min-lr;
- the loader (`train.py` create_dataset): shuffled every epoch, drop_last;
  the head: trunc_normal_(std=0.02), bias 0.

    bench/self_prompt_reference.py --model VIT.safetensors --data TRAIN
        [--test TEST] [--prompts-file PROMPTS.vpet | --sample random|mean|max|uniform]
        [--prompts 20] [--init BUNDLE] [--epochs 100] [--batch 32]
        [--lr 1e-3] [--min-lr 1e-8] [--warmup 10] [--wd 1e-2] [--wd-head 1.0]
        [--no-drop-last] [--seed 0] [--threads 1]
    bench/self_prompt_reference.py --model VIT.safetensors --data TRAIN
        --check-prompts PROMPTS.vpet... --sample random|mean|max

--data and --test are folders of class folders or 'path label' lists of
images at the model's size (bench/reference.py's loader: ImageNet
normalisation). The prototypes come from every image of --data once, in
file order, without augmentation (the released code draws len(train) images
with replacement through the training transform; VTAB-1k's training
transform is the test one). --prompts-file starts from a vpet prompts file
instead (what `peft-train --init-prompts` reads); --sample uniform is VPT's
own start (xavier uniform, KMnP/vpt), the baseline of the paper; --init takes the head from
a vpet vpt-deep bundle, and its prompts too (what `peft-train --rewind-from`
does), so that both programs start from the same tensors.

Prints one JSON line: the loss of every step, the prompts' mean L2 norm per
layer at the start, test top-1 (%) after the last epoch with --test, and the
settings. --check-prompts instead checks that every row of each vpet prompts
file is one of the rows the released rule can pick for its layer (a token
for random, a pooled window for mean and max), and that no row is picked
twice; it prints the worst distance and exits 1 on a row that is not.
"""
import argparse
import json
import math
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from reference import Hooks, ViT, load_images, print_result, read_vpet, tensors_of  # noqa: E402

SAMPLES = {"random": "random", "mean": "mean_pooling", "max": "max_pooling"}
INITS = sorted(SAMPLES) + ["uniform"]


# ------------------------------------------------------- prompt_generator

def patch_embed(vit, images):
    x = F.conv2d(images, vit.p("patch_embed.proj.weight"), vit.p("patch_embed.proj.bias"),
                 stride=vit.patch)
    return x.flatten(2).transpose(1, 2)


@torch.no_grad()
def caught_reps(vit, images):
    """RepCatcher(model, range(depth)).get_features(): [depth] of [B, N, D]."""
    reps = [patch_embed(vit, images)]
    x = torch.cat([vit.p("cls_token").expand(len(images), -1, -1), reps[0]], 1)
    x = x + vit.p("pos_embed")
    for i in range(vit.depth - 1):
        x = vit.block(i, x, Hooks())
        reps.append(x[:, 1:])
    return reps


def pooled_rows(rep, prompts, sample):
    """The candidate rows of one layer, [P * B, D] (or [B * N, D] for random)."""
    batch, tokens, width = rep.shape
    if sample == "random":
        return rep.reshape(-1, width)
    pool = (lambda t: t.mean(dim=1)) if sample == "mean" else (lambda t: t.max(dim=1).values)
    window = tokens // (prompts - 1)
    remain = tokens % window
    rows = [pool(rep[:, p * window:(p + 1) * window]) for p in range(prompts - 1)]
    rows.append(pool(rep[:, -remain:]))  # remain == 0: `-0:` is the whole image
    return torch.stack(rows).reshape(-1, width)


def prompt_generator(vit, images, prompts, sample):
    """[depth, P, D]: P random rows of each layer's candidates."""
    out = []
    for rep in caught_reps(vit, images):
        rows = pooled_rows(rep, prompts, sample)
        keep = torch.argsort(torch.rand(len(rows)))[:prompts]
        out.append(rows.index_select(0, keep))
    return torch.stack(out)


# ------------------------------------------------------------- the model

class PromptVisionTransformer(torch.nn.Module):
    def __init__(self, vit, prompt_init, classes):
        super().__init__()
        self.vit = vit
        self.num_prompts = prompt_init.shape[1]
        self.prompt_token = torch.nn.Parameter(prompt_init.clone())
        self.head = torch.nn.Linear(vit.width, classes)
        torch.nn.init.trunc_normal_(self.head.weight, std=0.02)
        torch.nn.init.constant_(self.head.bias, 0)

    def forward_features(self, images):
        vit, batch = self.vit, len(images)
        x = patch_embed(vit, images)
        x = torch.cat([vit.p("cls_token").expand(batch, -1, -1), x], 1) + vit.p("pos_embed")
        x = torch.cat([x[:, :1], self.prompt_token[0].expand(batch, -1, -1), x[:, 1:]], 1)
        for i in range(vit.depth):
            if i > 0:
                x = torch.cat([x[:, :1], self.prompt_token[i].expand(batch, -1, -1),
                               x[:, 1 + self.num_prompts:]], 1)
            x = vit.block(i, x, Hooks())
        return vit.ln(x, "norm")[:, 0]

    def forward(self, images):
        return self.head(self.forward_features(images))


def param_groups_weight_decay(model, weight_decay, weight_decay_head):
    no_decay, decay, head = [], [], []
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        if param.ndim <= 1 or name.endswith(".bias"):
            no_decay.append(param)
        elif "head" in name:
            head.append(param)
        else:
            decay.append(param)
    return [{"params": no_decay, "weight_decay": 0.0},
            {"params": decay, "weight_decay": weight_decay},
            {"params": head, "weight_decay": weight_decay_head}]


def adjust_learning_rate(optimizer, epoch, args):
    if epoch < args.warmup:
        lr = args.lr * epoch / args.warmup
    else:
        lr = args.min_lr + (args.lr - args.min_lr) * 0.5 * (
            1.0 + math.cos(math.pi * (epoch - args.warmup) / (args.epochs - args.warmup)))
    for group in optimizer.param_groups:
        group["lr"] = lr
    return lr


# ------------------------------------------------------------- main

def read_prompts(path, vit):
    header, records = read_vpet(path)
    if header.get("kind") != "prompts":
        sys.exit(f"{path}: a '{header.get('kind')}' file, not prompts")
    prompts = tensors_of(records[0])["prompts"].float()
    if prompts.shape[0] != vit.depth or prompts.shape[2] != vit.width:
        sys.exit(f"{path}: prompts {tuple(prompts.shape)} do not fit depth {vit.depth}, "
                 f"width {vit.width}")
    return prompts


def check_prompts(args, vit, images):
    reps = caught_reps(vit, images)  # the same tokens for every file
    for path in args.check_prompts:
        check_prompts_file(args, vit, reps, path)


def check_prompts_file(args, vit, reps, path):
    prompts = read_prompts(path, vit)
    worst = 0.0
    for layer, rep in enumerate(reps):
        rows = pooled_rows(rep, prompts.shape[1], args.sample)
        distance = torch.cdist(prompts[layer].double(), rows.double())
        nearest = distance.min(dim=1)
        off = nearest.values.max().item() / rows.norm(dim=1).max().item()
        worst = max(worst, off)
        if off > 1e-5:
            sys.exit(f"{path}: layer {layer}: a prompt row is {off:.3g} (relative) from every "
                     f"row the released rule ({SAMPLES[args.sample]}) can pick")
        picked = nearest.indices.tolist()
        if len(set(picked)) != len(picked):
            sys.exit(f"{path}: layer {layer}: a candidate row is picked twice: {picked}")
    checked = int(prompts.shape[0] * prompts.shape[1])
    print(json.dumps({"file": path, "check": args.sample, "rows": checked,
                      "worst_relative_distance": worst}))


def batches(n, batch, drop_last, generator):
    order = torch.randperm(n, generator=generator)
    stop = n - n % batch if drop_last else n
    return [order[i:i + batch] for i in range(0, stop, batch)]


def train(args, vit, pixels, labels):
    classes = int(labels.max()) + 1
    stored = tensors_of(read_vpet(args.init)[1][0]) if args.init else {}
    if "prompts" in stored:
        prompt_init = stored["prompts"].float()
    elif args.prompts_file:
        prompt_init = read_prompts(args.prompts_file, vit)
    elif args.sample == "uniform":
        # VPT's start (KMnP/vpt vit_prompt: xavier_uniform over the patch
        # embedding's fan): the baseline Self-Prompt compares against.
        bound = math.sqrt(6.0 / (3 * vit.patch ** 2 + vit.width))
        prompt_init = torch.empty(vit.depth, args.prompts, vit.width).uniform_(-bound, bound)
    else:
        prompt_init = prompt_generator(vit, pixels, args.prompts, args.sample)
    model = PromptVisionTransformer(vit, prompt_init, classes)
    if args.init:
        with torch.no_grad():
            model.head.weight.copy_(stored["head.weight"])
            model.head.bias.copy_(stored["head.bias"])
    groups = param_groups_weight_decay(model, args.wd, args.wd_head)
    optimizer = torch.optim.AdamW(groups, lr=args.lr)
    generator = torch.Generator().manual_seed(args.seed)
    losses = []
    for epoch in range(args.epochs):
        epoch_batches = batches(len(pixels), args.batch, not args.no_drop_last, generator)
        for step, rows in enumerate(epoch_batches):
            adjust_learning_rate(optimizer, step / len(epoch_batches) + epoch, args)
            loss = F.cross_entropy(model(pixels[rows]), labels[rows])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
    result = {"impl": "self-prompt-reference", "sample": args.sample,
              "prompts_file": args.prompts_file, "prompts": int(prompt_init.shape[1]),
              "prompt_norms": prompt_init.norm(dim=2).mean(dim=1).tolist(),
              "epochs": args.epochs, "batch": args.batch, "lr": args.lr, "seed": args.seed,
              "losses": losses}
    print_result(result, model, args.test, vit.img_size)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="timm-layout ViT safetensors")
    parser.add_argument("--data", required=True, help="training images (folder or list)")
    parser.add_argument("--test", help="test images: top-1 after training")
    parser.add_argument("--prompts-file", help="vpet prompts file to start from")
    parser.add_argument("--check-prompts", nargs="+", metavar="PROMPTS",
                        help="check vpet prompts files against the rule")
    parser.add_argument("--sample", choices=INITS, default="random",
                        help="prompt_sample_type (default random); uniform: VPT's start")
    parser.add_argument("--prompts", type=int, default=20, help="num_prompts (default 20)")
    parser.add_argument("--init", help="vpet vpt-deep bundle whose prompts and head to start from")
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--min-lr", type=float, default=1e-8)
    parser.add_argument("--warmup", type=float, default=10, help="warmup epochs")
    parser.add_argument("--wd", type=float, default=1e-2, help="the prompts' weight decay")
    parser.add_argument("--wd-head", type=float, default=1.0, help="the head weight's decay")
    parser.add_argument("--no-drop-last", action="store_true",
                        help="keep the last partial batch (the released loader drops it)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    if args.epochs < 1 or args.batch < 1 or args.prompts < 1 or not 0 <= args.warmup < args.epochs:
        parser.error("--epochs, --batch and --prompts must be >= 1, --warmup in [0, --epochs)")
    if args.check_prompts and args.sample == "uniform":
        parser.error("--check-prompts checks random, mean or max prompts")
    if args.sample in ("mean", "max") and args.prompts < 2:
        parser.error("--sample mean|max needs --prompts >= 2 (the released rule divides by P - 1)")
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    vit = ViT(args.model)
    pixels, labels = load_images(args.data, vit.img_size)
    if args.check_prompts:
        check_prompts(args, vit, pixels)
    else:
        train(args, vit, pixels, labels)


if __name__ == "__main__":
    main()
