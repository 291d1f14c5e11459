"""Model presets and their fit on GPU instances, against figures worked by hand.

Every expected figure in this file is worked by hand from docs/presets.md ("The fit, for
serving", "The fit, for finetune" and the worked example) and the raw data of presets/models.yaml and
infra/gpu_instances.yaml; the arithmetic is written beside each literal. Only the value under test
comes from presets.catalog / presets.fit: none of their helpers computes an expectation here.

Rules used, as docs/presets.md states them:

  serving, per GPU at tensor-parallel t:
    need   = ceil(weightBytes / t) + kv/token(t) x maxModelLen x concurrency + 2 GiB
    kv/token(t) = 2 x layers x max(1, kvHeads / t) x headDim x 2 bytes
    budget = gpuMemoryMiB x 2^20 x utilisation           (L4: 23034 x 1,048,576 x 0.9)
    t      = the smallest of 1, 2, 4, 8 that is <= the GPUs, divides attentionHeads, divides or
             is a multiple of kvHeads, with need <= budget and a host that fits
  finetune, one GPU: need = weights + adapter + acts + logits + 2 GiB <= gpuMemoryMiB x 2^20 x 0.95
  the host: a pod must fit its share of the node, share = pod GPUs / node GPUs, of
    vCPUs - 0.5, memory x 0.9 - 1 GiB and diskSizeGiB - 40 GiB.

The disk share is what makes multi-GPU sizes differ between a 100 GiB and a 300 GiB disk. A pod's
scratch is ceil(weightBytes / 2^30) + 10 GiB (25 GiB for a 7-8B model). On a 100 GiB disk a
g6.12xlarge/24xlarge (4 GPUs) offers (100 - 40) x t/4 = 15t GiB and a g6.48xlarge (8 GPUs)
(100 - 40) x t/8 = 7.5t GiB, so a one-GPU pod of a 7B model does not fit there though its GPU
memory does: serving moves up to t = 2 or 4, and finetune (always one GPU) does not fit at all.
On a 300 GiB disk the shares are 65t and 32.5t GiB: t = 1 fits everywhere. CPU and memory shares
never bind at these sizes (one-GPU pod: 3 vCPU, 10 GiB; g6.48xlarge at t=1: 191.5/8 = 23.9 vCPU,
(768 x 0.9 - 1)/8 = 86.3 GiB).
"""

import pytest

from presets.catalog import UnknownPreset, find_preset, gpu_instance_catalog, model_presets
from presets.fit import (
    FinetuneSettings,
    PodShape,
    ServingSettings,
    finetune_memory,
    fit_finetune,
    fit_serving,
    kv_cache_bytes_per_token,
    linear_parameters,
    lora_parameters,
    serving_bytes_per_gpu,
    tensor_parallel_sizes,
)

RESERVE = 2_147_483_648  # 2 GiB: CUDA context, activation peak, CUDA graphs
L4_SERVING_BUDGET = 21_737_609_625.6  # 23034 MiB x 1,048,576 x 0.9
L4_TUNING_BUDGET = 22_945_254_604.8  # 23034 MiB x 1,048,576 x 0.95
L40S_SERVING_BUDGET = 43_475_219_251.2  # 46068 MiB x 1,048,576 x 0.9
L40S_TUNING_BUDGET = 45_890_509_209.6  # 46068 MiB x 1,048,576 x 0.95

PRESETS = (
    "deepseek-r1-distill-qwen-1.5b",
    "llama-3-8b-instruct",
    "llama-3.1-8b-instruct",
    "deepseek-r1-distill-llama-8b",
    "mistral-7b-instruct",
    "qwen2.5-7b-instruct",
    "qwen2.5-coder-7b-instruct",
    "phi-3-mini-4k-instruct",
    "phi-3-mini-128k-instruct",
    "phi-4-mini-instruct",
    "gemma-3-4b-it",
)
QWEN = "qwen2.5-7b-instruct"  # docs/presets.md's worked example
TUNABLE = tuple(p for p in PRESETS if p != "gemma-3-4b-it")  # gemma-3-4b-it: finetune: []
G6_SIZES = (
    "g6.xlarge",
    "g6.2xlarge",
    "g6.4xlarge",
    "g6.8xlarge",
    "g6.16xlarge",
    "g6.12xlarge",
    "g6.24xlarge",
    "g6.48xlarge",
)
G6_GPUS = (1, 1, 1, 1, 1, 4, 4, 8)


def preset(name):
    return model_presets()[name]


def instance(name):
    return gpu_instance_catalog()[name]


# --- 1. per-token KV bytes, projection parameters, LoRA parameters --------------------------

