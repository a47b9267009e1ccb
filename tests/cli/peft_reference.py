#!/usr/bin/python3
"""peft's LoRA, applied to a timm ViT in Python, for peft-export --peft
(tests/cli/peft-export.bats).

usage: peft_reference.py BASE PEFT_DIR LIST EXPECTED

BASE      the timm-layout backbone the adapter is for
PEFT_DIR  adapter_config.json + adapter_model.safetensors, read as Hugging
          Face peft reads them (peft is not packaged in Debian): each
          "base_model.model.<module>.lora_A.weight" / ".lora_B.weight" pair
          adapts the base model's module <module>, with peft's documented
          forward  y = W x + b + (lora_alpha / r) * B (A x)  (/ sqrt(r) with
          use_rslora; with use_dora, DoraLinearLayer.forward, as
          merge_reference.dora_update, with the module's
          "lora_magnitude_vector.weight") where r and
          lora_alpha are rank_pattern's and alpha_pattern's for the first key
          KEY whose regex "(.*\\.)?(KEY)$" matches the module name, else the
          config's (peft.utils.other.get_pattern_key); the head is
          modules_to_save's "base_model.model.head.*"
LIST      'path class' lines, as merge_reference.py reads them
EXPECTED  a safetensors file holding "ref": the logits the adapter must give

Runs timm's forward (merge_reference.timm_forward) on BASE with every module
adapted (a fused qkv's update split by rows over q, k and v, the same sum),
and exits 1 unless the logits equal "ref" to 1e-4.
"""

import json
import math
import os
import re
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from merge_reference import images, read_safetensors, split_qkv, timm_forward  # noqa: E402

PREFIX = "base_model.model."


def pattern_value(patterns, module, default):
    for key, value in patterns.items():
        if re.match(rf"(.*\.)?({key})$", module):
            return value
    return default


def main():
    if len(sys.argv) != 5:
        sys.exit(__doc__)
    base_path, folder, list_path, expected_path = sys.argv[1:]
    torch.set_num_threads(1)
    config = json.load(open(os.path.join(folder, "adapter_config.json")))
    assert config["peft_type"] == "LORA" and config["bias"] == "none", config
    weights, _ = read_safetensors(os.path.join(folder, "adapter_model.safetensors"))
    base, metadata = read_safetensors(base_path)
    heads = int(metadata["num_heads"])
    depth = 1 + max(int(n.split(".")[1]) for n in base if n.startswith("blocks."))
    w = dict(base)
    head = config["modules_to_save"]
    assert head == ["head"], head
    w["head.weight"], w["head.bias"] = weights[PREFIX + "head.weight"], weights[PREFIX + "head.bias"]
    w = split_qkv(w)
    D = w["cls_token"].shape[-1]
    branches, dora = {}, {}
    for key, a in weights.items():
        if not key.endswith(".lora_A.weight"):
            continue
        module = key[len(PREFIX):-len(".lora_A.weight")]
        assert module in config["target_modules"], module
        b = weights[PREFIX + module + ".lora_B.weight"]
        r = pattern_value(config["rank_pattern"], module, config["r"])
        alpha = pattern_value(config["alpha_pattern"], module, config["lora_alpha"])
        assert a.shape[0] == r, (module, a.shape, r)
        # peft's LoraLayer.update_layer: lora_alpha / sqrt(r) with use_rslora.
        scale = alpha / (math.sqrt(r) if config.get("use_rslora") else r)
        # DoRA (use_dora): the module's "lora_magnitude_vector.weight", one
        # per output row; row norms are per row, so a fused qkv splits too.
        magnitude = weights.get(PREFIX + module + ".lora_magnitude_vector.weight")
        assert (magnitude is not None) == bool(config.get("use_dora")), module
        parts = [("", b, magnitude)]
        if module.endswith(".attn.qkv"):
            parts = [(part, rows, None if magnitude is None else magnitude.split(D, 0)[i])
                     for i, (part, rows) in enumerate(zip("qkv", b.split(D, 0)))]
        for part, rows, m in parts:
            linear = module[:-3] + part if part else module
            if m is None:
                branches.setdefault(linear, []).append((a, rows, scale))
            else:
                dora[linear] = (a, rows, scale, m)
    with torch.no_grad():
        logits = timm_forward(w, images(list_path), heads, depth, branches=branches, dora=dora)
    expected, _ = read_safetensors(expected_path)
    diff = (logits - expected["ref"]).abs().max().item()
    print(f"peft: max |peft forward - vpet| = {diff:.3g} over {len(branches) + len(dora)} "
          "adapted linears")
    sys.exit(0 if diff <= 1e-4 else 1)


if __name__ == "__main__":
    main()
