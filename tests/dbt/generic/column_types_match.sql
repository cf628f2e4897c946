{#- The typed schema of a mart that dbt cannot enforce as a contract (dbt enforces contracts on SQL
    models only; a contract on a Python model fails `dbt parse`): every column documented in the
    model's YAML has the data_type written there, and the built relation has no other column.
    One row per mismatch (column, documented type, built type). -#}
{% test column_types_match(model) %}
{%- set documented = {} -%}
{%- set built = {} -%}
{%- if execute -%}
  {%- for node in graph.nodes.values() if node.resource_type == 'model' and node.alias == model.identifier
        and node.schema == model.schema -%}
    {%- for c in node.columns.values() -%}{%- do documented.update({c.name | lower: (c.data_type or 'undocumented') | upper}) -%}{%- endfor -%}
  {%- endfor -%}
  {%- for c in adapter.get_columns_in_relation(model) -%}{%- do built.update({c.name | lower: c.dtype | upper}) -%}{%- endfor -%}
{%- endif -%}
{%- set rows = [] -%}
{%- for name in (documented.keys() | list + built.keys() | list) | unique | sort -%}
  {%- if documented.get(name) != built.get(name) -%}
    {%- do rows.append([name, documented.get(name, 'not documented'), built.get(name, 'not built')]) -%}
  {%- endif -%}
{%- endfor %}
select * from (
    values
    {%- for r in rows %}
        ('{{ r[0] }}', '{{ r[1] }}', '{{ r[2] }}'){{ "," if not loop.last }}
    {%- else %}
        ('', '', '')
    {%- endfor %}
) as mismatches (column_name, documented_type, built_type)
{%- if not rows %}
where 1 = 0
{%- endif %}
{% endtest %}
