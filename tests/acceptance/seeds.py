"""Scratch repositories in the layouts of the seed documents (../shared/seeds/), written as a
team following each document and then the README would write them: nothing else changed."""

from __future__ import annotations

import json
from pathlib import Path

EXAMPLE = Path(__file__).parents[2] / "pipelines" / "wine_quality"
STAGING = "environments:\n  staging:\n    endpoint: staging\n    primary_metric: accuracy\n"


def seed_000() -> dict[str, str]:
    """Seed 000: a folder per pipeline (pipelines/<name>/definition.py, components/, src/,
    Dockerfile, run.py, serving/): the repository's own example is exactly that."""
    files = {str(p.relative_to(EXAMPLE.parent.parent)): p.read_text()
             for p in EXAMPLE.rglob("*") if p.is_file() and "__pycache__" not in p.parts}
    return {".gitignore": ".mlops/\n", "mlops.yaml": STAGING, **files}


# Seed 001: one library `kfx/` with one root Dockerfile + setup.py for every component, each
# pipeline a script in kfx/pipelines/<folder>/ with a module-level argparse (defaults: the bot
# runs it with no arguments, README "Your repository"), Google Cloud Pipeline Components and
# aiplatform imported at compile time (declared beside the script), an ExitHandler that mails.
GCPC = "google-cloud-pipeline-components==2.22.0"  # the cached env of test_compile_environments
SEED_001_PIPELINE = """\
import argparse
from datetime import datetime

import google_cloud_pipeline_components as gcpc
from google.cloud import aiplatform
from google_cloud_pipeline_components.v1.custom_job import (
    create_custom_training_job_from_component)
from google_cloud_pipeline_components.v1.dataset import TabularDatasetCreateOp
from google_cloud_pipeline_components.v1.vertex_notification_email import (
    VertexNotificationEmailOp)
from kfp import dsl

from kfx.components.statistics_gen.bq_statistics_gen import generate_statistics

parser = argparse.ArgumentParser()
parser.add_argument('--pipeline-name', default='beans')
parser.add_argument('--project-id', default='my-project')
parser.add_argument('--recipients', nargs='*', default=['team@example.com'])
args = parser.parse_args()
train_job = create_custom_training_job_from_component(generate_statistics, display_name='train')
assert gcpc.__version__ and aiplatform.__version__.startswith('1.') and datetime.now()


@dsl.pipeline(name=args.pipeline_name)
def pipeline(bq_source: str = 'bq://p.d.t', project: str = args.project_id,
             region: str = 'us-central1'):
    with dsl.ExitHandler(VertexNotificationEmailOp(recipients=args.recipients)):
        dataset = TabularDatasetCreateOp(display_name='beans', bq_source=bq_source,
                                         project=project, location=region)
        stats = generate_statistics(bq_source=bq_source).after(dataset)
        train_job(bq_source=stats.output, project=project, location=region)
"""
SEED_001_COMPONENT = """\
from kfp import dsl


@dsl.component(base_image='kfx')
def generate_statistics(bq_source: str) -> str:
    from kfx.utils.str_utils import describe
    return describe(bq_source)
"""


def seed_001() -> dict[str, str]:
    folder = "kfx/pipelines/bq_sklearn_train_pipeline"
    return {
        ".gitignore": ".mlops/\n",
        "mlops.yaml": ("entries: ['kfx/pipelines/*/*.py']\nrun_branches: []\n"
                       "images:\n- {name: kfx, inputs: [kfx, setup.py, Dockerfile]}\n"),
        "Dockerfile": "FROM python:3.11-slim\nWORKDIR /\nCOPY ./kfx /kfx\nCOPY setup.py setup.py\n"
                      "RUN pip install .\n",
        "setup.py": ("from setuptools import find_packages, setup\n\n"
                     "setup(name='kfx', version='0.1', packages=find_packages())\n"),
        "requirements.txt": "pandas\n",
        "kfx/__init__.py": "",
        "kfx/utils/__init__.py": "",
        "kfx/utils/str_utils.py": "def describe(source: str) -> str:\n    return source.upper()\n",
        "kfx/components/__init__.py": "",
        "kfx/components/statistics_gen/__init__.py": "",
        "kfx/components/statistics_gen/bq_statistics_gen.py": SEED_001_COMPONENT,
        "kfx/pipelines/__init__.py": "",
        f"{folder}/__init__.py": "",
        f"{folder}/bq_preprocess_train_pipeline.py": SEED_001_PIPELINE,
        f"{folder}/requirements.txt": GCPC + "\n",
    }


