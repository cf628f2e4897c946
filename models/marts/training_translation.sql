{#- The training fit's P_hat(i|j) with text ids (int_training_translation joined to
    int_training_items): macro scalr_translation_ids_sql (macros/scalr_p_hat.sql). -#}
{{ config(materialized='view') }}
{{ scalr_translation_ids_sql(ref('int_training_translation'), ref('int_training_items')) }}
