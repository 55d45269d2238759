{% macro redshift__reset_csv_table(model, full_refresh, old_relation, agate_table) -%}
    {#- dbt's seed reload (the dispatched reset_csv_table), with DELETE where dbt truncates:
        Redshift's TRUNCATE commits the transaction it runs in, so a failed reload would leave
        the seed empty and readers would see it empty meanwhile; DELETE stays in the seed's
        transaction with the rows that replace it (docs/redshift-rules.md, implicit-commit).
        As dbt's, it runs the reset and returns its SQL for the log. -#}
    {%- if full_refresh -%}
        {{ return(dbt.default__reset_csv_table(model, full_refresh, old_relation, agate_table)) }}
    {%- endif -%}
    {%- set sql = "delete from " ~ old_relation.render() -%}
    {%- call statement('sparkify_reset_seed') -%}{{ sql }}{%- endcall -%}
    {{ return(sql) }}
{%- endmacro %}
