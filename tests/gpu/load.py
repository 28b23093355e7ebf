"""GPU load for tests/gpu/real-nvml-check.sh: idle until T0 + idle_s, then bf16 matrix
products on every visible GPU for load_s seconds. Writes `load_start <unix s>` and
`load_end <unix s>` to the phases file so the meter can split idle and load."""
import argparse
import time

p = argparse.ArgumentParser()
p.add_argument("--t0", type=float, required=True, help="unix time the check started")
p.add_argument("--idle-s", type=float, default=12)
p.add_argument("--load-s", type=float, default=60)
p.add_argument("--phases", required=True)
a = p.parse_args()

import torch  # noqa: E402  (imported after parsing: the import takes seconds)

n = torch.cuda.device_count()
assert n > 0, "no CUDA device"
size = 8192
mats = []
for d in range(n):
    x = torch.randn(size, size, device=f"cuda:{d}", dtype=torch.bfloat16)
    y = torch.randn(size, size, device=f"cuda:{d}", dtype=torch.bfloat16)
    mats.append((x, y))
torch.cuda.synchronize()
start = a.t0 + a.idle_s
time.sleep(max(0.0, start - time.time()))
with open(a.phases, "a") as f:
    f.write(f"load_start {time.time():.3f}\n")
end = time.time() + a.load_s
products = 0
while time.time() < end:
    for x, y in mats:
        for _ in range(20):
            torch.mm(x, y)
    for d in range(n):
        torch.cuda.synchronize(d)
    products += 20 * n
with open(a.phases, "a") as f:
    f.write(f"load_end {time.time():.3f}\n")
tflops = products * 2 * size**3 / a.load_s / 1e12
print(f"load: {n} GPU(s), {products} products of {size}x{size} bf16 in {a.load_s:.0f} s, ~{tflops:.0f} TFLOP/s in total")
