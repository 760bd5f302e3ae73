"""Orchard's training step: CatBoost on a prepared directory, scored on its test split.

    orchard_trainer.py train --data <prepared dir> --out <model dir>
    orchard_trainer.py predict --model <model.cbm> --data <tsv> --dataset <dataset.json> --out <tsv>

The prepared directory is described in operator/src/training/prepared.ts. `train` writes model.cbm,
model.json, metrics.json and shap.json; `predict` writes CatBoost's own scores, the reference the
ONNX export is checked against. Bad input prints one line starting with "orchard train: " to
stderr, exits with 2 and leaves --out untouched.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, NoReturn
from xml.sax.saxutils import escape

import catboost
import numpy as np
import pandas as pd
from scipy.stats import rankdata

PREPARED_VERSION = 1
TASKS = ('Regression', 'BinaryClassification', 'MulticlassClassification')
DEFAULT_LOSS = {'Regression': 'RMSE', 'BinaryClassification': 'Logloss', 'MulticlassClassification': 'MultiClass'}
SHAP_ROWS = 2000
EPS = 1e-15
# These would fight the progress lines (and CatBoost refuses more than one of them at a time).
LOGGING_PARAMS = ('verbose', 'logging_level', 'verbose_eval', 'silent')
# Named CatBoost fields with a fixed set of values (operator/src/api/v1alpha1/training-run.ts).
NAMED_CHOICES = {
    'growPolicy': ('SymmetricTree', 'Depthwise', 'Lossguide'),
    'autoClassWeights': ('None', 'Balanced', 'SqrtBalanced'),
    'bootstrapType': ('Bayesian', 'Bernoulli', 'MVS', 'No'),
}
CALIBRATION_BINS = 10
# More bars than this make an unreadable chart; shap.json keeps every feature.
IMPORTANCE_BARS = 30


class InputError(Exception):
    """A problem with the input that the user can fix: one line on stderr, exit code 2."""


def is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def is_number(v: Any) -> bool:
    return (is_int(v) or isinstance(v, float)) and math.isfinite(v)


def load_dataset(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise InputError(f'{path} does not exist: run `orchard prepare` first, it writes dataset.json and the TSV splits')
    try:
        ds = json.loads(path.read_text(encoding='utf-8'))
    except (ValueError, UnicodeDecodeError) as e:
        raise InputError(f'{path} is not valid JSON ({e}): re-run `orchard prepare`') from None

    def need(ok: bool, what: str) -> None:
        if not ok:
            raise InputError(f'{path} is not a prepared dataset this trainer reads: {what}; re-run `orchard prepare` with the same Orchard version')

    need(isinstance(ds, dict), 'expected a JSON object')
    need(ds.get('version') == PREPARED_VERSION, f'"version" must be {PREPARED_VERSION}')
    need(ds.get('task') in TASKS, f'"task" must be one of {", ".join(TASKS)}')
    feats = ds.get('features')
    need(isinstance(feats, list) and len(feats) > 0, '"features" must be a non-empty list')
    need(all(isinstance(f, dict) and isinstance(f.get('name'), str) and f.get('type') in ('Numeric', 'Categorical') for f in feats),
         'each feature needs a "name" and a "type" (Numeric or Categorical)')
    if ds['task'] != 'Regression':
        names = ds.get('classNames')
        need(isinstance(names, list) and all(isinstance(c, str) for c in names), '"classNames" must list the class labels')
        need(len(names) == 2 if ds['task'] == 'BinaryClassification' else len(names) >= 2,
             'BinaryClassification needs exactly 2 classNames, MulticlassClassification at least 2')
    target = ds.get('target')
    need(isinstance(target, dict) and target.get('transform') in ('None', 'Log', 'Log1p'), '"target.transform" must be None, Log or Log1p')
    need(is_number(target.get('scale')) and target['scale'] != 0, '"target.scale" must be a non-zero number')
    need(target.get('estimate', 'Median') in ('Median', 'Mean'), '"target.estimate" must be Median or Mean')
    cb = ds.get('catboost')
    need(isinstance(cb, dict), '"catboost" must be an object')
    need(is_int(cb.get('iterations')) and cb['iterations'] >= 1, '"catboost.iterations" must be an integer >= 1')
    need(is_int(cb.get('depth')) and is_int(cb.get('randomSeed')), '"catboost.depth" and "catboost.randomSeed" must be integers')
    for key in ('learningRate', 'l2LeafReg'):
        need(cb.get(key) is None or is_number(cb[key]), f'"catboost.{key}" must be a number')
    for key in ('earlyStoppingRounds', 'oneHotMaxSize', 'maxCtrComplexity', 'borderCount'):
        need(cb.get(key) is None or is_int(cb[key]), f'"catboost.{key}" must be an integer')
    need(cb.get('lossFunction') is None or isinstance(cb['lossFunction'], str), '"catboost.lossFunction" must be a string')
    for key, choices in NAMED_CHOICES.items():
        need(cb.get(key) is None or cb[key] in choices, f'"catboost.{key}" must be one of {", ".join(choices)}')
    need(cb.get('evalMetric') is None or isinstance(cb['evalMetric'], str), '"catboost.evalMetric" must be a string')
    need(cb.get('maxLeaves') is None or is_int(cb['maxLeaves']), '"catboost.maxLeaves" must be an integer')
    for key in ('subsample', 'baggingTemperature'):
        need(cb.get(key) is None or is_number(cb[key]), f'"catboost.{key}" must be a number')
    weights = cb.get('classWeights')
    need(weights is None or (ds['task'] != 'Regression' and isinstance(weights, list) and len(weights) == len(ds['classNames'])
                             and all(is_number(w) and w > 0 for w in weights)),
         '"catboost.classWeights" must list one positive weight per class name, for a classifier')
    extra = cb.get('extra', {})
    need(isinstance(extra, dict) and all(isinstance(v, str) for v in extra.values()), '"catboost.extra" must map names to strings')
    compute = ds.get('compute')
    need(isinstance(compute, dict) and compute.get('device') in ('CPU', 'GPU') and is_int(compute.get('gpus')),
         '"compute" needs "device" (CPU or GPU) and "gpus"')
    evaluation = ds.get('evaluation')
    need(isinstance(evaluation, dict) and is_number(evaluation.get('topFraction')) and 0 < evaluation['topFraction'] <= 1,
         '"evaluation.topFraction" must be a number in (0, 1]')
    return ds


def parse_numbers(text: np.ndarray, path: Path, column: str, *, allow_empty: bool = True) -> np.ndarray:
    """Decimal text → float64 (empty → NaN). float() rounds correctly, like JavaScript's Number()."""
    empty = text == ''
    try:
        values = np.where(empty, 'nan', text).astype(np.float64)
        bad = ~empty & ~np.isfinite(values)
    except ValueError:
        values = np.full(len(text), np.nan)
        bad = np.array([s != '' and not _is_float(s) for s in text], dtype=bool)
    if not allow_empty:
        bad |= empty
    if bad.any():
        i = int(np.argmax(bad))
        if column == 'label':
            raise InputError(f'{path} line {i + 2}: the label is "{text[i]}", not a finite number; every row needs its label, re-run `orchard prepare`')
        raise InputError(f'{path} line {i + 2}: Numeric column "{column}" has "{text[i]}", not a finite number; '
                         f're-run `orchard prepare`, or declare "{column}" Categorical')
    return values


