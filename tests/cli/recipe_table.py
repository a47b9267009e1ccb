"""The recipes' values as the papers' official code sets them, written down
here from the repositories themselves (not from vpet's table), and compared
with what `peft-train --recipe NAME --print-settings` resolves to.

    python3 tests/cli/recipe_table.py PEFT_TRAIN

Each row: option, value, and where it was read (repository@commit: file).
Exit 1 with every difference listed.
"""
import subprocess
import sys

SPT = "ziplab/SPT@e385f67"
VPT = "KMnP/vpt@4410440"
SELF = "WangYZ1608/Self-Prompt-Tuning@ce0754f"
PGN = "jochemloedeman/PGN@fe5ebc2"
MEM = "Sandler et al. CVPR 2022 (setup as the METU reproduction reads it)"

# SPT's VTAB-1k runs: configs/vtab_supervised_spt_lora.sh calls
#   train_spt.py ... --batch-size=64 --lr=0.001 --epochs=100 --weight-decay=0.0001
#   --no_aug --mixup=0 --cutmix=0 --direct_resize --smoothing=0 --opt=adamw
SPT_VTAB = [
    ("optimizer", "adamw", SPT + ": configs/vtab_supervised_spt_lora.sh --opt=adamw"),
    ("lr", "0.001", SPT + ": configs/vtab_supervised_spt_lora.sh LR=0.001"),
    ("wd", "0.0001", SPT + ": configs/vtab_supervised_spt_lora.sh WEIGHT_DECAY=0.0001"),
    ("wd-head", "0.0001", SPT + ": lib/utils.py set_weight_decay (head.weight in has_decay)"),
    ("wd-prompts", "false", SPT + ": model no_weight_decay() = pos_embed, cls_token"),
    ("batch", "64", SPT + ": configs/vtab_supervised_spt_lora.sh --batch-size=64"),
    ("epochs", "100", SPT + ": configs/vtab_supervised_spt_lora.sh --epochs=100"),
    ("warmup", "10", SPT + ": train_spt.py --warmup-epochs default=10"),
    ("warmup-lr", "1e-06", SPT + ": train_spt.py --warmup-lr default=1e-6"),
    ("schedule", "timm-cosine", SPT + ": train_spt.py --sched default='cosine' (timm)"),
    ("min-lr", "1e-05", SPT + ": train_spt.py --min-lr default=1e-5"),
    ("schedule-unit", "epoch", SPT + ": train_spt.py lr_scheduler.step(epoch) per epoch"),
    ("schedule-lag", "1", SPT + ": train_spt.py step(epoch) after training epoch `epoch`"),
    ("drop-path", "0.1", SPT + ": train_spt.py --drop-path default=0.1"),
    ("label-smoothing", "0", SPT + ": configs/vtab_supervised_spt_lora.sh --smoothing=0"),
    ("grad-clip", "0", SPT + ": train_spt.py --clip-grad default=None"),
    ("head-init", "trunc-normal:0.02", SPT + ": model/vision_transformer_timm.py reset_classifier"),
    ("head-bias", "zero", SPT + ": model/vision_transformer_timm.py reset_classifier"),
    ("augment", "none", SPT + ": configs/vtab_supervised_spt_lora.sh --no_aug"),
    ("img-size", "224", SPT + ": --model_name=vit_base_patch16_224_in21k_spt"),
    ("resize", "squash", SPT + ": lib/datasets.py --direct_resize: Resize((size, size))"),
    ("interp", "bicubic", SPT + ": lib/datasets.py interpolation=3"),
    ("norm", "imagenet", SPT + ": lib/datasets.py IMAGENET_DEFAULT_MEAN/STD"),
    ("pool", "token", SPT + ": model/vision_transformer_timm.py x[:, 0] after norm"),
]
SPT_MODULES = [
    ("module-dropout", "0.1", SPT + ": model/vision_transformer_timm.py nn.Dropout(p=0.1)"),
    ("module-drop-path", "0.1", SPT + ": model/vision_transformer_timm.py DropPath(0.1)"),
]

