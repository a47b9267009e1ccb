#!/usr/bin/python3
"""Self-Prompt Tuning's prototype start against VPT's uniform start, vpet and
the PyTorch transcription of the released code side by side (issue 21).

    bench/self_prompt_gap.py [--bin build/bin] [--work DIR] [--seeds 0,1,2]
        [--tasks natural,count,location] [--jobs 2]

1. bench/fmnist_tasks.py makes the tasks (32x32 PNG lists from Fashion-MNIST):
   pre-training on classes 0-4, then natural (classes 5-9), count (1-4
   items) and location (3x3 cells), 500 training and 1,000 test images each.
2. A ViT (width 48, depth 4, 3 heads, patch 4: 64 patches) from
   bench/make_vit.py, fully fine-tuned by peft-train on the pre-training
   set (4 epochs), written back as safetensors: the frozen backbone.
3. Per task, recipe, initialisation and seed, VPT-deep trained by vpet
   (vit-extract --layers all | prompt-init-proto, peft-train, peft-eval) and
   by bench/self_prompt_reference.py (its own prototypes from the released
   rule), test top-1 after the last epoch, the mean training loss of the
   first two epochs, and the training curve (mean loss per epoch).

Recipes: `adamw` is the one the issue measured (10 prompts, 10 epochs,
AdamW lr 1e-3, batch 64, cosine to 0 per iteration, no warmup, weight decay
1e-4 on the head only); `official` is peft-train's
self-prompt-supervised-vtab1k (20 prompts, batch 32, lr 1e-3, prompt weight
decay 1e-2, head 1.0, warmup from 0, cosine to 1e-8) with its 100 epochs
and 10 warmup epochs scaled to 10 and 1. The reference drops the last
partial batch as the released loader does; vpet keeps it.

Prints two Markdown tables (top-1 as mean ± sample std over seeds; the
curves) and writes every run as a JSON line to WORK/runs.jsonl. --from-runs
FILE prints the tables of an earlier run's runs.jsonl without training.
"""
import argparse
import concurrent.futures
import json
import os
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
PYTHON = "/usr/bin/python3"
MODEL = ["--width", "48", "--depth", "4", "--heads", "3", "--patch", "4", "--img", "32"]
RECIPES = {
    "adamw": {"vpet": ["--method", "vpt-deep", "--prompts", "10", "--epochs", "10", "-b", "64",
                       "--lr", "1e-3"],
              "reference": ["--prompts", "10", "--epochs", "10", "--batch", "64", "--lr", "1e-3",
                            "--warmup", "0", "--min-lr", "0", "--wd", "0", "--wd-head", "1e-4",
                            "--no-drop-last"],
              "prompts": 10, "batch": 64, "drop_last": False},
    "official": {"vpet": ["--recipe", "self-prompt-supervised-vtab1k", "--img-size", "32",
                          "--epochs", "10", "--warmup", "1"],
                 "reference": ["--epochs", "10", "--warmup", "1"],
                 "prompts": 20, "batch": 32, "drop_last": True},
}
VPET_INITS = ["uniform", "random", "mean", "max", "kmeans"]
TRAIN_IMAGES = 500  # bench/fmnist_tasks.py's default
CURVE_EPOCHS = (1, 2, 3, 5, 10)
REFERENCE_INITS = ["uniform", "random", "mean", "max"]


def run(command, **kwargs):
    done = subprocess.run(command, capture_output=True, text=True, **kwargs)
    if done.returncode != 0:
        sys.exit(f"failed: {' '.join(command)}\n{done.stderr}")
    return done.stdout