def _is_float(s: str) -> bool:
    try:
        return math.isfinite(float(s))
    except ValueError:
        return False


def check_field_counts(path: Path, fields: int, rows: int) -> None:
    """pandas pads short rows with '' silently; a truncated or mangled line must not pass as missing values."""
    tabs = 0
    with open(path, 'rb') as fh:
        while chunk := fh.read(1 << 24):
            tabs += chunk.count(b'\t')
    if tabs == (rows + 1) * (fields - 1):
        return
    with open(path, 'rb') as fh:
        for i, line in enumerate(fh, start=1):
            found = line.count(b'\t') + 1
            if b'\r' in line or found != fields:
                problem = 'a carriage return, which no cell may hold' if b'\r' in line else f'{found} tab-separated fields, not {fields}'
                raise InputError(f'{path} line {i} has {problem}; the file is damaged, re-run `orchard prepare`')
    raise InputError(f'{path}: the number of fields does not add up (a blank line?); re-run `orchard prepare`')


def read_tsv(path: Path, ds: dict[str, Any], *, labels: bool) -> tuple[pd.DataFrame, np.ndarray | None]:
    """A prepared TSV → (model frame: float32 numerics, str categoricals, labels or None)."""
    features = ds['features']
    expected = ['label'] + [f['name'] for f in features]
    if not path.is_file():
        raise InputError(f'{path} does not exist: run `orchard prepare` first, it writes train.tsv, validation.tsv and test.tsv')
    with open(path, 'rb') as fh:
        try:
            header = fh.readline().decode('utf-8').rstrip('\n').split('\t')
        except UnicodeDecodeError:
            raise InputError(f'{path}: the header is not UTF-8; re-run `orchard prepare`') from None
    if header != expected:
        at = next((i for i, (a, b) in enumerate(zip(header, expected)) if a != b), min(len(header), len(expected)))
        got = f'"{header[at]}"' if at < len(header) else 'nothing'
        want = f'"{expected[at]}"' if at < len(expected) else 'nothing'
        raise InputError(f'{path}: header column {at + 1} is {got} but dataset.json expects {want} ({len(header)} vs {len(expected)} columns); '
                         'the TSV files and dataset.json must come from the same `orchard prepare` run')
    try:
        # Verbatim cells: no quoting, no NA spellings ("NA", "null" are categories like any other).
        table = pd.read_csv(path, sep='\t', quoting=csv.QUOTE_NONE, keep_default_na=False, na_filter=False, dtype=str, encoding='utf-8')
    except UnicodeDecodeError as e:
        raise InputError(f'{path} is not UTF-8 ({e}); re-run `orchard prepare`') from None
    except pd.errors.ParserError as e:
        raise InputError(f'{path}: {str(e).strip().splitlines()[-1]}; the file is damaged, re-run `orchard prepare`') from None
    check_field_counts(path, len(expected), len(table))

    columns: dict[str, Any] = {}
    for f in features:
        text = table[f['name']].to_numpy(dtype=object)
        if f['type'] == 'Numeric':
            columns[f['name']] = parse_numbers(text, path, f['name']).astype(np.float32)
        else:
            columns[f['name']] = pd.Series(text, dtype=object)
    frame = pd.DataFrame(columns)
    if not labels:
        return frame, None
    y = parse_numbers(table['label'].to_numpy(dtype=object), path, 'label', allow_empty=False)
    if ds['task'] == 'Regression':
        return frame, y
    classes = len(ds['classNames'])
    bad = (y != np.floor(y)) | (y < 0) | (y >= classes)
    if bad.any():
        i = int(np.argmax(bad))
        raise InputError(f'{path} line {i + 2}: label "{table["label"].iloc[i]}" is not a class index 0..{classes - 1} '
                         f'(dataset.json lists {classes} classNames); re-run `orchard prepare`')
    return frame, y.astype(np.int64)