# VPT: configs/base-prompt.yaml, src/configs/config.py, src/solver/*, src/data/*.
VPT_COMMON = [
    ("optimizer", "sgd", VPT + ": configs/base-prompt.yaml OPTIMIZER sgd"),
    ("momentum", "0.9", VPT + ": configs/base-prompt.yaml MOMENTUM 0.9"),
    ("batch", "128", VPT + ": configs/base-prompt.yaml BATCH_SIZE 128"),
    ("epochs", "100", VPT + ": configs/base-prompt.yaml TOTAL_EPOCH 100"),
    ("warmup", "10", VPT + ": configs/base-prompt.yaml WARMUP_EPOCH 10"),
    ("warmup-lr", "0", VPT + ": src/solver/lr_scheduler.py step / warmup_steps"),
    ("schedule", "cosine", VPT + ": src/solver/lr_scheduler.py WarmupCosineSchedule"),
    ("min-lr", "0", VPT + ": src/solver/lr_scheduler.py max(0.0, cosine)"),
    ("schedule-unit", "epoch", VPT + ": src/engine/trainer.py scheduler.step() per epoch"),
    ("schedule-lag", "0", VPT + ": src/engine/trainer.py"),
    ("wd-prompts", "true", VPT + ": src/solver/optimizer.py only last_layer.bias exempt"),
    ("drop-path", "0", VPT + ": src/models/vit_models.py frozen encoder in eval()"),
    ("label-smoothing", "0", VPT + ": configs/base-prompt.yaml LOSS softmax"),
    ("grad-clip", "0", VPT + ": src/engine/trainer.py"),
    ("head-init", "kaiming-fan-out", VPT + ": src/models/mlp.py kaiming_normal_ fan_out"),
    ("head-bias", "zero", VPT + ": src/models/mlp.py constant bias, softmax-invariant"),
    ("prompt-dropout", "0", VPT + ": src/configs/config.py PROMPT.DROPOUT 0.0"),
    ("prompts", "5", VPT + ": src/configs/config.py PROMPT.NUM_TOKENS 5"),
    ("img-size", "224", VPT + ": src/configs/config.py CROPSIZE 224"),
    ("norm", "imagenet", VPT + ": src/data/transforms.py Normalize"),
    ("pool", "token", VPT + ": src/models/vit_backbones/vit.py encoded[:, 0]"),
]
VPT_VTAB = [
    ("lr", "0.05", VPT + ": tune_vtab.py lr / 256 * BATCH_SIZE, grid value 0.1"),
    ("wd", "0.0001", VPT + ": configs/base-prompt.yaml WEIGHT_DECAY 0.0001"),
    ("wd-head", "0.0001", VPT + ": src/solver/optimizer.py"),
    ("augment", "none", VPT + ": src/data/datasets/tf_dataset.py"),
    ("resize", "squash", VPT + ": src/data/datasets/tf_dataset.py tf.image.resize [224, 224]"),
    ("interp", "bilinear", VPT + ": tf.image.resize default bilinear"),
]
VPT_FGVC = [
    ("lr", "0.05", VPT + ": configs/prompt/cub.yaml BASE_LR 0.1, tune_fgvc.py / 256 * 128"),
    ("wd", "0.01", VPT + ": configs/prompt/cub.yaml WEIGHT_DECAY 0.01"),
    ("wd-head", "0.01", VPT + ": src/solver/optimizer.py"),
    ("augment", "crop-flip", VPT + ": src/data/transforms.py Resize 256, RandomCrop 224, flip"),
    ("resize", "crop", VPT + ": src/data/transforms.py test: Resize 256, CenterCrop 224"),
    ("crop-fraction", "0.875", VPT + ": 224 / 256"),
    ("interp", "bilinear", VPT + ": torchvision Resize default"),
]

