from kfp import dsl
from kfp.dsl import Dataset, Input, Model, Output


@dsl.component(base_image="wine_quality")
def train(
    train_data: Input[Dataset],
    model: Output[Model],
    n_estimators: int = 100,
    max_depth: int = 0,
    random_state: int = 42,
) -> None:
    """Fit the classifier and save it with joblib, with what serving needs in its metadata."""
    import pandas as pd

    from src.data import TARGET
    from src.model import save_model, train_model

    frame = pd.read_csv(train_data.path)
    features = frame.drop(columns=[TARGET])
    fitted = train_model(features, frame[TARGET], n_estimators, max_depth, random_state)
    save_model(fitted, model.path)
    model.metadata["framework"] = "scikit-learn"
    model.metadata["feature_names"] = list(features.columns)
    model.metadata["classes"] = [int(c) for c in fitted.classes_]
