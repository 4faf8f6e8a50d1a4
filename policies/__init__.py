"""The default policy pack (YAML rules, alert routing, monitors, exemptions and their JSON Schema).

This folder ships inside the wheel as `amlguard.policies`; code finds it through
`amlguard.config.default_policies_dir()`, never through a path relative to the repository.
"""
