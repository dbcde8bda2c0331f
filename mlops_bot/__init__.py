"""mlops-bot: GitOps CI/CD for Kubeflow (KFP v2) pipelines on Vertex AI."""

__version__ = "0.1.0"
__all__ = ["__version__"]
