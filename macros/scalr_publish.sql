{#- Publish step (docs/reliability.md). Run from on-run-end in dbt_project.yml:

      on-run-end: ["{{ scalr_publish_marts(results) }}"]

    dbt replaces each model's table on its own, so a build that fails half way through leaves
    main.* mixed: marts that ran before the failure are new, the rest are old. Readers use the
    schema `published` instead: after a run (dbt run / build / retry) in which every node succeeded
    and at least one mart was built, every model under models/marts/ that exists is copied into
    `published` in ONE transaction (the old published schema is dropped inside it). A failed
    node, a failed copy, or a crash rolls back the whole step, so published.* is always the
    complete mart set of one good build. The hook renders to SQL that dbt executes. -#}

{% macro scalr_publish_marts(results, schema='published') -%}
  {%- if not execute or flags.WHICH not in ['run', 'build', 'retry'] -%}{{ return('select 1 as scalr_publish_skipped') }}{%- endif -%}
  {%- if not var('publish_marts', true) -%}
    {{ log("scalr publish: var publish_marts is false, not publishing; " ~ schema ~ ".* unchanged", info=True) }}
    {{ return('select 1 as scalr_publish_skipped') }}
  {%- endif -%}
  {%- if flags.EMPTY -%}
    {{ log("scalr publish: --empty run (no rows), not publishing", info=True) }}
    {{ return('select 1 as scalr_publish_skipped') }}
  {%- endif -%}
  {%- set ok = ['success', 'pass', 'warn', 'no-op'] -%}
  {%- set failed = [] -%}
  {%- set ns = namespace(skipped=0) -%}
  {%- set ran_marts = [] -%}
  {%- for r in results -%}
    {%- if r.status == 'skipped' -%}{%- set ns.skipped = ns.skipped + 1 -%}
    {%- elif r.status not in ok -%}{%- do failed.append(r.node.name ~ ": " ~ r.status) -%}{%- endif -%}
    {%- if r.node.resource_type == 'model' and r.node.fqn | length > 2 and r.node.fqn[1] == 'marts' -%}
      {%- do ran_marts.append(r.node.name) -%}
    {%- endif -%}
  {%- endfor -%}
  {%- if failed or ns.skipped -%}
    {%- if ns.skipped -%}{%- do failed.append(ns.skipped ~ " skipped") -%}{%- endif -%}
    {{ log("scalr publish: NOT publishing, not every node succeeded (" ~ failed | join(', ') ~ "); "
        ~ schema ~ ".* still holds the marts of the last good build", info=True) }}
    {{ return('select 1 as scalr_publish_skipped') }}
  {%- endif -%}
  {%- if not ran_marts -%}
    {{ log("scalr publish: no mart was built in this run; " ~ schema ~ ".* unchanged", info=True) }}
    {{ return('select 1 as scalr_publish_skipped') }}
  {%- endif -%}
  {%- set marts = [] -%}
  {%- for node in graph.nodes.values() | sort(attribute='name') -%}
    {%- if node.resource_type == 'model' and node.package_name == project_name and node.fqn | length > 2
          and node.fqn[1] == 'marts' and node.config.materialized != 'ephemeral' and node.config.enabled -%}
      {%- set rel = adapter.get_relation(database=node.database, schema=node.schema, identifier=node.alias) -%}
      {%- if rel is not none -%}{%- do marts.append([node.alias, rel]) -%}{%- endif -%}
    {%- endif -%}
  {%- endfor -%}
  {{ log("scalr publish: publishing " ~ marts | length ~ " marts into schema " ~ schema ~ " in one transaction ("
      ~ marts | map(attribute=0) | join(', ') ~ ")", info=True) }}
  {{ return(scalr_publish_sql(marts, schema)) }}
{%- endmacro %}

{% macro scalr_publish_sql(marts, schema) -%}
  {{ return(adapter.dispatch('scalr_publish_sql', 'scalr')(marts, schema)) }}
{%- endmacro %}

{% macro default__scalr_publish_sql(marts, schema) -%}
  {%- set s = adapter.quote(schema) -%}
begin transaction;
drop schema if exists {{ s }} cascade;
create schema {{ s }};
{%- for m in marts %}
create table {{ s }}.{{ adapter.quote(m[0]) }} as select * from {{ m[1] }};
{%- endfor %}
commit;
{%- endmacro %}
