#!/usr/bin/env bats
# Every program's options are documented where users look: man page and completions.

load helpers

PROGRAMS=(vit-extract vpet-info peft-train peft-eval spt-sensitivity prompt-init-proto lion-prune pgn-invert
  peft-export vpet-report)

long_options() {
  "$BIN/$1" --help | grep -oE -- '--[a-z][a-z0-9-]+' | sort -u
}

@test "each program has a man page that renders" {
  for p in "${PROGRAMS[@]}" ; do
    [ -f "$BATS_TEST_DIRNAME/../../man/$p.1" ]
    run man -l "$BATS_TEST_DIRNAME/../../man/$p.1"
    assert_success
  done
  for page in vpet.7 vpet-format.5; do
    [ -f "$BATS_TEST_DIRNAME/../../man/$page" ]
  done
}

@test "every --help option is in the man page and both completions" {
  for p in "${PROGRAMS[@]}"; do
    for option in $(long_options "$p"); do
      grep -q -- "${option//-/\\\\-}" "$BATS_TEST_DIRNAME/../../man/$p.1" ||
        grep -q -- "$option" "$BATS_TEST_DIRNAME/../../man/$p.1" ||
        fail "$p: $option missing from man/$p.1"
      grep -q -- "$option" "$BATS_TEST_DIRNAME/../../completions/vpet.bash" ||
        fail "$p: $option missing from completions/vpet.bash"
      grep -q -- "$option" "$BATS_TEST_DIRNAME/../../completions/_vpet" ||
        fail "$p: $option missing from completions/_vpet"
    done
  done
}

@test "the bash completion completes options and values" {
  source /usr/share/bash-completion/bash_completion 2>/dev/null || skip "bash-completion not installed"
  source "$BATS_TEST_DIRNAME/../../completions/vpet.bash"
  COMP_WORDS=(vit-extract --feat); COMP_CWORD=1; COMP_LINE="vit-extract --feat"; COMP_POINT=${#COMP_LINE}
  _vpet_complete
  [ "${COMPREPLY[*]}" = "--feature" ]
  COMP_WORDS=(vit-extract --feature t); COMP_CWORD=2; COMP_LINE="vit-extract --feature t"; COMP_POINT=${#COMP_LINE}
  _vpet_complete
  [ "${COMPREPLY[*]}" = "tokens" ]
  COMP_WORDS=(prompt-init-proto --method k); COMP_CWORD=2; COMP_LINE="prompt-init-proto --method k"; COMP_POINT=${#COMP_LINE}
  _vpet_complete
  [ "${COMPREPLY[*]}" = "kmeans" ]
  COMP_WORDS=(peft-train --method vpt-d); COMP_CWORD=2; COMP_LINE="peft-train --method vpt-d"; COMP_POINT=${#COMP_LINE}
  _vpet_complete
  [ "${COMPREPLY[*]}" = "vpt-deep" ]
}

@test "the zsh completion parses" {
  command -v zsh >/dev/null || skip "zsh not installed"
  run zsh -n "$BATS_TEST_DIRNAME/../../completions/_vpet"
  assert_success
}

@test "the README shows a pipeline and the test command" {
  grep -q "make test" "$BATS_TEST_DIRNAME/../../README.md"
  grep -q "vit-extract .*| *build/bin/vpet-info -\|vpet-info -" "$BATS_TEST_DIRNAME/../../README.md"
}

@test "vpet-format(5) lists the kinds the programs write, and no other" {
  local kinds
  kinds=$(sed -n '/^\.SH KINDS/,/^\.SH /p' "$BATS_TEST_DIRNAME/../../man/vpet-format.5" |
    awk 'previous == ".TP" && /^\.B / { print $2 } { previous = $0 }' | sort | tr '\n' ' ')
  assert_equal "$kinds" "adapter checkpoint features pixel-prompts plan predictions prompts tokens "
}

@test "man pages: --device and --precision each say what they take" {
  for p in vit-extract peft-eval; do
    run env MANWIDTH=200 man -l "$BATS_TEST_DIRNAME/../../man/$p.1"
    assert_success
    assert_output --regexp $'--device DEV\n +cpu \\(default\\), cuda or cuda:N'
    assert_output --regexp $'--precision P\n +Precision of the forward pass: fp32 \\(default\\) or bf16'
  done
}

# The registry's method options (each method's own file declares them) as
# peft-train --help groups them: "--flag" or "--flag a|b|c" where the value
# is one of a set.
registry_options() {
  "$BIN/peft-train" --help | awk '
    /^ Per-method options:/ { on = 1; next }
    /^ [A-Z][A-Za-z -]* options:$/ { on = 0 }
    on && /^  (-[a-z], |    )--[a-z]/ {
      sub(/^ +(-[a-z], )?/, ""); split($0, word, / +/); arg = word[2]
      if (arg ~ /^\[/ || arg !~ /\|/) arg = ""
      print word[1], arg
    }'
}

@test "the man page and both completions list exactly the registry's method options" {
  local man=$BATS_TEST_DIRNAME/../../man/peft-train.1
  local bash_completion=$BATS_TEST_DIRNAME/../../completions/vpet.bash
  local zsh_completion=$BATS_TEST_DIRNAME/../../completions/_vpet
  registry=$(registry_options)
  [ "$(printf '%s\n' "$registry" | wc -l)" -gt 30 ] || fail "no Per-method options in --help"
  # The man page's "Per-method options" subsection: the same set, no more.
  documented=$(awk '/^\.SS "Per-method options"/ { on = 1; next } /^\.S[SH] / { on = 0 }
    on && prev == ".TP" { if (match($0, /\\-\\-[a-z][a-z0-9\\-]*/)) print substr($0, RSTART, RLENGTH) }
    { prev = $0 }' "$man" | sed 's/\\-/-/g' | sort)
  [ "$documented" = "$(printf '%s\n' "$registry" | cut -d' ' -f1 | sort)" ] ||
    fail "man/peft-train.1 Per-method options differ: $(diff <(echo "$documented") \
      <(printf '%s\n' "$registry" | cut -d' ' -f1 | sort))"
  bash_list=$(sed -n '/^    peft-train)/,/;;/p' "$bash_completion")
  zsh_block=$(sed -n '/^  peft-train)/,/;;/p' "$zsh_completion")
  while read -r option values; do
    grep -qw -- "$option" <<<"$bash_list" || fail "completions/vpet.bash: $option missing"
    grep -q -- "'$option[=\[]" <<<"$zsh_block" || fail "completions/_vpet: $option missing"
    [ -n "$values" ] || continue
    # The values the spec offers, in the bash case and the zsh spec.
    case_line=$(grep -E -- "(^|[ |])$option\)" "$bash_completion") ||
      fail "completions/vpet.bash: no values for $option"
    zsh_line=$(grep -- "'$option\[" <<<"$zsh_block")
    for value in ${values//|/ }; do
      grep -qw -- "$value" <<<"$case_line" || fail "completions/vpet.bash: $option $value missing"
      grep -q -- "[( ]$value[ )]" <<<"$zsh_line" || fail "completions/_vpet: $option $value missing"
    done
  done <<<"$registry"
  # And no option the program does not have.
  help=$(long_options peft-train)
  for option in $(grep -oE -- '--[a-z][a-z0-9-]+' <<<"$bash_list" | sort -u) \
    $(grep -oE -- "'--[a-z][a-z0-9-]+" <<<"$zsh_block" | tr -d "'" | sort -u); do
    grep -qx -- "$option" <<<"$help" || fail "a completion offers $option, which peft-train lacks"
  done
}