def prepare(args):
    tasks = os.path.join(args.work, "tasks")
    if not os.path.exists(os.path.join(tasks, "location", "test.txt")):
        run([PYTHON, os.path.join(HERE, "fmnist_tasks.py"), tasks])
    model = os.path.join(args.work, "pretrained.safetensors")
    if not os.path.exists(model):
        start = os.path.join(args.work, "start.safetensors")
        run([PYTHON, os.path.join(HERE, "make_vit.py")] + MODEL + ["-o", start])
        full = os.path.join(args.work, "pretrain.vpet")
        run([args.bin + "/peft-train", "-q", "-m", start, "-d",
             os.path.join(tasks, "pretrain", "train.txt"), "--method", "full", "--per-class",
             "1200", "--epochs", "4", "-b", "64", "--lr", "1e-3", "--warmup", "0.5", "-t",
             str(args.jobs), "-o", full])
        run([PYTHON, os.path.join(HERE, "full_to_safetensors.py"), start, full, model])
    return tasks, model


def vpet_run(args, tasks, model, task, recipe, init, seed):
    train = os.path.join(tasks, task, "train.txt")
    test = os.path.join(tasks, task, "test.txt")
    stem = os.path.join(args.work, f"vpet-{task}-{recipe}-{init}-s{seed}")
    options = RECIPES[recipe]["vpet"] + ["--seed", str(seed), "-t", "1", "-q"]
    if init != "uniform":
        tokens = os.path.join(args.work, f"tokens-{task}.vpet")
        prompts = stem + ".prompts"
        run([args.bin + "/prompt-init-proto", "-q", "--method", init, "--prompts",
             str(RECIPES[recipe]["prompts"]), "--seed", str(seed), "-o", prompts, tokens])
        options += ["--init-prompts", prompts, "--prompts", str(RECIPES[recipe]["prompts"])]
    run([args.bin + "/peft-train", "-m", model, "-d", train, "--metrics", stem + ".jsonl",
         "-o", stem + ".vpet"] + options)
    report = json.loads(run([args.bin + "/peft-eval", "-q", "-t", "1", "-m", model, "-a",
                             stem + ".vpet", "-d", test, "--json"]))
    with open(stem + ".jsonl") as f:
        losses = [line["loss"] for line in map(json.loads, f) if line["type"] == "step"]
    return report["top1"], losses


def reference_run(args, tasks, model, task, recipe, init, seed):
    out = run([PYTHON, os.path.join(HERE, "self_prompt_reference.py"), "--model", model,
               "--data", os.path.join(tasks, task, "train.txt"), "--test",
               os.path.join(tasks, task, "test.txt"), "--sample", init, "--seed", str(seed)]
              + RECIPES[recipe]["reference"])
    result = json.loads(out.strip().splitlines()[-1])
    return result["test_top1"], result["losses"]


