{#- Parquet export of the marts a trainer consumes (README "Exporting Parquet").

      dbt build --vars '{export_dir: exports}'                        # after a published build
      dbt run-operation scalr_export_parquet --args '{export_dir: exports}'   # the marts as they are

    Writes <export_dir>/<mart>.parquet for each mart in `marts` (default synthetic_events_aligned,
    translation, training_rows) from schema `published` (main when published does not exist), with
    the columns, order and types documented in the mart's YAML (data_type: the SQL marts' enforced
    contract, the Python marts' column_types_match test), so the file schema does not depend on the
    data of a build. Rows in a table mart's stored order; a view mart (translation) sorted by all
    its columns in column order, so builds of the same inputs give byte-identical files. Also
    writes scalr_export_schema_0.parquet: one row per exported column (mart, ordinal, column_name,
    data_type, n_rows). The directory is created when its parent exists.
    From on-run-end (var export_dir set): only after a run in which the marts were published. -#}

{% macro scalr_export_marts(results) -%}
  {%- set export_dir = var('export_dir', none) -%}
  {%- if not execute or not export_dir or flags.WHICH not in ['run', 'build', 'retry'] -%}
    {{ return('select 1 as scalr_export_skipped') }}
  {%- endif -%}
  {%- set ok = ['success', 'pass', 'warn', 'no-op'] -%}
  {%- set failed = results | rejectattr('status', 'in', ok) | list -%}
  {%- if failed or flags.EMPTY or not var('publish_marts', true) -%}
    {{ log("scalr export: NOT exporting to " ~ export_dir ~ " (the marts of this run were not published)", info=True) }}
    {{ return('select 1 as scalr_export_skipped') }}
  {%- endif -%}
  {{ return(scalr_export_sql(export_dir)) }}
{%- endmacro %}

{% macro scalr_export_parquet(export_dir, marts=['synthetic_events_aligned', 'translation', 'training_rows']) -%}
  {#- dbt run-operation entry point: runs the export now. -#}
  {%- do run_query(scalr_export_sql(export_dir, marts)) -%}
  {{ log("scalr export: wrote " ~ marts | join(', ') ~ " to " ~ export_dir, info=True) }}
{%- endmacro %}

{% macro scalr_export_sql(export_dir, marts=['synthetic_events_aligned', 'translation', 'training_rows']) -%}
  {{ return(adapter.dispatch('scalr_export_sql', 'scalr')(export_dir, marts)) }}
{%- endmacro %}

{% macro default__scalr_export_sql(export_dir, marts) -%}
  {%- set dir = (export_dir | string).rstrip('/') | replace("'", "''") -%}
  {%- set published = adapter.get_relation(database=target.database, schema='published', identifier=marts[0]) -%}
  {%- set schema = 'published' if published is not none else target.schema -%}
  {%- set plans = [] -%}
  {%- for name in marts -%}
    {%- set nodes = graph.nodes.values() | selectattr('resource_type', 'equalto', 'model')
        | selectattr('name', 'equalto', name) | list -%}
    {%- if not nodes -%}{{ exceptions.raise_compiler_error("scalr export: no model named " ~ name) }}{%- endif -%}
    {%- set rel = adapter.get_relation(database=target.database, schema=schema, identifier=nodes[0].alias) -%}
    {%- if rel is none -%}
      {{ exceptions.raise_compiler_error("scalr export: mart " ~ name ~ " does not exist in schema " ~ schema ~ ": build it first") }}
    {%- endif -%}
    {%- set cols = nodes[0].columns.values() | list -%}
    {%- set n = run_query("select count(*) from " ~ rel).columns[0].values()[0] -%}
    {%- do plans.append({'name': name, 'rel': rel, 'cols': cols, 'n': n,
        'sorted': nodes[0].config.materialized == 'view'}) -%}
  {%- endfor -%}
copy (
    {%- for p in plans %}
    {%- set outer = loop %}
    {%- for c in p.cols %}
    select '{{ p.name }}' as mart, {{ loop.index }} as ordinal, '{{ c.name }}' as column_name,
        '{{ c.data_type | lower }}' as data_type, {{ p.n }} as n_rows
    {{- " union all" if not (outer.last and loop.last) }}
    {%- endfor %}
    {%- endfor %}
) to '{{ dir }}' (format parquet, file_size_bytes '1TB', filename_pattern 'scalr_export_schema_{i}', overwrite_or_ignore true);
{%- for p in plans %}
copy (
    select
        {%- for c in p.cols %}
        cast({{ adapter.quote(c.name) }} as {{ c.data_type }}) as {{ adapter.quote(c.name) }}{{ "," if not loop.last }}
        {%- endfor %}
    from {{ p.rel }}
    {%- if p.sorted %}
    order by all
    {%- endif %}
) to '{{ dir }}/{{ p.name }}.parquet' (format parquet);
{%- endfor %}
{%- endmacro %}
