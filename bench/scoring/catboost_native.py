"""CatBoost's own predictor on the same encoded rows and one thread: rows/s for batches of 1 and 100."""
import json
import sys
import time

import pandas as pd
from catboost import CatBoostRegressor, Pool

model_dir, rows_file, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
schema = json.load(open(f"{model_dir}/input-schema.json"))
names = [i["name"] for i in schema["inputs"]]
categorical = [i["name"] for i in schema["inputs"] if i["type"] == "Categorical"]
rows = json.load(open(rows_file))
frame = pd.DataFrame(rows, columns=names)
for c in categorical:
    frame[c] = frame[c].astype(str)
model = CatBoostRegressor()
model.load_model(f"{model_dir}/model.cbm")
out = {}
for batch in (1, 100):
    pools = [Pool(frame.iloc[i : i + batch], cat_features=categorical) for i in range(0, len(frame), batch)]
    done, k, start = 0, 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        model.predict(pools[k % len(pools)], thread_count=1)
        done += batch
        k += 1
    out[f"batch{batch}"] = done / (time.perf_counter() - start)
print(json.dumps(out))
