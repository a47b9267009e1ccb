#!/usr/bin/python3
"""A PGN bundle's logits as the released code computes them (tests/cli/pgn.bats).

usage: pgn_reference.py BASE BUNDLE LIST OUT

BASE    the timm-layout backbone the bundle was trained on
BUNDLE  a latent PGN adapter bundle (peft-train --method pgn), read with
        msgpack_numpy
LIST    'path class' lines of 32x32 images (merge_reference.images)
OUT     safetensors file to write, holding "ref": the logits

The generator is jochemloedeman/PGN's ResNet written out again from
pgn/pgn_models/resnet.py (create_small_resnet with its scripts' defaults:
4 groups of 1 block, 16 initial channels, init_max_pool True, linear
projection), in eval mode, with the bundle's weights and BatchNorm
statistics mapped onto its module names; TLPGN.forward (pgn/pgn_models/
tlpgn.py) resizes the images' shorter side to the bundle's pgn_input_size,
reshapes the logits to [B, K, N], takes the softmax over N and mixes the
token library. The prompts are appended after the position embedding, with
none of their own, and timm's forward (merge_reference.timm_forward) runs on
with them; the head reads the class token.
"""

import os
import sys

import msgpack
import msgpack_numpy
import torch
from torch import nn
import torchvision.transforms.functional as TF

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hf_reference import write_safetensors  # noqa: E402
from merge_reference import images, read_safetensors, split_qkv, timm_forward  # noqa: E402


class ResNetBlock(nn.Module):
    """resnet.py's ResNetBlock: conv-BN-ReLU-conv-BN, plus the input (a biased
    strided 1x1 convolution, no BN, when the block subsamples), then ReLU."""

    def __init__(self, c_in, subsample, c_out):
        super().__init__()
        c_out = c_out if subsample else c_in
        self.net = nn.Sequential(
            nn.Conv2d(c_in, c_out, 3, padding=1, stride=2 if subsample else 1, bias=False),
            nn.BatchNorm2d(c_out), nn.ReLU(), nn.Conv2d(c_out, c_out, 3, padding=1, bias=False),
            nn.BatchNorm2d(c_out))
        self.downsample = nn.Conv2d(c_in, c_out, 1, stride=2) if subsample else None

    def forward(self, x):
        z = self.net(x)
        return torch.relu(z + (self.downsample(x) if self.downsample is not None else x))


class ResNet(nn.Module):
    """resnet.py's ResNet with c_hidden [16, 32, 64, 128], one block a group."""

    def __init__(self, num_classes, c_hidden=(16, 32, 64, 128)):
        super().__init__()
        self.input_net = nn.Sequential(
            nn.Conv2d(3, c_hidden[0], 3, padding=1, stride=2, bias=False),
            nn.BatchNorm2d(c_hidden[0]), nn.ReLU(), nn.MaxPool2d(3, stride=2, padding=1))
        self.blocks = nn.Sequential(*[
            ResNetBlock(c_hidden[i - 1 if i > 0 else 0], i > 0, c_hidden[i]) for i in range(4)])
        self.output_net = nn.Sequential(nn.AdaptiveAvgPool2d((1, 1)), nn.Flatten(),
                                        nn.Linear(c_hidden[-1], num_classes))

    def forward(self, x):
        return self.output_net(self.blocks(self.input_net(x)))


def released_name(vpet_name):
    """vpet's generator tensor name (peft/pgn_generator.h) -> resnet.py's."""
    parts = vpet_name.split(".")
    if parts[0] == "stem":
        return "input_net.0." + parts[1]
    if parts[0] == "stem_bn":
        return "input_net.1." + ".".join(parts[1:])
    if parts[0] == "fc":
        return "output_net.2." + parts[1]
    block = f"blocks.{int(parts[0][len('layer'):]) - 1}."
    inner = {"conv1": "net.0", "bn1": "net.1", "conv2": "net.3", "bn2": "net.4",
             "shortcut": "downsample"}[parts[1]]
    return block + inner + "." + ".".join(parts[2:])


def main():
    if len(sys.argv) != 5:
        sys.exit(__doc__)
    base_path, bundle_path, list_path, out = sys.argv[1:]
    torch.set_num_threads(1)
    with open(bundle_path, "rb") as f:
        header, record = msgpack.Unpacker(f, object_hook=msgpack_numpy.decode, raw=False)
    config = header["config"]
    assert header["method"] == "pgn" and not config["pgn_fixed"] and not config["pgn_pixels"]
    k, n = config["pgn_prompts"], config["pgn_library"]
    tensors = {name: torch.from_numpy(value.copy()) for name, value in record.items()}
    generator = ResNet(k * n)
    state = {}
    for name, value in tensors.items():
        for prefix in ("generator.", "structure.generator."):
            if name.startswith(prefix):
                state[released_name(name[len(prefix):])] = value
    generator.load_state_dict(state, strict=True)
    generator.eval()

    base, metadata = read_safetensors(base_path)
    heads = int(metadata["num_heads"])
    depth = 1 + max(int(name.split(".")[1]) for name in base if name.startswith("blocks."))
    w = {name: t for name, t in base.items() if not name.startswith("head.")}
    w["head.weight"], w["head.bias"] = tensors["head.weight"], tensors["head.bias"]
    pixels = images(list_path)
    with torch.no_grad():
        resized = TF.resize(pixels, config["pgn_input_size"])
        weights = generator(resized).reshape(len(pixels), k, n).softmax(-1)
        prompts = torch.einsum("bom,mv->bov", weights, tensors["library"])
        logits = timm_forward(split_qkv(w), pixels, heads, depth, appended=prompts)
    write_safetensors(out, {"ref": logits})
    print(f"pgn: {k} prompts from {n} tokens, logits {tuple(logits.shape)}")


if __name__ == "__main__":
    main()
