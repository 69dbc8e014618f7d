#!/usr/bin/env bash
# GPU smoke check: the same commands as on the CPU, on CUDA with --bf16, on the tiny model (no download).
# On a machine without the pinned libraries, carry them as wheels in .whl/ (see the device tool's README).
# Writes one JSON per step into ${OUT:-/tmp/gpu-smoke}.
set -uo pipefail
OUT=${OUT:-/tmp/gpu-smoke}
mkdir -p "$OUT"
if ls .whl/*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
  export PYTHONPATH=/tmp/site:$PWD
else
  export PYTHONPATH=$PWD
fi
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 ADAPTERX_CACHE=/tmp/axc PYTHONUNBUFFERED=1
ax() { python3 -c "from cli.main import main; main()" "$@"; }
python3 -c "import torch, transformers, adapters, peft; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), torch.cuda.get_device_name(0) if torch.cuda.is_available() else '-', 'transformers', transformers.__version__, 'adapters', adapters.__version__, 'peft', peft.__version__)"
status=0
for m in adapter lora full; do
  for prec in "" "--bf16"; do
    name="stsb-$m${prec:+-bf16}"
    ax train-intermediate stsb --model tiny --method $m --max-steps 60 $prec --output "/tmp/runs/$name" --json -q > "$OUT/$name.json" \
      && python3 -c "import json; d=json.load(open('$OUT/$name.json')); print('$name', 'dev', {k: round(v, 2) for k, v in d['metrics']['dev'].items()}, 'ex/s', d['metrics']['examples_per_s'])" \
      || { echo "FAILED $name"; status=1; }
  done
done
ax train-target tydiqa --model tiny --max-steps 30 --bf16 --langs en,sw,te --output /tmp/runs/tydiqa --json -q > "$OUT/tydiqa.json" \
  && python3 -c "import json; d=json.load(open('$OUT/tydiqa.json')); print('tydiqa', d['metrics']['eval']['tydiqa']['scores'])" || { echo "FAILED tydiqa"; status=1; }
ax stack /tmp/runs/stsb-lora xnli --model tiny --method lora --lora-mode chain --max-steps 20 --langs en,sw --output /tmp/runs/chain --json -q > "$OUT/chain.json" \
  && echo "stack lora chain ok" || { echo "FAILED chain"; status=1; }
ax fuse /tmp/runs/stsb-adapter mnli --target xnli --model tiny --max-steps 20 --intermediate-steps 10 --langs en,sw --output /tmp/runs/fuse --json -q > "$OUT/fuse.json" \
  && echo "fuse ok" || { echo "FAILED fuse"; status=1; }
# Several GPUs: data-parallel training under accelerate launch (NCCL), a command and a recipe cell.
NGPU=$(python3 -c "import torch; print(torch.cuda.device_count())")
if [ "$NGPU" -ge 2 ]; then
  python3 -m accelerate.commands.launch --multi_gpu --num_processes "$NGPU" --num_machines 1 --mixed_precision no \
    --dynamo_backend no -m cli train-target xnli --model tiny --method lora --max-steps 40 --batch-size $((8 * NGPU)) \
    --bf16 --langs en,sw --output /tmp/runs/ddp --json -q > "$OUT/ddp.json" \
    && python3 -c "import json; d=json.load(open('$OUT/ddp.json')); print('ddp', d['run']['distributed'], d['metrics']['eval']['xnli']['scores'])" \
    || { echo "FAILED ddp"; status=1; }
  ax run recipes/smoke-tiny.yaml --run-dir /tmp/runs/grid --set targets=[xnli] --processes-per-cell "$NGPU" --json \
    > "$OUT/grid.json" && echo "grid with $NGPU processes per cell ok" || { echo "FAILED grid"; status=1; }
else
  echo "one GPU: the data-parallel checks need two (they run on CPU in tests/test_distributed.py)"
fi
exit $status