# (kv bytes per token at t=1, linear parameters, LoRA r=32 parameters)
#   kv     = 2 x layers x kvHeads x headDim x 2 bytes
#   linear = layers x (2·h·heads·d + 2·h·kvHeads·d + 3·h·intermediate)
#   lora   = 32 x layers x (7·h + 2·heads·d + 2·kvHeads·d + 3·intermediate)
HAND_SHAPES = {
    "deepseek-r1-distill-qwen-1.5b": (
        28_672,  # 2 x 28 layers x 2 kv heads x 128 x 2 bytes
        1_310_195_712,  # 28 x (4,718,592 + 786,432 + 41,287,680) = 28 x 46,792,704
        36_929_536,  # 32 x 28 x (10,752 + 3,072 + 512 + 26,880) = 32 x 28 x 41,216
    ),
    "llama-3-8b-instruct": (
        131_072,  # 2 x 32 layers x 8 kv heads x 128 x 2 bytes
        6_979_321_856,  # 32 x (33,554,432 + 8,388,608 + 176,160,768) = 32 x 218,103,808
        83_886_080,  # 32 x 32 x (28,672 + 8,192 + 2,048 + 43,008) = 32 x 32 x 81,920
    ),
    "llama-3.1-8b-instruct": (
        131_072,  # 2 x 32 x 8 x 128 x 2
        6_979_321_856,  # 32 x 218,103,808 (as llama-3-8b)
        83_886_080,  # 32 x 32 x 81,920
    ),
    "deepseek-r1-distill-llama-8b": (
        131_072,  # 2 x 32 x 8 x 128 x 2
        6_979_321_856,  # 32 x 218,103,808 (Llama 3.1 8B architecture)
        83_886_080,  # 32 x 32 x 81,920
    ),
    "mistral-7b-instruct": (
        131_072,  # 2 x 32 layers x 8 kv heads x 128 x 2 bytes
        6_979_321_856,  # 32 x (33,554,432 + 8,388,608 + 176,160,768): same shape as Llama 3 8B
        83_886_080,  # 32 x 32 x 81,920
    ),
    "qwen2.5-7b-instruct": (
        57_344,  # 2 x 28 layers x 4 kv heads x 128 x 2 bytes
        6_525_288_448,  # 28 x (25,690,112 + 3,670,016 + 203,685,888) = 28 x 233,046,016
        80_740_352,  # 32 x 28 x (25,088 + 7,168 + 1,024 + 56,832) = 32 x 28 x 90,112
    ),
    "qwen2.5-coder-7b-instruct": (
        57_344,  # 2 x 28 x 4 x 128 x 2
        6_525_288_448,  # 28 x 233,046,016
        80_740_352,  # 32 x 28 x 90,112
    ),
    "phi-3-mini-4k-instruct": (
        393_216,  # 2 x 32 layers x 32 kv heads x 96 x 2 bytes
        3_623_878_656,  # 32 x (18,874,368 + 18,874,368 + 75,497,472) = 32 x 113,246,208
        59_768_832,  # 32 x 32 x (21,504 + 6,144 + 6,144 + 24,576) = 32 x 32 x 58,368
    ),
    "phi-3-mini-128k-instruct": (
        393_216,  # 2 x 32 x 32 x 96 x 2
        3_623_878_656,  # 32 x 113,246,208
        59_768_832,  # 32 x 32 x 58,368
    ),
    "phi-4-mini-instruct": (
        131_072,  # 2 x 32 layers x 8 kv heads x 128 x 2 bytes
        3_221_225_472,  # 32 x (18,874,368 + 6,291,456 + 75,497,472) = 32 x 100,663,296
        55_574_528,  # 32 x 32 x (21,504 + 6,144 + 2,048 + 24,576) = 32 x 32 x 54,272
    ),
    "gemma-3-4b-it": (
        139_264,  # 2 x 34 layers x 4 kv heads x 256 x 2 bytes
        3_208_642_560,  # 34 x (10,485,760 + 5,242,880 + 78,643,200) = 34 x 94,371,840
        59_604_992,  # 32 x 34 x (17,920 + 4,096 + 2,048 + 30,720) = 32 x 34 x 54,784
    ),
}


def test_the_hand_tables_cover_every_preset_and_g6_size():
    assert set(model_presets()) == set(PRESETS) == set(HAND_SHAPES)
    assert {n for n in gpu_instance_catalog() if n.startswith("g6.")} == set(G6_SIZES)


@pytest.mark.parametrize("name", PRESETS)
def test_kv_bytes_per_token_at_t1(name):
    assert kv_cache_bytes_per_token(preset(name), 1) == HAND_SHAPES[name][0]


@pytest.mark.parametrize("name", PRESETS)
def test_linear_parameters(name):
    assert linear_parameters(preset(name)) == HAND_SHAPES[name][1]


@pytest.mark.parametrize("name", PRESETS)
def test_lora_parameters_at_rank_32(name):
    assert lora_parameters(preset(name), 32) == HAND_SHAPES[name][2]


# --- 2. serving: every preset x every g6 size, at defaultContextLength x 1, utilisation 0.9 ---

# Scratch disk per pod: ceil(weightBytes / 2^30) + 10 GiB.
SCRATCH_GIB = {
    "deepseek-r1-distill-qwen-1.5b": 14,  # ceil(3,554,176,000 / 2^30 = 3.31) + 10
    "llama-3-8b-instruct": 25,  # ceil(16,060,522,496 / 2^30 = 14.96) + 10
    "llama-3.1-8b-instruct": 25,
    "deepseek-r1-distill-llama-8b": 25,
    "mistral-7b-instruct": 24,  # ceil(14,496,047,104 / 2^30 = 13.50) + 10
    "qwen2.5-7b-instruct": 25,  # ceil(15,231,233,024 / 2^30 = 14.19) + 10
    "qwen2.5-coder-7b-instruct": 25,
    "phi-3-mini-4k-instruct": 18,  # ceil(7,642,159,104 / 2^30 = 7.12) + 10
    "phi-3-mini-128k-instruct": 18,
    "phi-4-mini-instruct": 18,  # ceil(7,672,043,520 / 2^30 = 7.15) + 10
    "gemma-3-4b-it": 19,  # ceil(8,600,158,944 / 2^30 = 8.01) + 10
}

