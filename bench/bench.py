#!/usr/bin/python3
"""vpet against PyTorch on the same machine, in the same run (`make bench`).

For each scale and method: one short `peft-train` run makes a start bundle;
both programs then start from it (peft-train --rewind-from, reference.py
--init). The parity check compares their first-step losses with dropout off
and fails loudly on a difference; then vpet and the PyTorch reference run the
same steps, alternately, --repeats times. vpet's images/s comes from its own
--metrics (per-step times, the steps after the warm-up), the reference's from
the same per-step timing; peak RSS from /usr/bin/time for both processes.
Extras (--extras): vit-extract and peft-eval against a Pillow + PyTorch
pipeline over a folder of JPEGs, and a linear probe's epoch with cached
features against recomputing the backbone.

    bench/bench.py [--scales small,vits] [--methods lora,adapter,...]
        [--threads 2] [--device cpu] [--precision bf16] [--batch N]
        [--steps N] [--warmup N] [--repeats N] [--extras] [--work DIR]
    bench/bench.py --parity-only --model M.safetensors --data LIST --batch N
        [--methods ...]      (parity only, on a given model and data set)
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
# Debian's, with python3-torch; a GPU machine's PyTorch install through VPET_PYTHON.
PYTHON = os.environ.get("VPET_PYTHON", "/usr/bin/python3")
METHODS = ["linear", "full", "vpt-deep", "lora", "dora", "ssf", "adapter", "memory", "spt-lora",
           "lion", "pgn"]
# Shapes, and run lengths that keep a 2-core CPU run in minutes.
SCALES = {
    "small": dict(width=96, depth=6, heads=3, patch=4, img=28, batch=64, warmup=3, steps=10,
                  repeats=3, budget="20k", jpegs=512, jpeg_side=64),
    "vits": dict(width=384, depth=12, heads=6, patch=16, img=224, batch=8, warmup=1, steps=2,
                 repeats=2, budget="0.2M", jpegs=64, jpeg_side=256),
    "vitb": dict(width=768, depth=12, heads=12, patch=16, img=224, batch=128, warmup=3, steps=10,
                 repeats=3, budget="0.4M", jpegs=1024, jpeg_side=256),
}
# Relative difference allowed between the first-step losses. Both run the same
# float32 operations (LION's solver iteration for iteration), so they agree to
# rounding (about 1e-7); a wrong mask, scale or init shows as 1e-3 or more.
TOLERANCE = 1e-4
# Under bf16 autocast both round each product's inputs to 8 bits of mantissa,
# but not always the same ones (kernels differ): the losses agree to bf16's
# rounding, about 1e-3; a wrong mask or scale still shows as 1e-2 or more.
BF16_TOLERANCE = 5e-3
# peft-train options that turn off the methods' dropout and drop-path.
NO_DROPOUT = ["--lora-dropout", "0", "--module-dropout", "0", "--module-drop-path", "0"]


def log(*words):
    print(*words, file=sys.stderr, flush=True)


def run(command):
    """Runs a command, failing loudly with its stderr; returns its stdout."""
    done = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if done.returncode != 0:
        sys.exit(f"bench: failed ({done.returncode}): {' '.join(command)}\n{done.stderr}")
    return done.stdout


def measured(command, usage_file):
    """Runs a command under /usr/bin/time: (stdout, peak RSS in MiB, CPU seconds
    of user and system time)."""
    out = run(["/usr/bin/time", "-f", "%M %U %S", "-o", usage_file] + command)
    with open(usage_file) as f:
        rss_kib, user, system = f.read().split()[-3:]
    return out, int(rss_kib) / 1024.0, float(user) + float(system)


class Bench:
    def __init__(self, args):
        self.args = args
        self.bin = args.bin
        self.work = args.work
        # spt-sensitivity scores in fp32 whatever the training's precision.
        self.device_runtime = ["-t", str(args.threads), "--device", args.device]
        self.runtime = self.device_runtime + (["--precision", args.precision]
                                              if args.precision else [])
        self.reference_runtime = ["--threads", str(args.threads), "--device", args.device,
                                  "--precision", args.precision or "fp32"]
        # torch.set_num_threads does not size OpenBLAS's own thread pool (Debian's
        # PyTorch multiplies matrices with it): the environment does, for both.
        os.environ["OPENBLAS_NUM_THREADS"] = str(args.threads)
        os.environ["OMP_NUM_THREADS"] = str(args.threads)

    def path(self, *parts):
        os.makedirs(os.path.join(self.work, *parts[:-1]), exist_ok=True)
        return os.path.join(self.work, *parts)

    # ------------------------------------------------------------ inputs

    def prepare(self, name, scale):
        """The scale's model, one batch of PNG images at its input size, and
        (for spt-lora) an SPT plan."""
        model = self.path(name, "vit.safetensors")
        if not os.path.exists(model):
            run([PYTHON, os.path.join(HERE, "make_vit.py"), "--width", str(scale["width"]),
                 "--depth", str(scale["depth"]), "--heads", str(scale["heads"]),
                 "--patch", str(scale["patch"]), "--img", str(scale["img"]), "--classes", "0",
                 "-o", model])
        data = self.path(name, f"train-{scale['batch']}.txt")
        if not os.path.exists(data):
            write_images(self.path(name, "png"), scale["batch"], scale["img"], "png", data)
        return model, data

    def plan(self, name, model, data, scale):
        plan = self.path(name, "plan.vpet")
        if not os.path.exists(plan):
            run([self.bin + "/spt-sensitivity", "-q", "-m", model, "-d", data, "--batches", "1",
                 "-b", str(scale["batch"]), "--budget", scale["budget"], "-o", plan]
                + self.device_runtime)
        return plan

    def method_options(self, method, plan):
        return ["--method", method] + (["--plan", plan] if method == "spt-lora" else [])

    def start_bundle(self, name, method, model, data, batch, plan, tag="start"):
        """One step of peft-train: the method's tensors and head both programs start from
        (one AdamW step, so LoRA's B and the like are not all zero)."""
        bundle = self.path(name, f"{tag}-{method}.vpet")
        if not os.path.exists(bundle):
            run([self.bin + "/peft-train", "-q", "-m", model, "-d", data, "-b", str(batch),
                 "--epochs", "1", "--lr", "0.01", "-o", bundle]
                + self.method_options(method, plan) + self.runtime)
        return bundle

    # ------------------------------------------------------------ runs

    def vpet_steps(self, name, method, model, data, batch, bundle, plan, steps, warmup,
                   extra=()):
        """peft-train from the bundle for warmup + steps steps (the data set is one
        batch, so each epoch is one step): (images/s after the warm-up, first loss,
        peak RSS MiB, CPU seconds of the process)."""
        metrics = self.path(name, f"metrics-{method}.jsonl")
        trained = self.path(name, f"trained-{method}.vpet")
        command = ([self.bin + "/peft-train", "-q", "-m", model, "-d", data, "-b", str(batch),
                    "--epochs", str(warmup + steps), "--rewind-from", bundle,
                    "--metrics", metrics, "-o", trained]
                   + self.method_options(method, plan) + self.runtime + list(extra))
        _, rss, cpu = measured(command, self.path(name, "usage-vpet"))
        with open(metrics) as f:
            lines = [json.loads(line) for line in f]
        records = [line for line in lines if line["type"] == "step"]
        steady = records[warmup:]
        seconds = sum(batch / r["images_per_second"] for r in steady)
        rate = batch * len(steady) / seconds if steady else None
        if self.args.device.startswith("cuda"):
            # The GPU allocator's peak (torch.cuda.max_memory_allocated's
            # statistic), from the metrics' summary line.
            summary = [line for line in lines if line["type"] == "summary"][-1]
            rss = summary["peak_memory_bytes"] / 2**20
        return rate, records[0]["loss"], rss, cpu

    def reference_steps(self, name, method, model, data, batch, bundle, plan, steps, warmup,
                        extra=()):
        command = ([PYTHON, os.path.join(HERE, "reference.py"), "--model", model,
                    "--data", data, "--method", method, "--batch", str(batch), "--init", bundle,
                    "--steps", str(steps), "--warmup", str(warmup)]
                   + (["--plan", plan] if method == "spt-lora" else [])
                   + self.reference_runtime + list(extra))
        out, rss, cpu = measured(command, self.path(name, "usage-pytorch"))
        result = json.loads(out.strip().splitlines()[-1])
        memory = result["peak_gpu_bytes"] / 2**20 if "peak_gpu_bytes" in result else rss
        return result["images_per_second"], result["first_loss"], memory, cpu

    def parity(self, name, method, model, data, batch, plan):
        """Both programs' first-step loss from the same start bundle, dropout off:
        (vpet's loss, the reference's, whether they agree, and each process's CPU
        seconds, a one-step baseline for the CPU time per step)."""
        bundle = self.start_bundle(name, method, model, data, batch, plan)
        _, vpet_loss, _, vpet_cpu = self.vpet_steps(name, method, model, data, batch, bundle,
                                                    plan, 0, 1, NO_DROPOUT)
        _, torch_loss, _, torch_cpu = self.reference_steps(name, method, model, data, batch,
                                                           bundle, plan, 1, 0, ["--no-dropout"])
        difference = abs(vpet_loss - torch_loss) / max(1.0, abs(torch_loss))
        tolerance = BF16_TOLERANCE if self.args.precision == "bf16" else TOLERANCE
        ok = difference <= tolerance
        log(f"parity {name} {method}: vpet {vpet_loss:.7f} pytorch {torch_loss:.7f} "
            f"relative difference {difference:.2e} (tolerance {tolerance:g}): "
            f"{'ok' if ok else 'MISMATCH'}")
        return vpet_loss, torch_loss, ok, {"vpet": vpet_cpu, "pytorch": torch_cpu}

    # ------------------------------------------------------------ scales

    def scale(self, name):
        scale = dict(SCALES[name])
        for key in ("batch", "steps", "warmup", "repeats"):
            if getattr(self.args, key) is not None:
                scale[key] = getattr(self.args, key)
        batch = scale["batch"]
        log(f"== {name}: width {scale['width']}, depth {scale['depth']}, {scale['img']}x"
            f"{scale['img']}, batch {batch}, {self.args.threads} threads, {self.args.device}")
        model, data = self.prepare(name, scale)
        plan = self.plan(name, model, data, scale) if "spt-lora" in self.args.methods else None
        rows, failed = {}, []
        for method in self.args.methods:
            vpet_loss, torch_loss, ok, one_step = self.parity(name, method, model, data, batch,
                                                              plan)
            rows[method] = {"vpet_loss": vpet_loss, "pytorch_loss": torch_loss, "parity": ok,
                            "one_step_cpu": one_step}
            for impl in ("vpet", "pytorch"):
                rows[method].update({impl: [], impl + "_mib": [], impl + "_cpu": []})
            if not ok:
                failed.append(method)
        for repeat in range(scale["repeats"]):
            for method in self.args.methods:
                bundle = self.start_bundle(name, method, model, data, batch, plan)
                # Alternate which goes first, so a slow phase of the machine
                # does not always fall on the same one.
                order = ("vpet", "pytorch") if repeat % 2 == 0 else ("pytorch", "vpet")
                for impl in order:
                    runner = self.vpet_steps if impl == "vpet" else self.reference_steps
                    rate, _, memory, cpu = runner(name, method, model, data, batch, bundle, plan,
                                                  scale["steps"], scale["warmup"])
                    # CPU time per step: the run's beyond the one-step parity run's,
                    # over the steps it has beyond that one.
                    extra_steps = scale["steps"] + scale["warmup"] - 1
                    step_cpu = ((cpu - rows[method]["one_step_cpu"][impl]) / extra_steps
                                if extra_steps > 0 else float("nan"))
                    rows[method][impl].append(rate)
                    rows[method][impl + "_mib"].append(memory)
                    rows[method][impl + "_cpu"].append(step_cpu)
                    log(f"{name} {method} repeat {repeat + 1}/{scale['repeats']} {impl}: "
                        f"{rate:.1f} images/s, {memory:.0f} MiB, {step_cpu:.3f} CPU s/step")
        self.report(name, scale, rows)
        if self.args.extras:
            self.extras(name, scale, model)
        return failed

    def report(self, name, scale, rows):
        header = ["method", "vpet_img_s", "pytorch_img_s", "ratio", "vpet_cpu_s_step",
                  "pytorch_cpu_s_step", "cpu_ratio", "vpet_peak_mib", "pytorch_peak_mib",
                  "vpet_loss", "pytorch_loss", "parity"]
        table = []
        for method, row in rows.items():
            vpet = statistics.median(row["vpet"])
            pytorch = statistics.median(row["pytorch"])
            vpet_cpu = statistics.median(row["vpet_cpu"])
            pytorch_cpu = statistics.median(row["pytorch_cpu"])
            # A step too short to show above the start-up's variation (the
            # linear probe's) has no CPU ratio.
            cpu_ratio = (f"{pytorch_cpu / vpet_cpu:.2f}" if min(vpet_cpu, pytorch_cpu) > 0.005
                         else "-")
            table.append([method, f"{vpet:.1f}", f"{pytorch:.1f}", f"{vpet / pytorch:.2f}",
                          f"{vpet_cpu:.3f}", f"{pytorch_cpu:.3f}", cpu_ratio,
                          f"{max(row['vpet_mib']):.0f}", f"{max(row['pytorch_mib']):.0f}",
                          f"{row['vpet_loss']:.6f}", f"{row['pytorch_loss']:.6f}",
                          "ok" if row["parity"] else "MISMATCH"])
        tsv = self.path(f"bench-{name}.tsv")
        with open(tsv, "w") as f:
            for line in [header] + table:
                f.write("\t".join(line) + "\n")
        memory = "peak GPU MiB" if self.args.device.startswith("cuda") else "peak RSS MiB"
        print(f"\n{name}: width {scale['width']}, depth {scale['depth']}, {scale['img']}x"
              f"{scale['img']}, batch {scale['batch']}, {self.args.threads} threads, "
              f"{self.args.device} {self.args.precision or 'fp32'}; median of {scale['repeats']} "
              f"runs of {scale['steps']} steps after {scale['warmup']} warm-up")
        print("| method | vpet images/s | PyTorch images/s | vpet/PyTorch | CPU s/step vpet "
              f"/ PyTorch | CPU ratio | vpet {memory} | PyTorch {memory} | first loss vpet / "
              "PyTorch |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|---|")
        for r in table:
            print(f"| {r[0]} | {r[1]} | {r[2]} | {r[3]} | {r[4]} / {r[5]} | {r[6]} | {r[7]} "
                  f"| {r[8]} | {r[9]} / {r[10]} {'' if r[11] == 'ok' else 'MISMATCH'}|")
        print(f"(TSV: {tsv})", flush=True)

    # ------------------------------------------------------------ extras

    def extras(self, name, scale, model):
        """vit-extract and peft-eval against Pillow + PyTorch over JPEGs, and a
        linear probe's epoch with cached features against recomputing them."""
        count, side, batch = scale["jpegs"], scale["jpeg_side"], scale["batch"]
        jpegs = self.path(name, "jpeg")
        listing = self.path(name, f"jpeg-{count}.txt")
        if not os.path.exists(listing):
            write_images(jpegs, count, side, "jpg", listing)
        # Trained on the JPEG set: its head knows all its classes.
        lora = self.start_bundle(name, "lora", model, listing, batch, None, "jpeg")
        infer = [PYTHON, os.path.join(HERE, "reference_infer.py"), "--model", model,
                 "--data", listing, "--batch", str(batch)] + self.reference_runtime
        rows = []

        start = time.perf_counter()
        features = self.path(name, "features.vpet")
        run([self.bin + "/vit-extract", "-q", "-m", model, "-d", listing, "-b", str(batch),
             "--feature", "cls", "-o", features] + self.runtime)
        extract_seconds = time.perf_counter() - start
        reference = json.loads(run(infer))
        rows.append(("vit-extract --feature cls (wall, incl. start-up)",
                     count / extract_seconds, reference["wall_images_per_second"]))

        report = json.loads(run([self.bin + "/peft-eval", "-q", "-m", model, "-a", lora,
                                 "-d", listing, "-b", str(batch), "--json"] + self.runtime))
        report = report[0] if isinstance(report, list) else report
        reference = json.loads(run(infer + ["--method", "lora", "--init", lora]))
        rows.append(("peft-eval, LoRA (decode + forward loop)", report["images_per_second"],
                     reference["loop_images_per_second"]))

        # Linear probe: an epoch over the JPEG set. vpet trains on the cached
        # features (the extraction above is paid once); PyTorch either caches
        # them the same way or recomputes the frozen backbone every step.
        epochs = 3
        metrics = self.path(name, "metrics-linear-features.jsonl")
        run([self.bin + "/peft-train", "-q", "--features", features, "--method", "linear",
             "-b", str(batch), "--epochs", str(epochs), "--metrics", metrics,
             "-o", self.path(name, "linear-features.vpet")] + self.runtime)
        with open(metrics) as f:
            steps = [json.loads(line) for line in f if '"step"' in line]
        vpet_epoch = sum(batch / s["images_per_second"] for s in steps) / epochs
        pipeline = [PYTHON, os.path.join(HERE, "reference.py"), "--model", model,
                    "--data", listing, "--method", "linear", "--batch", str(batch),
                    "--warmup", "0", "--steps", str(epochs * -(-count // batch))]
        cached = json.loads(run(pipeline + self.reference_runtime))
        recomputed = json.loads(run(pipeline + self.reference_runtime + ["--recompute"]))
        print(f"\n{name} extras: {count} JPEGs of {side}x{side} resized to {scale['img']}, "
              f"batch {batch}")
        print("| pipeline | vpet images/s | Pillow + PyTorch images/s | ratio |")
        print("|---|---:|---:|---:|")
        for what, vpet, pytorch in rows:
            print(f"| {what} | {vpet:.1f} | {pytorch:.1f} | {vpet / pytorch:.2f} |")
        print("| linear probe, seconds per epoch | vpet cached "
              f"{vpet_epoch:.3f} (+ {extract_seconds:.2f} once to extract) | PyTorch cached "
              f"{count / cached['images_per_second']:.3f}, recomputing "
              f"{count / recomputed['images_per_second']:.3f} | |", flush=True)


def write_images(folder, count, side, extension, listing):
    """count noisy images of side×side in 10 colour classes, and a list file."""
    run([PYTHON, "-c", """
import os, sys
import numpy as np
from PIL import Image
folder, count, side, extension, listing = sys.argv[1:]
count, side = int(count), int(side)
os.makedirs(folder, exist_ok=True)
rng = np.random.default_rng(0)
with open(listing, "w") as out:
    for i in range(count):
        label = i % 10
        base = np.array([(label * 37 + k * 91) % 200 for k in range(3)], np.uint8)
        pixels = base + rng.integers(0, 56, (side, side, 3), dtype=np.uint8)
        path = os.path.join(folder, f"{i}.{extension}")
        Image.fromarray(pixels).save(path, quality=90) if extension == "jpg" else \\
            Image.fromarray(pixels).save(path)
        out.write(f"{os.path.abspath(path)} {label}\\n")
""", folder, str(count), str(side), extension, listing])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scales", default="small,vits",
                        help="comma list of " + ",".join(SCALES))
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--precision", default="",
                        help="fp32 or bf16, passed to both (default: neither is told)")
    parser.add_argument("--batch", type=int)
    parser.add_argument("--steps", type=int, help="timed steps per run")
    parser.add_argument("--warmup", type=int, help="untimed steps first")
    parser.add_argument("--repeats", type=int, help="runs of each, alternating")
    parser.add_argument("--extras", action="store_true",
                        help="also vit-extract, peft-eval and the cached linear probe")
    parser.add_argument("--work", default=os.path.join(tempfile.gettempdir(), "vpet-bench"))
    parser.add_argument("--bin", default=os.environ.get("VPET_BIN",
                                                        os.path.join(HERE, "..", "build", "bin")))
    parser.add_argument("--parity-only", action="store_true",
                        help="only the parity check, on --model and --data")
    parser.add_argument("--model", help="with --parity-only: the model")
    parser.add_argument("--data", help="with --parity-only: the data set (one batch)")
    args = parser.parse_args()
    args.methods = [m for m in args.methods.replace(" ", ",").split(",") if m]
    unknown = set(args.methods) - set(METHODS)
    if unknown:
        parser.error(f"unknown methods {sorted(unknown)} (known: {','.join(METHODS)})")
    os.makedirs(args.work, exist_ok=True)
    bench = Bench(args)
    if args.parity_only:
        if not (args.model and args.data and args.batch):
            parser.error("--parity-only needs --model, --data and --batch")
        plan = None
        if "spt-lora" in args.methods:
            plan = bench.plan("parity", args.model, args.data,
                              {"batch": args.batch, "budget": "2k"})
        failed = [m for m in args.methods
                  if not bench.parity("parity", m, args.model, args.data, args.batch, plan)[2]]
    else:
        failed = []
        for name in args.scales.replace(" ", ",").split(","):
            if name:
                if name not in SCALES:
                    parser.error(f"unknown scale '{name}' (known: {','.join(SCALES)})")
                failed += [f"{name}/{m}" for m in bench.scale(name)]
    if failed:
        sys.exit(f"bench: PARITY FAILED for {', '.join(failed)}: vpet and the PyTorch reference "
                 "do not compute the same loss")


if __name__ == "__main__":
    main()