def make_pool(frame: pd.DataFrame, ds: dict[str, Any], label: np.ndarray | None = None) -> catboost.Pool:
    cat = [i for i, f in enumerate(ds['features']) if f['type'] == 'Categorical']
    return catboost.Pool(data=frame, label=label, cat_features=cat, feature_names=[f['name'] for f in ds['features']])


def parameter_value(text: str) -> bool | int | float | str:
    """catboost.extra holds strings; CatBoost wants typed values for numeric and boolean parameters."""
    if text.lower() in ('true', 'false'):
        return text.lower() == 'true'
    if re.fullmatch(r'[+-]?\d+', text):
        return int(text)
    if re.fullmatch(r'[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?', text):
        return float(text)
    return text


def training_params(ds: dict[str, Any], has_validation: bool) -> dict[str, Any]:
    cb = ds['catboost']
    params: dict[str, Any] = {
        'loss_function': cb.get('lossFunction') or DEFAULT_LOSS[ds['task']],
        'iterations': cb['iterations'], 'depth': cb['depth'], 'random_seed': cb['randomSeed'],
        'thread_count': -1, 'allow_writing_files': False,
        # With an eval set CatBoost keeps only the best iteration's trees by default; that is
        # wanted only with early stopping, otherwise the validation split is just for the log.
        'use_best_model': has_validation and cb.get('earlyStoppingRounds') is not None,
    }
    for key, name in (('learningRate', 'learning_rate'), ('l2LeafReg', 'l2_leaf_reg'), ('oneHotMaxSize', 'one_hot_max_size'),
                      ('maxCtrComplexity', 'max_ctr_complexity'), ('borderCount', 'border_count'),
                      ('growPolicy', 'grow_policy'), ('maxLeaves', 'max_leaves'), ('autoClassWeights', 'auto_class_weights'),
                      ('evalMetric', 'eval_metric'), ('bootstrapType', 'bootstrap_type'), ('subsample', 'subsample'),
                      ('baggingTemperature', 'bagging_temperature'), ('classWeights', 'class_weights')):
        if cb.get(key) is not None:
            params[name] = cb[key]
    if has_validation and cb.get('earlyStoppingRounds') is not None:
        params['early_stopping_rounds'] = cb['earlyStoppingRounds']
    if ds['task'] != 'Regression':
        # One output per class in classNames even when the training split lacks a class.
        params['class_names'] = list(range(len(ds['classNames'])))
    if ds['compute']['device'] == 'GPU':
        params.update(task_type='GPU', devices=':'.join(str(i) for i in range(max(1, ds['compute']['gpus']))))
    else:
        params['task_type'] = 'CPU'
    # The spec's escape hatch comes last. Admission refuses in it every key set above, and their
    # aliases (EXTRA_OVERRIDES in operator/src/api/v1alpha1/training-run.ts), so it only adds.
    params.update({k: parameter_value(v) for k, v in cb.get('extra', {}).items() if k not in LOGGING_PARAMS})
    return params


class Progress:
    """Turns CatBoost's per-iteration log (verbose=1, captured with log_cout; user callbacks are
    not supported on GPU) into one line every ~10% of the iterations and one at the end."""

    LINE = re.compile(r'^(\d+):\tlearn: (\S+)(?:\ttest: (\S+)\tbest: (\S+) \((\d+)\))?')

    def __init__(self, iterations: int, metric: str) -> None:
        self.iterations, self.metric = iterations, metric
        self.every = max(1, math.ceil(iterations / 10))
        self.pending = ''
        self.last: re.Match[str] | None = None
        self.shown: re.Match[str] | None = None
        self.stopped_early = False

    def write(self, text: str) -> None:
        *lines, self.pending = (self.pending + text).split('\n')
        for line in lines:
            self.stopped_early |= line.startswith('Stopped by overfitting detector')
            if line.startswith('Learning rate set to'):  # CatBoost's choice when learningRate is unset
                print(f'train: learning rate set to {line.split()[-1]}', flush=True)
            if m := self.LINE.match(line):
                self.last = m
                if (int(m[1]) + 1) % self.every == 0:
                    self.show(m)

    def flush(self) -> None:
        pass

    def finish(self) -> None:
        if self.last is not None and self.last is not self.shown:
            self.show(self.last)

    def show(self, m: re.Match[str]) -> None:
        # Iterations count trees built (1-based); "at" is the tree count of the best model.
        at = f'iteration {int(m[1]) + 1}/{self.iterations}'
        if m[3] is not None:
            print(f'train: {at}, validation {self.metric} {float(m[3]):.5g} (best {float(m[4]):.5g} at {int(m[5]) + 1})', flush=True)
        else:
            print(f'train: {at}, learn {self.metric} {float(m[2]):.5g}', flush=True)
        self.shown = m


def inverse_target(y: np.ndarray, target: dict[str, Any]) -> np.ndarray:
    """Training label → original units (operator/src/features/target.ts inverseLabel)."""
    undo = {'None': lambda v: v, 'Log': np.exp, 'Log1p': np.expm1}[target['transform']]
    return undo(np.asarray(y, dtype=np.float64)) * float(target['scale'])