# Per-GPU need at the preset's defaultContextLength, concurrency 1:
#   ceil(weightBytes / t) + kv/token(t) x context + 2 GiB
NEED_AT_DEFAULT_CONTEXT = {
    "deepseek-r1-distill-qwen-1.5b": {  # context 16384; kv heads 2: 1 per GPU at t=2 and t=4
        1: 3_554_176_000 + 469_762_048 + RESERVE,  # 28,672 x 16384       = 6,171,421,696
        2: 1_777_088_000 + 234_881_024 + RESERVE,  # 14,336 x 16384       = 4,159,452,672
        4: 888_544_000 + 234_881_024 + RESERVE,  # 14,336 x 16384       = 3,270,908,672
    },
    "llama-3-8b-instruct": {  # context 8192
        1: 16_060_522_496 + 1_073_741_824 + RESERVE,  # 131,072 x 8192  = 19,281,747,968
        2: 8_030_261_248 + 536_870_912 + RESERVE,  # 65,536 x 8192    = 10,714,615,808
        4: 4_015_130_624 + 268_435_456 + RESERVE,  # 32,768 x 8192    = 6,431,049,728
    },
    "llama-3.1-8b-instruct": {  # context 8192
        1: 16_060_522_496 + 1_073_741_824 + RESERVE,  # = 19,281,747,968
        2: 8_030_261_248 + 536_870_912 + RESERVE,  # = 10,714,615,808
        4: 4_015_130_624 + 268_435_456 + RESERVE,  # = 6,431,049,728
    },
    "deepseek-r1-distill-llama-8b": {  # context 8192
        1: 16_060_522_496 + 1_073_741_824 + RESERVE,  # = 19,281,747,968
        2: 8_030_261_248 + 536_870_912 + RESERVE,  # = 10,714,615,808
        4: 4_015_130_624 + 268_435_456 + RESERVE,  # = 6,431,049,728
    },
    "mistral-7b-instruct": {  # context 8192
        1: 14_496_047_104 + 1_073_741_824 + RESERVE,  # 131,072 x 8192  = 17,717,272,576
        2: 7_248_023_552 + 536_870_912 + RESERVE,  # 65,536 x 8192    = 9,932,378,112
        4: 3_624_011_776 + 268_435_456 + RESERVE,  # 32,768 x 8192    = 6,039,930,880
    },
    "qwen2.5-7b-instruct": {  # context 8192
        1: 15_231_233_024 + 469_762_048 + RESERVE,  # 57,344 x 8192    = 17,848,478,720
        2: 7_615_616_512 + 234_881_024 + RESERVE,  # 28,672 x 8192    = 9,997,981,184
        4: 3_807_808_256 + 117_440_512 + RESERVE,  # 14,336 x 8192    = 6,072,732,416
    },
    "qwen2.5-coder-7b-instruct": {  # context 8192
        1: 15_231_233_024 + 469_762_048 + RESERVE,  # = 17,848,478,720
        2: 7_615_616_512 + 234_881_024 + RESERVE,  # = 9,997,981,184
        4: 3_807_808_256 + 117_440_512 + RESERVE,  # = 6,072,732,416
    },
    "phi-3-mini-4k-instruct": {  # context 4096
        1: 7_642_159_104 + 1_610_612_736 + RESERVE,  # 393,216 x 4096   = 11,400,255,488
        2: 3_821_079_552 + 805_306_368 + RESERVE,  # 196,608 x 4096   = 6,773,869,568
        4: 1_910_539_776 + 402_653_184 + RESERVE,  # 98,304 x 4096    = 4,460,676,608
    },
    "phi-3-mini-128k-instruct": {  # context 16384
        1: 7_642_159_104 + 6_442_450_944 + RESERVE,  # 393,216 x 16384  = 16,232,093,696
        2: 3_821_079_552 + 3_221_225_472 + RESERVE,  # 196,608 x 16384  = 9,189,788,672
        4: 1_910_539_776 + 1_610_612_736 + RESERVE,  # 98,304 x 16384   = 5,668,636,160
    },
    "phi-4-mini-instruct": {  # context 16384
        1: 7_672_043_520 + 2_147_483_648 + RESERVE,  # 131,072 x 16384  = 11,967,010,816
        2: 3_836_021_760 + 1_073_741_824 + RESERVE,  # 65,536 x 16384   = 7,057,247,232
        4: 1_918_010_880 + 536_870_912 + RESERVE,  # 32,768 x 16384   = 4,602,365,440
    },
    "gemma-3-4b-it": {  # context 8192
        1: 8_600_158_944 + 1_140_850_688 + RESERVE,  # 139,264 x 8192   = 11,888,493,280
        2: 4_300_079_472 + 570_425_344 + RESERVE,  # 69,632 x 8192    = 7,017,988,464
        4: 2_150_039_736 + 285_212_672 + RESERVE,  # 34,816 x 8192    = 4,582,736,056
    },
}

# The tensor-parallel size chosen (None: no fit). Every t=1 need above is <= 21,737,609,625.6, so
# the GPU memory always fits at t=1; what moves t up on the multi-GPU sizes is the disk share
# (module docstring): at 100 GiB, 12x/24x give 15t GiB (scratch 18-25 needs t=2; the 1.5B's 14
# fits t=1) and 48x gives 7.5t GiB (scratch 18-25 needs t=4; the 1.5B's 14 needs t=2).
#                                  xlarge 2x 4x 8x 16x 12x 24x 48x
SERVING_T_DISK_100 = {
    "deepseek-r1-distill-qwen-1.5b": (1, 1, 1, 1, 1, 1, 1, 2),
    "llama-3-8b-instruct": (1, 1, 1, 1, 1, 2, 2, 4),
    "llama-3.1-8b-instruct": (1, 1, 1, 1, 1, 2, 2, 4),
    "deepseek-r1-distill-llama-8b": (1, 1, 1, 1, 1, 2, 2, 4),
    "mistral-7b-instruct": (1, 1, 1, 1, 1, 2, 2, 4),
    "qwen2.5-7b-instruct": (1, 1, 1, 1, 1, 2, 2, 4),
    "qwen2.5-coder-7b-instruct": (1, 1, 1, 1, 1, 2, 2, 4),
    "phi-3-mini-4k-instruct": (1, 1, 1, 1, 1, 2, 2, 4),
    "phi-3-mini-128k-instruct": (1, 1, 1, 1, 1, 2, 2, 4),
    "phi-4-mini-instruct": (1, 1, 1, 1, 1, 2, 2, 4),
    "gemma-3-4b-it": (1, 1, 1, 1, 1, 2, 2, 4),
}
# At 300 GiB: 65t GiB (12x/24x) and 32.5t GiB (48x) hold every scratch (<= 25) at t=1.
SERVING_T_DISK_300 = {name: (1, 1, 1, 1, 1, 1, 1, 1) for name in PRESETS}

