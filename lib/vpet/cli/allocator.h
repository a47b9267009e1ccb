// How the programs' heap treats freed memory.
//
// A training step allocates its activations and frees them all at its end.
// glibc's malloc then gives the now free top of the heap back to the system
// (its trim threshold adapts to only twice the largest block freed), so the
// next step faults the same pages in again, zeroed by the kernel: at the
// benchmark's small scale, 14,000 page faults and about 40% of a step's CPU
// time (bench/README.md). A Python process does not pay it: its own objects
// sit above the tensors on the heap and pin the top.
//
// For the programs that run the model batch after batch on same-shaped
// batches (peft-train, vit-extract, peft-eval). prompt-init-proto, whose
// k-means allocates differently sized blocks record after record, keeps its
// memory flat only with glibc's adaptive thresholds: with these its RSS
// crept up by fragments.
#pragma once

namespace vpet::cli {

// Keeps freed heap memory for reuse instead of returning it, and serves
// blocks up to 32 MiB (glibc's largest mmap threshold) from the heap; larger
// ones are still mapped and unmapped. Peak memory is unchanged: what is kept
// was in use at the peak. No-op without glibc.
void keep_freed_memory();

}  // namespace vpet::cli
