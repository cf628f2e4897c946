{#- Input validation that stops the build with a message naming the model, the column and the row
    count. Checks run as one aggregate query at execution time, before the model's table is
    replaced, so a failed build leaves the previous tables (and every mart) untouched. -#}

{% macro scalr_fail(model_name, message) -%}
  {{ exceptions.raise_compiler_error("scalr input error in model " ~ model_name ~ ": " ~ message) }}
{%- endmacro %}

{% macro scalr_checks_data() -%}
  {#- Data checks run when a model is built (dbt run / build / retry), not when it is only compiled
      (dbt compile, docs generate, show: the upstream tables may not exist yet), not in a dbt unit
      test (its inputs are fixtures, not tables), and not under `--empty` (a schema-only dry run in
      which every input is empty on purpose). -#}
  {{ return(execute and flags.WHICH in ['run', 'build', 'retry'] and not flags.EMPTY
            and (model is not defined or model.resource_type != 'unit_test')) }}
{%- endmacro %}

{% macro scalr_row_failures(relation_sql, checks) -%}
  {#- checks: list of [column, failing_condition_sql, description]. One aggregate query (portable
      sum(case ...)); returns one "column C: N of M rows <description>" line per failing check. -#}
  {%- if not execute -%}{{ return([]) }}{%- endif -%}
  {%- set q -%}
    select count(*) as n_rows
    {%- for c in checks %}, sum(case when {{ c[1] }} then 1 else 0 end) as c{{ loop.index0 }}{% endfor %}
    from {{ relation_sql }}
  {%- endset -%}
  {%- set row = run_query(q).rows[0] -%}
  {%- set failures = [] -%}
  {%- for c in checks -%}
    {%- set bad = row[loop.index0 + 1] or 0 -%}
    {%- if bad > 0 -%}
      {%- do failures.append("column " ~ c[0] ~ ": " ~ bad ~ " of " ~ row[0] ~ " rows " ~ c[2]) -%}
    {%- endif -%}
  {%- endfor -%}
  {{ return(failures) }}
{%- endmacro %}

{% macro scalr_fail_if(model_name, failures, context='') -%}
  {#- Stops the build with every failure in one message, so one run reports every problem. -#}
  {%- if failures | length > 0 -%}
    {{ scalr_fail(model_name, failures | join('; ') ~ (' (' ~ context ~ ')' if context else '')) }}
  {%- endif -%}
{%- endmacro %}

{% macro scalr_check_rows(model_name, relation_sql, checks, context='') -%}
  {%- if not execute -%}{{ return(none) }}{%- endif -%}
  {{ scalr_fail_if(model_name, scalr_row_failures(relation_sql, checks), context) }}
{%- endmacro %}

{% macro scalr_source_domains() -%}
  {%- set sd = var('source_domains') -%}
  {%- if sd is string -%}{%- set sd = sd.split(',') | map('trim') | list -%}{%- endif -%}
  {%- if sd | length == 0 -%}{{ scalr_fail('stg_events', "var source_domains is empty") }}{%- endif -%}
  {%- if var('target_domain') in sd -%}
    {{ scalr_fail('stg_events', "column domain: target_domain '" ~ var('target_domain') ~ "' is also listed in source_domains") }}
  {%- endif -%}
  {{ return(sd) }}
{%- endmacro %}

{% macro scalr_domains() -%}
  {{ return(scalr_source_domains() + [var('target_domain')]) }}
{%- endmacro %}