# Self-Prompt: README commands, train_MAE.py / train.py / train_MoCo.py, utils.py, Dataset/.
SELF_COMMON = [
    ("optimizer", "adamw", SELF + ": train_MAE.py torch.optim.AdamW"),
    ("wd", "0.01", SELF + ": README --weight_decay 1e-2"),
    ("wd-prompts", "true", SELF + ": utils.py param_groups_weight_decay (ndim 3 decays)"),
    ("batch", "32", SELF + ": README --batch_size 32"),
    ("epochs", "100", SELF + ": README --epochs 100"),
    ("warmup", "10", SELF + ": README --warmup_epochs 10"),
    ("warmup-lr", "0", SELF + ": utils.py adjust_learning_rate lr * epoch / warmup"),
    ("schedule", "cosine", SELF + ": utils.py adjust_learning_rate half-cycle cosine"),
    ("min-lr", "1e-08", SELF + ": README --min_lr 1e-8"),
    ("schedule-unit", "iteration", SELF + ": train_MAE.py step / step_per_epoch + epoch"),
    ("schedule-lag", "0", SELF + ": train_MAE.py"),
    ("drop-path", "0", SELF + ": README --drop_path 0.0"),
    ("label-smoothing", "0", SELF + ": train_MAE.py nn.CrossEntropyLoss()"),
    ("grad-clip", "0", SELF + ": train_MAE.py"),
    ("head-bias", "zero", SELF + ": train_MAE.py constant_(head.bias, 0)"),
    ("prompts", "20", SELF + ": README --num_prompts 20 (deep)"),
    ("prompt-dropout", "0", SELF + ": Models/vpt_deep.py"),
    ("img-size", "224", SELF + ": Dataset/*.py target_size=224"),
    ("interp", "bicubic", SELF + ": Dataset/*.py interpolation=3"),
    ("norm", "imagenet", SELF + ": Dataset/*.py Normalize"),
]
SELF_VTAB = [
    ("wd-head", "1", SELF + ": train_MAE.py --wd_head default=1.0"),
    ("augment", "none", SELF + ": Dataset/VTAB.py train transform = test transform"),
    ("resize", "crop", SELF + ": Dataset/VTAB.py Resize(224), CenterCrop(224)"),
    ("crop-fraction", "1", SELF + ": Dataset/VTAB.py"),
]
SELF_FGVC = [
    ("augment", "rrc-flip", SELF + ": Dataset/FGVC.py RandomResizedCrop, flip"),
    ("resize", "crop", SELF + ": Dataset/FGVC.py test: Resize(256), CenterCrop(224)"),
    ("crop-fraction", "0.875", SELF + ": 224 / 256"),
]
SELF_MAE = [
    ("lr", "0.05", SELF + ": README (MAE) --lr 5e-2"),
    ("head-init", "trunc-normal:0.02", SELF + ": train_MAE.py trunc_normal_(std=.02)"),
    ("pool", "avg-norm", SELF + ": Models/MAE_vpt_deep.py x[:, 1:].mean(1), norm"),
    ("prompts-in-pool", "true", SELF + ": Models/MAE_vpt_deep.py x[:, 1:]"),
]
SELF_MOCO = [
    ("lr", "0.001", SELF + ": README (MoCo / supervised) --lr 1e-3"),
    ("head-init", "trunc-normal:0.01", SELF + ": train_MoCo.py trunc_normal_(std=.01)"),
    ("pool", "token", SELF + ": Models/vpt_deep.py x[:, 0]"),
]
SELF_SUP = [
    ("lr", "0.001", SELF + ": README (supervised) --lr 1e-3"),
    ("head-init", "trunc-normal:0.02", SELF + ": train.py trunc_normal_(std=.02)"),
    ("pool", "token", SELF + ": Models/vpt_deep.py x[:, 0]"),
]

