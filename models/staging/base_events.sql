{#- Raw events, read as text from var events_path (source scalr.events) and typed. Not validated: stg_events validates.
    A time column the file already types (parquet TIMESTAMP, DATE, or numeric unix seconds) is
    converted directly (scalr_typed_time); text is parsed per var event_time_unit.
    A view, not a table: stg_events reads it (checks + the deduplicated events), so a table would
    only add a full copy of the raw events (docs/performance.md). -#}
{{ config(materialized=scalr_file_view_materialization()) }}
{%- set path = var('events_path') -%}
{%- set reader = scalr_source_reader(source('scalr', 'events'), path) -%}
{%- set time_col = var('event_time_column') | lower -%}
{%- set types = scalr_file_column_types(path, reader, 'events_path', 'base_events') -%}
{%- set cols = types.keys() | list -%}
{%- set time_sql = 'cast(' ~ adapter.quote(time_col) ~ ' as ' ~ scalr_text_type() ~ ')' -%}
{%- set typed_ts = scalr_typed_time(adapter.quote(time_col), types.get(time_col), var('event_time_unit')) -%}
{%- if execute -%}
  {{ scalr_require_columns('base_events', path, reader, cols, ['user_id', 'item_id', 'domain', time_col],
      "; the time column is set by var event_time_column") }}
{%- endif -%}
{%- set has_label = 'label' in cols -%}

with

source as (
    select * from {{ reader }}
),

typed as (
    select
        cast(user_id as {{ scalr_text_type() }}) as user_id,
        cast(item_id as {{ scalr_text_type() }}) as item_id,
        cast(domain as {{ scalr_text_type() }}) as domain,
        {{ time_sql }} as event_time_raw,
        {%- if typed_ts %}
        {{ adapter.quote(time_col) }} is null as event_time_missing,
        {{ typed_ts }} as event_ts,
        {%- else %}
            {{ scalr_is_blank(time_sql) }} as event_time_missing,
            {{ scalr_parse_time(time_sql, var('event_time_unit')) }} as event_ts,
        {%- endif %}
        {%- if has_label %}
        cast(label as {{ scalr_text_type() }}) as label_raw,
        {%- if types.get('label') == 'BOOLEAN' %}
        cast(cast(label as integer) as double) as label_value,
        {%- else %}
        {{ scalr_try_cast('cast(label as ' ~ scalr_text_type() ~ ')', 'double') }} as label_value,
        {%- endif %}
        {%- else %}
            cast('1' as {{ scalr_text_type() }}) as label_raw,
            cast(1 as double) as label_value,
        {%- endif %}
        cast(scalr_source_file as {{ scalr_text_type() }}) as source_file,
        cast({{ scalr_sql_list([scalr_events_read_with()]) }} as {{ scalr_text_type() }}) as read_with
    from source
),

final as (
    select * from typed
)

select * from final
