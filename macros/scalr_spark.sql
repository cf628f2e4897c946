{#- Spark implementations (dbt-spark) of the engine-specific macros of scalr_io.sql, scalr_random.sql,
    scalr_publish.sql, scalr_export.sql and scalr_sampler.sql (README "Spark"). The profile's spark
    target runs with spark.sql.session.timeZone = UTC and ANSI mode off (dbt-spark sets it), as
    these assume. DuckDB-only steps on Spark: the publish step and its post-hook
    scalr_keep_published_version (default__: nothing to keep), the Parquet export (below), and the
    enforced contracts of the SQL marts (translation.yml, synthetic_events_sql.yml: enforced where
    target.type != 'spark'; their data_type is DuckDB's varchar, Spark's text type is string). -#}

{% macro scalr_text_type() -%}
  {#- The text type of a cast: varchar (DuckDB, PostgreSQL), string (Spark, which needs a length
      for varchar). -#}
  {{ return(adapter.dispatch('scalr_text_type', 'scalr')()) }}
{%- endmacro %}
{% macro default__scalr_text_type() -%}varchar{%- endmacro %}
{% macro spark__scalr_text_type() -%}string{%- endmacro %}

{% macro scalr_file_view_materialization() -%}
  {#- The model that reads an input file directly (base_events): a view on DuckDB (no copy of the
      raw events); a table on Spark, where the file is a temporary view (spark__scalr_source_reader)
      that a permanent view may not reference. -#}
  {{ return(adapter.dispatch('scalr_file_view_materialization', 'scalr')()) }}
{%- endmacro %}
{% macro default__scalr_file_view_materialization() -%}{{ return('view') }}{%- endmacro %}
{% macro spark__scalr_file_view_materialization() -%}{{ return('table') }}{%- endmacro %}

{% macro spark__scalr_source_reader(src, path) -%}
  {#- Spark reads the source's file (var events_path / items_path: CSV, CSV.gz or Parquet; Spark
      globs allowed) through the temporary view scalr_<source table>_<md5 of the path>[:8],
      (re)created whenever the model is rendered for execution (dbt-duckdb's external_location in
      _sources.yml is a DuckDB table function, which Spark ignores). Every CSV column is read as
      text (header line, RFC 4180 quotes), Parquet with merged schemas; column scalr_source_file is
      input_file_name(). A CSV glob is read with the first file's header (DuckDB's union_by_name
      has no Spark CSV counterpart). -#}
  {%- set name = 'scalr_' ~ src.identifier ~ '_' ~ local_md5(path or '')[:8] -%}
  {%- set quoted = (path or '') | replace("\\", "\\\\") | replace("'", "\\'") -%}
  {%- if execute and path -%}
    {%- if (path | lower).endswith('.parquet') or (path | lower).endswith('.parq') -%}
      {%- set ddl = "create or replace temporary view " ~ name ~ " using parquet options (path '" ~ quoted
          ~ "', mergeSchema 'true')" -%}
    {%- else -%}
      {%- set ddl = "create or replace temporary view " ~ name ~ " using csv options (path '" ~ quoted
          ~ "', header 'true', inferSchema 'false', escape '\"', multiLine 'true', mode 'PERMISSIVE')" -%}
    {%- endif -%}
    {%- do run_query(ddl) -%}
  {%- endif -%}
  {{ return("(select *, input_file_name() as scalr_source_file from " ~ name ~ ") as scalr_file") }}
{%- endmacro %}

