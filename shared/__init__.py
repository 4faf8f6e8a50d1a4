"""amlguard: policy-as-code governance and SLO / drift monitoring for Azure ML endpoints."""

__version__ = "0.1.0"