# Concurrency 4 at the default context (disk 100): the t=1 need no longer fits an L4 for
#   Llama 3 8B:  16,060,522,496 + 4 x 1,073,741,824 + 2 GiB = 22,502,973,440 > 21,737,609,625.6
#   Phi-3 128k:   7,642,159,104 + 4 x 6,442,450,944 + 2 GiB = 35,559,446,528 > 21,737,609,625.6
# while at t=2 they need 8,030,261,248 + 4 x 536,870,912 + 2 GiB = 12,325,228,544 and
# 3,821,079,552 + 4 x 3,221,225,472 + 2 GiB = 18,853,465,088: fits. Mistral (20,938,498,048),
# Qwen (19,257,764,864), Phi-4 (18,409,461,760), Phi-3 4k (16,232,093,696), Gemma
# (15,311,045,344) and the 1.5B (7,580,707,840) still fit one L4.
#                                  xlarge   2x    4x    8x    16x  12x 24x 48x
SERVING_T_CONCURRENCY_4 = {
    "deepseek-r1-distill-qwen-1.5b": (1, 1, 1, 1, 1, 1, 1, 2),
    "llama-3-8b-instruct": (None, None, None, None, None, 2, 2, 4),
    "llama-3.1-8b-instruct": (None, None, None, None, None, 2, 2, 4),
    "deepseek-r1-distill-llama-8b": (None, None, None, None, None, 2, 2, 4),
    "mistral-7b-instruct": (1, 1, 1, 1, 1, 2, 2, 4),
    "qwen2.5-7b-instruct": (1, 1, 1, 1, 1, 2, 2, 4),
    "qwen2.5-coder-7b-instruct": (1, 1, 1, 1, 1, 2, 2, 4),
    "phi-3-mini-4k-instruct": (1, 1, 1, 1, 1, 2, 2, 4),
    "phi-3-mini-128k-instruct": (None, None, None, None, None, 2, 2, 4),
    "phi-4-mini-instruct": (1, 1, 1, 1, 1, 2, 2, 4),
    "gemma-3-4b-it": (1, 1, 1, 1, 1, 2, 2, 4),
}


def serving_cases(table):
    return [
        pytest.param(name, size, row[i], id=f"{name}-{size}")
        for name, row in table.items()
        for i, size in enumerate(G6_SIZES)
    ]


def expected_serving_pod(name, t):
    # nvidia.com/gpu t, CPU 1 + 2t, memory 6 + 4t GiB (limit 4 more), scratch as tabled
    return PodShape(
        gpus=t, cpu=1 + 2 * t, memory_gib=6 + 4 * t, memory_limit_gib=10 + 4 * t, scratch_gib=SCRATCH_GIB[name]
    )


def check_serving(name, size, expected_t, disk_gib):
    model = preset(name)
    fit = fit_serving(model, instance(size), ServingSettings(model.default_context_length), disk_gib=disk_gib)
    assert (fit and fit.tensor_parallel_size) == expected_t
    if expected_t is None:
        return
    assert fit.bytes_per_gpu == NEED_AT_DEFAULT_CONTEXT[name][expected_t]
    assert fit.budget_bytes_per_gpu == pytest.approx(L4_SERVING_BUDGET, abs=0.01)
    assert fit.pod == expected_serving_pod(name, expected_t)


@pytest.mark.parametrize("name, size, expected_t", serving_cases(SERVING_T_DISK_100))
def test_serving_at_default_context_disk_100(name, size, expected_t):
    check_serving(name, size, expected_t, 100)


@pytest.mark.parametrize("name, size, expected_t", serving_cases(SERVING_T_DISK_300))
def test_serving_at_default_context_disk_300(name, size, expected_t):
    check_serving(name, size, expected_t, 300)


@pytest.mark.parametrize(
    "size, disk_gib, expected_t",
    [
        # qwen2.5-7b-instruct, scratch 25 GiB, needs (disk - 40) x t / GPUs >= 25
        ("g6.xlarge", 65, 1),  # (65 - 40) x 1/1 = 25: fits exactly
        ("g6.xlarge", 64, None),  # 24 < 25, and one GPU allows no larger t
        ("g6.12xlarge", 140, 1),  # (140 - 40) x 1/4 = 25
        ("g6.12xlarge", 139, 2),  # 24.75 < 25 at t=1; 49.5 at t=2
        ("g6.48xlarge", 240, 1),  # (240 - 40) x 1/8 = 25
        ("g6.48xlarge", 239, 2),  # 24.875 at t=1; 49.75 at t=2
    ],
)
def test_the_disk_share_boundary(size, disk_gib, expected_t):
    model = preset(QWEN)
    fit = fit_serving(model, instance(size), ServingSettings(model.default_context_length), disk_gib=disk_gib)
    assert (fit and fit.tensor_parallel_size) == expected_t
    # finetune is one GPU: it fits where serving fits at t=1
    assert (fit_finetune(model, instance(size), finetune_settings("qlora"), disk_gib=disk_gib) is not None) == (
        expected_t == 1
    )


@pytest.mark.parametrize("name, size, expected_t", serving_cases(SERVING_T_CONCURRENCY_4))
def test_serving_at_default_context_concurrency_4(name, size, expected_t):
    model = preset(name)
    settings = ServingSettings(model.default_context_length, concurrency=4)
    fit = fit_serving(model, instance(size), settings, disk_gib=100)
    assert (fit and fit.tensor_parallel_size) == expected_t


@pytest.mark.parametrize("name", PRESETS)
def test_serving_need_at_t1(name):
    model = preset(name)
    need = serving_bytes_per_gpu(model, 1, ServingSettings(model.default_context_length))
    assert need == NEED_AT_DEFAULT_CONTEXT[name][1]


