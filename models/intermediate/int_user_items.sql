{#- Distinct (user, domain, item) positives of the whole train window with their dense integer keys:
    the first step of P_hat, macro scalr_user_items_sql (macros/scalr_p_hat.sql, shared with
    int_training_user_items). -#}
{{ scalr_user_items_sql(ref('int_events_train')) }}
