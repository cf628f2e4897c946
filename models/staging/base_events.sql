{#- Raw events, read as text from var events_path and typed. Not validated: stg_events validates.
    A view, not a table: stg_events reads it (checks + the deduplicated events), so a table would
    only add a full copy of the raw events (docs/performance.md). -#}
{{ config(materialized='view') }}
{%- set path = var('events_path') -%}
{%- set time_col = var('event_time_column') | lower -%}
{%- set cols = scalr_file_columns(path, 'events_path', 'base_events') -%}
{%- if execute -%}
  {{ scalr_require_columns('base_events', path, cols, ['user_id', 'item_id', 'domain', time_col],
      "; the time column is set by var event_time_column") }}
{%- endif -%}
{%- set has_label = 'label' in cols -%}

with

source as (
    select * from {{ scalr_read_file(path) }}
),

typed as (
    select
        cast(user_id as varchar) as user_id,
        cast(item_id as varchar) as item_id,
        cast(domain as varchar) as domain,
        cast({{ adapter.quote(time_col) }} as varchar) as event_time_raw,
        {{ scalr_parse_time('cast(' ~ adapter.quote(time_col) ~ ' as varchar)', var('event_time_unit')) }} as event_ts,
        {%- if has_label %}
        cast(label as varchar) as label_raw,
        {{ scalr_try_cast('cast(label as varchar)', 'double') }} as label_value,
        {%- else %}
            cast('1' as varchar) as label_raw,
            cast(1 as double) as label_value,
        {%- endif %}
        cast(filename as varchar) as source_file
    from source
),

final as (
    select * from typed
)

select * from final