# --- 3. finetune: lora and qlora, batch 4 x 1024 tokens, r 32 ----------------------------------

# tokens = 4 x 1024 = 4096
# (weights, adapter x 16 bytes, acts = 4096 x h x (2 x layers + 34), logits = 4096 x vocab x 10, total)
# qlora weights = ceil(linear x 4.127 / 8) + (parameters - linear) x 4
HAND_TUNING = {
    ("deepseek-r1-distill-qwen-1.5b", "lora"): (
        3_554_176_000,  # weightBytes
        590_872_576,  # 36,929,536 x 16
        566_231_040,  # 4096 x 1536 x 90
        6_223_298_560,  # 4096 x 151,936 x 10
        13_082_061_824,
    ),
    ("deepseek-r1-distill-qwen-1.5b", "qlora"): (
        2_543_466_365,  # ceil(675,897,212.928) + 466,892,288 x 4 = 675,897,213 + 1,867,569,152
        590_872_576,
        566_231_040,
        6_223_298_560,
        12_071_352_189,
    ),
    ("llama-3-8b-instruct", "lora"): (
        16_060_522_496,
        1_342_177_280,  # 83,886,080 x 16
        1_644_167_168,  # 4096 x 4096 x 98
        5_253_365_760,  # 4096 x 128,256 x 10
        26_447_716_352,
    ),
    ("llama-3-8b-instruct", "qlora"): (
        7_804_215_231,  # ceil(3,600,457,662.464) + 1,050,939,392 x 4 = 3,600,457,663 + 4,203,757,568
        1_342_177_280,
        1_644_167_168,
        5_253_365_760,
        18_191_409_087,
    ),
    ("mistral-7b-instruct", "lora"): (
        14_496_047_104,
        1_342_177_280,  # 83,886,080 x 16
        1_644_167_168,  # 4096 x 4096 x 98
        1_342_177_280,  # 4096 x 32,768 x 10
        20_972_052_480,
    ),
    ("mistral-7b-instruct", "qlora"): (
        4_675_264_447,  # 3,600,457,663 + 268,701,696 x 4 = 3,600,457,663 + 1,074,806,784
        1_342_177_280,
        1_644_167_168,
        1_342_177_280,
        11_151_269_823,
    ),
    ("qwen2.5-7b-instruct", "lora"): (
        15_231_233_024,
        1_291_845_632,  # 80,740,352 x 16
        1_321_205_760,  # 4096 x 3584 x 90
        6_228_541_440,  # 4096 x 152,064 x 10
        26_220_309_504,
    ),
    ("qwen2.5-7b-instruct", "qlora"): (
        7_727_545_435,  # ceil(3,366,233,178.112) + 1,090,328,064 x 4 = 3,366,233,179 + 4,361,312,256
        1_291_845_632,
        1_321_205_760,
        6_228_541_440,
        18_716_621_915,
    ),
    ("phi-3-mini-4k-instruct", "lora"): (
        7_642_159_104,
        956_301_312,  # 59,768,832 x 16
        1_233_125_376,  # 4096 x 3072 x 98
        1_313_341_440,  # 4096 x 32,064 x 10
        13_292_410_880,
    ),
    ("phi-3-mini-4k-instruct", "qlora"): (
        2_658_271_986,  # ceil(1,869,468,401.664) + 197,200,896 x 4 = 1,869,468,402 + 788,803,584
        956_301_312,
        1_233_125_376,
        1_313_341_440,
        8_308_523_762,
    ),
    ("phi-4-mini-instruct", "lora"): (
        7_672_043_520,
        889_192_448,  # 55,574,528 x 16
        1_233_125_376,  # 4096 x 3072 x 98
        8_194_621_440,  # 4096 x 200,064 x 10
        20_136_466_432,
    ),
    ("phi-4-mini-instruct", "qlora"): (
        4_120_934_843,  # ceil(1,661,749,690.368) + 614,796,288 x 4 = 1,661,749,691 + 2,459,185,152
        889_192_448,
        1_233_125_376,
        8_194_621_440,
        16_585_357_755,
    ),
    ("gemma-3-4b-it", "lora"): (
        8_600_158_944,
        953_679_872,  # 59,604,992 x 16
        1_069_547_520,  # 4096 x 2560 x 102
        10_740_039_680,  # 4096 x 262,208 x 10
        23_510_909_664,
    ),
    ("gemma-3-4b-it", "qlora"): (
        6_021_006_129,  # ceil(1,655,258,480.64) + 1,091,436,912 x 4 = 1,655,258,481 + 4,365,747,648
        953_679_872,
        1_069_547_520,
        10_740_039_680,
        20_931_756_849,
    ),
}
# Same shapes, same figures: the Llama 3 8B architecture, Qwen2.5 7B, Phi-3 mini 4k.
for _method in ("lora", "qlora"):
    HAND_TUNING["llama-3.1-8b-instruct", _method] = HAND_TUNING["llama-3-8b-instruct", _method]
    HAND_TUNING["deepseek-r1-distill-llama-8b", _method] = HAND_TUNING["llama-3-8b-instruct", _method]
    HAND_TUNING["qwen2.5-coder-7b-instruct", _method] = HAND_TUNING["qwen2.5-7b-instruct", _method]
    HAND_TUNING["phi-3-mini-128k-instruct", _method] = HAND_TUNING["phi-3-mini-4k-instruct", _method]

