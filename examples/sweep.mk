# What every sweep Makefile (vtab1k/, fgvc/) shares: one result file
# OUT/<task>/<method>-s<seed>.json per run, each a file target, and a table
# of them. The including Makefile sets TASKS, METHODS, SEEDS and OUT, the
# rules that make each run's .json, and TABLE_GROUPS (vpet-report's --group
# options, or --no-groups).
#
# LAUNCH prefixes every training, evaluation and extraction (not the cheap
# vpet-info and vpet-report), so that `make -j 64 LAUNCH="srun -n1 -c4
# --quit-on-interrupt"` spreads a sweep over a Slurm cluster, with OUT on a
# shared filesystem. Every output is written atomically and each run is a file
# target, so an interrupted sweep continues where it stopped: make redoes only
# what has no output yet. A pipeline's stages are launched one by one.
LAUNCH ?=

.PHONY: all runs table
.DELETE_ON_ERROR:
.SECONDARY:
SHELL := /bin/bash
.SHELLFLAGS := -eo pipefail -c

all: table

RESULTS := $(foreach t,$(TASKS),$(foreach m,$(METHODS),$(foreach s,$(SEEDS),$(OUT)/$(t)/$(m)-s$(s).json)))
runs: $(RESULTS)

table: $(OUT)/table.tsv
	@column -t -s "$$(printf '\t')" $<

# The runs' result files, one a line, in sweep order (task, method, seed):
# what examples/slurm/ spreads over a job array.
.PHONY: print-run-targets
print-run-targets:
	@printf '%s\n' $(RESULTS)

comma := ,
empty :=
space := $(empty) $(empty)
comma_list = $(subst $(space),$(comma),$(strip $(1)))
# vpet-report names each run by its path; rows and columns in the sweep's order.
REPORT := $(BIN)/vpet-report -q --name-pattern '{task}/{method}-s{seed}.json' \
  --methods $(call comma_list,$(METHODS)) --tasks $(call comma_list,$(TASKS)) $(TABLE_GROUPS)

# The table (mean ± std over seeds), and in Markdown and LaTeX.
$(OUT)/table.tsv: $(RESULTS)
	$(REPORT) -f tsv $(RESULTS) -o $@
$(OUT)/table.md: $(RESULTS)
	$(REPORT) -f markdown $(RESULTS) -o $@
$(OUT)/table.tex: $(RESULTS)
	$(REPORT) -f latex $(RESULTS) -o $@

# The figure: the overall mean against trainable parameters (make figure).
.PHONY: figure
figure: $(OUT)/params.png $(OUT)/params.svg
$(OUT)/params.png $(OUT)/params.svg &: $(RESULTS)
	$(REPORT) $(RESULTS) -o /dev/null --plot-params $(OUT)/params.png --plot-params $(OUT)/params.svg
