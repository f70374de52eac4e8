# Runtime defaults shared by every config (keys and values of Pointcept's default_runtime.py).
# pointlab difference: enable_wandb is False, so offline machines train without a wandb login.
weight = None  # checkpoint to start from; loaded only if the file exists (tests require it)
resume = False  # with weight=...: also restore epoch, optimizer, scheduler and AMP scaler
evaluate = True  # run the evaluator hooks (and build the val loader) after each epoch
test_only = False  # kept for compatibility; nothing reads it

seed = None  # None: the launcher draws one and records it in config.py
save_path = "exp/default"
num_worker = 16  # data-loader workers summed over all GPUs
batch_size = 16  # training batch summed over all GPUs
gradient_accumulation_steps = 1
batch_size_val = None  # None: 1 per GPU
batch_size_test = None  # None: 1 per GPU
epoch = 100  # data passes in total; each trainer epoch makes epoch // eval_epoch passes
eval_epoch = 100  # trainer epochs = evaluations = checkpoints
clip_grad = None  # a float enables L2 gradient-norm clipping

sync_bn = False
enable_amp = False
amp_dtype = "float16"  # or "bfloat16"
empty_cache = False
empty_cache_per_epoch = False
find_unused_parameters = False

enable_wandb = False  # the reference defaults to True
wandb_project = "pointcept"
wandb_key = None

mix_prob = 0
param_dicts = None  # e.g. [dict(keyword="block", lr=0.0006)]

hooks = [
    dict(type="CheckpointLoader"),
    dict(type="ModelHook"),
    dict(type="IterationTimer", warmup_iter=2),
    dict(type="InformationWriter"),
    dict(type="SemSegEvaluator"),
    dict(type="CheckpointSaver", save_freq=None),
    dict(type="PreciseEvaluator", test_last=False),
]

train = dict(type="DefaultTrainer")

test = dict(type="SemSegTester", verbose=True)
