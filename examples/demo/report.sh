#!/usr/bin/env bash
# The demo's table from its per-row reports OUT/<row>.json (peft-eval's
# report plus the bundle's training summary): OUT/results.tsv (printed by
# the Makefile), OUT/results.json, and OUT/results.png, top-1 against
# trainable parameters on a log scale, the classic PEFT figure. Parameters
# leave the head out; "% of backbone" is of the backbone's own parameters.
#
#   examples/demo/report.sh OUT ROW...
set -euo pipefail

out=${1:?usage: report.sh OUT ROW...}
shift
reports=()
for row in "$@"; do reports+=("$out/$row.json"); done

jq -s '[.[] | {method: .row, top1, params: .params_trainable, percent: .params_percent,
               train_seconds: .training.seconds, peak_mib: (.training.peak_rss_bytes / 1048576),
               val_top1: .training.final_val_top1, test_images: .n}]' "${reports[@]}" \
  >"$out/results.json.tmp"
jq -r '.[] | [.method, .top1, .params, .percent, .train_seconds, .peak_mib, .val_top1 // "-"] | @tsv' \
  "$out/results.json.tmp" |
  awk -F '\t' -v OFS='\t' '
    BEGIN { print "method", "top-1 %", "trainable (no head)", "% of backbone", "train s",
                  "train peak MiB", "val top-1 %" }
    { print $1, sprintf("%.2f", $2), $3, sprintf("%.3f", $4), sprintf("%.1f", $5),
            sprintf("%.0f", $6), $7 == "-" ? "-" : sprintf("%.1f", $7) }' >"$out/results.tsv.tmp"

# The figure: every row with trainable parameters as a labelled point; the
# linear probe (none) as a horizontal line.
# The figure: every row with trainable parameters as a labelled point (labels
# alternate sides, so that neighbours stay readable); the linear probe (none)
# as a horizontal line.
jq -r 'to_entries[] | select(.value.params > 0) | [.value.params, .value.top1, .value.method, .key]
       | @tsv' "$out/results.json.tmp" >"$out/results.dat"
linear=$(jq -r '[.[] | select(.params == 0) | .top1][0] // empty' "$out/results.json.tmp")
lowest=$(jq -r '[.[] | .top1] | min' "$out/results.json.tmp")
gnuplot <<GNUPLOT
set terminal pngcairo size 900,600 font ",10"
set output "$out/results.png.tmp"
set title "Fashion-MNIST 5-9 from 1,000 images: top-1 against trainable parameters"
set xlabel "trainable parameters, head excluded (log scale)"
set ylabel "test top-1 (%)"
set logscale x
set format x "%.0s%c"
set yrange [$lowest - 2:*]
set offsets graph 0.05, graph 0.12, graph 0.05, 0
set grid
set datafile separator "\t"
$( [ -n "$linear" ] && echo "set arrow from graph 0, first $linear to graph 1, first $linear nohead dt 2 lc rgb 'gray40'" )
$( [ -n "$linear" ] && echo "set label 'linear probe (head only)' at graph 0.01, first $linear offset 0,0.6 tc rgb 'gray40'" )
plot "$out/results.dat" using 1:2 with points pt 7 ps 1.3 lc rgb "#1f77b4" notitle, \
     "" using 1:2:(int(\$4) % 2 ? "" : stringcolumn(3)) with labels offset 1,0 left font ",9" notitle, \
     "" using 1:2:(int(\$4) % 2 ? stringcolumn(3) : "") with labels offset -1,0 right font ",9" notitle
GNUPLOT
rm "$out/results.dat"
mv "$out/results.json.tmp" "$out/results.json"
mv "$out/results.png.tmp" "$out/results.png"
mv "$out/results.tsv.tmp" "$out/results.tsv"
