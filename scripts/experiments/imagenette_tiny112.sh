#!/usr/bin/env bash
# The Imagenette experiments of EXPERIMENTS.md, in order (itpn_tiny, 112 px, 2-core CPU). Each step is skipped when
# its output already exists, so the script can be re-run after an interruption (training steps also --resume).
#   DATA=../shared/data/imagenette-224 bash scripts/experiments/imagenette_tiny112.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
DATA=${DATA:-../shared/data/imagenette-224}
R=runs
itpn() { node bin/itpn.js "$@"; }
done_() { [ -f "$1" ]; }

# 1. pixel pre-training, 20 epochs (issue 4)
done_ $R/tiny112-e20/loss.png || itpn pretrain --data $DATA/train --arch itpn_tiny --img-size 112 --batch 64 --epochs 20 \
  --out $R/tiny112-e20 --save-every 100 --viz-every 500 --resume

# 2. linear probe: pre-trained vs random weights (issue 5)
done_ $R/probe-pre/probe_result.json || itpn probe --from $R/tiny112-e20/checkpoint --data $DATA/train --out $R/probe-pre
done_ $R/probe-random/probe_result.json || itpn probe --from scratch --arch itpn_tiny --img-size 112 --data $DATA/train --out $R/probe-random

# 3. fine-tuning, same budget: from scratch vs from the pre-training run (issue 5)
FT="--arch itpn_tiny --img-size 112 --data $DATA/train --epochs 5 --warmup-epochs 1 --batch 64 --lr 1e-3 --resume"
done_ $R/ft-scratch/accuracy.png || itpn finetune --from scratch $FT --layer-decay 1 --out $R/ft-scratch
done_ $R/ft-pre/accuracy.png || itpn finetune --from $R/tiny112-e20/checkpoint $FT --layer-decay 0.75 --out $R/ft-pre

# 4. MFM ablation (issue 6): equal budgets, pixel MIM alone vs pixel MIM + MFM with the 20-epoch run as teacher,
#    both continued from nothing (fresh init), then the same probe
PT="--data $DATA/train --arch itpn_tiny --img-size 112 --batch 64 --epochs 3 --save-every 100 --viz-every 0 --resume"
done_ $R/abl-pixel/loss.png || itpn pretrain $PT --out $R/abl-pixel
done_ $R/abl-mfm/loss.png || itpn pretrain $PT --mfm --teacher $R/tiny112-e20 --out $R/abl-mfm
done_ $R/probe-abl-pixel/probe_result.json || itpn probe --from $R/abl-pixel/checkpoint --data $DATA/train --out $R/probe-abl-pixel
done_ $R/probe-abl-mfm/probe_result.json || itpn probe --from $R/abl-mfm/checkpoint --data $DATA/train --out $R/probe-abl-mfm
FT3="--arch itpn_tiny --img-size 112 --data $DATA/train --epochs 3 --warmup-epochs 1 --batch 64 --lr 1e-3 --layer-decay 0.75 --resume"
done_ $R/ft-abl-pixel/accuracy.png || itpn finetune --from $R/abl-pixel/checkpoint $FT3 --out $R/ft-abl-pixel
done_ $R/ft-abl-mfm/accuracy.png || itpn finetune --from $R/abl-mfm/checkpoint $FT3 --out $R/ft-abl-mfm
