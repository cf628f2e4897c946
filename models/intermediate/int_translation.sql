{#- The translation P_hat(i|j) (SCALR Eq. 4) of the whole train window over integer item keys: macro
    scalr_translation_sql (macros/scalr_p_hat.sql, shared with int_training_translation). The
    product's synthetic events, the evaluation-time features and help_diagnostic read this fit. -#}
-- depends_on: {{ ref('int_items') }}
{{ scalr_translation_sql(ref('int_cooccurrence'), ref('int_items')) }}
