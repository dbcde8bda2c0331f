"""The wine_quality pipeline: load the wine data, train a classifier, evaluate it."""

from kfp import dsl

from components.evaluate.definition import evaluate
from components.load_data.definition import load_data
from components.train.definition import train


@dsl.pipeline(
    name="wine-quality",
    description="Trains a scikit-learn classifier on the wine data set and evaluates it.",
)
def wine_quality(
    test_size: float = 0.2,
    random_state: int = 42,
    n_estimators: int = 100,
    max_depth: int = 0,
) -> None:
    data = load_data(test_size=test_size, random_state=random_state)
    model = train(
        train_data=data.outputs["train_data"],
        n_estimators=n_estimators,
        max_depth=max_depth,
        random_state=random_state,
    )
    evaluate(model=model.outputs["model"], test_data=data.outputs["test_data"])
