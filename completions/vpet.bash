# bash completion for the vpet programs.
# Install: copy to /usr/share/bash-completion/completions/ (one link per program)
# or `source completions/vpet.bash`.

_vpet_complete() {
  local cur prev words cword
  _init_completion || return

  local program=${words[0]##*/}
  local options
  case "$program" in
    vit-extract)
      options="-m --model --heads -d --data --labels --classes --per-class --limit --seed
        --skip-bad --img-size --resize --crop-fraction --interp --norm --mean --std
        --feature --layers -b --batch -o --output -t --threads --device -q --quiet
        -h --help --version"
      ;;
    vpet-info)
      options="--json --records -q --quiet -h --help --version"
      ;;
    *) return ;;
  esac

  case "$prev" in
    -m|--model) _filedir safetensors; return ;;
    -d|--data) _filedir; return ;;
    --labels|-o|--output) _filedir; return ;;
    --resize) COMPREPLY=($(compgen -W "squash crop" -- "$cur")); return ;;
    --interp) COMPREPLY=($(compgen -W "bilinear bicubic" -- "$cur")); return ;;
    --norm) COMPREPLY=($(compgen -W "imagenet inception clip none" -- "$cur")); return ;;
    --feature) COMPREPLY=($(compgen -W "cls mean tokens logits" -- "$cur")); return ;;
    --layers) COMPREPLY=($(compgen -W "all" -- "$cur")); return ;;
    --device) COMPREPLY=($(compgen -W "cpu cuda" -- "$cur")); return ;;
    --heads|--classes|--per-class|--limit|--seed|--img-size|--crop-fraction|--mean|--std|\
    -b|--batch|-t|--threads) return ;;
  esac

  if [[ "$cur" == -* ]]; then
    COMPREPLY=($(compgen -W "$options" -- "$cur"))
  else
    _filedir
  fi
}
complete -F _vpet_complete vit-extract vpet-info
