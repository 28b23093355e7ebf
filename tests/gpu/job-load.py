"""The job of tests/gpu/gpu-job-check.sh on a real GPU: reads GPU 0's NVML energy counter
(through nvidia-ml-py, independently of energy-assess) first thing, idles IDLE_S seconds, runs
bf16 matrix products for LOAD_S seconds, idles IDLE_S again, and reads the counter last. The
counter readings and their times go to --counters, as the reference for the record's energy."""
import argparse
import json
import time

import pynvml

p = argparse.ArgumentParser()
p.add_argument("--idle-s", type=float, default=5)
p.add_argument("--load-s", type=float, default=30)
p.add_argument("--counters", required=True)
a = p.parse_args()

pynvml.nvmlInit()
gpu = pynvml.nvmlDeviceGetHandleByIndex(0)
first = (time.time(), pynvml.nvmlDeviceGetTotalEnergyConsumption(gpu))

import torch  # noqa: E402  (after the first reading: the import takes seconds)

size = 8192
x = torch.randn(size, size, device="cuda:0", dtype=torch.bfloat16)
y = torch.randn(size, size, device="cuda:0", dtype=torch.bfloat16)
torch.cuda.synchronize()
time.sleep(a.idle_s)
load_start = time.time()
products = 0
while time.time() < load_start + a.load_s:
    for _ in range(20):
        torch.mm(x, y)
    torch.cuda.synchronize()
    products += 20
load_end = time.time()
time.sleep(a.idle_s)
last = (time.time(), pynvml.nvmlDeviceGetTotalEnergyConsumption(gpu))
json.dump(
    {
        "uuid": pynvml.nvmlDeviceGetUUID(gpu),
        "name": pynvml.nvmlDeviceGetName(gpu),
        "first": {"unix_s": first[0], "counter_mj": first[1]},
        "last": {"unix_s": last[0], "counter_mj": last[1]},
        "energy_j": (last[1] - first[1]) / 1000.0,
        "load": {"start": load_start, "end": load_end, "products": products},
    },
    open(a.counters, "w"),
    indent=1,
)
print(f"job-load: {products} products of {size}x{size} bf16 in {load_end - load_start:.1f} s; "
      f"NVML counter: {(last[1] - first[1]) / 1000.0:.1f} J over {last[0] - first[0]:.1f} s")
