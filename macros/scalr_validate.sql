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
  {#- a vars error, found while dbt parses whichever model reads the domains first: the message names
      that model, as dbt's own header does -#}
  {%- set where = model.name if model is defined and model.name is defined else 'stg_events' -%}
  {%- if sd | length == 0 -%}{{ scalr_fail(where, "var source_domains is empty") }}{%- endif -%}
  {%- if var('target_domain') in sd -%}
    {{ scalr_fail(where, "column domain: target_domain '" ~ var('target_domain') ~ "' is also listed in source_domains (vars target_domain / source_domains; 0 rows read)") }}
  {%- endif -%}
  {{ return(sd) }}
{%- endmacro %}

{% macro scalr_domains() -%}
  {{ return(scalr_source_domains() + [var('target_domain')]) }}
{%- endmacro %}

{% macro scalr_var_number(name, model_name, integer=false, min_value=none, max_value=none, nullable=false) -%}
  {#- var `name` as a number (int when `integer`), checked against [min_value, max_value]; none when
      null and `nullable`. A wrong type or range stops the model when it is built, naming the model
      and the var (a bad var must not reach the SQL, where it fails as a parser or binder error);
      while dbt only parses the project (execute false) a bad value reads as none. -#}
  {%- set v = var(name) -%}
  {%- set text = (v | string) | trim -%}
  {%- set kind = "an integer" if integer else "a number" -%}
  {%- set problem = namespace(msg=none, x=none) -%}
  {%- if v is none or (v is string and text | lower in ['', 'null', 'none', '~']) -%}
    {%- if not nullable -%}{%- set problem.msg = "var " ~ name ~ " is null; it needs " ~ kind -%}{%- endif -%}
  {%- else -%}
    {%- set pattern = '[+-]?[0-9]+' if integer else '[+-]?([0-9]+([.][0-9]*)?|[.][0-9]+)([eE][+-]?[0-9]+)?' -%}
    {%- if v is boolean or not modules.re.fullmatch(pattern, text) -%}
      {%- set problem.msg = "var " ~ name ~ " = '" ~ text ~ "' is not " ~ kind ~ " (dbt_project.yml vars / --vars)" -%}
    {%- else -%}
      {%- set problem.x = (text | int) if integer else (text | float) -%}
      {%- if (min_value is not none and problem.x < min_value) or (max_value is not none and problem.x > max_value) -%}
        {%- set problem.msg = "var " ~ name ~ " = " ~ text ~ " is outside ["
            ~ (min_value if min_value is not none else '-inf') ~ ", " ~ (max_value if max_value is not none else 'inf') ~ "]" -%}
      {%- endif -%}
    {%- endif -%}
  {%- endif -%}
  {%- if problem.msg is not none -%}
    {%- if execute -%}{{ scalr_fail(model_name, problem.msg) }}{%- endif -%}
    {{ return(none) }}
  {%- endif -%}
  {{ return(problem.x) }}
{%- endmacro %}

{% macro scalr_var_time(name, model_name, nullable=false) -%}
  {#- var `name` as a time literal's text (a date or a timestamp the engine parses); none when null
      and `nullable`. Anything else stops the model when it is built, naming the model and the var. -#}
  {%- set v = var(name) -%}
  {%- set text = (v | string) | trim -%}
  {%- if v is none or text | lower in ['', 'null', 'none', '~'] -%}
    {%- if not nullable and execute -%}
      {{ scalr_fail(model_name, "var " ~ name ~ " is null; it needs a date such as '2024-10-01'") }}
    {%- endif -%}
    {{ return(none) }}
  {%- endif -%}
  {%- if execute -%}
    {%- set parsed = run_query("select " ~ scalr_try_cast(scalr_sql_list([text]), 'timestamp')).columns[0].values()[0] -%}
    {%- if parsed is none -%}
      {{ scalr_fail(model_name, "var " ~ name ~ " = '" ~ text ~ "' is not a date or timestamp (e.g. '2024-10-01' or "
          ~ "'2024-10-01 00:00:00'; dbt_project.yml vars / --vars)") }}
    {%- endif -%}
  {%- endif -%}
  {{ return(text) }}
{%- endmacro %}
