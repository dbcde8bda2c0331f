from kfp import dsl
from kfp.dsl import Dataset, Output


@dsl.component(base_image="wine_quality")
def load_data(
    train_data: Output[Dataset],
    test_data: Output[Dataset],
    test_size: float = 0.2,
    random_state: int = 42,
) -> None:
    """Split the wine data set (shipped with scikit-learn) into train and test CSVs."""
    from src.data import load_wine_frame, split

    train, test = split(load_wine_frame(), test_size=test_size, random_state=random_state)
    train.to_csv(train_data.path, index=False)
    test.to_csv(test_data.path, index=False)
    train_data.metadata["rows"] = len(train)
    test_data.metadata["rows"] = len(test)
