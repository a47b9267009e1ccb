#!/usr/bin/python3
"""SPT against LoRA and Adapter at equal budgets, vpet and the PyTorch
transcription of SPT's released code side by side (issue 22).

    bench/spt_gap.py [--bin build/bin] [--work DIR] [--seeds 0,1,2]
        [--tasks natural,count,location] [--recipes adamw,official] [--jobs 2]

1. The tasks and the frozen backbone are bench/self_prompt_gap.py's
   (bench/fmnist_tasks.py's Fashion-MNIST tasks, 500 training and 1,000 test
   images of 32x32; a width-48, depth-4 ViT with 64 patches, pre-trained by
   full fine-tuning on classes 0-4).
2. Per task and module kind, one sensitivity pass (spt-sensitivity, its
   defaults: 16 batches of 32, drop-path 0.1, a fresh head from seed 0) and
   plans for both budgets.
3. Per task, recipe, method and seed: peft-train then peft-eval (test top-1
   after the last epoch), and for spt-lora and spt-adapter also
   bench/spt_reference.py trained from the same plan.

Budgets and the baselines that spend them uniformly: 3k is LoRA rank 4 on
q,v (3,072) or an Adapter of bottleneck 8 (3,300); 6k is LoRA rank 8 on q,v
(6,144) or bottleneck 16 (6,464). SPT's count includes the class token (48),
as its code counts it; no count includes the head.

Recipes: `adamw` is the issue's (AdamW lr 1e-3, batch 64, peft-train's
per-step cosine to 0 without warmup, weight decay 1e-4, no backbone
drop-path; each method's own dropout defaults), 6 epochs instead of 30;
`official` is peft-train's spt-*-vtab1k / lora-vtab1k / adapter-vtab1k
(SPT's supervised scripts: warmup from 1e-6, timm's per-epoch cosine to
1e-5, drop-path 0.1) with its 100 epochs and 10 warmup epochs scaled to 6
and 1 (the runs fit the 2-core machine in 45 minutes). `spt-lora-nodrop`
is spt-lora without its module dropout and drop-path (vpet only, adamw at
6k): whether SPT's regularisation is what costs it here.

The reference draws its own initial tensors from its seed, so a seed's
vpet and reference runs start from different heads; on runs this short the
head's draw moves top-1 by up to 10 points. --matched (after a full run)
trains the reference again from vpet's initial tensors of each seed, which
is the comparison of the two implementations.

Prints a Markdown table (top-1, mean ± sample std over seeds, and the
trainable count) and writes every run as a JSON line to WORK/runs.jsonl
(WORK/runs-matched.jsonl with --matched); --from-runs FILE... prints the
table of earlier runs without training.
"""
import argparse
import json
import os
import shutil
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from self_prompt_gap import PYTHON, prepare, run, run_jobs, spread  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
BUDGETS = {"3k": 3000, "6k": 6000}
# The uniform spending of each budget.
BASELINES = {
    "lora": {"3k": ["--rank", "4"], "6k": ["--rank", "8"]},
    "adapter": {"3k": ["--bottleneck", "8"], "6k": ["--bottleneck", "16"]},
}
METHODS = ["spt-lora", "lora", "spt-adapter", "adapter", "spt-lora-nodrop"]
NO_MODULE_DROP = ["--module-dropout", "0", "--module-drop-path", "0"]
RECIPES = {
    "adamw": {"vpet": ["--epochs", "6", "-b", "64", "--lr", "1e-3", "--wd", "1e-4"],
              "reference": ["--epochs", "6", "--batch", "64", "--lr", "1e-3", "--wd", "1e-4",
                            "--schedule", "cosine", "--min-lr", "0", "--drop-path", "0"]},
    "official": {"vpet": ["--img-size", "32", "--epochs", "6", "--warmup", "1"],
                 "reference": ["--epochs", "6", "--warmup", "1"]},
}


def plan_path(args, task, kind):
    return os.path.join(args.work, f"plan-{task}-{kind}.vpet")


def make_plans(args, tasks, model, task):
    for kind in ("lora", "adapter"):
        if os.path.exists(plan_path(args, task, kind)):
            continue
        budgets = [option for b in BUDGETS for option in ("--budget", b)]
        run([args.bin + "/spt-sensitivity", "-q", "-t", "1", "-m", model, "-d",
             os.path.join(tasks, task, "train.txt"), "--structured", kind, "-o",
             plan_path(args, task, kind)] + budgets)


