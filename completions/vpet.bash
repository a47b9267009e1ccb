# bash completion for the vpet programs.
# Install: copy to /usr/share/bash-completion/completions/ (one link per program)
# or `source completions/vpet.bash`.

_vpet_complete() {
  local cur prev words cword
  # ':' does not break words here, so that phantom:K and cuda:N complete whole.
  _init_completion -n : || return

  local program=${words[0]##*/}
  local options
  case "$program" in
    vit-extract)
      options="-m --model --heads --checkpoint-grid --act --pool -a --adapter -d --data --labels --root --classes --per-class --limit --seed
        --skip-bad --max-image-pixels --img-size --resize --crop-fraction --interp --norm --mean --std
        --augment --train-resize --random-crop --rrc-scale --rrc-ratio --hflip --epoch
        --feature --layers --shard -b --batch -o --output -t --threads --device --precision -q --quiet
        -h --help --version"
      ;;
    vpet-info)
      options="--json --records -q --quiet -h --help --version"
      ;;
    spt-sensitivity)
      options="-m --model --heads --checkpoint-grid --act --pool -d --data --labels --root --classes --per-class --limit --seed
        --skip-bad --max-image-pixels -b --batch --img-size --resize --crop-fraction --interp --norm --mean --std
        --budget --structured --rank --alpha --beta --batches --head --drop-path --tau-step --scores
        -o --output -t --threads --device -q --quiet -h --help --version"
      ;;
    prompt-init-proto)
      options="--input --method --prompts --windows --deep --shallow --seed --sample-frac --max-tokens
        --iters --tol --minibatch -o --output -t --threads --device -q --quiet -h --help
        --version"
      ;;
    peft-train)
      options="-m --model --heads --checkpoint-grid --act --pool -d --data --val --val-per-class --test --features --labels --root --classes
        --per-class --limit --seed --skip-bad --max-image-pixels -b --batch --img-size --resize --crop-fraction --interp --norm
        --mean --std --augment --train-resize --random-crop --rrc-scale --rrc-ratio --hflip
        --mixup --cutmix --mixup-prob --method --recipe --print-settings --prompts --prompt-dropout --init-prompts --prompts-in-pool --rank --alpha
        --lora-scale --lora-dropout --targets --layers --bottleneck --adapter-style --adapter-scale --memory
        --memory-mode --extends --memory-norm --plan --budget --module-dropout --module-drop-path
        --lion-input --lion-output --lion-output-from --lion-channels --lion-token-width --lion-width
        --lion-activation --lion-contraction --lion-lipschitz --lion-groupnorm --lion-solver
        --lion-tol --lion-max-iter --lion-grad --lion-tau --lion-backward-tol
        --lion-backward-max-iter --lion-prune-reg --lion-prune-sparsity --pgn-prompts
        --pgn-library --pgn-fixed --pgn-input-size --mask --rewind-from
        --epochs --lr --wd --wd-head --wd-prompts --lr-ratio-b --optimizer
        --momentum --warmup --warmup-lr --schedule --min-lr --schedule-unit --schedule-lag
        --head-init --head-bias --label-smoothing --drop-path --grad-clip --nan --eval-every --keep
        --metrics --checkpoint --resume -o --output --export-backbone -t --threads --device
        --precision -q --quiet -v --verbose -h --help --version"
      ;;
    lion-prune)
      options="-i --input --sparsity --scope -o --output -q --quiet -h --help --version"
      ;;
    pgn-invert)
      options="-m --model --heads --checkpoint-grid --act --pool -i --input --rgb8 -o --output -t --threads --device -q --quiet
        -h --help --version"
      ;;
    peft-eval)
      options="-m --model --heads --checkpoint-grid --act --pool -a --adapter --original -d --data --labels --root --classes --per-class --limit
        --seed --skip-bad --max-image-pixels -b --batch --img-size --resize --crop-fraction --interp --norm --mean
        --std --json --confusion --predictions --format --top-k --logits -t --threads --device --precision -q --quiet -h --help
        --version"
      ;;
    peft-export)
      options="-m --model --heads --checkpoint-grid --act --pool -a --adapter --merge --layout --peft --from-peft
        --img-size --resize --crop-fraction --interp --norm --mean --std -o --output -q --quiet
        -h --help --version"
      ;;
    vpet-report)
      options="--name-pattern -f --format --metric --digits --methods --tasks --group --no-groups
        --with-head --column --plot-params --plot-curves -o --output -q --quiet -h --help --version"
      ;;
    *) return ;;
  esac

  case "$prev" in
    -m|--model) _filedir safetensors; return ;;
    -d|--data) _filedir; return ;;
    --labels|-o|--output|--predictions) _filedir; return ;;
    -f|--format)
      if [[ "$program" == vpet-report ]]; then
        COMPREPLY=($(compgen -W "text markdown latex tsv" -- "$cur"))
      else
        COMPREPLY=($(compgen -W "vpet tsv" -- "$cur"))
      fi
      return ;;
    --metric) COMPREPLY=($(compgen -W "top1 top5" -- "$cur")); return ;;
    --plot-params|--plot-curves) _filedir; return ;;
    --name-pattern|--digits|--methods|--tasks|--group|--column) return ;;
    --root) _filedir -d; return ;;
    --val|--test|--features|--init-prompts|--metrics|--checkpoint|--resume|--input|--export-backbone)
      _filedir; return ;;
    -i|--mask|--rewind-from) _filedir; return ;;
    --plan|--scores) _filedir; return ;;
    --peft|--from-peft) _filedir -d; return ;;
    -a|--adapter|--confusion) _filedir; return ;;
    --method)
      if [[ "$program" == prompt-init-proto ]]; then
        COMPREPLY=($(compgen -W "random mean max kmeans" -- "$cur"))
      else
        COMPREPLY=($(compgen -W "linear full bitfit vpt-shallow vpt-deep lora dora ssf adapter head-class memory spt-lora spt-adapter lion pgn" -- "$cur"))
      fi
      return ;;
    --recipe)
      # The recipes peft-train knows (name, then method, benchmark, source).
      COMPREPLY=($(compgen -W "list $("${words[0]}" --recipe list 2>/dev/null | cut -f1)" -- "$cur"))
      return ;;
    --optimizer) COMPREPLY=($(compgen -W "adamw sgd" -- "$cur")); return ;;
    --schedule) COMPREPLY=($(compgen -W "cosine timm-cosine constant" -- "$cur")); return ;;
    --schedule-unit) COMPREPLY=($(compgen -W "iteration epoch" -- "$cur")); return ;;
    --windows) COMPREPLY=($(compgen -W "reference cover" -- "$cur")); return ;;
    --pool) COMPREPLY=($(compgen -W "token avg avg-norm" -- "$cur")); return ;;
    --act) COMPREPLY=($(compgen -W "gelu gelu-tanh quick-gelu" -- "$cur")); return ;;
    --augment) COMPREPLY=($(compgen -W "none crop-flip rrc-flip" -- "$cur")); return ;;
    --head-init)
      COMPREPLY=($(compgen -W "trunc-normal:0.02 trunc-normal:0.01 kaiming-fan-out normal:0.01" -- "$cur"))
      __ltrim_colon_completions "$cur"
      return ;;
    --head-bias) COMPREPLY=($(compgen -W "zero uniform" -- "$cur")); return ;;
    --adapter-style) COMPREPLY=($(compgen -W "sequential parallel parallel-released houlsby" -- "$cur")); return ;;
    --memory-mode) COMPREPLY=($(compgen -W "masked extend unmasked" -- "$cur")); return ;;
    --lora-scale) COMPREPLY=($(compgen -W "standard rs" -- "$cur")); return ;;
    --structured) COMPREPLY=($(compgen -W "lora adapter" -- "$cur")); return ;;
    --scope) COMPREPLY=($(compgen -W "global layer" -- "$cur")); return ;;
    --lion-input) COMPREPLY=($(compgen -W "pixel token none" -- "$cur")); return ;;
    --lion-activation) COMPREPLY=($(compgen -W "tanh relu" -- "$cur")); return ;;
    --lion-contraction) COMPREPLY=($(compgen -W "spectral weight" -- "$cur")); return ;;
    --lion-output-from) COMPREPLY=($(compgen -W "feature image" -- "$cur")); return ;;
    --lion-solver) COMPREPLY=($(compgen -W "anderson broyden fixed" -- "$cur")); return ;;
    --lion-grad)
      COMPREPLY=($(compgen -W "ift phantom:1" -- "$cur"))
      __ltrim_colon_completions "$cur"
      return ;;
    --targets) COMPREPLY=($(compgen -W "q,v q,k,v q,k,v,o,fc1,fc2" -- "$cur")); return ;;
    --epochs|--lr|--wd|--wd-head|--lr-ratio-b|--momentum|--warmup|--warmup-lr|--min-lr|--schedule-lag|\
    --label-smoothing|--mixup|--cutmix|--mixup-prob|--drop-path|--grad-clip|\
    --eval-every|--prompts|--prompt-dropout|--rank|--alpha|--lora-dropout|--bottleneck|\
    --adapter-scale|--memory|--budget|--beta|--batches|--tau-step|--module-dropout|\
    --module-drop-path|--sample-frac|--max-tokens|--iters|--tol|--minibatch|--sparsity|\
    --lion-channels|--lion-token-width|--lion-width|--lion-lipschitz|--lion-tol|\
    --lion-max-iter|--lion-tau|--lion-backward-tol|--lion-backward-max-iter|--lion-prune-reg|\
    --lion-prune-sparsity|--pgn-prompts|--pgn-library|--pgn-input-size) return ;;
    --resize) COMPREPLY=($(compgen -W "squash crop" -- "$cur")); return ;;
    --interp) COMPREPLY=($(compgen -W "bilinear bicubic" -- "$cur")); return ;;
    --nan) COMPREPLY=($(compgen -W "stop skip-step" -- "$cur")); return ;;
    --keep) COMPREPLY=($(compgen -W "last best-val best-test" -- "$cur")); return ;;
    --norm) COMPREPLY=($(compgen -W "imagenet inception clip none" -- "$cur")); return ;;
    --feature) COMPREPLY=($(compgen -W "cls mean tokens logits pixels" -- "$cur")); return ;;
    --layers) COMPREPLY=($(compgen -W "all" -- "$cur")); return ;;
    --device) COMPREPLY=($(compgen -W "cpu cuda" -- "$cur")); return ;;
    --precision) COMPREPLY=($(compgen -W "fp32 bf16" -- "$cur")); return ;;
    --layout) COMPREPLY=($(compgen -W "timm torchvision hf" -- "$cur")); return ;;
    --heads|--checkpoint-grid|--classes|--per-class|--val-per-class|--limit|--seed|--img-size|--crop-fraction|--mean|--std|\
    -b|--batch|-t|--threads|--top-k) return ;;
  esac

  if [[ "$cur" == -* ]]; then
    COMPREPLY=($(compgen -W "$options" -- "$cur"))
  else
    _filedir
  fi
}
complete -F _vpet_complete vit-extract vpet-info peft-train peft-eval spt-sensitivity \
  prompt-init-proto lion-prune pgn-invert peft-export vpet-report
