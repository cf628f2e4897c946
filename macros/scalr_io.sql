{#- Checks of the input files and engine-specific expressions. The files are read through the dbt
    sources in models/staging/_sources.yml (source('scalr', 'events') / ('scalr', 'items'): every
    column as text, the file name in column scalr_source_file); the macros below take that source
    relation as `reader`. All DuckDB-only syntax lives in macros like these, dispatched through
    adapter.dispatch so another engine can provide its own implementation. -#}

{% macro scalr_source_reader(src, path) -%}
  {#- What the staging models select from to read the input file of source `src` (var `path`):
      on DuckDB the source itself (dbt-duckdb renders its external_location, a read_csv /
      read_parquet table function); on Spark a temporary view over the file
      (spark__scalr_source_reader, macros/scalr_spark.sql). The models call source() either way,
      so lineage starts at the source. -#}
  {{ return(adapter.dispatch('scalr_source_reader', 'scalr')(src, path)) }}
{%- endmacro %}
{% macro default__scalr_source_reader(src, path) -%}{{ return(src) }}{%- endmacro %}

{% macro scalr_file_columns(path, reader, var_name='events_path', model_name='base_events') -%}
  {#- Column names of a file (lower-cased); errors name the model, the variable and the path. -#}
  {{ return(scalr_file_column_types(path, reader, var_name, model_name).keys() | list) }}
{%- endmacro %}

{% macro scalr_file_column_types(path, reader, var_name='events_path', model_name='base_events') -%}
  {#- {lower-cased column name: upper-cased engine type} of a file (all VARCHAR for text files);
      errors name the model, the variable and the path. -#}
  {%- if not execute -%}{{ return({}) }}{%- endif -%}
  {%- if not path -%}
    {{ scalr_fail(model_name, "var " ~ var_name ~ " is empty (0 files, 0 rows)") }}
  {%- endif -%}
  {%- set n = scalr_file_count(path) -%}
  {%- if n == 0 -%}
    {%- set hint = "; var items_path defaults to the demo world's items file (make demo writes it): set it to your items file, or to null to value items by popularity" if var_name == 'items_path' else "" -%}
    {{ scalr_fail(model_name, "var " ~ var_name ~ ": no file matches '" ~ path ~ "' (0 files, 0 rows; the path does not exist, or is a directory: give a file or a glob such as dir/*.csv" ~ hint ~ ")") }}
  {%- endif -%}
  {%- set rel = run_query(scalr_describe_sql("select * from " ~ reader ~ " limit 0")) -%}
  {%- set types = {} -%}
  {%- for r in rel.rows -%}
    {%- if (r[0] | lower) != 'scalr_source_file' -%}{%- do types.update({r[0] | lower: r[1] | upper}) -%}{%- endif -%}
  {%- endfor -%}
  {{ return(types) }}
{%- endmacro %}

{% macro scalr_file_count(path) -%}
  {#- Number of files matching a path or glob. -#}
  {{ return(adapter.dispatch('scalr_file_count', 'scalr')(path)) }}
{%- endmacro %}
{% macro default__scalr_file_count(path) -%}
  {{ return(run_query("select count(*) from glob('" ~ (path | replace("'", "''")) ~ "')").columns[0].values()[0]) }}
{%- endmacro %}

{% macro scalr_describe_sql(sql) -%}
  {#- A query whose rows are (column name, type, ...) of the result of `sql`. -#}
  {{ return(adapter.dispatch('scalr_describe_sql', 'scalr')(sql)) }}
{%- endmacro %}
{% macro default__scalr_describe_sql(sql) -%}describe {{ sql }}{%- endmacro %}

{% macro scalr_epoch_us(ts_expr) -%}
  {#- Microseconds since 1970-01-01 of a timestamp, as a bigint (engine-independent text keys). -#}
  {{ return(adapter.dispatch('scalr_epoch_us', 'scalr')(ts_expr)) }}
{%- endmacro %}
{% macro default__scalr_epoch_us(ts_expr) -%}epoch_us({{ ts_expr }}){%- endmacro %}

{% macro scalr_explode_range(lo, hi) -%}
  {#- Select-list expression: one row per integer lo..hi (inclusive) of the row. -#}
  {{ return(adapter.dispatch('scalr_explode_range', 'scalr')(lo, hi)) }}
{%- endmacro %}
{% macro default__scalr_explode_range(lo, hi) -%}unnest(range({{ lo }}, {{ hi }} + 1)){%- endmacro %}

{% macro scalr_require_columns(model_name, path, reader, cols, required, hint='') -%}
  {#- Stops the build when a required column is missing or appears twice in the header (the reader
      renames the second copy to <name>_1 and would silently use the first); the message counts
      the file's rows. -#}
  {%- set missing = required | reject('in', cols) | list -%}
  {%- set twice = [] -%}
  {%- for c in required -%}
    {%- if (c ~ '_1') in cols and c in cols -%}{%- do twice.append(c) -%}{%- endif -%}
  {%- endfor -%}
  {%- if missing or twice -%}
    {%- set n = run_query("select count(*) from " ~ reader).columns[0].values()[0] -%}
    {%- if missing -%}
      {%- set why = "" -%}
      {%- if missing | length == required | length -%}
        {%- set why = "; none of the required columns was found: is the header the first line, and does "
            ~ "every row have as many fields as the header (no stray quote)?" -%}
      {%- endif -%}
      {{ scalr_fail(model_name, "column " ~ (missing | join(', ')) ~ ": missing from file '" ~ path ~ "', so "
          ~ n ~ " of " ~ n ~ " rows are unusable (the file has columns " ~ (cols | join(', ')) ~ hint ~ why ~ ")") }}
    {%- endif -%}
    {{ scalr_fail(model_name, "column " ~ (twice | join(', ')) ~ ": appears twice in the header of '" ~ path ~ "' (read as "
        ~ twice[0] ~ " and " ~ twice[0] ~ "_1), so which one holds the " ~ twice[0] ~ " of the " ~ n
        ~ " rows is ambiguous") }}
  {%- endif -%}
{%- endmacro %}

{% macro scalr_try_cast(expr, type) -%}
  {{ return(adapter.dispatch('scalr_try_cast', 'scalr')(expr, type)) }}
{%- endmacro %}
{% macro default__scalr_try_cast(expr, type) -%}try_cast({{ expr }} as {{ type }}){%- endmacro %}

{% macro scalr_parse_time(expr, unit) -%}
  {{ return(adapter.dispatch('scalr_parse_time', 'scalr')(expr, unit)) }}
{%- endmacro %}

{% macro scalr_typed_time(expr, source_type, unit) -%}
  {#- A time column the file already types (parquet TIMESTAMP / DATE, or a number of unix seconds):
      converted without the text round trip (formatting and re-parsing every row cost ~1 s per
      scan of 8.75 M events, docs/performance.md). Returns none when the type does not fit the
      unit; the caller then parses the text. -#}
  {{ return(adapter.dispatch('scalr_typed_time', 'scalr')(expr, source_type, unit)) }}
{%- endmacro %}
{% macro default__scalr_typed_time(expr, source_type, unit) -%}
  {%- set t = (source_type or '') | upper -%}
  {%- if unit in ('timestamp', 'date') and ((t.startswith('TIMESTAMP') and 'TIME ZONE' not in t) or t == 'DATE') -%}
    {{ return('cast(' ~ expr ~ ' as timestamp)') }}
  {%- elif unit == 'unix_seconds' and t in ('TINYINT', 'SMALLINT', 'INTEGER', 'BIGINT', 'HUGEINT', 'UTINYINT',
      'USMALLINT', 'UINTEGER', 'UBIGINT', 'FLOAT', 'DOUBLE') -%}
    {{ return('make_timestamp(try_cast(round(cast(' ~ expr ~ ' as double) * 1000000) as bigint))') }}
  {%- endif -%}
  {{ return(none) }}
{%- endmacro %}
{% macro default__scalr_parse_time(expr, unit) -%}
  {#- unit timestamp: a time with a UTC offset ("...23:00:00-05:00", "...+0530", "...Z") is
      converted to UTC; one without an offset is taken as UTC as written. -#}
  {%- if unit == 'timestamp' -%}
    case
        when regexp_matches(trim({{ expr }}), '[0-9]:[0-9]{2}(:[0-9]{2}([.][0-9]+)?)? *([Zz]|[+-][0-9]{2}(:?[0-9]{2})?)$')
            then timezone('UTC', try_cast(trim({{ expr }}) as timestamptz))
        else try_cast(trim({{ expr }}) as timestamp)
    end
  {%- elif unit == 'date' -%} cast(try_cast(trim({{ expr }}) as date) as timestamp)
  {%- elif unit == 'unix_seconds' -%} make_timestamp(try_cast(round(try_cast(trim({{ expr }}) as double) * 1000000) as bigint))
  {%- else -%}{{ exceptions.raise_compiler_error("scalr config error: event_time_unit must be timestamp, date or unix_seconds, got '" ~ unit ~ "'") }}
  {%- endif -%}
{%- endmacro %}

{% macro scalr_is_blank(expr) -%}
  {#- Null, empty, or only whitespace (spaces, tabs, line breaks, no-break spaces). -#}
  {{ return(adapter.dispatch('scalr_is_blank', 'scalr')(expr)) }}
{%- endmacro %}
{% macro default__scalr_is_blank(expr) -%}
  ({{ expr }} is null or regexp_matches({{ expr }}, '^[[:space:]\x{00A0}\x{2007}\x{202F}\x{FEFF}]*$'))
{%- endmacro %}

{% macro scalr_not_finite(expr) -%}
  {{ return(adapter.dispatch('scalr_not_finite', 'scalr')(expr)) }}
{%- endmacro %}
{% macro default__scalr_not_finite(expr) -%}(isnan({{ expr }}) or isinf({{ expr }})){%- endmacro %}

{% macro scalr_add_days(ts_expr, days) -%}
  {{ return(adapter.dispatch('scalr_add_days', 'scalr')(ts_expr, days)) }}
{%- endmacro %}
{% macro default__scalr_add_days(ts_expr, days) -%}({{ ts_expr }} + to_days(cast({{ days }} as integer))){%- endmacro %}

{% macro scalr_ts_literal(value) -%}cast('{{ value }}' as timestamp){%- endmacro %}

{% macro scalr_sql_list(values) -%}
  {%- for v in values -%}'{{ v | replace("'", "''") }}'{{ "," if not loop.last }}{%- endfor -%}
{%- endmacro %}

{% macro scalr_time_quantile(ts_expr, p) -%}
  {#- Aggregate: the p quantile of a timestamp column, linear interpolation between the two
      neighbouring events (numpy's default), as a timestamp (int_validation_cut). -#}
  {{ return(adapter.dispatch('scalr_time_quantile', 'scalr')(ts_expr, p)) }}
{%- endmacro %}
{% macro default__scalr_time_quantile(ts_expr, p) -%}quantile_cont({{ ts_expr }}, {{ p }}){%- endmacro %}

{% macro scalr_events_read_with() -%}
  {#- The vars base_events reads the events file with, as one text: base_events stores it in column
      read_with, and stg_events stops when a run's vars differ (a --select that leaves the base_events
      view out would otherwise read the previous file). -#}
  {{ return("events_path=" ~ var('events_path') ~ "; event_time_column=" ~ var('event_time_column')
            ~ "; event_time_unit=" ~ var('event_time_unit')) }}
{%- endmacro %}
