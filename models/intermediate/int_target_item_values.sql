{#- One row per target item of the train catalog (items with a real target train positive) with its
    value: items.value where var items_path provides it, else its popularity (real target train
    positive events). value_source says which. When items_path is set but misses some target train
    items, the build logs how many fall back to popularity (a different scale from items.value);
    when items_path is null, it warns that every item is valued by popularity. -#}
{%- if not var('items_path') and scalr_checks_data() -%}
  {{ exceptions.warn("int_target_item_values: var items_path is null, so every target train item is valued by "
      ~ "its popularity (train positives), not by an items file (synthetic_summary.value_source = 'popularity'; "
      ~ "the demo's items file is demo/items.csv.gz)") }}
{%- elif var('items_path') and scalr_checks_data() -%}
  {%- set q -%}
    select count(*), sum(case when v.item_id is null then 1 else 0 end)
    from (select distinct item_id from {{ ref('int_target_train_events') }} where label = 1) as p
    left join (
        select distinct item_id from {{ ref('stg_items') }}
        where domain = {{ scalr_sql_list([var('target_domain')]) }}
    ) as v on p.item_id = v.item_id
  {%- endset -%}
  {%- set r = run_query(q).rows[0] -%}
  {%- if (r[1] or 0) > 0 -%}
    {{ log("int_target_item_values: " ~ r[1] ~ " of " ~ r[0] ~ " target train items have no row of target_domain '"
        ~ var('target_domain') ~ "' in items_path; they are valued by popularity (their train positives), "
        ~ "a different scale from items.value", info=True) }}
  {%- endif -%}
{%- endif %}

with

positives as (
    select
        item_id,
        count(*) as n_train_positives,
        count(distinct user_id) as n_train_users
    from {{ ref('int_target_train_events') }}
    where label = 1
    group by item_id
),

item_values as (
    select
        item_id,
        value
    from {{ ref('stg_items') }}
    where domain = {{ scalr_sql_list([var('target_domain')]) }}
),

final as (
    select
        p.item_id,
        p.n_train_positives,
        p.n_train_users,
        coalesce(v.value, cast(p.n_train_positives as double)) as value,
        case when v.value is null then 'popularity' else 'items.value' end as value_source
    from positives as p
    left join item_values as v on p.item_id = v.item_id
)

select * from final
order by item_id
