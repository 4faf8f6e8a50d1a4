"""amlguard: policy-as-code governance and SLO / drift monitoring for Azure ML endpoints."""

__all__ = ["__version__"]

try:  # written by setuptools-scm from the git tag when the package is built or installed
    from amlguard._version import version as __version__
except ImportError:  # a source tree used without installing it: no build has said which version
    __version__ = "0.0.0+unknown"
