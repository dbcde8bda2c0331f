"""Parameter defaults for wine_quality runs.

mlops-bot reads PARAMETERS as a literal (it never executes this file); mlops.yaml
(`pipelines.wine_quality.parameters`) and `--param name=value` override it.
"""

PARAMETERS = {
    "test_size": 0.2,
    "random_state": 42,
    "n_estimators": 100,
    "max_depth": 0,
}

if __name__ == "__main__":
    import json

    print(json.dumps(PARAMETERS, indent=2))