# Fits one L4 at 0.95 (22,945,254,604.8) and the host at disk 100? A one-GPU finetune pod gets
# 1/4 of a 12x/24x disk share (15 GiB) and 1/8 of a 48x (7.5 GiB): only the 1.5B's 14 GiB
# scratch fits the former, nothing the latter.
Y, N = True, False
#                                                    xlarge 2x 4x 8x 16x 12x 24x 48x
TUNING_FITS_DISK_100 = {
    ("deepseek-r1-distill-qwen-1.5b", "lora"): (Y, Y, Y, Y, Y, Y, Y, N),  # 13,082,061,824
    ("deepseek-r1-distill-qwen-1.5b", "qlora"): (Y, Y, Y, Y, Y, Y, Y, N),  # 12,071,352,189
    ("llama-3-8b-instruct", "lora"): (N, N, N, N, N, N, N, N),  # 26,447,716,352 > budget
    ("llama-3-8b-instruct", "qlora"): (Y, Y, Y, Y, Y, N, N, N),  # 18,191,409,087
    ("llama-3.1-8b-instruct", "lora"): (N, N, N, N, N, N, N, N),
    ("llama-3.1-8b-instruct", "qlora"): (Y, Y, Y, Y, Y, N, N, N),
    ("deepseek-r1-distill-llama-8b", "lora"): (N, N, N, N, N, N, N, N),
    ("deepseek-r1-distill-llama-8b", "qlora"): (Y, Y, Y, Y, Y, N, N, N),
    ("mistral-7b-instruct", "lora"): (Y, Y, Y, Y, Y, N, N, N),  # 20,972,052,480
    ("mistral-7b-instruct", "qlora"): (Y, Y, Y, Y, Y, N, N, N),  # 11,151,269,823
    ("qwen2.5-7b-instruct", "lora"): (N, N, N, N, N, N, N, N),  # 26,220,309,504 > budget
    ("qwen2.5-7b-instruct", "qlora"): (Y, Y, Y, Y, Y, N, N, N),  # 18,716,621,915
    ("qwen2.5-coder-7b-instruct", "lora"): (N, N, N, N, N, N, N, N),
    ("qwen2.5-coder-7b-instruct", "qlora"): (Y, Y, Y, Y, Y, N, N, N),
    ("phi-3-mini-4k-instruct", "lora"): (Y, Y, Y, Y, Y, N, N, N),  # 13,292,410,880
    ("phi-3-mini-4k-instruct", "qlora"): (Y, Y, Y, Y, Y, N, N, N),  # 8,308,523,762
    ("phi-3-mini-128k-instruct", "lora"): (Y, Y, Y, Y, Y, N, N, N),
    ("phi-3-mini-128k-instruct", "qlora"): (Y, Y, Y, Y, Y, N, N, N),
    ("phi-4-mini-instruct", "lora"): (Y, Y, Y, Y, Y, N, N, N),  # 20,136,466,432
    ("phi-4-mini-instruct", "qlora"): (Y, Y, Y, Y, Y, N, N, N),  # 16,585,357,755
}


def finetune_settings(method):
    return FinetuneSettings(method=method, batch_size=4, sequence_length=1024, lora_rank=32)


def test_the_tuning_tables_add_up():
    """The hand terms sum to the hand totals (a typo guard on this file's own tables)."""
    assert set(HAND_TUNING) == {(p, m) for p in PRESETS for m in ("lora", "qlora")}
    assert set(TUNING_FITS_DISK_100) == {(p, m) for p in TUNABLE for m in ("lora", "qlora")}
    for key, (weights, adapter, acts, logits, total) in HAND_TUNING.items():
        assert weights + adapter + acts + logits + RESERVE == total, key


@pytest.mark.parametrize("name, method", [pytest.param(n, m, id=f"{n}-{m}") for n, m in sorted(HAND_TUNING)])
def test_tuning_memory(name, method):
    weights, adapter, acts, logits, total = HAND_TUNING[name, method]
    memory = finetune_memory(preset(name), finetune_settings(method))
    assert (memory.weights, memory.adapter_and_optimizer, memory.activations, memory.logits, memory.reserve) == (
        weights,
        adapter,
        acts,
        logits,
        RESERVE,
    )
    assert memory.total == total


@pytest.mark.parametrize(
    "name, method, size, expected",
    [
        pytest.param(name, method, size, row[i], id=f"{name}-{method}-{size}")
        for (name, method), row in TUNING_FITS_DISK_100.items()
        for i, size in enumerate(G6_SIZES)
    ],
)
def test_tuning_fit_disk_100(name, method, size, expected):
    fit = fit_finetune(preset(name), instance(size), finetune_settings(method), disk_gib=100)
    assert (fit is not None) == expected
    if fit is not None:
        assert fit.memory.total == HAND_TUNING[name, method][4]
        assert fit.budget_bytes == pytest.approx(L4_TUNING_BUDGET, abs=0.01)
        assert fit.pod == PodShape(gpus=1, cpu=3, memory_gib=10, memory_limit_gib=14, scratch_gib=SCRATCH_GIB[name])


@pytest.mark.parametrize("size", G6_SIZES)
def test_tuning_on_a_300_gib_disk_fits_every_g6_size(size):
    # qwen qlora, scratch 25: a one-GPU share of (300 - 40) is 260/4 = 65 or 260/8 = 32.5 GiB.
    assert fit_finetune(preset("qwen2.5-7b-instruct"), instance(size), finetune_settings("qlora"), disk_gib=300)


# --- 4. docs/presets.md's worked example: qwen2.5-7b-instruct on g6.xlarge -------------------------


def test_readme_serving_8192_x_4():
    model = preset(QWEN)
    settings = ServingSettings(max_model_len=8192, concurrency=4, gpu_memory_utilization=0.9)
    assert kv_cache_bytes_per_token(model, 1) == 57_344  # 2 x 28 x 4 x 128 x 2
    need = 15_231_233_024 + 1_879_048_192 + 2_147_483_648  # weights + 57,344 x 8192 x 4 + 2 GiB
    assert need == 19_257_764_864
    assert serving_bytes_per_gpu(model, 1, settings) == 19_257_764_864
    fit = fit_serving(model, instance("g6.xlarge"), settings, disk_gib=100)
    assert fit.tensor_parallel_size == 1
    assert fit.bytes_per_gpu == 19_257_764_864
    assert fit.budget_bytes_per_gpu == pytest.approx(21_737_609_625.6, abs=0.01)  # 23034 x 1,048,576 x 0.9
    # 1 GPU, 3 vCPU (<= 3.5), 10 GiB (<= 13.4), scratch 15 + 10 = 25 GiB (<= 60)
    assert fit.pod == PodShape(gpus=1, cpu=3, memory_gib=10, memory_limit_gib=14, scratch_gib=25)


