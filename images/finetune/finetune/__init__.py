"""LoRA / QLoRA fine-tuning of a causal language model, run as a Kubernetes Job (`python -m finetune`).

Modules: `settings` (environment contract), `data` (JSONL datasets), `storage` (S3 or local
paths), `model` (base model, quantization, adapter), `checkpoints` (upload, find, resume),
`progress` (log lines), `signals` (SIGTERM), `train` (the run), `__main__` (exit codes).
"""
