{#- Validated item values from var items_path (item_id, domain, value). Without items_path the
    model is empty and an item's value falls back to its target train popularity. -#}
{%- set path = var('items_path') -%}
{%- set ctx = "items_path=" ~ path -%}
{%- if path and execute -%}
  {%- set cols = scalr_file_columns(path) -%}
  {%- for c in ['item_id', 'domain', 'value'] -%}
    {%- if c not in cols -%}
      {{ scalr_fail('stg_items', "column " ~ c ~ ": missing from file '" ~ path ~ "' (columns: " ~ (cols | join(', ')) ~ ")") }}
    {%- endif -%}
  {%- endfor -%}
  {%- set raw -%}
    (select cast(item_id as varchar) as item_id, cast(domain as varchar) as domain,
            cast(value as varchar) as value_raw,
            {{ scalr_try_cast('cast(value as varchar)', 'double') }} as value
     from {{ scalr_read_file(path) }}) as items
  {%- endset -%}
  {{ scalr_check_rows('stg_items', raw, [
      ['item_id', "item_id is null or item_id = ''", "have a null or empty item_id"],
      ['domain', "domain is null or domain = ''", "have a null or empty domain"],
      ['value', "value is null or isnan(value) or value < 0 or isinf(value)", "have a missing, non-numeric, NaN, infinite or negative value"],
  ], ctx) }}
  {%- set dup = run_query("select count(*), coalesce(sum(n), 0) from (select item_id, count(*) as n from " ~ raw ~ " group by item_id having count(*) > 1)").rows[0] -%}
  {%- if dup[0] > 0 -%}
    {{ scalr_fail('stg_items', "column item_id: " ~ dup[0] ~ " item ids appear on more than one row (" ~ dup[1] ~ " rows; an item belongs to one domain and has one value) (" ~ ctx ~ ")") }}
  {%- endif -%}
{%- endif -%}

with

{% if path -%}
items as (
    select
        cast(item_id as varchar) as item_id,
        cast(domain as varchar) as domain,
        cast({{ scalr_try_cast('cast(value as varchar)', 'double') }} as double) as value
    from {{ scalr_read_file(path) }}
),
{%- else -%}
items as (
    select
        cast(null as varchar) as item_id,
        cast(null as varchar) as domain,
        cast(null as double) as value
    where 1 = 0
),
{%- endif %}

final as (
    select * from items
    where domain in ({{ scalr_sql_list(scalr_domains()) }})
)

select * from final