def test_readme_serving_32768_x_4():
    model = preset(QWEN)
    settings = ServingSettings(max_model_len=32768, concurrency=4)
    # t=1: 15,231,233,024 + 57,344 x 131,072 (7,516,192,768 = 7 GiB) + 2 GiB = 24,894,909,440 (23.2 GiB)
    assert serving_bytes_per_gpu(model, 1, settings) == 24_894_909_440
    assert fit_serving(model, instance("g6.xlarge"), settings, disk_gib=100) is None
    # g6.12xlarge, disk 300: t=2: 7,615,616,512 + 28,672 x 131,072 (3,758,096,384) + 2 GiB
    on_12x = fit_serving(model, instance("g6.12xlarge"), settings, disk_gib=300)
    assert (on_12x.tensor_parallel_size, on_12x.bytes_per_gpu) == (2, 13_521_196_544)
    # g6e.xlarge (L40S): 24,894,909,440 <= 43,475,219,251.2 at t=1; host 3 <= 3.5, 10 <= 27.8, 25 <= 60
    on_g6e = fit_serving(model, instance("g6e.xlarge"), settings, disk_gib=100)
    assert (on_g6e.tensor_parallel_size, on_g6e.bytes_per_gpu) == (1, 24_894_909_440)
    assert on_g6e.budget_bytes_per_gpu == pytest.approx(L40S_SERVING_BUDGET, abs=0.01)


def test_readme_tuning_qlora():
    memory = finetune_memory(preset(QWEN), finetune_settings("qlora"))
    assert memory.weights == 3_366_233_179 + 4_361_312_256 == 7_727_545_435
    assert memory.adapter_and_optimizer == 80_740_352 * 16 == 1_291_845_632
    assert memory.activations == 4096 * 3584 * (2 * 28 + 34) == 1_321_205_760
    assert memory.logits == 4096 * 152_064 * 10 == 6_228_541_440
    assert memory.total == 16_569_138_267 + 2_147_483_648 == 18_716_621_915
    fit = fit_finetune(preset(QWEN), instance("g6.xlarge"), finetune_settings("qlora"), disk_gib=100)
    assert fit is not None
    assert fit.budget_bytes == pytest.approx(22_945_254_604.8, abs=0.01)  # 23034 x 1,048,576 x 0.95


def test_readme_tuning_lora_needs_an_l40s():
    memory = finetune_memory(preset(QWEN), finetune_settings("lora"))
    # 15,231,233,024 + 1,291,845,632 + 1,321,205,760 + 6,228,541,440 + 2 GiB (24.4 GiB)
    assert memory.total == 26_220_309_504
    assert all(
        fit_finetune(preset(QWEN), instance(s), finetune_settings("lora"), disk_gib=100) is None for s in G6_SIZES
    )
    fit = fit_finetune(preset(QWEN), instance("g6e.xlarge"), finetune_settings("lora"), disk_gib=100)
    assert fit is not None
    assert fit.budget_bytes == pytest.approx(L40S_TUNING_BUDGET, abs=0.01)


# --- 5. tensor-parallel validity -------------------------------------------------------------

# t in (1, 2, 4, 8), t <= GPUs, heads % t == 0, and kvHeads % t == 0 or t % kvHeads == 0
VALID_T_ON_8_GPUS = {
    "deepseek-r1-distill-qwen-1.5b": (1, 2, 4),  # 12 heads: not 8; 2 kv heads: 4 is a multiple
    "llama-3-8b-instruct": (1, 2, 4, 8),  # 32 heads, 8 kv heads
    "llama-3.1-8b-instruct": (1, 2, 4, 8),
    "deepseek-r1-distill-llama-8b": (1, 2, 4, 8),
    "mistral-7b-instruct": (1, 2, 4, 8),  # 32 heads, 8 kv heads
    "qwen2.5-7b-instruct": (1, 2, 4),  # 28 heads: 28 / 8 = 3.5
    "qwen2.5-coder-7b-instruct": (1, 2, 4),
    "phi-3-mini-4k-instruct": (1, 2, 4, 8),  # 32 heads, 32 kv heads
    "phi-3-mini-128k-instruct": (1, 2, 4, 8),
    "phi-4-mini-instruct": (1, 2, 4, 8),  # 24 heads, 8 kv heads
    "gemma-3-4b-it": (1, 2, 4, 8),  # 8 heads, 4 kv heads: 8 is a multiple
}


@pytest.mark.parametrize("name", PRESETS)
@pytest.mark.parametrize("gpus", (1, 4, 8))
def test_tensor_parallel_sizes(name, gpus):
    assert tensor_parallel_sizes(preset(name), gpus) == tuple(t for t in VALID_T_ON_8_GPUS[name] if t <= gpus)


def test_qwen_never_gets_t8():
    # 32768 x 36 = 1,179,648 tokens. t=4: 3,807,808,256 + 14,336 x 1,179,648 (16,911,433,728) + 2 GiB
    #   = 22,866,725,632 > 21,737,609,625.6. t=8 would need 1,903,904,128 + 16,911,433,728 + 2 GiB
    #   = 20,962,821,504 and fit; only the 28 heads rule it out.
    model = preset(QWEN)
    settings = ServingSettings(max_model_len=32768, concurrency=36)
    assert serving_bytes_per_gpu(model, 4, settings) == 22_866_725_632
    assert fit_serving(model, instance("g6.48xlarge"), settings, disk_gib=300) is None


