# What every sweep Makefile (vtab1k/, fgvc/) shares: one result file
# OUT/<task>/<method>-s<seed>.json per run, each a file target, and a table
# of them. The including Makefile sets TASKS, METHODS, SEEDS and OUT, the
# rules that make each run's .json, and the recipe of $(OUT)/table.tsv.

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