def target_smearing(model: catboost.CatBoost, ds: dict[str, Any], pool: catboost.Pool, y_train: np.ndarray) -> float | None:
    """Duan's smearing factor, mean(exp(residual)) on the training split, for estimate Mean of a log target; else None."""
    target = ds['target']
    if ds['task'] != 'Regression' or target['transform'] == 'None' or target.get('estimate', 'Median') != 'Mean':
        return None
    raw = np.asarray(model.predict(pool, prediction_type='RawFormulaVal', thread_count=-1), dtype=np.float64)
    return float(np.mean(np.exp(np.asarray(y_train, dtype=np.float64) - raw)))


def prediction_of(raw: np.ndarray, target: dict[str, Any], smearing: float | None) -> np.ndarray:
    """Raw score → prediction as the ONNX graph computes it (operator/src/features/target.ts predictionOf)."""
    if smearing is None:
        return inverse_target(raw, target)
    # exp(z)·s estimates E[exp(label)]: the mean of y for Log, of 1 + y for Log1p.
    mean = np.exp(np.asarray(raw, dtype=np.float64)) * smearing
    return (mean - 1 if target['transform'] == 'Log1p' else mean) * float(target['scale'])


def regression_metrics(y: np.ndarray, pred: np.ndarray) -> dict[str, float]:
    err = pred - y
    out = {'RMSE': math.sqrt(np.mean(err * err)), 'MAE': float(np.mean(np.abs(err)))}
    spread = float(np.sum((y - np.mean(y)) ** 2))
    if spread > 0:  # R2 is undefined on a constant test target
        out['R2'] = 1.0 - float(np.sum(err * err)) / spread
    return out


def binary_logloss(y: np.ndarray, p: np.ndarray) -> float:
    p = np.clip(p, EPS, 1 - EPS)
    return float(-np.mean(np.where(y == 1, np.log(p), np.log1p(-p))))


def binary_metrics(y: np.ndarray, p: np.ndarray, top_fraction: float) -> dict[str, float]:
    n, pos = len(y), y == 1
    npos = int(pos.sum())
    out: dict[str, float] = {}
    if 0 < npos < n:  # AUC needs both classes
        ranks = rankdata(p)  # ties get their average rank
        out['AUC'] = float((ranks[pos].sum() - npos * (npos + 1) / 2) / (npos * (n - npos)))
    out['LogLoss'] = binary_logloss(y, p)
    predicted = p > 0.5  # CatBoost's own class: raw score > 0
    tp = int(np.sum(predicted & pos))
    out['Accuracy'] = float(np.mean(predicted == pos))
    if predicted.any():  # undefined, not 0, when nothing is predicted positive
        out['Precision'] = tp / int(predicted.sum())
    if npos > 0:
        out['Recall'] = tp / npos
    if 2 * tp + int(np.sum(predicted != pos)) > 0:
        out['F1'] = 2 * tp / (2 * tp + int(np.sum(predicted != pos)))
    k = min(n, max(1, math.ceil(top_fraction * n - 1e-9)))  # - 1e-9: 0.07 * 100 is 7.000000000000001
    hits = int(pos[np.argsort(-p, kind='stable')[:k]].sum())
    out['PrecisionAtK'] = hits / k
    if npos > 0:
        out['RecallAtK'] = hits / npos
        out['LiftAtK'] = (hits / k) / (npos / n)
    return out


def multiclass_metrics(y: np.ndarray, proba: np.ndarray) -> dict[str, float]:
    p_true = np.clip(proba[np.arange(len(y)), y], EPS, 1.0)
    per_class = class_scores(confusion_matrix(y, predicted_classes(proba), proba.shape[1]))
    return {'Accuracy': float(np.mean(np.argmax(proba, axis=1) == y)), 'LogLoss': float(-np.mean(np.log(p_true))),
            **macro_scores(per_class)}


def predicted_classes(proba: np.ndarray) -> np.ndarray:
    """The class CatBoost predicts: p > 0.5 for binary (ties go negative), the first most probable otherwise."""
    return (proba[:, 1] > 0.5).astype(np.int64) if proba.shape[1] == 2 else np.argmax(proba, axis=1)


def confusion_matrix(y: np.ndarray, predicted: np.ndarray, classes: int, weights: np.ndarray | None = None) -> np.ndarray:
    """[true class, predicted class] → count (or summed weight)."""
    cm = np.zeros((classes, classes), dtype=np.float64)
    np.add.at(cm, (y, predicted), 1.0 if weights is None else weights)
    return cm


def class_scores(cm: np.ndarray) -> list[dict[str, float]]:
    """Precision, recall and F1 of each class against the rest; 0 where a class is never predicted or absent."""
    out = []
    for c in range(cm.shape[0]):
        tp, support, predicted = float(cm[c, c]), float(cm[c].sum()), float(cm[:, c].sum())
        out.append({'precision': tp / predicted if predicted > 0 else 0.0, 'recall': tp / support if support > 0 else 0.0,
                    'f1': 2 * tp / (support + predicted) if support + predicted > 0 else 0.0, 'support': support})
    return out


def macro_scores(per_class: list[dict[str, float]]) -> dict[str, float]:
    """Averages over the classes present in the test split: an absent class has no recall to average."""
    present = [c for c in per_class if c['support'] > 0]
    return {'MacroF1': float(np.mean([c['f1'] for c in present])), 'BalancedAccuracy': float(np.mean([c['recall'] for c in present]))}


