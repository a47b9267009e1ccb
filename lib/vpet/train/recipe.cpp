#include "vpet/train/recipe.h"

#include "vpet/error.h"

namespace vpet::train {
namespace {

using Settings = std::vector<RecipeSetting>;

Settings operator+(Settings a, const Settings& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

// --- SPT (He et al., ICCV 2023), ziplab/SPT@e385f67 -------------------------
// configs/vtab_supervised_spt_{lora,adapter}.sh run train_spt.py with
// these. SPT releases no script for the LoRA-8 and Adapter-8 rows of its
// VTAB-1k table: lora-vtab1k and adapter-vtab1k run them with this protocol.
const char* const kSptScript = "configs/vtab_supervised_spt_lora.sh";

Settings spt_vtab_protocol() {
  const std::string script = kSptScript;
  return {
      {"optimizer", "adamw", script + ": --opt=adamw"},
      {"lr", "0.001", script + ": --lr=${LR}, LR=0.001 (no batch scaling in train_spt.py)"},
      {"wd", "0.0001", script + ": --weight-decay=${WEIGHT_DECAY}, WEIGHT_DECAY=0.0001"},
      {"wd-head", "0.0001", "lib/utils.py set_weight_decay: head.weight decays with the matrices"},
      {"wd-prompts", "false",
       "lib/utils.py set_weight_decay: 1-D tensors, biases and no_weight_decay() "
       "(cls_token, pos_embed) are not decayed"},
      {"batch", "64", script + ": --batch-size=64"},
      {"epochs", "100", script + ": --epochs=100"},
      {"warmup", "10", "train_spt.py: --warmup-epochs default 10"},
      {"warmup-lr", "1e-06", "train_spt.py: --warmup-lr default 1e-6"},
      {"schedule", "timm-cosine", "train_spt.py: --sched default cosine, timm create_scheduler"},
      {"min-lr", "1e-05", "train_spt.py: --min-lr default 1e-5"},
      {"schedule-unit", "epoch", "train_spt.py: lr_scheduler.step(epoch) once per epoch"},
      {"schedule-lag", "1", "train_spt.py: lr_scheduler.step(epoch) after epoch `epoch`"},
      {"drop-path", "0.1", "train_spt.py: --drop-path default 0.1, not set by the script"},
      {"label-smoothing", "0", script + ": --smoothing=0"},
      {"grad-clip", "0", "train_spt.py: --clip-grad default None"},
      {"head-init", "trunc-normal:0.02",
       "model/vision_transformer_timm.py reset_classifier: trunc_normal_(std=.02)"},
      {"head-bias", "zero", "model/vision_transformer_timm.py reset_classifier: constant_(0)"},
      {"augment", "none", script + ": --no_aug --mixup=0 --cutmix=0"},
      {"img-size", "224", script + ": --model_name=vit_base_patch16_224_in21k_spt"},
      {"resize", "squash", script + ": --direct_resize; lib/datasets.py Resize((size, size))"},
      {"interp", "bicubic", "lib/datasets.py: Resize(..., interpolation=3), bicubic"},
      {"norm", "imagenet",
       "lib/datasets.py: Normalize(IMAGENET_DEFAULT_MEAN, _STD) (no --inception)"},
      {"pool", "token", "model/vision_transformer_timm.py forward_features: norm(x)[:, 0]"},
  };
}

Settings spt_modules() {
  return {
      {"module-dropout", "0.1",
       "model/vision_transformer_timm.py: structured_drop = nn.Dropout(p=0.1)"},
      {"module-drop-path", "0.1", "model/vision_transformer_timm.py: DropPath(0.1) on the modules"},
  };
}

// --- VPT (Jia et al., ECCV 2022), KMnP/vpt@4410440 -------------------------
// The paper searches lr, weight decay (tune_fgvc.py, tune_vtab.py) and the
// prompt length per task; a recipe sets one point of those grids, which
// --lr, --wd and --prompts override.
Settings vpt_protocol() {
  return {
      {"optimizer", "sgd", "configs/base-prompt.yaml: SOLVER.OPTIMIZER sgd"},
      {"momentum", "0.9", "configs/base-prompt.yaml: SOLVER.MOMENTUM 0.9"},
      {"batch", "128", "configs/base-prompt.yaml: DATA.BATCH_SIZE 128"},
      {"epochs", "100", "configs/base-prompt.yaml: SOLVER.TOTAL_EPOCH 100"},
      {"warmup", "10", "configs/base-prompt.yaml: SOLVER.WARMUP_EPOCH 10"},
      {"warmup-lr", "0",
       "src/solver/lr_scheduler.py WarmupCosineSchedule: step/warmup_steps, epoch 0 at 0"},
      {"schedule", "cosine", "src/solver/lr_scheduler.py WarmupCosineSchedule: cosine to 0"},
      {"min-lr", "0", "src/solver/lr_scheduler.py WarmupCosineSchedule: max(0, cosine)"},
      {"schedule-unit", "epoch", "src/engine/trainer.py: scheduler.step() once per epoch"},
      {"schedule-lag", "0", "src/engine/trainer.py: scheduler.step() after the epoch, from 0"},
      {"wd-prompts", "true",
       "src/solver/optimizer.py: WEIGHT_DECAY on every trained tensor but last_layer.bias"},
      {"drop-path", "0", "src/models/vit_models.py: the frozen encoder runs in eval()"},
      {"label-smoothing", "0", "configs/base-prompt.yaml: SOLVER.LOSS softmax"},
      {"grad-clip", "0", "src/engine/trainer.py: no gradient clipping"},
      {"head-init", "kaiming-fan-out",
       "src/models/mlp.py: kaiming_normal_(last_layer.weight, a=0, mode='fan_out')"},
      // The same constant on every class shifts all logits alike: softmax,
      // its gradient and the predictions are those of a zero bias.
      {"head-bias", "zero",
       "src/models/mlp.py special_bias: constant -log(99) on every class, which softmax ignores"},
      {"prompt-dropout", "0", "src/configs/config.py: MODEL.PROMPT.DROPOUT 0.0"},
      {"prompts", "5",
       "src/configs/config.py: MODEL.PROMPT.NUM_TOKENS 5 (the paper tunes it per task)"},
      {"img-size", "224", "src/configs/config.py: DATA.CROPSIZE 224"},
      {"norm", "imagenet", "src/data/transforms.py: Normalize([0.485, ...], [0.229, ...])"},
      {"pool", "token", "src/models/vit_backbones/vit.py: encoded[:, 0] (VIT_POOL_TYPE original)"},
  };
}

Settings vpt_vtab() {
  return {
      // tune_vtab.py: lr = lr / 256 * BATCH_SIZE over its "prompt" grid;
      // 0.1 is a grid point, the one configs/prompt/cub.yaml also names.
      {"lr", "0.05", "tune_vtab.py setup: grid value 0.1 / 256 * DATA.BATCH_SIZE 128"},
      {"wd", "0.0001",
       "configs/base-prompt.yaml: SOLVER.WEIGHT_DECAY 0.0001 (a tune_vtab.py grid point)"},
      {"wd-head", "0.0001", "src/solver/optimizer.py: the head weight decays with the prompts"},
      {"augment", "none", "src/data/datasets/tf_dataset.py: no train-time augmentation"},
      {"resize", "squash",
       "src/data/datasets/tf_dataset.py preprocess_fn: tf.image.resize to [224, 224]"},
      {"interp", "bilinear", "src/data/datasets/tf_dataset.py: tf.image.resize, bilinear"},
  };
}

Settings vpt_fgvc() {
  return {
      {"lr", "0.05",
       "configs/prompt/cub.yaml BASE_LR 0.1, / 256 * BATCH_SIZE 128 (tune_fgvc.py setup)"},
      {"wd", "0.01", "configs/prompt/cub.yaml: SOLVER.WEIGHT_DECAY 0.01"},
      {"wd-head", "0.01", "src/solver/optimizer.py: the head weight decays with the prompts"},
      {"augment", "crop-flip",
       "src/data/transforms.py: Resize(256), RandomCrop(224), RandomHorizontalFlip(0.5)"},
      {"resize", "crop", "src/data/transforms.py (test): Resize(256), CenterCrop(224)"},
      {"crop-fraction", "0.875", "src/data/transforms.py (test): 224 / 256"},
      {"interp", "bilinear", "src/data/transforms.py: torchvision Resize default, bilinear"},
  };
}

// --- Self-Prompt Tuning (Wang et al., ICML 2024),
// WangYZ1608/Self-Prompt-Tuning@ce0754f. The README's commands (MAE: CUB;
// MoCo v3 and supervised: Dogs) are the recipe; the prompts file comes from
// prompt-init-proto --method random --prompts 20 (README:
// --prompt_sample_type "random").
Settings self_prompt_protocol() {
  return {
      {"optimizer", "adamw", "train_MAE.py, train.py, train_MoCo.py: torch.optim.AdamW"},
      {"wd", "0.01", "README: --weight_decay 1e-2"},
      {"wd-prompts", "true", "utils.py param_groups_weight_decay: prompt_token (3-D) decays"},
      {"batch", "32", "README: --batch_size 32"},
      {"epochs", "100", "README: --epochs 100"},
      {"warmup", "10", "README: --warmup_epochs 10"},
      {"warmup-lr", "0", "utils.py adjust_learning_rate: lr * epoch / warmup_epochs"},
      {"schedule", "cosine", "utils.py adjust_learning_rate: half-cycle cosine after the warmup"},
      {"min-lr", "1e-08", "README: --min_lr 1e-8"},
      {"schedule-unit", "iteration",
       "train_MAE.py train: adjust_learning_rate(step / steps + epoch)"},
      {"schedule-lag", "0", "train_MAE.py train: the rate is set before each step"},
      {"drop-path", "0", "README: --drop_path 0.0 (the argparse default 0.1 is not used)"},
      {"label-smoothing", "0", "train_MAE.py: nn.CrossEntropyLoss()"},
      {"grad-clip", "0", "train_MAE.py: no gradient clipping"},
      {"head-bias", "zero", "train_MAE.py create_model: constant_(model.head.bias, 0)"},
      {"prompts", "20", "README: --num_prompts 20 (deep)"},
      {"prompt-dropout", "0", "Models/vpt_deep.py: no dropout on the prompts"},
      {"img-size", "224", "Dataset/VTAB.py, Dataset/FGVC.py: target_size=224"},
      {"interp", "bicubic", "Dataset/VTAB.py, Dataset/FGVC.py: interpolation=3, bicubic"},
      {"norm", "imagenet",
       "Dataset/VTAB.py, Dataset/FGVC.py: Normalize([0.485, ...], [0.229, ...])"},
  };
}

Settings self_prompt_vtab() {
  return {
      {"wd-head", "1", "train_MAE.py: --wd_head default 1.0 (the README sets it for FGVC only)"},
      {"augment", "none", "Dataset/VTAB.py: the training transform is the test one"},
      {"resize", "crop", "Dataset/VTAB.py: Resize(224), CenterCrop(224)"},
      {"crop-fraction", "1", "Dataset/VTAB.py: Resize(224), CenterCrop(224)"},
  };
}

Settings self_prompt_fgvc() {
  return {
      {"augment", "rrc-flip", "Dataset/FGVC.py: RandomResizedCrop(224), RandomHorizontalFlip(0.5)"},
      {"resize", "crop", "Dataset/FGVC.py (test): Resize(256), CenterCrop(224)"},
      {"crop-fraction", "0.875", "Dataset/FGVC.py (test): 224 / 256"},
  };
}

Settings self_prompt_mae() {
  return {
      {"lr", "0.05", "README (MAE): --lr 5e-2"},
      {"head-init", "trunc-normal:0.02", "train_MAE.py create_model: trunc_normal_(std=.02)"},
      {"pool", "avg-norm", "Models/MAE_vpt_deep.py: global_pool, x[:, 1:].mean(1) then norm"},
      {"prompts-in-pool", "true", "Models/MAE_vpt_deep.py: x[:, 1:] holds the prompts"},
  };
}

Settings self_prompt_moco() {
  return {
      {"lr", "0.001", "README (MoCo and supervised): --lr 1e-3"},
      {"head-init", "trunc-normal:0.01", "train_MoCo.py create_model: trunc_normal_(std=.01)"},
      {"pool", "token", "Models/vpt_deep.py forward_features: norm(x)[:, 0]"},
  };
}

Settings self_prompt_supervised() {
  return {
      {"lr", "0.001", "README (MoCo and supervised): --lr 1e-3"},
      {"head-init", "trunc-normal:0.02", "train.py create_model: trunc_normal_(std=.02)"},
      {"pool", "token", "Models/vpt_deep.py forward_features: norm(x)[:, 0]"},
  };
}

// --- PGN (Loedeman et al., 2023), jochemloedeman/PGN@fe5ebc2 ---------------
// pgn/scripts/pgn_visionmodel/train_visionmodel_pgn.py's defaults.
Settings pgn_protocol() {
  const std::string script = "pgn/scripts/pgn_visionmodel/train_visionmodel_pgn.py";
  return {
      {"pgn-prompts", "16", script + ": --pgn_length 16"},
      {"pgn-library", "256", script + ": --pgn_mixture_size 256"},
      {"pgn-input-size", "224", script + ": --pgn_resolution 224"},
      {"optimizer", "sgd", script + ": --optimizer sgd"},
      {"momentum", "0.9", "pgn/lightning/pgn_vit.py configure_optimizers: SGD(momentum=0.9)"},
      {"lr", "0.1", script + ": --init_lr 0.1"},
      {"wd", "0", "pgn/lightning/pgn_vit.py configure_optimizers: SGD without weight_decay"},
      {"wd-head", "0", "pgn/lightning/pgn_vit.py configure_optimizers: SGD without weight_decay"},
      {"wd-prompts", "false", "pgn/lightning/pgn_vit.py configure_optimizers: no weight decay"},
      {"batch", "5", script + ": --train_batch_size 5"},
      {"epochs", "100", script + ": --epochs 100"},
      {"warmup", "50", script + ": --warmup_epochs 50"},
      {"schedule", "cosine",
       "pgn/lr_schedulers/cosine_with_warmup.py: cosine over epochs - warmup"},
      {"min-lr", "0.001", "pgn/lightning/pgn_vit.py: eta_min = lr / 1e2"},
      {"schedule-unit", "epoch",
       "pgn/lightning/pgn_vit.py: Lightning steps the scheduler per epoch"},
      {"schedule-lag", "0", "pgn/lr_schedulers/cosine_with_warmup.py: epoch 0 trains at lr / W"},
      {"drop-path", "0", "pgn/lightning/pgn_vit.py: torchvision vit_b_32, no stochastic depth"},
      {"label-smoothing", "0", "pgn/lightning/pgn_vit.py: nn.CrossEntropyLoss()"},
      {"grad-clip", "0",
       "pgn/scripts/pgn_visionmodel/train_visionmodel_pgn.py: pl.Trainer without clipping"},
      {"augment", "rrc-flip",
       "pgn/datamodules/*_datamodule.py: RandomResizedCrop(224, scale=(rrc_scale_lb, 1)), "
       "RandomHorizontalFlip()"},
      {"rrc-scale", "1,1", script + ": --rrc_scale_lb 1."},
      {"img-size", "224", "pgn/datamodules/*_datamodule.py: 224"},
      {"resize", "crop", "pgn/datamodules/*_datamodule.py (test): Resize(224), CenterCrop(224)"},
      {"crop-fraction", "1",
       "pgn/datamodules/*_datamodule.py (test): Resize(224), CenterCrop(224)"},
      {"interp", "bilinear", "pgn/datamodules/*_datamodule.py (test): torchvision Resize default"},
      {"norm", "clip",
       "pgn/datamodules/*_datamodule.py: Normalize((0.48145466, ...), (0.26862954, ...))"},
      {"pool", "token", "pgn/lightning/pgn_vit.py forward: x[:, 0] into heads"},
      // nn.Linear's default weight is kaiming-uniform, which --head-init
      // does not offer: the recipe keeps vpet's default weight.
      {"head-init", "trunc-normal:0.02",
       "pgn/lightning/pgn_vit.py: nn.Linear default (kaiming-uniform), not offered: vpet's "
       "default"},
      {"head-bias", "uniform",
       "pgn/lightning/pgn_vit.py: nn.Linear default bias, U(+-1/sqrt(768))"},
  };
}

// --- Learnable memory (Sandler et al., CVPR 2022) -------------------------
// No official code: the paper's training setup (SGD with momentum,
// gradient clipping, linear warmup then cosine, batch 512, 20,000 steps) as
// the METU reproduction reads it, and where the paper gives no number that
// reproduction's vit_train.py (lr 0.1, clip 1.0, 5 warmup steps).
Settings memory_cifar100() {
  return {
      {"memory", "5", "Table 2: 1, 5, 10 or 20 memory tokens per layer (5 the middle column)"},
      {"memory-mode", "masked", "Table 1: the attention mask that keeps the original task"},
      {"memory-norm", "true", "Fig. 2a: the memory enters the block's first LayerNorm"},
      {"optimizer", "sgd", "paper's training setup: SGD with momentum"},
      {"momentum", "0.9", "METU reproduction vit_train.py: momentum 0.9"},
      {"lr", "0.1", "METU reproduction vit_train.py: lr 0.1 (the paper gives none)"},
      {"wd", "0", "paper's training setup: no weight decay mentioned"},
      {"wd-head", "0", "paper's training setup: no weight decay mentioned"},
      {"wd-prompts", "false", "paper's training setup: no weight decay mentioned"},
      {"grad-clip", "1",
       "paper's training setup: gradient clipping; METU reproduction: clip-norm 1.0"},
      {"batch", "512", "paper's training setup: batch size 512"},
      {"epochs", "205",
       "paper's training setup: 20,000 steps of 512 = 204.8 passes over CIFAR-100's 50,000 images"},
      {"warmup", "0.0512", "README / METU reproduction: 5 warmup steps = 5 / 97.66 epochs"},
      {"schedule", "cosine", "paper's training setup: cosine decay after a linear warmup"},
      {"min-lr", "0", "paper's training setup: cosine decay (to 0)"},
      {"schedule-unit", "iteration", "paper's training setup: the schedule is counted in steps"},
      {"schedule-lag", "0", "paper's training setup: the schedule is counted in steps"},
      {"drop-path", "0", "paper's training setup: the backbone is frozen"},
      {"label-smoothing", "0", "paper's training setup: cross-entropy"},
      {"head-init", "trunc-normal:0.02", "not given by the paper: vpet's (timm's) default"},
      {"head-bias", "zero", "not given by the paper: vpet's (timm's) default"},
      {"augment", "crop-flip",
       "paper's training setup: a random crop for CIFAR-100 (Inception crop elsewhere)"},
      {"img-size", "224", "paper's training setup: ViT-B/32 at 224"},
      {"resize", "squash", "paper's training setup: the image resized to the input size"},
      {"interp", "bilinear", "not given by the paper: bilinear"},
      {"norm", "inception", "ViT i21k checkpoints: pixels scaled to [-1, 1] (mean 0.5, std 0.5)"},
      {"pool", "token", "Fig. 1: the (task) class token feeds the head"},
  };
}

const char* const kSptPaper = "He et al., ICCV 2023 (SPT); ziplab/SPT@e385f67";
const char* const kVptPaper = "Jia et al., ECCV 2022 (VPT); KMnP/vpt@4410440";
const char* const kSelfPromptPaper =
    "Wang et al., ICML 2024 (Self-Prompt Tuning); WangYZ1608/Self-Prompt-Tuning@ce0754f";

}  // namespace

const std::vector<Recipe>& recipes() {
  static const std::vector<Recipe> table = {
      {"spt-lora-vtab1k", "spt-lora", "VTAB-1k", kSptPaper, spt_vtab_protocol() + spt_modules()},
      {"spt-adapter-vtab1k", "spt-adapter", "VTAB-1k", kSptPaper,
       spt_vtab_protocol() + spt_modules()},
      {"lora-vtab1k", "lora", "VTAB-1k", kSptPaper,
       spt_vtab_protocol() +
           Settings{{"rank", "8", "SPT Table 1: LoRA-8 (r = 8, scale 1: no alpha/r factor)"},
                    {"lora-dropout", "0.1", "model/vision_transformer_timm.py: nn.Dropout(p=0.1)"},
                    {"targets", "q,v",
                     "no SPT script: LoRA's own choice (Hu et al., 2021), W_q and W_v"}}},
      {"adapter-vtab1k", "adapter", "VTAB-1k", kSptPaper,
       spt_vtab_protocol() +
           Settings{
               {"bottleneck", "8", "SPT Table 1: Adapter-8 (bottleneck 8)"},
               {"adapter-style", "sequential",
                "no SPT script: AdaptFormer's sequential adapter, vpet's default"},
               {"adapter-scale", "0.1", "no SPT script: AdaptFormer's s = 0.1, vpet's default"}}},
      {"vpt-deep-vtab1k", "vpt-deep", "VTAB-1k", kVptPaper, vpt_protocol() + vpt_vtab()},
      {"vpt-shallow-vtab1k", "vpt-shallow", "VTAB-1k", kVptPaper, vpt_protocol() + vpt_vtab()},
      {"vpt-deep-fgvc", "vpt-deep", "FGVC", kVptPaper, vpt_protocol() + vpt_fgvc()},
      {"vpt-shallow-fgvc", "vpt-shallow", "FGVC", kVptPaper, vpt_protocol() + vpt_fgvc()},
      {"self-prompt-mae-vtab1k", "vpt-deep", "VTAB-1k", kSelfPromptPaper,
       self_prompt_protocol() + self_prompt_vtab() + self_prompt_mae()},
      {"self-prompt-moco-vtab1k", "vpt-deep", "VTAB-1k", kSelfPromptPaper,
       self_prompt_protocol() + self_prompt_vtab() + self_prompt_moco()},
      {"self-prompt-supervised-vtab1k", "vpt-deep", "VTAB-1k", kSelfPromptPaper,
       self_prompt_protocol() + self_prompt_vtab() + self_prompt_supervised()},
      {"self-prompt-mae-fgvc", "vpt-deep", "FGVC", kSelfPromptPaper,
       self_prompt_protocol() + self_prompt_fgvc() + self_prompt_mae() +
           Settings{{"wd-head", "0.5", "README (MAE, CUB): --wd_head 0.5"}}},
      {"self-prompt-moco-fgvc", "vpt-deep", "FGVC", kSelfPromptPaper,
       self_prompt_protocol() + self_prompt_fgvc() + self_prompt_moco() +
           Settings{{"wd-head", "1", "train_MoCo.py: --wd_head default 1.0"}}},
      {"self-prompt-supervised-fgvc", "vpt-deep", "FGVC", kSelfPromptPaper,
       self_prompt_protocol() + self_prompt_fgvc() + self_prompt_supervised() +
           Settings{{"wd-head", "3", "README (supervised, Dogs): --wd_head 3.0"}}},
      {"pgn-vit", "pgn", "PGN's datasets (CIFAR-100, ...)",
       "Loedeman et al., 2023 (PGN); jochemloedeman/PGN@fe5ebc2", pgn_protocol()},
      {"memory-cifar100", "memory", "CIFAR-100",
       "Sandler et al., CVPR 2022 (learnable memory); METU reproduction where the paper is silent",
       memory_cifar100()},
  };
  return table;
}

const Recipe& find_recipe(const std::string& name) {
  for (const Recipe& recipe : recipes()) {
    if (recipe.name == name) return recipe;
  }
  std::string known;
  for (const Recipe& recipe : recipes()) known += (known.empty() ? "" : ", ") + recipe.name;
  throw UsageError("--recipe: unknown recipe '" + name + "' (known: " + known + "; --recipe list)");
}

}  // namespace vpet::train
