{#- Helpers of the pure-SQL sampler synthetic_events_sql (engine-specific parts: scalr_io.sql,
    scalr_spark.sql). -#}

{% macro scalr_sampler_sql_log_ignored() -%}
  {#- synthetic_events_sql draws from the unfiltered P_hat: log the vars it does not apply. -#}
  {%- if not execute -%}{{ return(none) }}{%- endif -%}
  {%- set m = 'synthetic_events_sql' -%}
  {%- set ignored = [] -%}
  {%- if (scalr_var_number('min_support', m, integer=true, nullable=true) or 1) > 1 -%}{%- do ignored.append('min_support') -%}{%- endif -%}
  {%- if var('max_targets_per_source') is not none -%}{%- do ignored.append('max_targets_per_source') -%}{%- endif -%}
  {%- if (scalr_var_number('translation_shrinkage', m, nullable=true) or 0) > 0 -%}{%- do ignored.append('translation_shrinkage') -%}{%- endif -%}
  {%- if var('count_noise_epsilon') is not none -%}{%- do ignored.append('count_noise_epsilon') -%}{%- endif -%}
  {%- if var('synthetic_strategy') != 'sample' -%}{%- do ignored.append('synthetic_strategy') -%}{%- endif -%}
  {%- if scalr_var_number('synthetic_temperature', m) != 1 -%}{%- do ignored.append('synthetic_temperature') -%}{%- endif -%}
  {%- if scalr_var_number('synthetic_top_p', m) != 1 -%}{%- do ignored.append('synthetic_top_p') -%}{%- endif -%}
  {%- if scalr_var_number('min_confidence', m) > 0 -%}{%- do ignored.append('min_confidence') -%}{%- endif -%}
  {%- if ignored -%}
    {{ log("synthetic_events_sql: draws from the unfiltered P_hat (two-stage sampler); var(s) "
        ~ ignored | join(', ') ~ " apply to translation and synthetic_events only", info=True) }}
  {%- endif -%}
{%- endmacro %}
