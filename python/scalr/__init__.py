"""scalr: SQL-first SCALR (cross-domain synthetic data) on dbt + DuckDB.

The dbt Python models are thin wrappers around the pure, vectorized functions of this package.
"""
__version__ = "0.1.0"
