{#- Validated item values from var items_path (source scalr.items: item_id, domain, value). Without items_path the
    model is empty and an item's value falls back to its target train popularity. -#}
{%- set path = var('items_path') -%}
{%- set reader = scalr_source_reader(source('scalr', 'items'), path) -%}
{%- set ctx = "items_path=" ~ path -%}
{%- if path and scalr_checks_data() -%}
  {%- set cols = scalr_file_columns(path, reader, 'items_path', 'stg_items') -%}
  {{ scalr_require_columns('stg_items', path, reader, cols, ['item_id', 'domain', 'value']) }}
  {%- set raw -%}
    (select cast(item_id as {{ scalr_text_type() }}) as item_id, cast(domain as {{ scalr_text_type() }}) as domain,
            cast(value as {{ scalr_text_type() }}) as value_raw,
            {{ scalr_try_cast('cast(value as ' ~ scalr_text_type() ~ ')', 'double') }} as value,
            count(*) over (partition by cast(item_id as {{ scalr_text_type() }})) as n_item_rows
     from {{ reader }}) as items
  {%- endset -%}
  {{ scalr_check_rows('stg_items', raw, [
      ['item_id', scalr_is_blank('item_id'), "have a null or empty item_id"],
      ['domain', scalr_is_blank('domain'), "have a null or empty domain"],
      ['item_id', "not " ~ scalr_is_blank('item_id') ~ " and n_item_rows > 1",
          "share their item_id with another row (an item belongs to one domain and has one value)"],
      ['value', "value is null or " ~ scalr_not_finite('value') ~ " or value < 0",
          "have a missing, non-numeric, NaN, infinite or negative value"],
  ], ctx) }}
  {#- The file is only read for the target domain's item values: one with no row of it would make
      every target item fall back to popularity without a word. -#}
  {%- set per_domain = run_query("select cast(domain as " ~ scalr_text_type() ~ "), count(*) from " ~ reader
      ~ " group by 1 order by 1") -%}
  {%- set ns = namespace(total=0, target=0) -%}
  {%- for r in per_domain.rows -%}
    {%- set ns.total = ns.total + r[1] -%}
    {%- if r[0] == var('target_domain') -%}{%- set ns.target = r[1] -%}{%- endif -%}
  {%- endfor -%}
  {%- if ns.target == 0 -%}
    {{ scalr_fail('stg_items', "column domain: 0 of " ~ ns.total ~ " rows are of target_domain '"
        ~ var('target_domain') ~ "' (domains present: " ~ (per_domain.columns[0].values() | reject('none')
        | join(', ') or 'none') ~ "; set var items_path to this data's items file, or to null to value items by popularity) (" ~ ctx ~ ")") }}
  {%- endif -%}
{%- endif -%}

with

{% if path -%}
    items as (
        select
            cast(item_id as {{ scalr_text_type() }}) as item_id,
            cast(domain as {{ scalr_text_type() }}) as domain,
            cast({{ scalr_try_cast('cast(value as ' ~ scalr_text_type() ~ ')', 'double') }} as double) as value
        from {{ reader }}
    ),
{%- else -%}
    items as (
        select
            cast(null as {{ scalr_text_type() }}) as item_id,
            cast(null as {{ scalr_text_type() }}) as domain,
            cast(null as double) as value
        where 1 = 0
    ),
{%- endif %}

final as (
    select * from items
    where domain in ({{ scalr_sql_list(scalr_domains()) }})
)

select * from final
