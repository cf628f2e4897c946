{#- var walk_domains (synthetic_histories' random-walk graph): a list of configured domain names
    (or a comma-separated string); null or empty = [target_domain]. A name that is not one of
    source_domains + target_domain stops the build, naming the model and the var. -#}
{% macro scalr_walk_domains(model_name) -%}
  {%- set wd = var('walk_domains', none) -%}
  {%- if wd is string -%}
    {%- set wd = wd.split(',') | map('trim') | reject('equalto', '') | list -%}
    {%- if wd | length == 1 and wd[0] | lower in ['null', 'none', '~'] -%}{%- set wd = [] -%}{%- endif -%}
  {%- endif -%}
  {%- if wd is none or wd | length == 0 -%}{%- set wd = [var('target_domain')] -%}{%- endif -%}
  {%- set known = scalr_domains() -%}
  {%- set unknown = [] -%}
  {%- for d in wd -%}{%- if d not in known -%}{%- do unknown.append(d) -%}{%- endif -%}{%- endfor -%}
  {%- if unknown and execute -%}
    {{ scalr_fail(model_name, "column domain: var walk_domains names " ~ (unknown | join(', '))
        ~ ", not among the configured domains " ~ (known | join(', ')) ~ " (source_domains + target_domain)") }}
  {%- endif -%}
  {{ return(wd) }}
{%- endmacro %}
