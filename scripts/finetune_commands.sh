#!/usr/bin/env bash
# Run every command of the README's "Fine-tune on SCARED" on a tiny synthetic SCARED tree with seeded random
# weights in the official depth_anything_v2_vits.pth layout (sizes and lengths shrunk): bash scripts/finetune_commands.sh DIR
set -euo pipefail
DIR=${1:?usage: finetune_commands.sh DIR}
REPO=$(cd "$(dirname "$0")/.." && pwd)
BIN=${BIN:-$REPO/.venv/bin}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
TORCHRUN=("$BIN/torchrun")
[ -x "$BIN/torchrun" ] || TORCHRUN=("$BIN/python" -m torch.distributed.run)  # the same launcher
mkdir -p "$DIR/splits/endovis" && cd "$DIR"
for k in 1 2; do "$BIN/endodepth" synth SCARED --frames 6 --size 160x128 --seed $((20 + k)) --scene random --keyframe $k >/dev/null; done
printf 'dataset1/keyframe1\t%d\tl\n' 1 2 3 4 5 6 > splits/endovis/train_files.txt
printf 'dataset1/keyframe2\t%d\tl\n' 1 2 3 4 5 6 > splits/endovis/val_files.txt
printf 'dataset1/keyframe2\t%d\tl\n' 2 4 > splits/endovis/test_files.txt
"$BIN/python" - "$REPO" <<'EOF'
import json, sys, torch
sys.path.insert(0, f"{sys.argv[1]}/tests/models")
from test_depth_anything_parity import DATA, seeded_state_dict
torch.save(seeded_state_dict(json.loads((DATA / "official_keys.json").read_text())), "depth_anything_v2_vits.pth")
EOF
TINY=(--steps 2 --batch-size 2 --size 160x128 --val-every 1)
SS=(--objective self-supervised --source SCARED --split-dir splits/endovis --model depth-anything-v2-vits)
set -x
"$BIN/endodepth" train stage1.safetensors "${SS[@]}" --weights depth_anything_v2_vits.pth \
    --adapters attention,mlp,conv --rank 4 --alpha 4 --convention endodac --appearance-flow --learn-intrinsics \
    --stereo-weight 0 --short-side 70 --lr 1e-4 "${TINY[@]}"
"$BIN/endodepth" train stage2.safetensors "${SS[@]}" --weights stage1.safetensors --stage 2 --galore-rank 32 \
    --update-proj-gap 200 --galore-scale 0.25 --convention endodac --appearance-flow --learn-intrinsics \
    --stereo-weight 0 --lr 1e-5 "${TINY[@]}"
"$BIN/endodepth" train stereo.safetensors "${SS[@]}" --weights depth_anything_v2_vits.pth \
    --adapters attention,mlp,conv --convention endodac --stereo-weight 1 --short-side 70 "${TINY[@]}"
"${TORCHRUN[@]}" --standalone --nproc_per_node=2 -m endodepth train stage1.safetensors "${SS[@]}" \
    --weights depth_anything_v2_vits.pth --adapters attention,mlp,conv --convention endodac --appearance-flow \
    --learn-intrinsics --stereo-weight 0 --short-side 70 --device cpu --steps 2 --batch-size 2 --size 160x128 --val-every 1
"$BIN/endodepth" train stage1.safetensors "${SS[@]}" --weights depth_anything_v2_vits.pth \
    --adapters attention,mlp,conv --convention endodac --appearance-flow --learn-intrinsics --stereo-weight 0 \
    --short-side 70 --steps 3 --batch-size 2 --size 160x128 --val-every 1 --resume
"$BIN/endodepth" train student.safetensors --objective distill --source SCARED --split-dir splits/endovis \
    --teacher stage2.safetensors --teacher-samples 8 --model default "${TINY[@]}"
HEADLESS=()  # no display: a virtual X server (the window needs OpenGL)
[ -n "${DISPLAY:-}" ] || HEADLESS=(xvfb-run -a -s "-screen 0 1280x1024x24")
XDG_CONFIG_HOME=$(mktemp -d) "${HEADLESS[@]}" "$BIN/endodepth-gui" SCARED --model stage2.safetensors \
    --quit-after 2 --screenshot gui.png
"$BIN/endodepth" eval SCARED --split splits/endovis/test_files.txt --model stage2.safetensors --model student.safetensors
