{#- Range test: rows whose column is outside [min_value, max_value] (either bound optional; nulls
    pass; NaN and infinite values fail). -#}
{% test value_between(model, column_name, min_value=none, max_value=none) %}
select {{ column_name }} as out_of_range
from {{ model }}
where {{ column_name }} is not null
    and (
        {{ scalr_not_finite('cast(' ~ column_name ~ ' as double)') }}
        {%- if min_value is not none %} or {{ column_name }} < {{ min_value }}{% endif %}
        {%- if max_value is not none %} or {{ column_name }} > {{ max_value }}{% endif %}
    )
{% endtest %}
