{#- Deterministic, seeded randomness in SQL (hash-based: independent of row order and threads). -#}
{% macro scalr_hash_uniform(key_expr, seed) -%}
  {#- A deterministic pseudo-uniform in (0, 1) from a text key and a seed (order- and
      thread-independent, unlike random()). -#}
  {{ return(adapter.dispatch('scalr_hash_uniform', 'scalr')(key_expr, seed)) }}
{%- endmacro %}
{% macro default__scalr_hash_uniform(key_expr, seed) -%}
  ((cast(hash({{ key_expr }} || '|{{ seed }}') % 9007199254740991 as double) + 0.5) / 9007199254740992.0)
{%- endmacro %}

{% macro scalr_laplace(key_expr, seed, scale) -%}
  {#- Laplace(0, scale) noise by inverse CDF of scalr_hash_uniform. -#}
  {%- set u = scalr_hash_uniform(key_expr, seed) ~ " - 0.5" -%}
  (-1.0 * {{ scale }} * sign({{ u }}) * ln(1 - 2 * abs({{ u }})))
{%- endmacro %}

{% macro scalr_md5_uniform(key_expr) -%}
  {#- A deterministic uniform in [0, 1) from md5 of a text key: the first 13 hex digits of
      md5(key) read as an integer, / 16^13 (exact in a double). md5 is the same on every engine and
      in Python (scalr.learning.keep_draw), so the draw is engine-stable; only the hex-to-integer
      step is dispatched. -#}
  {{ return(adapter.dispatch('scalr_md5_uniform', 'scalr')(key_expr)) }}
{%- endmacro %}
{% macro default__scalr_md5_uniform(key_expr) -%}
  (cast(cast(('0x' || substr(md5({{ key_expr }}), 1, 13)) as bigint) as double) / cast(4503599627370496 as double))
{%- endmacro %}
