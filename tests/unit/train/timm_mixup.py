#!/usr/bin/python3
"""timm's batch MixUp/CutMix and soft-target loss, transcribed, checked
against what vpet wrote (tests/unit/train/test_mixup.cpp).

Transcribed from pytorch-image-models (huggingface/pytorch-image-models at
commit aa4b585): timm/data/mixup.py (one_hot, mixup_target, rand_bbox,
cutmix_bbox_and_lam, Mixup._mix_batch) and timm/loss/cross_entropy.py
(SoftTargetCrossEntropy). Only numpy's random draws are replaced: vpet's
draw (whether the batch is mixed, CutMix or MixUp, lam from Beta(a, a), the
box centre) is read from the case, where timm would call np.random.

usage: timm_mixup.py CASES.vpet   (exit 0: every case within 1e-6; 77: no torch)
"""
import sys

try:
    import msgpack
    import msgpack_numpy
    import numpy as np
    import torch
    import torch.nn.functional as F
except ImportError:
    sys.exit(77)


def one_hot(x, num_classes, on_value=1., off_value=0.):
    x = x.long().view(-1, 1)
    return torch.full((x.size()[0], num_classes), off_value, device=x.device).scatter_(1, x, on_value)


def mixup_target(target, num_classes, lam=1., smoothing=0.0):
    off_value = smoothing / num_classes
    on_value = 1. - smoothing + off_value
    y1 = one_hot(target, num_classes, on_value=on_value, off_value=off_value)
    y2 = one_hot(target.flip(0), num_classes, on_value=on_value, off_value=off_value)
    return y1 * lam + y2 * (1. - lam)


def rand_bbox(img_shape, lam, cy, cx, margin=0.):
    # cy, cx: what np.random.randint(0 + margin_y, img_h - margin_y) drew.
    ratio = np.sqrt(1 - lam)
    img_h, img_w = img_shape[-2:]
    cut_h, cut_w = int(img_h * ratio), int(img_w * ratio)
    yl = np.clip(cy - cut_h // 2, 0, img_h)
    yh = np.clip(cy + cut_h // 2, 0, img_h)
    xl = np.clip(cx - cut_w // 2, 0, img_w)
    xh = np.clip(cx + cut_w // 2, 0, img_w)
    return yl, yh, xl, xh


def cutmix_bbox_and_lam(img_shape, lam, cy, cx, correct_lam=True):
    yl, yu, xl, xu = rand_bbox(img_shape, lam, cy, cx)
    if correct_lam:
        bbox_area = (yu - yl) * (xu - xl)
        lam = 1. - bbox_area / float(img_shape[-2] * img_shape[-1])
    return (yl, yu, xl, xu), lam


def mix_batch(x, lam, use_cutmix, cy, cx):
    # Mixup._mix_batch after _params_per_batch returned (lam, use_cutmix).
    if lam == 1.:
        return 1., None
    box = None
    if use_cutmix:
        (yl, yh, xl, xh), lam = cutmix_bbox_and_lam(x.shape, lam, cy, cx)
        x[:, :, yl:yh, xl:xh] = x.flip(0)[:, :, yl:yh, xl:xh]
        box = (yl, yh, xl, xh)
    else:
        x_flipped = x.flip(0).mul_(1. - lam)
        x.mul_(lam).add_(x_flipped)
    return lam, box


def soft_target_cross_entropy(x, target):
    loss = torch.sum(-target * F.log_softmax(x, dim=-1), dim=-1)
    return loss.mean()


def main(path):
    maps = list(msgpack.Unpacker(open(path, "rb"), object_hook=msgpack_numpy.decode, raw=False))
    cases = maps[1:-1]
    assert cases, "no cases"
    worst = 0.0
    for n, case in enumerate(cases):
        x = torch.from_numpy(np.array(case["inputs"]))
        target = torch.from_numpy(np.array(case["labels"]))
        # _params_per_batch: lam stays 1. when the batch is not mixed.
        lam = float(case["draw_lam"]) if case["draw_mixed"] else 1.
        lam, box = mix_batch(x, lam, case["draw_cutmix"], case["center_y"], case["center_x"])
        y = mixup_target(target, case["classes"], lam, case["smoothing"])
        loss = soft_target_cross_entropy(torch.from_numpy(np.array(case["logits"])), y)
        if box is not None:
            assert [int(v) for v in box] == case["box"], (n, box, case["box"])
        assert abs(lam - case["lam"]) < 1e-12, (n, lam, case["lam"])
        for name, want, got in (("mixed", x, case["mixed"]), ("targets", y, case["targets"]),
                                ("loss", loss, case["loss"])):
            error = float(np.abs(want.numpy() - np.asarray(got)).max())
            assert error < 1e-6, f"case {n}: {name} differs by {error}"
            worst = max(worst, error)
        if not case["draw_mixed"]:
            # Unmixed, the soft targets are PyTorch's label smoothing.
            plain = F.cross_entropy(torch.from_numpy(np.array(case["logits"])), target,
                                    label_smoothing=case["smoothing"])
            assert abs(float(plain) - float(case["loss"])) < 1e-5, (n, float(plain))
    print(f"{len(cases)} cases, worst difference {worst:.2e}")


if __name__ == "__main__":
    main(sys.argv[1])