# Seed 003: one file per pipeline directly in pipelines/, container components in components/
# with src/, component.yaml, Dockerfile and requirements.txt; component.yaml names the image the
# repository builds from the component's folder (`shared-<name>`, README "Your repository").
SEED_003_PIPELINE = """\
from kfp import components, dsl

prepare = components.load_component_from_file('components/prepare/component.yaml')
train = components.load_component_from_file('components/train/component.yaml')


@dsl.pipeline(name='{name}')
def pipeline(rows: int = 4):
    data = prepare(rows=rows)
    train(data=data.outputs['data'])


if __name__ == '__main__':
    from kfp import compiler
    compiler.Compiler().compile(pipeline, '{name}.json')
"""
# Beside the pipelines: the script that compiles and submits one (not a pipeline).
SEED_003_DEPLOY = """\
import argparse

from kfp import compiler

from churn import pipeline

if __name__ == '__main__':
    parser = argparse.ArgumentParser()
    parser.add_argument('--identifier', required=True)
    args = parser.parse_args()
    compiler.Compiler().compile(pipeline, 'pipeline.json')
    from google.cloud import aiplatform
    aiplatform.PipelineJob(display_name=args.identifier, template_path='pipeline.json').submit()
"""
SEED_003_COMPONENT = """\
name: {name}
inputs:
{inputs}
outputs:
- {{name: {output}, type: {kind}}}
implementation:
  container:
    image: shared-{name}
    command: [python, /app/src/main.py]
    args: [{args}, --out, {{outputPath: {output}}}]
"""
SEED_003_MAIN = """\
import argparse
from pathlib import Path

parser = argparse.ArgumentParser()
parser.add_argument('--rows', type=int, default=0)
parser.add_argument('--data')
parser.add_argument('--out')
args = parser.parse_args()
Path(args.out).parent.mkdir(parents=True, exist_ok=True)
if args.data:
    rows = [int(x) for x in Path(args.data).read_text().split()]
    Path(args.out).write_text(f'mean={sum(rows) / len(rows)}\\n')
else:
    Path(args.out).write_text(''.join(f'{i}\\n' for i in range(args.rows)))
"""
SEED_003_DOCKERFILE = """\
FROM python:3.11-slim
WORKDIR /app
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt
COPY src ./src
USER 10001
"""


def seed_003() -> dict[str, str]:
    files = {".gitignore": ".mlops/\n",
             "mlops.yaml": "entries: ['pipelines/*.py']\nlocal:\n  builder: docker\n"
                           "pipelines: {fraud: {run: false}}\n",
             "pipelines/__init__.py": "",
             "pipelines/churn.py": SEED_003_PIPELINE.format(name="churn"),
             "pipelines/fraud.py": SEED_003_PIPELINE.format(name="fraud"),
             "pipelines/deploy_pipeline.py": SEED_003_DEPLOY}
    for name, inputs, output, kind, args in (
            ("prepare", "- {name: rows, type: Integer}", "data", "Dataset",
             "--rows, {inputValue: rows}"),
            ("train", "- {name: data, type: Dataset}", "model", "Model",
             "--data, {inputPath: data}")):
        folder = f"components/{name}"
        files.update({
            f"{folder}/component.yaml": SEED_003_COMPONENT.format(
                name=name, inputs=inputs, output=output, kind=kind, args=args),
            f"{folder}/Dockerfile": SEED_003_DOCKERFILE,
            f"{folder}/requirements.txt": "# the standard library is enough\n",
            f"{folder}/src/main.py": SEED_003_MAIN,
            f"{folder}/build_image.sh": "gcloud builds submit --tag gcr.io/p/" + name + " .\n"})
    return files