def with_epochs(options, epochs):
    """A recipe's options with its --epochs replaced (None: as they are)."""
    if epochs is None:
        return options
    at = options.index("--epochs")
    return options[:at + 1] + [str(epochs)] + options[at + 2:]


def vpet_options(recipe, method, budget, args, task):
    base = method.replace("-nodrop", "")
    options = ["--method", base]
    if recipe == "official":
        options = ["--recipe", base + "-vtab1k"]
    options += with_epochs(RECIPES[recipe]["vpet"], args.epochs)
    if base.startswith("spt-"):
        options += ["--plan", plan_path(args, task, base[4:]), "--budget", budget]
    else:
        options += BASELINES[base][budget]
    if method.endswith("-nodrop"):
        options += NO_MODULE_DROP
    return options


def vpet_run(args, tasks, model, task, recipe, method, budget, seed):
    stem = os.path.join(args.work, f"vpet-{task}-{recipe}-{method}-{budget}-s{seed}")
    run([args.bin + "/peft-train", "-q", "-t", "1", "-m", model, "-d",
         os.path.join(tasks, task, "train.txt"), "--seed", str(seed), "-o", stem + ".vpet"]
        + vpet_options(recipe, method, budget, args, task))
    report = json.loads(run([args.bin + "/peft-eval", "-q", "-t", "1", "-m", model, "-a",
                             stem + ".vpet", "-d", os.path.join(tasks, task, "test.txt"),
                             "--json"]))
    return report["top1"], report["params_trainable"]


def vpet_start(args, tasks, model, task, recipe, method, budget, seed):
    """vpet's initial tensors for this run: one full-batch step at lr 1e-12
    moves no fp32 weight of its size (the zero ones by 1e-12)."""
    stem = os.path.join(args.work, f"start-{task}-{recipe}-{method}-{budget}-s{seed}.vpet")
    options = vpet_options(recipe, method, budget, args, task)
    run([args.bin + "/peft-train", "-q", "-t", "1", "-m", model, "-d",
         os.path.join(tasks, task, "train.txt"), "--seed", str(seed), "-o", stem]
        + options + ["--epochs", "1", "--warmup", "0", "--lr", "1e-12", "--min-lr", "0",
                     "-b", "100000"])
    return stem


def reference_run(args, tasks, model, task, recipe, method, budget, seed):
    start = []
    if args.matched:
        start = ["--init", vpet_start(args, tasks, model, task, recipe, method, budget, seed)]
    out = run([PYTHON, os.path.join(HERE, "spt_reference.py"), "--model", model,
               "--data", os.path.join(tasks, task, "train.txt"), "--test",
               os.path.join(tasks, task, "test.txt"), "--plan",
               plan_path(args, task, method[4:]), "--budget", str(BUDGETS[budget]),
               "--seed", str(seed)] + with_epochs(RECIPES[recipe]["reference"], args.epochs)
              + start)
    result = json.loads(out.strip().splitlines()[-1])
    return result["test_top1"], result["trainable"]


def one(args, tasks, model, impl, task, recipe, method, budget, seed):
    body = vpet_run if impl == "vpet" else reference_run
    top1, trainable = body(args, tasks, model, task, recipe, method, budget, seed)
    if impl == "reference" and args.matched:
        impl = "reference-from-vpet"
    return {"impl": impl, "task": task, "recipe": recipe, "method": method, "budget": budget,
            "seed": seed, "top1": top1, "trainable": trainable}


def jobs_of(args, task_names):
    for task in task_names:
        for recipe in args.recipes.split(","):
            for budget in args.budgets.split(","):
                for method in args.methods.split(","):
                    if method.endswith("-nodrop") and (recipe, budget) != ("adamw", "6k"):
                        continue
                    spt = method in ("spt-lora", "spt-adapter")
                    impls = ["reference"] if args.matched else ["vpet"] + (["reference"] if spt
                                                                           else [])
                    if args.matched and not spt:
                        continue
                    for impl in impls:
                        for seed in args.seeds.split(","):
                            yield impl, task, recipe, method, budget, int(seed)