def test_kv_heads_are_replicated_past_kv_heads():
    model = preset("deepseek-r1-distill-qwen-1.5b")
    assert kv_cache_bytes_per_token(model, 1) == 28_672  # 2 x 28 x 2 x 128 x 2
    assert kv_cache_bytes_per_token(model, 2) == 14_336  # 2 x 28 x (2 / 2 = 1) x 128 x 2
    assert kv_cache_bytes_per_token(model, 4) == 14_336  # 2 x 28 x max(1, 2 / 4) = 1 x 128 x 2, not 7,168
    # 888,544,000 + 14,336 x 16384 + 2 GiB
    assert serving_bytes_per_gpu(model, 4, ServingSettings(16384)) == 3_270_908_672


# --- 6. catalogue data sanity ----------------------------------------------------------------


@pytest.mark.parametrize("name", PRESETS)
def test_weight_bytes_are_bf16(name):
    model = preset(name)
    assert model.weight_bytes == 2 * model.parameters


@pytest.mark.parametrize("name", PRESETS)
def test_default_context_within_max(name):
    model = preset(name)
    assert 0 < model.default_context_length <= model.max_context_length


# Parameters from the architecture: embeddings (vocab x hidden, twice unless tied) + linear (table
# above) + biases (Qwen2: q, k, v) + RMSNorm weights (per layer, and the final norm).
PARAMETERS_FROM_ARCHITECTURE = {
    "deepseek-r1-distill-qwen-1.5b": 2 * 151_936 * 1536
    + 1_310_195_712
    + 28 * (1536 + 256 + 256)
    + 28 * 2 * 1536
    + 1536,
    "llama-3-8b-instruct": 2 * 128_256 * 4096 + 6_979_321_856 + 32 * 2 * 4096 + 4096,
    "llama-3.1-8b-instruct": 2 * 128_256 * 4096 + 6_979_321_856 + 32 * 2 * 4096 + 4096,
    "deepseek-r1-distill-llama-8b": 2 * 128_256 * 4096 + 6_979_321_856 + 32 * 2 * 4096 + 4096,
    "mistral-7b-instruct": 2 * 32_768 * 4096 + 6_979_321_856 + 32 * 2 * 4096 + 4096,
    "qwen2.5-7b-instruct": 2 * 152_064 * 3584 + 6_525_288_448 + 28 * (3584 + 512 + 512) + 28 * 2 * 3584 + 3584,
    "qwen2.5-coder-7b-instruct": 2 * 152_064 * 3584 + 6_525_288_448 + 28 * (3584 + 512 + 512) + 28 * 2 * 3584 + 3584,
    "phi-3-mini-4k-instruct": 2 * 32_064 * 3072 + 3_623_878_656 + 32 * 2 * 3072 + 3072,
    "phi-3-mini-128k-instruct": 2 * 32_064 * 3072 + 3_623_878_656 + 32 * 2 * 3072 + 3072,
    "phi-4-mini-instruct": 1 * 200_064 * 3072 + 3_221_225_472 + 32 * 2 * 3072 + 3072,  # tied embeddings
}


@pytest.mark.parametrize("name", sorted(PARAMETERS_FROM_ARCHITECTURE))
def test_parameters_match_the_architecture(name):
    derived = PARAMETERS_FROM_ARCHITECTURE[name]
    assert abs(preset(name).parameters - derived) <= 0.001 * derived


def test_gemma_counts_its_vision_tower():
    # Text decoder: tied embeddings 262,208 x 2560 + linear 3,208,642,560 + 34 x (4 x 2560 + 2 x 256)
    # (four RMSNorms and the q/k norms per layer) + 2560 = 3,880,263,168; the SigLIP tower is ~420M more.
    text_decoder = 262_208 * 2560 + 3_208_642_560 + 34 * (4 * 2560 + 2 * 256) + 2560
    assert text_decoder == 3_880_263_168
    stated = preset("gemma-3-4b-it").parameters
    assert stated > text_decoder * 1.001
    assert 300_000_000 < stated - text_decoder < 500_000_000


@pytest.mark.parametrize("size, gpus", list(zip(G6_SIZES, G6_GPUS, strict=True)))
def test_g6_family(size, gpus):
    entry = instance(size)
    assert (entry.gpus, entry.gpu_model, entry.gpu_memory_gib, entry.gpu_memory_mib) == (gpus, "NVIDIA L4", 24, 23034)


# --- 7. finding a preset ---------------------------------------------------------------------


@pytest.mark.parametrize("name", PRESETS)
def test_find_preset_by_name_and_hugging_face_id(name):
    hf_id = preset(name).hugging_face_id
    assert find_preset(name).name == name
    assert find_preset(name.upper()).name == name
    assert find_preset(hf_id).name == name
    assert find_preset(hf_id.lower()).name == name
    assert find_preset(hf_id.upper()).name == name


def test_find_preset_known_ids():
    assert find_preset("Qwen/Qwen2.5-7B-Instruct").name == "qwen2.5-7b-instruct"
    assert find_preset("meta-llama/llama-3.1-8b-instruct").name == "llama-3.1-8b-instruct"


@pytest.mark.parametrize(
    "asked, first",
    [
        ("llama-3.1-8b", "llama-3.1-8b-instruct"),
        ("qwen2.5-7b", "qwen2.5-7b-instruct"),
        ("mistral-7b", "mistral-7b-instruct"),
    ],
)
def test_unknown_preset_suggests_the_nearest(asked, first):
    with pytest.raises(UnknownPreset) as raised:
        find_preset(asked)
    assert isinstance(raised.value, KeyError)
    assert raised.value.suggestions[0] == first
    assert set(raised.value.suggestions) <= set(PRESETS)