PGN_VIT = [
    ("pgn-prompts", "16", PGN + ": train_visionmodel_pgn.py --pgn_length 16"),
    ("pgn-library", "256", PGN + ": train_visionmodel_pgn.py --pgn_mixture_size 256"),
    ("pgn-input-size", "224", PGN + ": train_visionmodel_pgn.py --pgn_resolution 224"),
    ("optimizer", "sgd", PGN + ": train_visionmodel_pgn.py --optimizer sgd"),
    ("momentum", "0.9", PGN + ": pgn/lightning/pgn_vit.py momentum=0.9"),
    ("lr", "0.1", PGN + ": train_visionmodel_pgn.py --init_lr 0.1"),
    ("wd", "0", PGN + ": pgn/lightning/pgn_vit.py SGD without weight_decay"),
    ("wd-head", "0", PGN + ": pgn/lightning/pgn_vit.py"),
    ("wd-prompts", "false", PGN + ": pgn/lightning/pgn_vit.py"),
    ("batch", "5", PGN + ": train_visionmodel_pgn.py --train_batch_size 5"),
    ("epochs", "100", PGN + ": train_visionmodel_pgn.py --epochs 100"),
    ("warmup", "50", PGN + ": train_visionmodel_pgn.py --warmup_epochs 50"),
    ("schedule", "cosine", PGN + ": pgn/lr_schedulers/cosine_with_warmup.py"),
    ("min-lr", "0.001", PGN + ": pgn/lightning/pgn_vit.py eta_min = lr / 1e2"),
    ("schedule-unit", "epoch", PGN + ": Lightning default interval 'epoch'"),
    ("schedule-lag", "0", PGN + ": cosine_with_warmup.py"),
    ("drop-path", "0", PGN + ": torchvision vit_b_32"),
    ("label-smoothing", "0", PGN + ": cross-entropy"),
    ("grad-clip", "0", PGN + ": pl.Trainer without gradient_clip_val"),
    ("augment", "rrc-flip", PGN + ": datamodules RandomResizedCrop + RandomHorizontalFlip"),
    ("rrc-scale", "1,1", PGN + ": --rrc_scale_lb 1."),
    ("img-size", "224", PGN + ": datamodules 224"),
    ("resize", "crop", PGN + ": datamodules test: Resize(224), CenterCrop(224)"),
    ("crop-fraction", "1", PGN + ": datamodules test"),
    ("interp", "bilinear", PGN + ": torchvision Resize default"),
    ("norm", "clip", PGN + ": datamodules Normalize(0.48145466, ...)"),
    ("pool", "token", PGN + ": pgn/lightning/pgn_vit.py x[:, 0]"),
    ("head-init", "trunc-normal:0.02", PGN + ": nn.Linear default not offered; vpet default"),
    ("head-bias", "uniform", PGN + ": nn.Linear default bias"),
]

MEMORY = [
    ("memory", "5", MEM + ": Table 2 memory column 5"),
    ("memory-mode", "masked", MEM + ": Table 1 mask"),
    ("memory-norm", "true", MEM + ": Fig. 2a"),
    ("optimizer", "sgd", MEM + ": SGD with momentum"),
    ("momentum", "0.9", MEM + ": reproduction vit_train.py"),
    ("lr", "0.1", MEM + ": reproduction vit_train.py"),
    ("wd", "0", MEM),
    ("wd-head", "0", MEM),
    ("wd-prompts", "false", MEM),
    ("grad-clip", "1", MEM + ": clip-norm 1.0"),
    ("batch", "512", MEM + ": batch 512"),
    ("epochs", "205", MEM + ": 20,000 steps x 512 / 50,000 CIFAR-100 images"),
    ("warmup", "0.0512", MEM + ": 5 warmup steps of 97.66 per epoch"),
    ("schedule", "cosine", MEM),
    ("min-lr", "0", MEM),
    ("schedule-unit", "iteration", MEM),
    ("schedule-lag", "0", MEM),
    ("drop-path", "0", MEM),
    ("label-smoothing", "0", MEM),
    ("head-init", "trunc-normal:0.02", MEM + ": not given"),
    ("head-bias", "zero", MEM + ": not given"),
    ("augment", "crop-flip", MEM + ": random crop for CIFAR-100"),
    ("img-size", "224", MEM),
    ("resize", "squash", MEM),
    ("interp", "bilinear", MEM),
    ("norm", "inception", MEM + ": ViT i21k checkpoints, [-1, 1]"),
    ("pool", "token", MEM + ": the task class token"),
]