def epoch_losses(impl, recipe, losses):
    """The mean training loss of each epoch (the reference drops the last
    partial batch under the official recipe, vpet never does)."""
    batch = RECIPES[recipe]["batch"]
    dropped = impl == "reference" and RECIPES[recipe]["drop_last"]
    steps = TRAIN_IMAGES // batch if dropped else -(-TRAIN_IMAGES // batch)
    return [statistics.mean(losses[e * steps:(e + 1) * steps]) for e in range(len(losses) // steps)]


def one(args, tasks, model, impl, task, recipe, init, seed):
    body = vpet_run if impl == "vpet" else reference_run
    top1, losses = body(args, tasks, model, task, recipe, init, seed)
    epochs = epoch_losses(impl, recipe, losses)
    return {"impl": impl, "task": task, "recipe": recipe, "init": init, "seed": seed,
            "top1": top1, "early_loss": statistics.mean(epochs[:2]), "epoch_losses": epochs,
            "losses": losses}


def run_jobs(body, jobs, parallel, log_path, keys):
    """body(job) for every job, `parallel` at a time; each row returned is
    logged as a JSON line to log_path and announced on stderr by `keys`,
    its seed and its top-1. Returns the rows in job order."""
    rows = []
    with concurrent.futures.ThreadPoolExecutor(parallel) as pool, open(log_path, "w") as log:
        for row in pool.map(body, jobs):
            rows.append(row)
            log.write(json.dumps(row) + "\n")
            log.flush()
            label = " ".join(str(row[k]) for k in keys)
            print(f"{label} s{row['seed']}: {row['top1']:.2f}", file=sys.stderr, flush=True)
    return rows


def spread(values):
    mean = statistics.mean(values)
    return f"{mean:.1f} ± {statistics.stdev(values):.1f}" if len(values) > 1 else f"{mean:.1f}"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bin", default=os.path.join(HERE, "..", "build", "bin"))
    parser.add_argument("--work", default="/tmp/self-prompt-gap")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--tasks", default="natural,count,location")
    parser.add_argument("--recipes", default="adamw,official")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--from-runs", help="print the tables of this runs.jsonl; train nothing")
    args = parser.parse_args()
    task_names = args.tasks.split(",")
    if args.from_runs:
        with open(args.from_runs) as f:
            rows = [json.loads(line) for line in f]
        for row in rows:
            row["epoch_losses"] = epoch_losses(row["impl"], row["recipe"], row["losses"])
            row["early_loss"] = statistics.mean(row["epoch_losses"][:2])
        print_tables(rows, task_names, args.recipes.split(","))
        return
    os.makedirs(args.work, exist_ok=True)
    os.environ["OMP_NUM_THREADS"] = os.environ["OPENBLAS_NUM_THREADS"] = "1"
    tasks, model = prepare(args)
    for task in task_names:
        tokens = os.path.join(args.work, f"tokens-{task}.vpet")
        if not os.path.exists(tokens):
            run([args.bin + "/vit-extract", "-q", "-m", model, "-d",
                 os.path.join(tasks, task, "train.txt"), "--feature", "tokens", "--layers", "all",
                 "-o", tokens])
    jobs = [(impl, task, recipe, init, int(seed))
            for task in task_names for recipe in args.recipes.split(",")
            for impl, inits in (("vpet", VPET_INITS), ("reference", REFERENCE_INITS))
            for init in inits for seed in args.seeds.split(",")]
    rows = run_jobs(lambda job: one(args, tasks, model, *job), jobs, args.jobs,
                    os.path.join(args.work, "runs.jsonl"), ("impl", "task", "recipe", "init"))
    print_tables(rows, task_names, args.recipes.split(","))


def groups(rows, task_names, recipes):
    """(task, recipe, init, {impl: [runs]}) in table order."""
    for task in task_names:
        for recipe in recipes:
            for init in VPET_INITS:
                runs = {impl: [r for r in rows if (r["impl"], r["task"], r["recipe"], r["init"])
                               == (impl, task, recipe, init)] for impl in ("vpet", "reference")}
                yield task, recipe, init, runs


def print_tables(rows, task_names, recipes):
    print("| task | recipe | init | vpet top-1 | reference top-1 | vpet loss, epochs 1-2 "
          "| reference loss, epochs 1-2 |")
    print("|---|---|---|---|---|---|---|")
    for task, recipe, init, runs in groups(rows, task_names, recipes):
        cells = [spread([r["top1"] for r in runs[impl]]) if runs[impl] else "-"
                 for impl in ("vpet", "reference")]
        cells += [f"{statistics.mean(r['early_loss'] for r in runs[impl]):.3f}" if runs[impl]
                  else "-" for impl in ("vpet", "reference")]
        print(f"| {task} | {recipe} | {init} | " + " | ".join(cells) + " |")
    epochs = ", ".join(str(e) for e in CURVE_EPOCHS)
    print(f"\nMean training loss of epochs {epochs}, averaged over seeds:\n")
    print("| task | recipe | init | vpet | reference |")
    print("|---|---|---|---|---|")
    for task, recipe, init, runs in groups(rows, task_names, recipes):
        cells = []
        for impl in ("vpet", "reference"):
            curves = [r["epoch_losses"] for r in runs[impl]]
            cells.append(" ".join(f"{statistics.mean(c[e - 1] for c in curves):.3f}"
                                  for e in CURVE_EPOCHS if e <= len(curves[0]))
                         if curves else "-")
        print(f"| {task} | {recipe} | {init} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
