"""The way the examples Orchard grew from served a model: Flask, a DataFrame per request, CatBoost's predict."""
import json
import logging
import math
import sys

import pandas as pd
from catboost import CatBoostRegressor
from flask import Flask, jsonify, request

model_dir, port = sys.argv[1], int(sys.argv[2])
schema = json.load(open(f"{model_dir}/input-schema.json"))
inputs = [i["name"] for i in schema["inputs"]]
categorical = [i["name"] for i in schema["inputs"] if i["type"] == "Categorical"]
model = CatBoostRegressor()
model.load_model(f"{model_dir}/model.cbm")

log_target = schema["features"]["target"].get("transform") == "Log"

app = Flask(__name__)
logging.getLogger("werkzeug").setLevel(logging.ERROR)


@app.post("/predict")
def predict():
    frame = pd.DataFrame(request.get_json()["instances"])[inputs]
    for c in categorical:
        frame[c] = frame[c].fillna("").astype(str)
    raw = model.predict(frame, thread_count=1)
    return jsonify({"predictions": [math.exp(v) if log_target else v for v in raw]})


# Flask's development server as the examples ran it: a thread per request, a connection per request.
app.run(host="127.0.0.1", port=port)
