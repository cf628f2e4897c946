{#- Publish step (docs/reliability.md). Run from on-run-end in dbt_project.yml:

      on-run-end: ["{{ scalr_publish_marts(results) }}"]

    dbt replaces each model's table on its own, so a build that fails half way through leaves
    main.* mixed: marts that ran before the failure are new, the rest are old. Readers use the
    schema `published` instead: after a run (dbt run / build / retry) in which every node succeeded
    and at least one mart was built, every model under models/marts/ that exists is published into
    `published` in ONE transaction (the old published schema is dropped inside it): on DuckDB
    table marts without a copy (duckdb__scalr_publish_sql: renamed to a version table that
    main.<mart> and published.<mart> are views on), view marts and other engines as copies. A
    failed node, a failed statement, or a crash rolls back the whole step, so published.* is always
    the complete mart set of one good build. The hook renders to SQL that dbt executes. -#}

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

{% macro duckdb__scalr_publish_sql(marts, schema) -%}
  {#- Zero-copy publish (DuckDB): a table mart is not copied. Its freshly built table main.<mart>
      is renamed to the version table main.<mart>__published_<run start> (a catalog change, O(1)),
      main.<mart> becomes a view on it (so refs, ad-hoc SQL and later partial runs still find
      main.<mart>; the next build of the mart replaces that view with a new table), and
      published.<mart> is a view on the same version table. A table mart not rebuilt in this run is
      already such a view: published.<mart> points at its current version table again. View marts
      (translation) are copied as tables, as before, so they do not change when main changes.
      Version tables no longer referenced are dropped. Everything runs in ONE transaction. -#}
  {%- set s = adapter.quote(schema) -%}
  {%- set stamp = run_started_at.strftime('%Y%m%d%H%M%S%f') -%}
  {%- set marker = '__published_' -%}
  {%- set plan = [] -%}
  {%- set keep = [] -%}
  {%- set schemas = [] -%}
  {%- for m in marts -%}
    {%- set name, rel = m[0], m[1] -%}
    {%- if [rel.database, rel.schema] not in schemas -%}{%- do schemas.append([rel.database, rel.schema]) -%}{%- endif -%}
    {%- if rel.type == 'table' -%}
      {%- do plan.append({'name': name, 'rel': rel, 'version': name ~ marker ~ stamp, 'rename': true}) -%}
    {%- else -%}
      {%- set q -%}
        select sql from duckdb_views()
        where database_name = '{{ rel.database }}' and schema_name = '{{ rel.schema }}' and view_name = '{{ rel.identifier }}'
      {%- endset -%}
      {%- set rows = run_query(q).rows -%}
      {#- the view scalr made: ... from main.<mart>__published_<digits> (not another mart's version) -#}
      {%- set found = modules.re.search('(?<![0-9A-Za-z_])(' ~ modules.re.escape(rel.identifier ~ marker) ~ '[0-9]+)',
                                        rows[0][0] if rows else '') -%}
      {%- if found -%}
        {%- do plan.append({'name': name, 'rel': rel, 'version': found.group(1), 'rename': false}) -%}
      {%- else -%}
        {%- do plan.append({'name': name, 'rel': rel, 'version': none, 'rename': false}) -%}
      {%- endif -%}
    {%- endif -%}
    {%- if plan[-1].version -%}{%- do keep.append([rel.database, rel.schema, plan[-1].version]) -%}{%- endif -%}
  {%- endfor -%}
  {%- set stale = [] -%}
  {%- for db_sch in schemas -%}
    {%- set q -%}
      select table_name from information_schema.tables
      where table_catalog = '{{ db_sch[0] }}' and table_schema = '{{ db_sch[1] }}' and table_type = 'BASE TABLE'
        and contains(table_name, '{{ marker }}')
      order by table_name
    {%- endset -%}
    {%- for r in run_query(q).rows -%}
      {%- if [db_sch[0], db_sch[1], r[0]] not in keep -%}{%- do stale.append(db_sch + [r[0]]) -%}{%- endif -%}
    {%- endfor -%}
  {%- endfor -%}
begin transaction;
{%- for p in plan if p.rename %}
alter table {{ p.rel }} rename to {{ adapter.quote(p.version) }};
create view {{ p.rel }} as select * from {{ adapter.quote(p.rel.schema) }}.{{ adapter.quote(p.version) }};
{%- endfor %}
drop schema if exists {{ s }} cascade;
create schema {{ s }};
{%- for p in plan %}
{%- if p.version %}
create view {{ s }}.{{ adapter.quote(p.name) }} as select * from {{ adapter.quote(p.rel.schema) }}.{{ adapter.quote(p.version) }};
{%- else %}
create table {{ s }}.{{ adapter.quote(p.name) }} as select * from {{ p.rel }};
{%- endif %}
{%- endfor %}
{%- for st in stale %}
drop table {{ adapter.quote(st[0]) }}.{{ adapter.quote(st[1]) }}.{{ adapter.quote(st[2]) }};
{%- endfor %}
commit;
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
