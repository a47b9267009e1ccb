#!/usr/bin/python3
"""Pillow + PyTorch inference pipeline, the reference for vit-extract and peft-eval.

Decodes each image with Pillow, squashes it to the model's input size
(bilinear), normalises it with ImageNet's mean and std — peft-train's and
vit-extract's defaults — and runs the frozen ViT (reference.py's) over
batches without autograd: the class-token feature, as `vit-extract
--feature cls`, or with --method/--init an adapter bundle's logits, as
`peft-eval`.

    bench/reference_infer.py --model VIT.safetensors --data LIST [--batch 64]
        [--threads 2] [--device cpu] [--precision fp32|bf16]
        [--method lora --init BUNDLE]

Prints one JSON line: loop_images_per_second (decoding + forward, the span
peft-eval's images_per_second covers) and wall_images_per_second (from
this script's first line, imports and model load included; the
interpreter's own start-up, about 20 ms, is not).
"""
import time

STARTED = time.perf_counter()

import argparse  # noqa: E402  (imports after the clock starts: they are part of the wall time)
import json  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import reference  # noqa: E402


def decode(path, size, mean, std):
    image = Image.open(path).convert("RGB")
    if image.size != (size, size):
        image = image.resize((size, size), Image.BILINEAR)
    array = torch.from_numpy(np.asarray(image, dtype=np.uint8).copy())
    return (array.permute(2, 0, 1).float() / 255.0 - mean) / std


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--data", required=True, help="a 'path label' list file")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--precision", default="fp32", choices=("fp32", "bf16"))
    parser.add_argument("--method", help="with --init: the bundle's method")
    parser.add_argument("--init", help="an adapter bundle: evaluate backbone + adapter + head")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    vit = reference.ViT(args.model).to(device)
    hooks, head = reference.Hooks(), None
    if args.init:
        header, records = reference.read_vpet(args.init)
        stored = reference.tensors_of(records[0])
        method_args = argparse.Namespace(method=args.method, init=args.init, plan=None,
                                         budget=None, no_dropout=True)
        hooks = reference.make_method(vit, method_args)
        head = torch.nn.Linear(vit.width, stored["head.weight"].shape[0]).to(device)
        reference.load_init(args.init, hooks, head)
        hooks.train(False)
    base = os.path.dirname(args.data)
    with open(args.data) as f:
        paths = [os.path.join(base, line.rsplit(None, 1)[0]) for line in f if line.strip()]
    mean = torch.tensor(reference.IMAGENET_MEAN).view(3, 1, 1)
    std = torch.tensor(reference.IMAGENET_STD).view(3, 1, 1)
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=args.precision == "bf16")
    start = time.perf_counter()
    with torch.inference_mode(), autocast:
        for first in range(0, len(paths), args.batch):
            pixels = torch.stack([decode(p, vit.img_size, mean, std)
                                  for p in paths[first:first + args.batch]]).to(device)
            out = vit.features(pixels, hooks)
            if head is not None:
                out = head(out)
            out.float().cpu()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    end = time.perf_counter()
    print(json.dumps({"images": len(paths),
                      "loop_images_per_second": len(paths) / (end - start),
                      "wall_images_per_second": len(paths) / (end - STARTED)}))


if __name__ == "__main__":
    main()