def class_weights_of(model: catboost.CatBoost, classes: int) -> np.ndarray | None:
    """The weights CatBoost trained with (autoClassWeights or classWeights), or None when all are 1."""
    weights = model.get_all_params().get('class_weights')
    if not weights or len(weights) != classes or all(float(w) == 1.0 for w in weights):
        return None
    return np.asarray(weights, dtype=np.float64)


def weighted_metrics(y: np.ndarray, proba: np.ndarray, class_weights: np.ndarray, binary: bool) -> dict[str, float]:
    """The test metrics with each row weighted by its true class's weight, as CatBoost weighs them in training."""
    w = class_weights[y]
    predicted = predicted_classes(proba)
    p_true = np.clip(proba[np.arange(len(y)), y], EPS, 1 - EPS if binary else 1.0)  # as binary_logloss and multiclass_metrics clip
    out = {'LogLoss': float(-np.sum(w * np.log(p_true)) / w.sum()), 'Accuracy': float(np.sum(w * (predicted == y)) / w.sum())}
    per_class = class_scores(confusion_matrix(y, predicted, proba.shape[1], w))
    if binary:
        positive = per_class[1]
        if float(np.sum(w * (predicted == 1))) > 0:
            out['Precision'] = positive['precision']
        if positive['support'] > 0:
            out['Recall'] = positive['recall']
        if positive['support'] > 0 or 'Precision' in out:
            out['F1'] = positive['f1']
    else:
        out.update(macro_scores(per_class))
    return out


def calibration(y: np.ndarray, proba: np.ndarray, binary: bool) -> dict[str, Any]:
    """Reliability diagram in equal-width bins: binary on P(positive); multiclass on the predicted class's
    probability (confidence) against how often that class is right."""
    if binary:
        kind, p, hit = 'PositiveClass', proba[:, 1], (y == 1)
    else:
        predicted = np.argmax(proba, axis=1)
        kind, p, hit = 'PredictedClass', proba[np.arange(len(y)), predicted], (predicted == y)
    which = np.minimum((p * CALIBRATION_BINS).astype(np.int64), CALIBRATION_BINS - 1)
    bins, ece = [], 0.0
    for b in range(CALIBRATION_BINS):
        inside = which == b
        n = int(inside.sum())
        entry: dict[str, Any] = {'lower': b / CALIBRATION_BINS, 'upper': (b + 1) / CALIBRATION_BINS, 'count': n}
        if n:
            entry.update(meanPredicted=float(p[inside].mean()), observed=float(hit[inside].mean()))
            ece += n / len(y) * abs(entry['observed'] - entry['meanPredicted'])
        bins.append(entry)
    return {'kind': kind, 'bins': bins, 'expectedCalibrationError': ece}


def classification_report(model: catboost.CatBoost, ds: dict[str, Any], pool: catboost.Pool, y: np.ndarray) -> dict[str, Any]:
    """What metrics.json adds for classifiers: per-class scores, the confusion matrix, calibration, and
    with class weights the weighted metrics beside the unweighted ones."""
    proba = np.asarray(model.predict(pool, prediction_type='Probability', thread_count=-1), dtype=np.float64)
    names, binary = ds['classNames'], ds['task'] == 'BinaryClassification'
    cm = confusion_matrix(y, predicted_classes(proba), len(names))
    report: dict[str, Any] = {
        'classes': [{'name': n, **s, 'support': int(s['support'])} for n, s in zip(names, class_scores(cm))],
        'confusionMatrix': {'labels': names, 'counts': cm.astype(np.int64).tolist()},
        'calibration': calibration(y, proba, binary),
    }
    weights = class_weights_of(model, len(names))
    if weights is not None:
        report['classWeights'] = weights.tolist()
        report['weightedMetrics'] = weighted_metrics(y, proba, weights, binary)
    return report


def svg_document(width: int, height: int, title: str, body: list[str]) -> str:
    width = max(width, 20 + 8 * len(title))  # room for the title at 14 px
    return '\n'.join([
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        'font-family="sans-serif" font-size="12">',
        f'<title>{escape(title)}</title>',
        f'<rect width="{width}" height="{height}" fill="white"/>',
        f'<text x="{width / 2:.1f}" y="20" text-anchor="middle" font-size="14">{escape(title)}</text>',
        *body, '</svg>', ''])


def importance_svg(shap: list[dict[str, Any]]) -> str:
    """Horizontal bars of mean |SHAP|, most important first."""
    shown = shap[:IMPORTANCE_BARS]
    label_width = min(240, 20 + 7 * max(len(f['name']) for f in shown))
    bar_width, row, top = 360, 22, 40
    largest = max(f['importance'] for f in shown) or 1.0
    body = []
    for i, f in enumerate(shown):
        y = top + i * row
        w = bar_width * f['importance'] / largest
        name = f['name'] if len(f['name']) <= 32 else f['name'][:31] + '…'
        body += [f'<text x="{label_width - 6}" y="{y + 15}" text-anchor="end">{escape(name)}</text>',
                 f'<rect class="bar" x="{label_width}" y="{y + 3}" width="{w:.2f}" height="{row - 6}" fill="#4c78a8">'
                 f'<title>{escape(f["name"])}: {f["importance"]:.6g}</title></rect>',
                 f'<text x="{label_width + w + 4:.2f}" y="{y + 15}">{f["importance"]:.3g}</text>']
    more = f' ({len(shown)} of {len(shap)})' if len(shown) < len(shap) else ''
    return svg_document(label_width + bar_width + 70, top + len(shown) * row + 30, f'Feature importance: mean |SHAP| on the test split{more}', body)