LORA8 = [
    ("rank", "8", SPT + ": paper Table 1 LoRA-8"),
    ("lora-dropout", "0.1", SPT + ": model/vision_transformer_timm.py nn.Dropout(p=0.1)"),
    ("targets", "q,v", "Hu et al. 2021: W_q, W_v"),
]
ADAPTER8 = [
    ("bottleneck", "8", SPT + ": paper Table 1 Adapter-8"),
    ("adapter-style", "sequential", "vpet default (no SPT script)"),
    ("adapter-scale", "0.1", "vpet default (no SPT script)"),
]

TABLE = {
    "spt-lora-vtab1k": ("spt-lora", SPT_VTAB + SPT_MODULES),
    "spt-adapter-vtab1k": ("spt-adapter", SPT_VTAB + SPT_MODULES),
    "lora-vtab1k": ("lora", SPT_VTAB + LORA8),
    "adapter-vtab1k": ("adapter", SPT_VTAB + ADAPTER8),
    "vpt-deep-vtab1k": ("vpt-deep", VPT_COMMON + VPT_VTAB),
    "vpt-shallow-vtab1k": ("vpt-shallow", VPT_COMMON + VPT_VTAB),
    "vpt-deep-fgvc": ("vpt-deep", VPT_COMMON + VPT_FGVC),
    "vpt-shallow-fgvc": ("vpt-shallow", VPT_COMMON + VPT_FGVC),
    "self-prompt-mae-vtab1k": ("vpt-deep", SELF_COMMON + SELF_VTAB + SELF_MAE),
    "self-prompt-moco-vtab1k": ("vpt-deep", SELF_COMMON + SELF_VTAB + SELF_MOCO),
    "self-prompt-supervised-vtab1k": ("vpt-deep", SELF_COMMON + SELF_VTAB + SELF_SUP),
    "self-prompt-mae-fgvc": (
        "vpt-deep",
        SELF_COMMON + SELF_FGVC + SELF_MAE + [("wd-head", "0.5", SELF + ": README --wd_head 0.5")],
    ),
    "self-prompt-moco-fgvc": (
        "vpt-deep",
        SELF_COMMON + SELF_FGVC + SELF_MOCO
        + [("wd-head", "1", SELF + ": train_MoCo.py --wd_head default=1.0")],
    ),
    "self-prompt-supervised-fgvc": (
        "vpt-deep",
        SELF_COMMON + SELF_FGVC + SELF_SUP + [("wd-head", "3", SELF + ": README --wd_head 3.0")],
    ),
    "pgn-vit": ("pgn", PGN_VIT),
    "memory-cifar100": ("memory", MEMORY),
}


def resolved(peft_train, name):
    out = subprocess.run([peft_train, "--recipe", name, "--print-settings"], check=True,
                         capture_output=True, text=True).stdout
    settings = {}
    for line in out.splitlines():
        option, value, origin, _source = line.split("\t")
        assert origin == "recipe", line
        assert option not in settings, "twice: " + line
        settings[option] = value
    return settings


def main():
    peft_train = sys.argv[1]
    problems = []
    listed = subprocess.run([peft_train, "--recipe", "list"], check=True, capture_output=True,
                            text=True).stdout.splitlines()
    names = [line.split("\t")[0] for line in listed]
    if sorted(names) != sorted(TABLE):
        problems.append("recipes listed %s, table %s" % (sorted(names), sorted(TABLE)))
    for name, (method, rows) in TABLE.items():
        expected = {"--method": method}
        for option, value, _source in rows:
            assert "--" + option not in expected, (name, option)
            expected["--" + option] = value
        if name not in names:
            continue
        got = resolved(peft_train, name)
        for option in sorted(set(expected) | set(got)):
            if expected.get(option) != got.get(option):
                problems.append("%s %s: expected %s, peft-train sets %s"
                                % (name, option, expected.get(option), got.get(option)))
    if problems:
        print("\n".join(problems))
        sys.exit(1)
    print("%d recipes match" % len(TABLE))


if __name__ == "__main__":
    main()
