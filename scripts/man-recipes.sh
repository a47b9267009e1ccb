#!/bin/sh
# The RECIPES list of man/peft-train.1, generated from peft-train itself
# (--recipe list, --print-settings), so the man page cites exactly the values
# and sources the program applies.
#   scripts/man-recipes.sh PEFT_TRAIN             print the list (roff)
#   scripts/man-recipes.sh PEFT_TRAIN MANPAGE     replace the list in MANPAGE
# tests/cli/recipes.bats runs the second form on a copy and fails on a diff.
set -eu
peft_train=$1
tab=$(printf '\t')

# Roff: a backslash is \e, an option's dash a minus (\-).
roff() { printf '%s' "$1" | sed -e 's/\\/\\e/g' -e 's/-/\\-/g'; }
text() { printf '%s' "$1" | sed -e 's/\\/\\e/g'; }

list() {
  "$peft_train" --recipe list | while IFS=$tab read -r name method benchmark source; do
    printf '.SS %s\n' "$name"
    printf '\\fB\\-\\-method %s\\fR on %s. %s.\n' "$(roff "$method")" "$(text "$benchmark")" \
      "$(text "$source")"
    "$peft_train" --recipe "$name" --print-settings |
      while IFS=$tab read -r option value origin citation; do
        [ "$option" = --method ] && continue
        printf '.br\n\\fB%s %s\\fR \\(em %s\n' "$(roff "$option")" "$(roff "$value")" \
          "$(text "$citation")"
      done
  done
}

if [ $# -lt 2 ]; then
  list
  exit 0
fi
man_page=$2
generated=$(mktemp)
trap 'rm -f "$generated" "$generated.page"' EXIT
list >"$generated"
awk -v generated="$generated" '
  /^\.\\" BEGIN RECIPES/ { print; while ((getline line < generated) > 0) print line; skip = 1; next }
  /^\.\\" END RECIPES/ { skip = 0 }
  !skip { print }
' "$man_page" >"$generated.page"
cat "$generated.page" >"$man_page"