def calibration_svg(cal: dict[str, Any]) -> str:
    """Observed frequency against mean predicted probability per bin; the diagonal is perfect calibration."""
    left, top, size = 60, 40, 360
    x = lambda v: left + v * size  # noqa: E731
    y = lambda v: top + (1 - v) * size  # noqa: E731
    body = [f'<rect x="{left}" y="{top}" width="{size}" height="{size}" fill="none" stroke="#999"/>',
            f'<line x1="{x(0)}" y1="{y(0)}" x2="{x(1)}" y2="{y(1)}" stroke="#bbb" stroke-dasharray="4 4"/>']
    for t in (0, 0.25, 0.5, 0.75, 1):
        body += [f'<text x="{x(t):.1f}" y="{top + size + 16}" text-anchor="middle">{t:g}</text>',
                 f'<text x="{left - 6}" y="{y(t) + 4:.1f}" text-anchor="end">{t:g}</text>']
    filled = [b for b in cal['bins'] if b['count'] > 0]
    points = ' '.join(f'{x(b["meanPredicted"]):.2f},{y(b["observed"]):.2f}' for b in filled)
    body.append(f'<polyline points="{points}" fill="none" stroke="#e45756" stroke-width="2"/>')
    body += [f'<circle class="point" cx="{x(b["meanPredicted"]):.2f}" cy="{y(b["observed"]):.2f}" r="4" fill="#e45756">'
             f'<title>{b["lower"]:g}-{b["upper"]:g}: {b["count"]} rows, predicted {b["meanPredicted"]:.3f}, observed {b["observed"]:.3f}</title></circle>'
             for b in filled]
    axis = 'P(positive class)' if cal['kind'] == 'PositiveClass' else 'probability of the predicted class'
    truth = 'share positive' if cal['kind'] == 'PositiveClass' else 'share correct'
    body += [f'<text x="{x(0.5)}" y="{top + size + 34}" text-anchor="middle">mean {axis}</text>',
             f'<text x="16" y="{y(0.5)}" text-anchor="middle" transform="rotate(-90 16 {y(0.5)})">{truth}</text>']
    return svg_document(left + size + 30, top + size + 50, f'Calibration on the test split (ECE {cal["expectedCalibrationError"]:.3f})', body)


