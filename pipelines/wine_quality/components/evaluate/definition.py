from kfp import dsl
from kfp.dsl import Dataset, Input, Metrics, Model, Output


@dsl.component(base_image="wine_quality")
def evaluate(test_data: Input[Dataset], model: Input[Model], metrics: Output[Metrics]) -> None:
    """Score the model on the held-out split; the metrics gate promotion later."""
    import pandas as pd

    from src.data import TARGET
    from src.metrics import score
    from src.model import load_model

    frame = pd.read_csv(test_data.path)
    scores = score(load_model(model.path), frame.drop(columns=[TARGET]), frame[TARGET])
    for name, value in scores.items():
        metrics.log_metric(name, value)
