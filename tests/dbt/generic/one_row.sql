{#- Primary-key test of a one-row model (its grain is the whole table): fails unless the model has
    exactly one row (the failing row holds the count). -#}
{% test one_row(model) %}
select n_rows
from (select count(*) as n_rows from {{ model }}) as counted
where n_rows <> 1
{% endtest %}