def confusion_svg(cm: dict[str, Any]) -> str:
    """Cells shaded by the share of each true class (row) predicted as each class, with the counts."""
    labels, counts = cm['labels'], np.asarray(cm['counts'], dtype=np.float64)
    k = len(labels)
    cell = max(14, min(60, 480 // k))
    label_width = min(160, 20 + 7 * max(len(n) for n in labels))
    left, top = label_width + 30, 60 + label_width
    short = lambda n: n if len(n) <= 20 else n[:19] + '…'  # noqa: E731
    body = [f'<text x="{left + k * cell / 2:.1f}" y="44" text-anchor="middle">predicted</text>',
            f'<text x="14" y="{top + k * cell / 2:.1f}" text-anchor="middle" transform="rotate(-90 14 {top + k * cell / 2:.1f})">true</text>']
    for i, name in enumerate(labels):
        cx, cy = left + (i + 0.5) * cell, top + (i + 0.5) * cell
        body += [f'<text x="{left - 6}" y="{cy + 4:.1f}" text-anchor="end">{escape(short(name))}</text>',
                 f'<text x="{cx:.1f}" y="{top - 6}" transform="rotate(-60 {cx:.1f} {top - 6})">{escape(short(name))}</text>']
    for t in range(k):
        total = counts[t].sum()
        for p in range(k):
            share = counts[t, p] / total if total > 0 else 0.0
            shade = int(round(255 - 200 * share))
            text_colour = 'white' if share > 0.6 else 'black'
            body.append(f'<rect class="cell" x="{left + p * cell}" y="{top + t * cell}" width="{cell}" height="{cell}" '
                        f'fill="rgb({shade},{shade},255)" stroke="white">'
                        f'<title>true {escape(labels[t])}, predicted {escape(labels[p])}: {int(counts[t, p])} ({share:.1%} of the row)</title></rect>')
            if cell >= 28:
                body.append(f'<text x="{left + (p + 0.5) * cell:.1f}" y="{top + (t + 0.5) * cell + 4:.1f}" text-anchor="middle" '
                            f'fill="{text_colour}">{int(counts[t, p])}</text>')
    return svg_document(left + k * cell + 20, top + k * cell + 20, 'Confusion matrix on the test split (shaded by row share)', body)


def plots(shap: list[dict[str, Any]], details: dict[str, Any]) -> dict[str, str]:
    """File name → SVG text: feature importance for every task, calibration and confusion matrix for classifiers."""
    out = {'feature-importance.svg': importance_svg(shap)}
    if 'calibration' in details:
        out['calibration.svg'] = calibration_svg(details['calibration'])
        out['confusion-matrix.svg'] = confusion_svg(details['confusionMatrix'])
    return out


def evaluate(model: catboost.CatBoost, ds: dict[str, Any], pool: catboost.Pool, y: np.ndarray,
             y_train: np.ndarray, smearing: float | None = None) -> tuple[dict[str, float], dict[str, float]]:
    """Test-split metrics and those of a constant predictor fitted on the training labels."""
    task = ds['task']
    if task == 'Regression':
        truth = inverse_target(y, ds['target'])
        pred = prediction_of(model.predict(pool, prediction_type='RawFormulaVal', thread_count=-1), ds['target'], smearing)
        mean = float(np.mean(inverse_target(y_train, ds['target'])))
        return regression_metrics(truth, pred), regression_metrics(truth, np.full(len(truth), mean))
    proba = model.predict(pool, prediction_type='Probability', thread_count=-1)
    if task == 'BinaryClassification':
        rate = float(np.mean(y_train == 1))
        return (binary_metrics(y, proba[:, 1], ds['evaluation']['topFraction']),
                {'LogLoss': binary_logloss(y, np.full(len(y), rate)), 'AUC': 0.5})
    freq = np.bincount(y_train, minlength=len(ds['classNames'])) / len(y_train)
    return multiclass_metrics(y, proba), {'LogLoss': float(-np.mean(np.log(np.clip(freq[y], EPS, 1.0)))),
                                          'Accuracy': float(np.mean(y == np.argmax(freq)))}


def shap_importance(model: catboost.CatBoost, pool: catboost.Pool, names: list[str], seed: int) -> list[dict[str, Any]]:
    """Mean |SHAP| per feature on (a deterministic sample of) the test split."""
    if all(int(c) == 1 for c in model.get_tree_leaf_counts()):
        # Every tree a lone leaf: SHAP values are all 0, and CatBoost 1.2 crashes (SIGSEGV) computing them for Depthwise trees.
        return [{'name': name, 'importance': 0.0} for name in names]
    if pool.num_row() > SHAP_ROWS:
        rows = np.sort(np.random.default_rng(seed).choice(pool.num_row(), SHAP_ROWS, replace=False))
        pool = pool.slice(rows.tolist())
    values = np.asarray(model.get_feature_importance(type='ShapValues', data=pool, thread_count=-1))
    # [rows, features + 1], or [rows, classes, features + 1] for multiclass; the last column is the expected value.
    per_feature = np.abs(values[..., :-1]).reshape(-1, len(names)).mean(axis=0)
    order = sorted(range(len(names)), key=lambda i: -per_feature[i])
    return [{'name': names[i], 'importance': float(per_feature[i])} for i in order]


def json_safe(value: Any) -> Any:
    """get_all_params() may hold numpy scalars and non-finite floats; JSON has neither."""
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [json_safe(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


def write_json(path: Path, value: Any) -> None:
    path.write_text(json.dumps(value, indent=2, allow_nan=False) + '\n', encoding='utf-8')


def catboost_message(e: Exception) -> str:
    first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    return re.sub(r'^\S+\.(cpp|h|pyx):\d+: ', '', first)  # drop CatBoost's source location


def train(data: Path, out: Path) -> None:
    ds = load_dataset(data / 'dataset.json')
    task, names = ds['task'], [f['name'] for f in ds['features']]
    train_x, y_train = read_tsv(data / 'train.tsv', ds, labels=True)
    val_x, y_val = read_tsv(data / 'validation.tsv', ds, labels=True)
    test_x, y_test = read_tsv(data / 'test.tsv', ds, labels=True)
    for split, frame in (('train', train_x), ('test', test_x)):
        if len(frame) == 0:
            raise InputError(f'{data / f"{split}.tsv"} has no rows: the {split} split is empty; '
                             'use more data, loosen the filters, or change spec.data.split')
    if task != 'Regression' and len(np.unique(y_train)) < 2:
        raise InputError(f'{data / "train.tsv"}: every label is class {int(y_train[0])} ("{ds["classNames"][int(y_train[0])]}"); '
                         'a classifier needs at least two classes in the training split')

    has_validation = len(val_x) > 0
    params = training_params(ds, has_validation)
    train_pool = make_pool(train_x, ds, y_train)
    val_pool = make_pool(val_x, ds, y_val) if has_validation else None
    test_pool = make_pool(test_x, ds, y_test)
    metric = str(params.get('eval_metric', params['loss_function']))
    print(f'train: {params["iterations"]} iterations of depth {params["depth"]}, {metric} on {params["task_type"]}; '
          f'{len(train_x)} train, {len(val_x)} validation, {len(test_x)} test rows', flush=True)
    for key in LOGGING_PARAMS:
        if key in ds['catboost'].get('extra', {}):
            print(f'train: ignoring catboost.extra.{key}: the trainer sets the logging itself', flush=True)
    if ds['catboost'].get('earlyStoppingRounds') is not None and not has_validation:
        print('train: the validation split is empty, so early stopping is off', flush=True)

    progress = Progress(params['iterations'], metric.split(':')[0])
    model = catboost.CatBoost(params)
    started = time.perf_counter()
    try:
        model.fit(train_pool, eval_set=val_pool, verbose=1, log_cout=progress, log_cerr=sys.stderr)
    except catboost.CatBoostError as e:
        raise InputError(f'CatBoost refused to train: {catboost_message(e)}; check spec.catboost (lossFunction, evalMetric, extra) and the data') from None
    seconds = time.perf_counter() - started
    progress.finish()

    smearing = target_smearing(model, ds, train_pool, y_train)
    metrics, baseline = evaluate(model, ds, test_pool, y_test, y_train, smearing)
    shap = shap_importance(model, test_pool, names, ds['catboost']['randomSeed'])
    details = classification_report(model, ds, test_pool, y_test) if task != 'Regression' else {}
    charts = plots(shap, details)
    best = model.get_best_iteration()
    report: dict[str, Any] = {
        'task': task, 'metrics': metrics, 'baseline': baseline,
        **({'targetSmearing': smearing} if smearing is not None else {}),
        **({'bestIteration': int(best)} if best is not None else {}),
        'treeCount': int(model.tree_count_), 'iterations': params['iterations'], 'trainSeconds': seconds,
        'device': ds['compute']['device'], 'catboostVersion': catboost.__version__,
        'lossFunction': str(params['loss_function']), 'params': json_safe(model.get_all_params()),
        **details, 'plots': sorted(charts),
    }

    # Everything goes to a staging directory beside --out first, so --out only ever holds whole files.
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f'.{out.name}.staging-', dir=out.parent))
    try:
        staging.chmod(0o755)  # mkdtemp makes it private, and it may become --out itself
        model.save_model(str(staging / 'model.cbm'))
        # The pool puts cat_features_hash (category string → hash) into the JSON, which the exporter needs.
        model.save_model(str(staging / 'model.json'), format='json', pool=train_pool)
        write_json(staging / 'metrics.json', report)
        write_json(staging / 'shap.json', shap)
        for name, text in charts.items():
            (staging / name).write_text(text, encoding='utf-8')
        if out.exists():
            for f in staging.iterdir():
                os.replace(f, out / f.name)
        else:
            os.rename(staging, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    stopped = f', stopped early after {int(progress.last[1]) + 1} iterations' if progress.stopped_early and progress.last else ''
    shown = ', '.join(f'{k} {v:.5g} (baseline {baseline[k]:.5g})' if k in baseline else f'{k} {v:.5g}' for k, v in metrics.items())
    print(f'train: done in {seconds:.1f} s{stopped}, {model.tree_count_} trees; test {shown}', flush=True)
    if smearing is not None:
        print(f'train: predictions estimate the mean: smearing factor {smearing:.6g} from the training split', flush=True)
    if 'weightedMetrics' in details:
        weighted = ', '.join(f'{k} {v:.5g}' for k, v in details['weightedMetrics'].items())
        classes = ', '.join(f'{n} {w:.4g}' for n, w in zip(ds['classNames'], details['classWeights']))
        print(f'train: test weighted by class ({classes}): {weighted}', flush=True)


def predict(model_path: Path, data: Path, dataset: Path, out: Path) -> None:
    ds = load_dataset(dataset)
    frame, _ = read_tsv(data, ds, labels=False)
    if not model_path.is_file():
        raise InputError(f'{model_path} does not exist: run `orchard train` first')
    model = catboost.CatBoost()
    try:
        model.load_model(str(model_path))
    except catboost.CatBoostError as e:
        raise InputError(f'{model_path} is not a CatBoost model ({catboost_message(e)})') from None
    names = [f['name'] for f in ds['features']]
    classes = len(ds.get('classNames') or [])
    if list(model.feature_names_) != names or len(model.get_all_params().get('class_names') or []) != classes:
        raise InputError(f'{model_path} does not fit {dataset} (features {model.feature_names_} vs {names}, or another task); '
                         'use the model trained on this prepared directory')
    header = [f'raw_{j}' for j in range(classes if ds['task'] == 'MulticlassClassification' else 1)]
    header += [f'proba_{j}' for j in range(classes)]
    lines = ['\t'.join(header)]
    if len(frame) > 0:  # CatBoost rejects an empty pool; an empty input gives just the header
        pool = make_pool(frame, ds)
        outputs = [np.asarray(model.predict(pool, prediction_type='RawFormulaVal', thread_count=-1), dtype=np.float64).reshape(len(frame), -1)]
        if classes:
            outputs.append(np.asarray(model.predict(pool, prediction_type='Probability', thread_count=-1), dtype=np.float64))
        values = np.hstack(outputs)
        # tolist() gives Python floats, whose repr() is the shortest text that reads back as the same float64.
        lines += ['\t'.join(map(repr, row)) for row in values.tolist()]
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f'.{out.name}.tmp-{os.getpid()}')
    try:
        tmp.write_text('\n'.join(lines) + '\n', encoding='utf-8')
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        print(f'orchard train: {message} (usage: {self.format_usage().strip().removeprefix("usage: ")})', file=sys.stderr)
        sys.exit(2)


def main(argv: list[str] | None = None) -> int:
    parser = Parser(prog='orchard_trainer.py', description='Orchard CatBoost trainer')
    commands = parser.add_subparsers(dest='command', required=True, parser_class=Parser)
    t = commands.add_parser('train', help='train on a prepared directory and score its test split')
    t.add_argument('--data', type=Path, required=True, help='prepared directory (dataset.json, train/validation/test.tsv)')
    t.add_argument('--out', type=Path, required=True, help='model directory to write')
    p = commands.add_parser('predict', help="CatBoost's raw scores and probabilities for a prepared TSV")
    p.add_argument('--model', type=Path, required=True, help='model.cbm')
    p.add_argument('--data', type=Path, required=True, help='TSV in the train.tsv format (labels may be empty)')
    p.add_argument('--dataset', type=Path, required=True, help='dataset.json of the prepared directory')
    p.add_argument('--out', type=Path, required=True, help='TSV to write')
    args = parser.parse_args(argv)
    try:
        if args.command == 'train':
            train(args.data, args.out)
        else:
            predict(args.model, args.data, args.dataset, args.out)
    except InputError as e:
        print(f'orchard train: {e}', file=sys.stderr, flush=True)
        return 2
    return 0


if __name__ == '__main__':
    sys.exit(main())
