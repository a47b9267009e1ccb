#!/usr/bin/env bats
# The progress bar on a terminal (script(1) gives the programs one): one line
# that fits the terminal's width (TIOCGWINSZ, else $COLUMNS), with every log
# message on a line of its own above it, never printed onto it.

load helpers

MODEL=$FIXTURES/vit/a_timm.safetensors

setup() {
  command -v script >/dev/null || skip "script (util-linux) not installed"
  make_colour_task "$BATS_TEST_TMPDIR/train" 8 0
}

# Runs a training of many short epochs (an info line each, the bar redrawn in
# between) on a terminal of COLS columns set with stty (0: none, so that
# $COLUMNS decides), with the environment ENV...; the terminal's output in
# $BATS_TEST_TMPDIR/tty.
on_terminal() {
  local cols=$1
  shift
  script -qfec "stty cols $cols rows 24; env $* '$BIN/peft-train' -m '$MODEL' \
    -d '$BATS_TEST_TMPDIR/train' --method linear --epochs 60 -b 8 -t 1 \
    -o '$BATS_TEST_TMPDIR/a.vpet'" /dev/null >"$BATS_TEST_TMPDIR/tty"
}

# The terminal's screen lines after the carriage returns and erasures, checked:
# the progress lines no wider than $1 - 1 columns, none holding a message, and
# every message on a line of its own.
check_screen() {
  "$PY" - "$BATS_TEST_TMPDIR/tty" "$1" <<'PYTHON'
import re, sys
raw = open(sys.argv[1], "rb").read().decode()
width = int(sys.argv[2])
screen = []
for line in raw.replace("\r\n", "\n").split("\n"):
    # What a terminal shows: \r returns to column 0, ESC[K erases to the end.
    shown, cursor = "", 0
    for part in re.split(r"(\r|\x1b\[K)", line):
        if part == "\r":
            cursor = 0
        elif part == "\x1b[K":
            shown = shown[:cursor]
        elif part:
            shown = shown[:cursor] + part + shown[cursor + len(part):]
            cursor += len(part)
    screen.append(shown)
progress = [l for l in screen if l.startswith("peft-train: training: ")]
assert progress, screen
too_wide = [l for l in progress if len(l) > width - 1]
assert not too_wide, too_wide
mixed = [l for l in progress if "train loss" in l]
assert not mixed, mixed
messages = [l for l in screen if re.fullmatch(r"peft-train: epoch \d+: train loss [0-9.]+", l)]
assert len(messages) == 60, screen
print("ok")
PYTHON
}

@test "the bar fits the terminal's width; messages go above it, whole" {
  on_terminal 60
  run check_screen 60
  assert_success
  assert_output "ok"
}

@test "without a window size, \$COLUMNS gives the width; at most 30 columns of bar" {
  on_terminal 0 COLUMNS=72
  run check_screen 72
  assert_success
  assert_output "ok"
  on_terminal 200
  run "$PY" -c '
import re, sys
bars = re.findall(r"\[([#.]+)\]", open(sys.argv[1]).read())
assert bars and max(map(len, bars)) == 30, bars' "$BATS_TEST_TMPDIR/tty"
  assert_success
}
