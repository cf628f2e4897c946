{#- The translation P_hat(i|j) (SCALR Eq. 4) of the whole train window with text ids: macro
    scalr_translation_ids_sql (macros/scalr_p_hat.sql, shared with training_translation). -#}
{{ config(materialized='view') }}
{{ scalr_translation_ids_sql(ref('int_translation'), ref('int_items')) }}
