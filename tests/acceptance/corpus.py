"""Real-shaped KFP pipelines for the corpus test: one `pipelines/<name>/definition.py` each, and
the function kfp.compiler is given for the same file."""

from __future__ import annotations

COMPONENTS = """\
from kfp import dsl
from kfp.dsl import Dataset, Input, Output


@dsl.component(base_image='python:3.11')
def make(n: int) -> int:
    return n * 2


@dsl.component(base_image='python:3.11')
def show(text: str) -> None:
    print(text)


@dsl.component(base_image='python:3.11')
def write(data: Output[Dataset], n: int = 1):
    with open(data.path, 'w') as out:
        out.write(str(n))


@dsl.component(base_image='python:3.11')
def read(data: Input[Dataset]) -> str:
    with open(data.path) as source:
        return source.read()


@dsl.component(base_image='python:3.11')
def total(values: list) -> int:
    return sum(values)
"""

SHAPES: dict[str, tuple[str, str]] = {
    # name: (definition.py, the function kfp.compiler compiles)
    "nested": (COMPONENTS + """

@dsl.component(base_image='nested')
def add(a: int, b: int) -> int:
    return a + b


@dsl.pipeline
def inner(x: int) -> int:
    return add(a=x, b=1).output


@dsl.pipeline
def middle(x: int) -> int:
    return inner(x=inner(x=x).output).output


@dsl.pipeline(name='nested')
def outer(size: int = 2):
    show(text=str(middle(x=size).output))
""", "outer"),
    "conditions": (COMPONENTS + """

@dsl.pipeline(name='conditions')
def conditions(n: int = 3):
    doubled = make(n=n)
    with dsl.If(doubled.output > 4, name='big'):
        show(text='big')
    with dsl.Elif(doubled.output > 2):
        show(text='medium')
    with dsl.Else():
        show(text='small')
    with dsl.Condition(n == 3):
        show(text='three')
""", "conditions"),
    "loops": (COMPONENTS + """

@dsl.pipeline(name='loops')
def loops(items: list = [1, 2, 3], parallelism: int = 2):
    with dsl.ParallelFor(items, parallelism=2) as item:
        doubled = make(n=item)
        with dsl.ParallelFor([{'a': 1}, {'a': 2}]) as pair:
            show(text=str(pair.a))
    total(values=dsl.Collected(doubled.output))
""", "loops"),
    "exit_handler": (COMPONENTS + """

@dsl.pipeline(name='exit-handler')
def exit_handler(text: str = 'hi'):
    cleanup = show(text='cleanup')
    with dsl.ExitHandler(cleanup, name='work'):
        first = make(n=1)
        show(text=text).after(first)
""", "exit_handler"),
    "importer": (COMPONENTS + """

@dsl.pipeline(name='importer')
def importing(uri: str = 'gs://bucket/data.csv'):
    imported = dsl.importer(artifact_uri=uri, artifact_class=dsl.Dataset, reimport=False,
                            metadata={'source': 'warehouse'})
    read(data=imported.output)
""", "importing"),
    "notebook": ("""\
from kfp import dsl


@dsl.notebook_component(notebook_path='pipelines/notebook/analysis.ipynb',
                        base_image='python:3.11')
def analyse(n: int):
    dsl.run_notebook(n=n)


@dsl.pipeline(name='notebook')
def notebook(n: int = 1):
    analyse(n=n)
""", "notebook"),
    "workspace": (COMPONENTS + """

@dsl.pipeline(name='workspace', pipeline_config=dsl.PipelineConfig(
    workspace=dsl.WorkspaceConfig(size='1Gi')))
def workspace(n: int = 1):
    written = write(n=n)
    read(data=written.outputs['data'])
""", "workspace"),
    "no_defaults": (COMPONENTS + """

@dsl.pipeline(name='no-defaults')
def no_defaults(n: int, text: str, rate: float = 0.5):
    show(text=text).after(make(n=n))
""", "no_defaults"),
    "blocks": (COMPONENTS + """

import os

if os.environ.get('NEVER_SET_IN_A_COMPILE') is None:
    @dsl.pipeline(name='blocks')
    def blocks(n: int = 5):
        write(n=n)
""", "blocks"),
}

NOTEBOOK = ('{"cells": [{"cell_type": "code", "metadata": {}, "source": ["print(n)"], '
            '"outputs": [], "execution_count": null}], "metadata": {}, "nbformat": 4, '
            '"nbformat_minor": 5}\n')

REFERENCE = """\
import importlib.util
import sys

from kfp import compiler

for path, function, out in zip(sys.argv[1::3], sys.argv[2::3], sys.argv[3::3]):
    spec = importlib.util.spec_from_file_location('definition_' + function, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    compiler.Compiler().compile(getattr(module, function), out)
"""


def corpus_files() -> dict[str, str]:
    files = {".gitignore": ".mlops/\n", "mlops.yaml": "run_branches: []\n",
             "pipelines/notebook/analysis.ipynb": NOTEBOOK,
             "pipelines/nested/Dockerfile": "FROM python:3.11-slim\n"}
    files.update({f"pipelines/{name}/definition.py": source
                  for name, (source, _) in SHAPES.items()})
    return files
