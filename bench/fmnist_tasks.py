#!/usr/bin/python3
"""Small VTAB-1k-style tasks from Debian's Fashion-MNIST, as PNG list files.

    bench/fmnist_tasks.py OUT [--train 500] [--test 1000] [--seed 0]
        [--fmnist /usr/share/datasets/fashion-mnist]

Writes, under OUT, 32x32 RGB images (the grey value in all three channels)
and for each task a `train.txt` and `test.txt` of 'path label' lines:

- pretrain/: classes 0-4 (T-shirt .. coat), each image padded to 32x32, all
  of the training set's (the backbone's pre-training data);
- natural/: classes 5-9 (sandal .. ankle boot) padded to 32x32, labels 0-4,
  the transfer task the demo uses;
- count/: 1 to 4 items (any class, shrunk to 10x10) in distinct cells of a
  3x3 grid on a black canvas; the label is the count minus 1 (CLEVR-count's
  kind of question);
- location/: one item in one of the 3x3 cells; the label is the cell
  (dSprites-location's kind).

Training images come from Fashion-MNIST's training set, test images from its
test set; --train and --test images per task (pretrain: every image of
classes 0-4), drawn with --seed. The same files feed vpet and the PyTorch
references, so both see the same pixels.
"""
import argparse
import gzip
import os

import numpy as np
from PIL import Image

CELL = 32 // 3  # 10: three cells and a 1-pixel margin each way
ITEM = CELL


def read_idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    dims = data[3]
    shape = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(data, np.uint8, offset=4 + 4 * dims).reshape(shape)


def padded(item):
    return np.pad(item, 2)


def shrunk(item):
    return np.asarray(Image.fromarray(item).resize((ITEM, ITEM), Image.BILINEAR))


def canvas(items, cells):
    out = np.zeros((32, 32), np.uint8)
    for item, cell in zip(items, cells):
        row, col = divmod(cell, 3)
        y, x = 1 + row * CELL, 1 + col * CELL
        out[y:y + ITEM, x:x + ITEM] = np.maximum(out[y:y + ITEM, x:x + ITEM], shrunk(item))
    return out


def write(root, split, images, labels):
    os.makedirs(os.path.join(root, split), exist_ok=True)
    lines = []
    for i, (image, label) in enumerate(zip(images, labels)):
        name = f"{split}/{i:05d}.png"
        Image.fromarray(image).convert("RGB").save(os.path.join(root, name))
        lines.append(f"{name} {label}\n")
    with open(os.path.join(root, f"{split}.txt"), "w") as f:
        f.writelines(lines)


def task(kind, pool, count, rng):
    images, labels = [], []
    transfer = np.flatnonzero(pool[1] >= 5)  # classes 5-9
    for _ in range(count):
        if kind == "natural":
            i = rng.choice(transfer)
            images.append(padded(pool[0][i]))
            labels.append(int(pool[1][i]) - 5)
        elif kind == "count":
            n = int(rng.integers(1, 5))
            picks = rng.choice(len(pool[0]), n, replace=False)
            images.append(canvas(pool[0][picks], rng.choice(9, n, replace=False)))
            labels.append(n - 1)
        else:  # location
            cell = int(rng.integers(9))
            images.append(canvas(pool[0][[rng.integers(len(pool[0]))]], [cell]))
            labels.append(cell)
    return images, labels


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out")
    parser.add_argument("--train", type=int, default=500)
    parser.add_argument("--test", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--fmnist", default="/usr/share/datasets/fashion-mnist")
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    sets = {split: (read_idx(os.path.join(args.fmnist, f"{prefix}-images-idx3-ubyte.gz")),
                    read_idx(os.path.join(args.fmnist, f"{prefix}-labels-idx1-ubyte.gz")))
            for split, prefix in (("train", "train"), ("test", "t10k"))}
    images, labels = sets["train"]
    keep = labels < 5
    write(os.path.join(args.out, "pretrain"), "train", [padded(x) for x in images[keep]],
          labels[keep].tolist())
    for kind in ("natural", "count", "location"):
        for split, count in (("train", args.train), ("test", args.test)):
            write(os.path.join(args.out, kind), split, *task(kind, sets[split], count, rng))


if __name__ == "__main__":
    main()