# Seed 004: an Airflow DAG's steps (ingest, train, evaluate) as a KFP pipeline; the model is
# saved as an MLflow sklearn model folder (MLmodel + model.pkl, written as mlflow writes them).
SEED_004_DEFINITION = """\
from kfp import dsl
from kfp.dsl import Dataset, Input, Metrics, Model, Output


@dsl.component(base_image='lifecycle')
def ingest(data: Output[Dataset]):
    from src.data import read_data
    read_data(data.path)


@dsl.component(base_image='lifecycle')
def train(data: Input[Dataset], model: Output[Model], max_depth: int):
    from src.models import save_mlflow_model, train_model
    save_mlflow_model(train_model(data.path, max_depth), model.path)


@dsl.component(base_image='lifecycle')
def evaluate(data: Input[Dataset], model: Input[Model], metrics: Output[Metrics]):
    from src.models import accuracy
    metrics.log_metric('accuracy', accuracy(data.path, model.path))


@dsl.pipeline(name='lifecycle')
def lifecycle(max_depth: int = 3):
    data = ingest()
    model = train(data=data.outputs['data'], max_depth=max_depth)
    evaluate(data=data.outputs['data'], model=model.outputs['model'])
"""
SEED_004_DATA = """\
import csv

from sklearn.datasets import load_iris


def read_data(path: str) -> None:
    iris = load_iris()
    with open(path, 'w', newline='') as out:
        writer = csv.writer(out)
        writer.writerow([*iris.feature_names, 'target'])
        writer.writerows([*row, target] for row, target in zip(iris.data, iris.target))
"""
SEED_004_MODELS = """\
import os
import pickle

import pandas as pd
import sklearn
from sklearn.tree import DecisionTreeClassifier

MLMODEL = '''flavors:
  python_function:
    loader_module: mlflow.sklearn
    model_path: model.pkl
    python_version: 3.11.2
  sklearn:
    pickled_model: model.pkl
    serialization_format: pickle
    sklearn_version: {version}
mlflow_version: 2.9.2
'''


def train_model(path: str, max_depth: int) -> DecisionTreeClassifier:
    frame = pd.read_csv(path)
    return DecisionTreeClassifier(max_depth=max_depth, random_state=0).fit(
        frame.drop(columns='target'), frame['target'])


def save_mlflow_model(model: DecisionTreeClassifier, folder: str) -> None:
    os.makedirs(folder)
    with open(os.path.join(folder, 'model.pkl'), 'wb') as out:
        pickle.dump(model, out)
    with open(os.path.join(folder, 'MLmodel'), 'w') as out:
        out.write(MLMODEL.format(version=sklearn.__version__))
    with open(os.path.join(folder, 'requirements.txt'), 'w') as out:
        out.write(f'scikit-learn=={sklearn.__version__}\\n')


def accuracy(path: str, folder: str) -> float:
    frame = pd.read_csv(path)
    with open(os.path.join(folder, 'model.pkl'), 'rb') as source:
        model = pickle.load(source)
    return float(model.score(frame.drop(columns='target'), frame['target']))
"""
IRIS = [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]


def seed_004() -> dict[str, str]:
    root = "pipelines/lifecycle"
    return {
        ".gitignore": ".mlops/\n",
        "mlops.yaml": STAGING,
        f"{root}/definition.py": SEED_004_DEFINITION,
        f"{root}/Dockerfile": "FROM python:3.11-slim\nCOPY . /app\nRUN pip install /app\n",
        f"{root}/pyproject.toml": ("[project]\nname = 'lifecycle'\nversion = '0.1.0'\n"
                                   "dependencies = ['scikit-learn', 'pandas']\n\n"
                                   "[tool.setuptools]\npackages = ['src']\n"),
        f"{root}/run.py": "PARAMETERS = {'max_depth': 3}\n",
        f"{root}/src/__init__.py": "",
        f"{root}/src/data.py": SEED_004_DATA,
        f"{root}/src/models.py": SEED_004_MODELS,
        f"{root}/serving/sample_instances.json": json.dumps({"instances": IRIS}) + "\n",
    }
