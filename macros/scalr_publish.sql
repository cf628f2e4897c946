{#- Publish step (docs/reliability.md). Run from on-run-end in dbt_project.yml:

      on-run-end: ["{{ scalr_publish_marts(results) }}"]

    dbt replaces each model's table on its own, so a build that fails half way through leaves
    main.* mixed: marts that ran before the failure are new, the rest are old. Readers use the
    schema `published` instead: after a run (dbt run / build / retry) in which every node succeeded
    and at least one mart was built, every model under models/marts/ that exists is published into
    `published` in ONE transaction (the old published schema is dropped inside it): on DuckDB
    table marts without a copy (duckdb__scalr_publish_sql: published.<mart> is a view on the table
    main.<mart>; the post-hook scalr_keep_published_version keeps the published table as a version
    when a later build replaces it), view marts and other engines as copies. A
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
  {#- Zero-copy publish (DuckDB): published.<mart> of a table mart is a view on main.<mart>, the
      table dbt built, so the data is stored once and `main` keeps only the models (tables where the
      header says table). When a later run rebuilds the mart, the post-hook
      scalr_keep_published_version renames the table that published.<mart> reads to the version
      table main.<mart>__published_<run start> and points published.<mart> at it, in the model's
      own transaction, so published.* never changes before this step. This step points every
      published.<mart> at main.<mart> again and drops the version tables: after a published run
      neither `main` nor `published` holds anything but the models. (A version table cannot move to
      a schema of its own without a copy: DuckDB has no ALTER TABLE ... SET SCHEMA.) A table mart
      whose main.<mart> is a view on a version table (databases published before this layout) gets
      the table back by a rename. View marts (translation) are copied as tables, so they do not
      change when main changes. Everything runs in ONE transaction. -#}
  {%- set s = adapter.quote(schema) -%}
  {%- set marker = '__published_' -%}
  {%- set plan = [] -%}
  {%- set restored = [] -%}
  {%- set schemas = [] -%}
  {%- for m in marts -%}
    {%- set name, rel = m[0], m[1] -%}
    {%- if [rel.database, rel.schema] not in schemas -%}{%- do schemas.append([rel.database, rel.schema]) -%}{%- endif -%}
    {%- if rel.type == 'table' -%}
      {%- do plan.append({'name': name, 'rel': rel, 'live': true, 'restore': none}) -%}
    {%- else -%}
      {%- set q -%}
        select sql from duckdb_views()
        where database_name = '{{ rel.database }}' and schema_name = '{{ rel.schema }}' and view_name = '{{ rel.identifier }}'
      {%- endset -%}
      {%- set rows = run_query(q).rows -%}
      {#- a view on main.<mart>__published_<digits> (not another mart's version): restore the table -#}
      {%- set found = modules.re.search('(?<![0-9A-Za-z_])(' ~ modules.re.escape(rel.identifier ~ marker) ~ '[0-9]+)',
                                        rows[0][0] if rows else '') -%}
      {%- if found -%}
        {%- do plan.append({'name': name, 'rel': rel, 'live': true, 'restore': found.group(1)}) -%}
        {%- do restored.append([rel.database, rel.schema, found.group(1)]) -%}
      {%- else -%}
        {%- do plan.append({'name': name, 'rel': rel, 'live': false, 'restore': none}) -%}
      {%- endif -%}
    {%- endif -%}
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
      {%- if [db_sch[0], db_sch[1], r[0]] not in restored -%}{%- do stale.append(db_sch + [r[0]]) -%}{%- endif -%}
    {%- endfor -%}
  {%- endfor -%}
begin transaction;
drop schema if exists {{ s }} cascade;
{%- for p in plan if p.restore %}
drop view {{ p.rel }};
alter table {{ adapter.quote(p.rel.schema) }}.{{ adapter.quote(p.restore) }} rename to {{ adapter.quote(p.rel.identifier) }};
{%- endfor %}
create schema {{ s }};
{%- for p in plan %}
{%- if p.live %}
create view {{ s }}.{{ adapter.quote(p.name) }} as select * from {{ adapter.quote(p.rel.schema) }}.{{ adapter.quote(p.rel.identifier) }};
{%- else %}
create table {{ s }}.{{ adapter.quote(p.name) }} as select * from {{ p.rel }};
{%- endif %}
{%- endfor %}
{%- for st in stale %}
drop table {{ adapter.quote(st[0]) }}.{{ adapter.quote(st[1]) }}.{{ adapter.quote(st[2]) }};
{%- endfor %}
commit;
{%- endmacro %}

{% macro scalr_keep_published_version(schema='published') -%}
  {#- Post-hook of the marts (dbt_project.yml). A table mart's build renames the previous table to
      <mart>__dbt_backup and drops it after the commit; when published.<mart> reads that table, the
      hook keeps it instead: renamed to the version table <mart>__published_<run start>, with
      published.<mart> pointed at it, in the model's transaction (so published.* shows the last
      published build until the publish step). Other engines copy at publish: nothing to keep. -#}
  {%- if not execute or model.config.materialized != 'table' -%}{{ return('') }}{%- endif -%}
  {{ return(adapter.dispatch('scalr_keep_published_version', 'scalr')(schema)) }}
{%- endmacro %}

{% macro default__scalr_keep_published_version(schema) -%}{{ return('') }}{%- endmacro %}

{% macro duckdb__scalr_keep_published_version(schema) -%}
  {%- set backup = make_backup_relation(this.incorporate(type='table'), 'table') -%}
  {%- set q -%}
    select
        (select count(*) from duckdb_tables() where database_name = '{{ this.database }}'
            and schema_name = '{{ this.schema }}' and table_name = '{{ backup.identifier }}'),
        (select any_value(sql) from duckdb_views() where database_name = '{{ this.database }}'
            and schema_name = '{{ schema }}' and view_name = '{{ this.identifier }}')
  {%- endset -%}
  {%- set r = run_query(q).rows[0] -%}
  {%- set reads_main = r[1] and modules.re.search('(?i)from\\s+"?' ~ modules.re.escape(this.schema) ~ '"?\\."?'
      ~ modules.re.escape(this.identifier) ~ '"?\\s*;?\\s*$', r[1]) -%}
  {%- if r[0] == 0 or not reads_main -%}{{ return('select 1 as scalr_nothing_to_keep') }}{%- endif -%}
  {%- set version = this.identifier ~ '__published_' ~ run_started_at.strftime('%Y%m%d%H%M%S%f') -%}
  {{ log("scalr publish: " ~ this.identifier ~ " rebuilt; published." ~ this.identifier ~ " keeps the last published "
      ~ "build in " ~ this.schema ~ "." ~ version ~ " until the next publish", info=True) }}
  {{ return("alter table " ~ backup ~ " rename to " ~ adapter.quote(version) ~ "; create or replace view "
      ~ adapter.quote(schema) ~ "." ~ adapter.quote(this.identifier) ~ " as select * from "
      ~ adapter.quote(this.schema) ~ "." ~ adapter.quote(version)) }}
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