def print_table(rows, task_names, recipes, budgets):
    impls = ("vpet", "reference", "reference-from-vpet")
    print("| task | recipe | budget | method | trainable | vpet top-1 | reference top-1 "
          "| reference from vpet's start |")
    print("|---|---|---|---|---|---|---|---|")
    for task in task_names:
        for recipe in recipes:
            for budget in budgets:
                for method in METHODS:
                    runs = {impl: [r for r in rows if (r["impl"], r["task"], r["recipe"],
                                                       r["method"], r["budget"]) ==
                                   (impl, task, recipe, method, budget)]
                            for impl in impls}
                    if not runs["vpet"]:
                        continue
                    counts = sorted({r["trainable"] for r in runs["vpet"]})
                    cells = [spread([r["top1"] for r in runs[impl]]) if runs[impl] else "-"
                             for impl in impls]
                    print(f"| {task} | {recipe} | {budget} | {method} | "
                          f"{'/'.join(f'{c:,}' for c in counts)} | " + " | ".join(cells) + " |")


def print_paired(rows, task_names, recipes, budgets):
    """SPT minus the baseline of its module at the same budget, per seed: in
    vpet one seed draws the same head for every method, so the difference
    is free of the head's draw."""
    def top1(task, recipe, method, budget, seed):
        found = [r["top1"] for r in rows if (r["impl"], r["task"], r["recipe"], r["method"],
                                              r["budget"], r["seed"]) ==
                 ("vpet", task, recipe, method, budget, seed)]
        return found[0] if found else None

    print("\nvpet, SPT minus the same-budget baseline, same seed (top-1 points, mean ± std):\n")
    print("| task | recipe | budget | spt-lora - lora | spt-adapter - adapter |")
    print("|---|---|---|---|---|")
    seeds = sorted({r["seed"] for r in rows})
    for task in task_names:
        for recipe in recipes:
            for budget in budgets:
                cells = []
                for kind in ("lora", "adapter"):
                    pairs = [(top1(task, recipe, "spt-" + kind, budget, s),
                              top1(task, recipe, kind, budget, s)) for s in seeds]
                    diffs = [a - b for a, b in pairs if a is not None and b is not None]
                    cells.append(spread(diffs) if diffs else "-")
                print(f"| {task} | {recipe} | {budget} | " + " | ".join(cells) + " |")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bin", default=os.path.join(HERE, "..", "build", "bin"))
    parser.add_argument("--work", default="/tmp/spt-gap")
    parser.add_argument("--backbone-from", help="a bench/self_prompt_gap.py work folder whose "
                        "tasks and pre-trained backbone to reuse")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--tasks", default="natural,count,location")
    parser.add_argument("--recipes", default="adamw,official")
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--budgets", default=",".join(BUDGETS))
    parser.add_argument("--epochs", type=int, help="override the recipes' epochs")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--matched", action="store_true",
                        help="run only the reference, each run from vpet's initial tensors for "
                        "its seed (head, modules), into WORK/runs-matched.jsonl")
    parser.add_argument("--from-runs", nargs="+",
                        help="print the table of these runs.jsonl files; train nothing")
    args = parser.parse_args()
    task_names = args.tasks.split(",")
    if args.from_runs:
        rows = []
        for path in args.from_runs:
            with open(path) as f:
                rows += [json.loads(line) for line in f]
        print_table(rows, task_names, args.recipes.split(","), args.budgets.split(","))
        print_paired(rows, task_names, args.recipes.split(","), args.budgets.split(","))
        return
    os.makedirs(args.work, exist_ok=True)
    if args.backbone_from:
        for name in ("tasks", "pretrained.safetensors"):
            target = os.path.join(args.work, name)
            if not os.path.exists(target):
                source = os.path.join(args.backbone_from, name)
                (shutil.copytree if os.path.isdir(source) else shutil.copy)(source, target)
    os.environ["OMP_NUM_THREADS"] = os.environ["OPENBLAS_NUM_THREADS"] = "1"
    tasks, model = prepare(args)
    for task in task_names:
        make_plans(args, tasks, model, task)
    log = os.path.join(args.work, "runs-matched.jsonl" if args.matched else "runs.jsonl")
    rows = run_jobs(lambda job: one(args, tasks, model, *job), list(jobs_of(args, task_names)),
                    args.jobs, log, ("impl", "task", "recipe", "method", "budget"))
    print_table(rows, task_names, args.recipes.split(","), args.budgets.split(","))
    print_paired(rows, task_names, args.recipes.split(","), args.budgets.split(","))


if __name__ == "__main__":
    main()
