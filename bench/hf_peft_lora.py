#!/usr/bin/env python3
"""LoRA the way most PyTorch users run it: timm's ViT-B/16 and Hugging Face
peft, timed like bench/reference.py (the batch copied from pinned memory each
step, the loss read on the host each step). Needs timm, peft and safetensors
(a GPU machine's PyTorch install has them; Debian's python3-torch does not).

    bench/hf_peft_lora.py --model VIT_B16.safetensors [--precision bf16]
        [--batch 128] [--steps 10] [--warmup 3]

The model file is a timm-layout ViT-B/16 (bench/make_vit.py writes one); its
head, if any, is replaced by a new 10-class one. LoRA: r=8, alpha=8, dropout
0.1 on the fused qkv linear (peft cannot target q and v alone there, as vpet's
--targets q,v does), the head trained beside it, AdamW lr 1e-3 wd 1e-4.
Prints one JSON line.
"""
import argparse
import json
import time

import timm
import torch
from peft import LoraConfig, get_peft_model
from safetensors.torch import load_file


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--precision", choices=["fp32", "bf16"], default="fp32")
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=3)
    args = parser.parse_args()

    torch.manual_seed(0)
    model = timm.create_model("vit_base_patch16_224", pretrained=False, num_classes=10)
    weights = {k: v for k, v in load_file(args.model).items() if not k.startswith("head.")}
    missing, unexpected = model.load_state_dict(weights, strict=False)
    if unexpected or any(not k.startswith("head.") for k in missing):
        raise SystemExit(f"{args.model}: not a timm ViT-B/16 ({missing}, {unexpected})")
    config = LoraConfig(r=8, lora_alpha=8, lora_dropout=0.1, target_modules=["qkv"],
                        modules_to_save=["head"])
    model = get_peft_model(model, config).cuda().train()
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=1e-3, weight_decay=1e-4)
    images = torch.randn(args.batch, 3, 224, 224).pin_memory()
    labels = torch.randint(0, 10, (args.batch,)).pin_memory()

    torch.cuda.reset_peak_memory_stats()
    seconds, first_loss = [], None
    for _ in range(args.warmup + args.steps):
        start = time.perf_counter()
        x, y = images.cuda(non_blocking=True), labels.cuda(non_blocking=True)
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=args.precision == "bf16"):
            loss = torch.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()
        value = loss.item()
        first_loss = value if first_loss is None else first_loss
        seconds.append(time.perf_counter() - start)
    steady = seconds[args.warmup:]
    print(json.dumps({
        "impl": "timm+peft", "precision": args.precision,
        "images_per_second": args.batch * len(steady) / sum(steady),
        "peak_gpu_bytes": torch.cuda.max_memory_allocated(), "first_loss": first_loss,
        "trainable_without_head": sum(p.numel() for n, p in model.named_parameters()
                                      if p.requires_grad and "head" not in n),
        "torch": torch.__version__, "timm": timm.__version__}))


if __name__ == "__main__":
    main()
