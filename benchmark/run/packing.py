"""How many trial processes share one GPU: the packing policy, a pure function of measurements.

A trial of ResNet-32 at batch 128, or of the small CNN at batch 64, uses a small part of a large GPU:
its kernels are short and the device idles between them. Several trial processes on one device fill
those gaps, up to the point where they compete for the device's compute. The policy takes what the
calibration measured (:mod:`benchmark.run.calibration`) and decides:

1. **Memory** caps the count: each process needs its trial's peak (the caching allocator's reserved
   bytes, the real split's resident data included) times :data:`HEADROOM`, for the methods that hold
   more than the baseline (an over-sampled training set, a generator), plus its own CUDA context
   (:data:`CUDA_CONTEXT`), within :data:`MEMORY_SHARE` of the device's free memory.
2. **Cores** cap it: each process drives its device from the host (Python, kernel launches, the
   sampler's bookkeeping), so there is at most one per CPU core of the machine, divided among its GPUs.
3. **Throughput** chooses within the caps where it was measured: the aggregate samples/s of k
   processes at once, for k = 1, 2, 4, ... up to the caps; the count grows while each next level still
   gains :data:`MIN_GAIN`, and stops at the first that does not (more processes would only share the
   same device time, and each process costs memory and a core).

Without aggregate measurements the memory and core caps decide, and the reason says so. Packing only
changes concurrency: trial k of a study is the same configuration with the same seed whatever the number
of processes (README, "Runs are deterministic"), so results do not depend on it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from benchmark.errors import BenchmarkError

GIB = 1 << 30
CUDA_CONTEXT = GIB // 2  # bytes a process's CUDA context and library handles hold outside the allocator
HEADROOM = 1.5  # a trial's peak times this: room for methods that hold more than the baseline
MEMORY_SHARE = 0.9  # of the device's free memory: the rest stays free for fragmentation and other users
MIN_GAIN = 1.10  # each next concurrency level must raise the aggregate samples/s by this factor to be kept
MAX_MEASURED = 16  # the most processes per device a concurrency measurement tries


@dataclass(frozen=True)
class PackingInputs:
    """What the policy decides from: one trial's peak device memory, the device's free memory, the
    machine's CPU cores and GPUs, and, where measured, the aggregate samples/s of k trials at once."""

    trial_memory: int | None  # bytes one trial holds at its peak (None: not measured)
    free_memory: int | None  # bytes free on the device now (None: not known)
    cores: int
    devices: int = 1  # GPUs of the machine: its cores are shared among them
    aggregate: dict[int, float] = field(default_factory=dict)  # k processes at once -> summed samples/s

    def __post_init__(self) -> None:
        if self.cores < 1 or self.devices < 1:
            raise BenchmarkError(f"packing for {self.cores} core(s) and {self.devices} device(s)",
                                 "give at least one core and one device")
        if any(k < 1 or rate < 0 for k, rate in self.aggregate.items()):
            raise BenchmarkError(f"aggregate measurements {self.aggregate} are invalid",
                                 "give k >= 1 processes and non-negative samples/s")


@dataclass(frozen=True)
class Packing:
    """The decision: trial processes per device, and why."""

    per_device: int
    reason: str
    memory_cap: int | None = None
    core_cap: int | None = None

    def record(self) -> dict[str, object]:
        return {"per_device": self.per_device, "reason": self.reason, "memory_cap": self.memory_cap,
                "core_cap": self.core_cap}


def memory_cap(trial_memory: int | None, free_memory: int | None) -> int | None:
    """Processes whose trials fit in the device's free memory (None when either is unknown)."""
    if trial_memory is None or free_memory is None:
        return None
    need = trial_memory * HEADROOM + CUDA_CONTEXT
    return max(1, int(free_memory * MEMORY_SHARE // need))


def measured_levels(cap: int) -> list[int]:
    """The concurrency levels worth measuring under a cap: 1, 2, 4, ... and the cap itself."""
    cap = max(1, min(cap, MAX_MEASURED))
    levels, k = [], 1
    while k < cap:
        levels.append(k)
        k *= 2
    return [*levels, cap]


def choose_packing(inputs: PackingInputs) -> Packing:
    """Processes per device from the measurements (see the module docstring for the rules)."""
    by_memory = memory_cap(inputs.trial_memory, inputs.free_memory)
    by_cores = max(1, inputs.cores // inputs.devices)
    cap = by_cores if by_memory is None else min(by_memory, by_cores)
    limits = (f"memory allows {by_memory} ({_gib(inputs.trial_memory)} GiB per trial x {HEADROOM:g} + "
              f"{_gib(CUDA_CONTEXT)} GiB context, in {MEMORY_SHARE:.0%} of {_gib(inputs.free_memory)} GiB free)"
              if by_memory is not None else "memory not measured")
    limits += f", cores allow {by_cores} ({inputs.cores} core(s) for {inputs.devices} device(s))"
    measured = sorted((k, rate) for k, rate in inputs.aggregate.items() if k <= cap and rate > 0)
    if not measured:
        return Packing(cap, f"{cap} process(es) per device: {limits}; throughput not measured", by_memory, by_cores)
    best_k, best_rate = measured[0]
    stopped = ""
    for k, rate in measured[1:]:
        if rate < best_rate * MIN_GAIN:
            stopped = f"; {k} at once gave {rate:,.0f} samples/s ({rate / best_rate:.2f}x of {best_k})"
            break
        best_k, best_rate = k, rate
    single = inputs.aggregate.get(1)
    speedup = f", {best_rate / single:.2f}x one trial's {single:,.0f}" if single else ""
    return Packing(best_k, f"{best_k} process(es) per device: {best_rate:,.0f} samples/s measured at once{speedup}"
                           f"{stopped}; {limits}", by_memory, by_cores)


def _gib(value: int | None) -> str:
    return "?" if value is None else f"{value / GIB:.2f}"


__all__ = ["CUDA_CONTEXT", "HEADROOM", "MEMORY_SHARE", "MIN_GAIN", "Packing", "PackingInputs", "choose_packing",
           "measured_levels", "memory_cap"]
