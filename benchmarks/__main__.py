"""python -m benchmarks [data_layer ui training_speed voila learning search trust final_model evaluate_speed kill_resume scale
scale_out regression studies study_scale memory_at_scale trust2 stopping
pacs_import my_model_pretraining]"""

import importlib
import sys

ALL = [
    "data_layer",
    "ui",
    "training_speed",
    "voila",
    "learning",
    "search",
    "trust",
    "final_model",
    "evaluate_speed",
    "kill_resume",
    "scale",
    "scale_out",
    "regression",
    "studies",
    "study_scale",
    "memory_at_scale",
    "trust2",
    "stopping",
    "pacs_import",
    "my_model_pretraining",
]

for name in sys.argv[1:] or ALL:
    print(f"== {name}", flush=True)
    importlib.import_module(f"benchmarks.{name}").main()