{% macro spark__scalr_file_count(path) -%}
  {#- Spark has no glob() table function: the reader itself stops on a path that matches nothing
      ([PATH_NOT_FOUND] names the path), so the count is not taken. -#}
  {{ return(1) }}
{%- endmacro %}

{% macro spark__scalr_describe_sql(sql) -%}describe query {{ sql }}{%- endmacro %}

{% macro spark__scalr_typed_time(expr, source_type, unit) -%}
  {%- set t = (source_type or '') | upper -%}
  {%- if unit in ('timestamp', 'date') and t in ('TIMESTAMP', 'TIMESTAMP_NTZ', 'DATE') -%}
    {{ return('cast(' ~ expr ~ ' as timestamp)') }}
  {%- elif unit == 'unix_seconds' and t in ('TINYINT', 'SMALLINT', 'INT', 'BIGINT', 'FLOAT', 'DOUBLE') -%}
    {{ return('timestamp_micros(cast(round(cast(' ~ expr ~ ' as double) * 1000000) as bigint))') }}
  {%- endif -%}
  {{ return(none) }}
{%- endmacro %}

{% macro spark__scalr_parse_time(expr, unit) -%}
  {#- unit timestamp: Spark's cast reads a UTC offset ("-05:00", "Z") and converts to the session
      time zone, UTC in the profile; a time without an offset is taken as UTC as written. -#}
  {%- if unit == 'timestamp' -%} try_cast(trim({{ expr }}) as timestamp)
  {%- elif unit == 'date' -%} cast(try_cast(trim({{ expr }}) as date) as timestamp)
  {%- elif unit == 'unix_seconds' -%} timestamp_micros(cast(round(try_cast(trim({{ expr }}) as double) * 1000000) as bigint))
  {%- else -%}{{ exceptions.raise_compiler_error("scalr config error: event_time_unit must be timestamp, date or unix_seconds, got '" ~ unit ~ "'") }}
  {%- endif -%}
{%- endmacro %}

{% macro spark__scalr_is_blank(expr) -%}
  ({{ expr }} is null or {{ expr }} rlike '^[\\s\\u00A0\\u2007\\u202F\\uFEFF]*$')
{%- endmacro %}

{% macro spark__scalr_not_finite(expr) -%}(isnan({{ expr }}) or abs({{ expr }}) = double('infinity')){%- endmacro %}

{% macro spark__scalr_add_days(ts_expr, days) -%}timestampadd(day, cast({{ days }} as int), {{ ts_expr }}){%- endmacro %}

{% macro spark__scalr_md5_uniform(key_expr) -%}
  (cast(conv(substr(md5({{ key_expr }}), 1, 13), 16, 10) as bigint) / cast(4503599627370496 as double))
{%- endmacro %}

{% macro spark__scalr_hash_uniform(key_expr, seed) -%}
  {#- Spark has no DuckDB hash(): xxhash64 of the same text; the draws (count noise) differ from
      DuckDB's, their distribution does not. -#}
  ((cast(pmod(xxhash64({{ key_expr }} || '|{{ seed }}'), 9007199254740991) as double) + 0.5) / cast(9007199254740992 as double))
{%- endmacro %}

{% macro spark__scalr_epoch_us(ts_expr) -%}unix_micros({{ ts_expr }}){%- endmacro %}

{% macro spark__scalr_explode_range(lo, hi) -%}explode(sequence({{ lo }}, {{ hi }})){%- endmacro %}

{% macro spark__scalr_publish_sql(marts, schema) -%}
  {#- Spark has no multi-statement transactions: the marts are not published on Spark (readers use
      the target schema); the log says so. -#}
  {{ log("scalr publish: not publishing on Spark (no transactions); read the marts from schema "
      ~ target.schema, info=True) }}
  select 1 as scalr_publish_skipped
{%- endmacro %}

{% macro spark__scalr_export_sql(export_dir, marts) -%}
  {#- The export (var export_dir) writes with DuckDB's COPY: on Spark `python -m scalr.spark_run
      --export <relations> --out <dir>` writes the relations as Parquet instead. -#}
  {{ log("scalr export: not exporting to " ~ export_dir ~ " on Spark (DuckDB's COPY); use python -m "
      ~ "scalr.spark_run --export", info=True) }}
  select 1 as scalr_export_skipped
{%- endmacro %}

{% macro spark__scalr_time_quantile(ts_expr, p) -%}timestamp_micros(cast(percentile(unix_micros({{ ts_expr }}), {{ p }}) as bigint)){%- endmacro %}
