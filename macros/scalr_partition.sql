{#- Partitioned aggregation helpers for int_cooccurrence (docs/performance.md, "Partitioned
    co-occurrence"). -#}
{% macro scalr_cte_materialized() -%}
  {#- Keyword that makes a CTE referenced by many UNION ALL branches computed once. DuckDB and
      PostgreSQL spell it `as materialized (...)`; engines without it get nothing (they inline or
      cache the CTE themselves). -#}
  {{ return(adapter.dispatch('scalr_cte_materialized', 'scalr')()) }}
{%- endmacro %}
{% macro default__scalr_cte_materialized() -%}{%- endmacro %}
{% macro duckdb__scalr_cte_materialized() -%}materialized{%- endmacro %}

{% macro scalr_cooccurrence_partitions(overlap_relation) -%}
  {#- Number of source-key partitions of the co-occurrence GROUP BY. var cooccurrence_partitions
      fixes it; null = automatic: ceil(W / cooccurrence_partition_triples), 1 to 64, where
      W = sum over overlap users of |S_u| * |T_u| (the self-join's (u, j, i) triples) is read from
      int_overlap_users when the model is built (1 when only compiled or in a unit test). -#}
  {%- set fixed = scalr_var_number('cooccurrence_partitions', 'int_cooccurrence', integer=true, min_value=1, nullable=true) -%}
  {%- if fixed is not none -%}
    {{ return(fixed) }}
  {%- endif -%}
  {%- set per = scalr_var_number('cooccurrence_partition_triples', 'int_cooccurrence', integer=true, min_value=1) -%}
  {%- if not scalr_checks_data() -%}{{ return(1) }}{%- endif -%}
  {%- set q -%}
    select coalesce(sum(cast(n_source_items as bigint) * n_target_items), 0) from {{ overlap_relation }}
  {%- endset -%}
  {%- set w = run_query(q).rows[0][0] | int -%}
  {{ return([1, [64, ((w + per - 1) // per)] | min] | max) }}
{%- endmacro %}
